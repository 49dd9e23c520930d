/** The output cap assumed when a request names none: classification, routing and the call agree on it. */
export const DEFAULT_OUTPUT_TOKENS = 1024;
