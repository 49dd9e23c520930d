/** The model names that ask the router to choose (no imports: workflow code reads it too). */
export const AUTO_MODELS: ReadonlySet<string> = new Set(['auto', 'switchyard/auto']);
