// Failed token requests, counted per source address and per client id in fixed windows: past the
// limit, a caller gets the tenant's throttling answer until its window ends, instead of another
// secret check. Bounded by entries, oldest dropped first, so that distinct keys cannot make it
// grow without end; every key is short (an address or a GUID).

export interface FailureLimiterOptions {
  /** Failures a key may have in a window before it is refused. */
  limit: number;
  windowMs: number;
  maxEntries: number;
}

interface Window {
  start: number;
  failures: number;
}

export const TOKEN_FAILURE_LIMITS: FailureLimiterOptions = { limit: 20, windowMs: 60_000, maxEntries: 10_000 };

export class FailureLimiter {
  readonly #windows = new Map<string, Window>();

  constructor(
    private readonly options: FailureLimiterOptions = TOKEN_FAILURE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until the first of these keys that is over its limit may try again; undefined if none is. */
  retryAfter(keys: readonly string[]): number | undefined {
    const now = this.now();
    let wait: number | undefined;
    for (const key of keys) {
      const window = this.#windows.get(key);
      if (!window || now - window.start >= this.options.windowMs || window.failures < this.options.limit) continue;
      const seconds = Math.max(1, Math.ceil((window.start + this.options.windowMs - now) / 1000));
      wait = Math.max(wait ?? 0, seconds);
    }
    return wait;
  }

  recordFailure(keys: readonly string[]): void {
    const now = this.now();
    for (const key of keys) {
      const window = this.#windows.get(key);
      if (window && now - window.start < this.options.windowMs) {
        window.failures++;
        continue;
      }
      this.#windows.delete(key);
      if (this.#windows.size >= this.options.maxEntries) this.#windows.delete(this.#windows.keys().next().value as string);
      this.#windows.set(key, { start: now, failures: 1 });
    }
  }

  get size(): number {
    return this.#windows.size;
  }
}
