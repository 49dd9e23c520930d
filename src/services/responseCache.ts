/**
 * The response cache: an exact-match cache of answers, keyed on the tenant, the operation and the
 * normalised request (its body with the keys sorted, without the fields that do not change the
 * answer: `user`, `metadata`, `stream`, `stream_options`), and the routing attributes that can
 * change where it goes. Redis when `REDIS_URL` is set (shared by every API process), in process
 * otherwise. Each entry carries tags (tenant, model, operation) so an operator can drop a slice.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { CACHEABLE_OPERATIONS } from '../domain/operations';
import type { Operation } from '../domain/request';

export interface CachedAnswer {
  /** The stored answer, as the request's row holds it. */
  response: unknown;
  provider: string;
  modelId: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  finishReason: string;
  /** The request whose answer this is. */
  requestId: string;
  cachedAt: string;
}

export interface CacheTags {
  tenant: string;
  model: string;
  operation: string;
}

export interface ResponseCache {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<CachedAnswer | undefined>;
  set(key: string, value: CachedAnswer, ttlMs: number, tags: CacheTags): Promise<void>;
  /** Drops every entry with all the given tags (none given: everything); returns how many. */
  invalidate(tags: Partial<CacheTags>): Promise<number>;
  close(): Promise<void>;
}

const IGNORED = new Set(['user', 'metadata', 'stream', 'stream_options']);

/** JSON with object keys sorted: the same request written in another key order is the same request. */
function canonical(v: unknown, top = false): unknown {
  if (Array.isArray(v)) return v.map((x) => canonical(x));
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.keys(v)
      .filter((k) => !(top && IGNORED.has(k)))
      .sort()
      .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
  );
}

export function cacheKey(tenant: string, operation: string, body: unknown, routing: unknown): string {
  const text = JSON.stringify({ tenant, operation, body: canonical(body, true), routing: canonical(routing) });
  return createHash('sha256').update(text).digest('hex');
}

const tagKeys = (t: Partial<CacheTags>) =>
  (Object.entries(t) as Array<[keyof CacheTags, string | undefined]>)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}:${v}`);

export class MemoryCache implements ResponseCache {
  readonly kind = 'memory';
  private readonly entries = new Map<string, { value: CachedAnswer; expires: number; tags: string[] }>();
  constructor(private readonly maxEntries = 10_000) {}

  async get(key: string): Promise<CachedAnswer | undefined> {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expires <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  async set(key: string, value: CachedAnswer, ttlMs: number, tags: CacheTags): Promise<void> {
    // Oldest first out when full (a Map keeps insertion order).
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, expires: Date.now() + ttlMs, tags: tagKeys(tags) });
  }

  async invalidate(tags: Partial<CacheTags>): Promise<number> {
    const want = tagKeys(tags);
    let n = 0;
    for (const [k, e] of this.entries)
      if (want.every((t) => e.tags.includes(t))) {
        this.entries.delete(k);
        n++;
      }
    return n;
  }

  async close(): Promise<void> {
    this.entries.clear();
  }
}

const PREFIX = 'switchyard:cache:';

export class RedisCache implements ResponseCache {
  readonly kind = 'redis';
  private readonly redis: Redis;

  constructor(url: string) {
    this.redis = new Redis(url, { maxRetriesPerRequest: 2 });
    this.redis.on('error', () => undefined);
  }

  async get(key: string): Promise<CachedAnswer | undefined> {
    const raw = await this.redis.hget(`${PREFIX}e:${key}`, 'value');
    return raw ? (JSON.parse(raw) as CachedAnswer) : undefined;
  }

  async set(key: string, value: CachedAnswer, ttlMs: number, tags: CacheTags): Promise<void> {
    const k = `${PREFIX}e:${key}`;
    const m = this.redis.multi().hset(k, 'value', JSON.stringify(value), 'tags', tagKeys(tags).join('\n'));
    m.pexpire(k, ttlMs);
    // Each tag's set names its entries (a dropped or expired entry is skipped when invalidating).
    for (const t of tagKeys(tags)) m.sadd(`${PREFIX}t:${t}`, k).pexpire(`${PREFIX}t:${t}`, Math.max(ttlMs, 86_400_000));
    await m.exec();
  }

  async invalidate(tags: Partial<CacheTags>): Promise<number> {
    const want = tagKeys(tags);
    let keys: string[];
    if (want.length === 0) {
      keys = [];
      let cursor = '0';
      do {
        const [next, found] = await this.redis.scan(cursor, 'MATCH', `${PREFIX}e:*`, 'COUNT', 1000);
        cursor = next;
        keys.push(...found);
      } while (cursor !== '0');
    } else {
      keys = await this.redis.sinter(...want.map((t) => `${PREFIX}t:${t}`));
    }
    if (keys.length === 0) return 0;
    return this.redis.del(...keys);
  }

  async close(): Promise<void> {
    // Closing: a connection that cannot quit is already gone.
    await this.redis.quit().catch(() => undefined);
  }
}

export const createCache = (redisUrl: string | undefined): ResponseCache =>
  redisUrl ? new RedisCache(redisUrl) : new MemoryCache();

/**
 * Per-operation time to live, from `SWITCHYARD_CACHE_TTL` (`summarize=3600,embed=86400`, seconds).
 * Off unless set: a gateway that answers from a cache must be asked to. Chat, and the operations
 * the registry marks cacheable.
 */
export const CACHE_OPERATIONS: readonly Operation[] = ['chat', ...CACHEABLE_OPERATIONS];

export function parseCacheTtl(spec: string | undefined): Record<string, number> {
  const ttl: Record<string, number> = Object.fromEntries(CACHE_OPERATIONS.map((op) => [op, 0]));
  for (const part of (spec ?? '').split(',').filter((p) => p.trim())) {
    const [op, seconds] = part.split('=').map((x) => x.trim());
    const n = Number(seconds);
    if (!op || !(op in ttl) || !Number.isFinite(n) || n < 0)
      throw new Error(
        `SWITCHYARD_CACHE_TTL: '${part}' is not <operation>=<seconds> (operations: ${Object.keys(ttl).join(', ')})`,
      );
    ttl[op] = n;
  }
  return ttl;
}
