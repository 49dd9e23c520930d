/**
 * The console's paging and time buckets, as pure functions: the keyset cursor of the request list
 * and the bucket of an analytics series.
 *
 * A cursor carries the last row's `created_at` in microseconds (Postgres keeps microseconds; a JS
 * Date only milliseconds, and two rows in one millisecond would otherwise be skipped or repeated)
 * and its request id, the tie-breaker. It is opaque to clients: base64url of `<micros>:<id>`.
 */

export interface RequestCursor {
  /** `created_at` as microseconds since the epoch (a decimal string: beyond 2^53 once multiplied). */
  createdMicros: string;
  requestId: string;
}

export function encodeCursor(c: RequestCursor): string {
  return Buffer.from(`${c.createdMicros}:${c.requestId}`, 'utf8').toString('base64url');
}

/** The cursor a client sent back, or undefined when it is not one of ours. */
export function decodeCursor(s: string): RequestCursor | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(s)) return undefined;
  const text = Buffer.from(s, 'base64url').toString('utf8');
  const m = /^(-?\d{1,20}):(.+)$/s.exec(text);
  if (!m) return undefined;
  return { createdMicros: m[1]!, requestId: m[2]! };
}

export const BUCKETS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
export type Bucket = keyof typeof BUCKETS;

/** A series has at most this many buckets when the caller lets it choose (`bucket=auto`). */
export const AUTO_MAX_BUCKETS = 120;
/** And at most this many whatever the caller asks (a week of minutes). */
export const MAX_BUCKETS = 10_080;

/**
 * How many buckets [from, to) touches: buckets start at multiples of their size since the epoch
 * (UTC minutes, hours, days), so a window that starts mid-bucket counts that bucket too.
 */
export function bucketCount(from: Date, to: Date, bucket: Bucket): number {
  const size = BUCKETS[bucket];
  if (to.getTime() <= from.getTime()) return 0;
  return Math.floor((to.getTime() - 1) / size) - Math.floor(from.getTime() / size) + 1;
}

/** The finest bucket that keeps [from, to) within AUTO_MAX_BUCKETS (days beyond that: the coarsest there is). */
export function pickBucket(from: Date, to: Date): Bucket {
  const fits = (Object.keys(BUCKETS) as Bucket[]).find((b) => bucketCount(from, to, b) <= AUTO_MAX_BUCKETS);
  return fits ?? 'day';
}

/** The start of the bucket `t` falls in (UTC). */
export function bucketStart(t: Date, bucket: Bucket): Date {
  const size = BUCKETS[bucket];
  return new Date(Math.floor(t.getTime() / size) * size);
}

/** A series shows at most this many keys of its `by`; the rest are summed under OTHER_KEY. */
export const TOP_KEYS = 8;
export const OTHER_KEY = 'other';
