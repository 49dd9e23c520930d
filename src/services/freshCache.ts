/**
 * Values read at most once per `maxAgeMs` per key and process, shared by concurrent callers (single
 * flight: a burst on a cold cache makes one read, not one each). For what the request path reads
 * on every request but may see a second late: breaker states, budget usage for routing, API keys.
 */
export class FreshCache<V> {
  private readonly entries = new Map<string, { at: number; value: V }>();
  private readonly loading = new Map<string, Promise<V>>();

  constructor(
    private readonly maxAgeMs: number,
    /** Beyond this many keys the oldest are dropped (a map, insertion-ordered). */
    private readonly maxEntries = 10_000,
  ) {}

  async get(key: string, load: () => Promise<V>, maxAgeMs = this.maxAgeMs): Promise<V> {
    const hit = this.entries.get(key);
    if (hit && Date.now() - hit.at < maxAgeMs) return hit.value;
    let pending = this.loading.get(key);
    if (!pending) {
      pending = load()
        .then((value) => {
          this.entries.delete(key);
          this.entries.set(key, { at: Date.now(), value });
          if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
          return value;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  /** Forgets a key (or all): the next read goes to the source. */
  forget(key?: string): void {
    if (key === undefined) this.entries.clear();
    else this.entries.delete(key);
  }
}
