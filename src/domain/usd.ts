/**
 * USD amounts are kept to 1e-10: below any price step, and enough to clear floating-point noise
 * (0.7 + 0.1 is 0.7999999999999999). The ledger stores the same precision (`numeric`, 10 places).
 */
const SCALE = 1e10;

export const roundUsd = (usd: number): number => Math.round(usd * SCALE) / SCALE;

/** Rounded up: a reservation must never be smaller than the real cost. */
export const ceilUsd = (usd: number): number => Math.ceil(usd * SCALE) / SCALE;
