/**
 * Where request limits are counted: per-key requests per minute and per-tenant requests in flight.
 * With `REDIS_URL`, in Redis, so the limits hold across every API process (N processes must not
 * allow N times the limit); without it, in this process.
 *
 * Redis: the rate is the sliding-minute estimate of src/domain/slidingWindow.ts, checked and
 * counted in one Lua script (atomic across processes; Redis's clock, so processes' clocks need not
 * agree); each window's counter expires after two windows. Requests in flight are leases in a
 * sorted set per tenant, scored by their expiry: this process renews its leases while their
 * requests run, so a process that crashes leaks no slot for longer than one lease (30 s).
 *
 * Redis unavailable: fail open to this process's own counters (the limits then hold per process,
 * as without Redis), logged once per outage and again on recovery. Not closed: Redis is optional to
 * serving, and a Redis outage must not become an outage of the API.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { MINUTE_MS, slidingWindow, windowEstimate, type WindowDecision } from '../domain/slidingWindow';

/** A decision, and the key's use of the sliding minute with this request counted (for alerts). */
export type RateDecision = WindowDecision & { used?: number };

export interface Lease {
  release(): void;
}

export interface LimitStore {
  readonly kind: 'redis' | 'memory';
  /** Counts one request of `key` if it stays within `limit` per minute; else when to retry. */
  hit(key: string, limit: number): Promise<RateDecision>;
  /** One of `limit` slots of `key` until released, or undefined when all are taken. */
  acquire(key: string, limit: number): Promise<Lease | undefined>;
  close(): Promise<void>;
}

interface Window {
  start: number;
  current: number;
  previous: number;
}

/** In this process: counts are lost on restart and not shared with other processes. */
export class MemoryLimitStore implements LimitStore {
  readonly kind = 'memory';
  private readonly windows = new Map<string, Window>();
  private readonly inFlight = new Map<string, number>();
  private lastSweep = Date.now();

  async hit(key: string, limit: number): Promise<RateDecision> {
    const now = Date.now();
    this.sweep(now);
    const start = now - (now % MINUTE_MS);
    let w = this.windows.get(key);
    if (!w || w.start !== start) {
      w = { start, previous: w && w.start === start - MINUTE_MS ? w.current : 0, current: 0 };
      this.windows.set(key, w);
    }
    const counts = { previous: w.previous, current: w.current, elapsedMs: now - start };
    const decision = slidingWindow(counts, limit);
    if (decision.allowed) w.current++;
    return { ...decision, used: windowEstimate(counts) + (decision.allowed ? 1 : 0) };
  }

  async acquire(key: string, limit: number): Promise<Lease | undefined> {
    const now = this.inFlight.get(key) ?? 0;
    if (now >= limit) return undefined;
    this.inFlight.set(key, now + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const left = (this.inFlight.get(key) ?? 1) - 1;
        if (left > 0) this.inFlight.set(key, left);
        else this.inFlight.delete(key);
      },
    };
  }

  async close(): Promise<void> {
    this.windows.clear();
    this.inFlight.clear();
  }

  /** Forgets keys idle for two minutes (their windows count nothing any more). */
  private sweep(now: number): void {
    if (now - this.lastSweep < MINUTE_MS) return;
    this.lastSweep = now;
    for (const [k, w] of this.windows) if (now - w.start >= 2 * MINUTE_MS) this.windows.delete(k);
  }
}

/** Redis's clock in milliseconds, inside a script (scripts are replicated by effect since Redis 5). */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * KEYS[1] the key's prefix; ARGV limit, window ms. The estimate is slidingWindow's (domain), kept
 * in step with it. Returns {allowed 0|1, previous, current (before this request), elapsed ms}.
 */
const RATE = `${NOW}
local window = tonumber(ARGV[2])
local start = now - (now % window)
local cur = KEYS[1] .. ':' .. start
local current = tonumber(redis.call('GET', cur) or '0')
local previous = tonumber(redis.call('GET', KEYS[1] .. ':' .. (start - window)) or '0')
local elapsed = now - start
if previous * (1 - elapsed / window) + current + 1 > tonumber(ARGV[1]) then
  return {0, previous, current, elapsed}
end
redis.call('INCR', cur)
redis.call('PEXPIRE', cur, 2 * window)
return {1, previous, current, elapsed}`;

/** KEYS[1] the tenant's lease set; ARGV limit, lease ms, lease id. Drops expired leases first. */
const ACQUIRE = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1`;

/** KEYS[1] the lease set; ARGV lease ms, lease id. Extends a lease still held (XX: never revives a dropped one). */
const RENEW = `${NOW}
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[2]) == 1 then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
end
return 1`;

type Scripted = Redis & {
  syRate(key: string, limit: number, windowMs: number): Promise<[number, number, number, number]>;
  syAcquire(key: string, limit: number, leaseMs: number, id: string): Promise<number>;
  syRenew(key: string, leaseMs: number, id: string): Promise<number>;
};

export interface RedisLimitOptions {
  /** How long a slot outlives its last renewal (a crashed process's slots free after this). */
  leaseMs?: number;
  /** A Redis command slower than this counts as Redis unavailable. */
  commandTimeoutMs?: number;
  logger?: Pick<Logger, 'warn' | 'info'>;
}

const PREFIX = 'switchyard:limits:';

export class RedisLimitStore implements LimitStore {
  readonly kind = 'redis';
  private readonly redis: Scripted;
  /** This process's own counts, used while Redis does not answer. */
  private readonly local = new MemoryLimitStore();
  private readonly leaseMs: number;
  private readonly held = new Map<string, string>(); // lease id → its set's key
  private readonly process = randomBytes(6).toString('hex');
  private seq = 0;
  private renewal: NodeJS.Timeout | undefined;
  private degraded = false;

  constructor(
    url: string,
    private readonly opts: RedisLimitOptions = {},
  ) {
    this.leaseMs = opts.leaseMs ?? 30_000;
    // No offline queue and a command timeout: while Redis is away a request is decided at once
    // (locally), never held until Redis returns.
    this.redis = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.commandTimeoutMs ?? 1_000,
      lazyConnect: true,
    }) as Scripted;
    this.redis.on('error', () => undefined);
    this.redis.defineCommand('syRate', { numberOfKeys: 1, lua: RATE });
    this.redis.defineCommand('syAcquire', { numberOfKeys: 1, lua: ACQUIRE });
    this.redis.defineCommand('syRenew', { numberOfKeys: 1, lua: RENEW });
  }

  /** Connects; resolves false (and the store counts locally until Redis answers) if Redis is not there. */
  async connect(): Promise<boolean> {
    try {
      await this.redis.connect();
      return true;
    } catch (err) {
      this.unavailable(err);
      return false;
    }
  }

  async hit(key: string, limit: number): Promise<RateDecision> {
    try {
      // The hash tag keeps a key's two windows in one slot of a Redis Cluster.
      const [allowed, previous, current, elapsedMs] = await this.redis.syRate(
        `${PREFIX}rate:{${key}}`,
        limit,
        MINUTE_MS,
      );
      this.available();
      const used = windowEstimate({ previous, current, elapsedMs }) + (allowed === 1 ? 1 : 0);
      if (allowed === 1) return { allowed: true, used };
      const decision = slidingWindow({ previous, current, elapsedMs }, limit);
      // same formula: never differs
      return decision.allowed ? { allowed: false, retryAfterMs: 1_000, used } : { ...decision, used };
    } catch (err) {
      this.unavailable(err);
      return this.local.hit(key, limit);
    }
  }

  async acquire(key: string, limit: number): Promise<Lease | undefined> {
    const set = `${PREFIX}inflight:{${key}}`;
    const id = `${this.process}:${++this.seq}`;
    let got: number;
    try {
      got = await this.redis.syAcquire(set, limit, this.leaseMs, id);
      this.available();
    } catch (err) {
      // A timed-out script may still run on Redis: take its lease back (sent after it on the same
      // connection, so it runs after it), or it would hold one of the tenant's slots for a lease.
      // If that fails too, the lease expires; Redis being away is logged just below.
      this.redis.zrem(set, id).catch(() => undefined);
      this.unavailable(err);
      return this.local.acquire(key, limit);
    }
    if (got !== 1) return undefined;
    this.held.set(id, set);
    this.renewal ??= setInterval(() => this.renew(), Math.max(100, Math.floor(this.leaseMs / 3))).unref();
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.held.delete(id);
        if (this.held.size === 0) this.stopRenewal();
        // If Redis is away now, the lease simply expires.
        this.redis.zrem(set, id).catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    this.stopRenewal();
    // Our requests are over: free their slots now rather than at expiry (failed: they expire).
    await Promise.all([...this.held].map(([id, set]) => this.redis.zrem(set, id).catch(() => undefined)));
    this.held.clear();
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
    await this.local.close();
  }

  private renew(): void {
    for (const [id, set] of this.held)
      this.redis.syRenew(set, this.leaseMs, id).then(
        () => this.available(),
        (err: unknown) => this.unavailable(err),
      );
  }

  private stopRenewal(): void {
    if (this.renewal) clearInterval(this.renewal);
    this.renewal = undefined;
  }

  private unavailable(err: unknown): void {
    if (this.degraded) return;
    this.degraded = true;
    this.opts.logger?.warn(
      { err },
      'Redis does not answer: request limits are counted per API process until it does (failing open to local counts)',
    );
  }

  private available(): void {
    if (!this.degraded) return;
    this.degraded = false;
    this.opts.logger?.info('Redis answers again: request limits are counted across API processes');
  }
}

/** Redis when a URL is given (connected before use), else this process's memory. */
export async function createLimitStore(
  redisUrl: string | undefined,
  opts: RedisLimitOptions = {},
): Promise<LimitStore> {
  if (!redisUrl) return new MemoryLimitStore();
  const store = new RedisLimitStore(redisUrl, opts);
  await store.connect();
  return store;
}
