// Key records read again and again (every sign, every GET) kept in memory, so that a request
// does not run two SQLite queries and four JSON parses to learn what it learnt a moment ago.
// The store forgets everything on each of its own writes, and whenever another connection has
// committed since the cache last looked (`mhsm principal` and `mhsm role` write while the server
// runs). Entries are frozen: a caller that changed one would change it for every later reader.

/** How many entries at most; past it, the oldest go. */
const MAX_ENTRIES = 20_000;

function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value) || Object.isFrozen(value)) return value;
  for (const inner of Object.values(value as Record<string, unknown>)) deepFreeze(inner);
  return Object.freeze(value);
}

export class RecordCache<T> {
  readonly #entries = new Map<string, T>();
  #seenVersion: number | undefined;

  /** `otherWriters`: a number that changes whenever another connection commits (PRAGMA data_version). */
  constructor(private readonly otherWriters: () => number) {}

  /** The cached value, or `read()`'s, remembered when it is not undefined. */
  get<V extends T | undefined>(key: string, read: () => V): V {
    const version = this.otherWriters();
    if (version !== this.#seenVersion) {
      this.#entries.clear();
      this.#seenVersion = version;
    }
    if (this.#entries.has(key)) return this.#entries.get(key) as V;
    const value = read();
    if (value === undefined) return value;
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, deepFreeze(value) as T);
    return value;
  }

  /** After any write of ours. */
  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}
