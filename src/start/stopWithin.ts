/**
 * A stop with a deadline: `npm start`'s Ctrl-C must end even when a part never finishes stopping
 * (a client holding a transaction, a call that ignores cancellation). Past the deadline the rest is
 * abandoned, and the caller exits saying which step was stuck.
 */
export type StopOutcome = { stopped: true } | { stopped: false; error?: unknown; stuckAt?: string };

export function stopWithin(
  stop: () => Promise<void>,
  deadlineMs: number,
  currentStep: () => string | undefined,
): Promise<StopOutcome> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ stopped: false, stuckAt: currentStep() }), deadlineMs);
    stop().then(
      () => {
        clearTimeout(timer);
        resolve({ stopped: true });
      },
      (error: unknown) => {
        clearTimeout(timer);
        resolve({ stopped: false, error });
      },
    );
  });
}
