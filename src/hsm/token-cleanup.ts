// Token objects that no committed row names any more, destroyed in the background: the keys a
// full restore replaced (and what a failed one staged), and the orphans start-up found. None of
// them is reachable through the API, so nothing waits for them; SoftHSM2's file store rescans its
// directory on every destroy, so thousands of them take minutes, during which the token's other
// writes take their turns between two destroys (Token.destroyLabelledObjectsWithIds).
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { MetadataStore } from '../store/metadata-store.js';
import type { Token } from '../token/token.js';
import { TOKEN_OBJECT_LABEL } from './key-objects.js';

/** Rows taken from the store per short transaction. */
const ROWS_PER_STEP = 100;

export class TokenCleanup {
  /** CKA_IDs (hex) waiting to be destroyed. */
  readonly #waiting = new Map<string, Buffer>();
  #running: Promise<void> | undefined;
  #storeHasStale = false;
  #stopped = false;
  /** Told of a failure; the objects stay, and the next start-up finds them as orphans. */
  onError: (error: unknown) => void = () => undefined;

  constructor(
    private readonly token: Token,
    private readonly store: MetadataStore,
  ) {}

  /** Keys whose objects wait to be destroyed; 0 only when there is nothing left to do. */
  get pending(): number {
    return Math.max(this.#waiting.size, this.#running || this.#storeHasStale ? 1 : 0);
  }

  /** Takes the store's stale rows (takeStaleVersions) and destroys their objects. */
  collectStale(): void {
    this.#storeHasStale = true;
    this.#kick();
  }

  destroy(ids: readonly Buffer[]): void {
    for (const id of ids) this.#waiting.set(id.toString('hex'), id);
    this.#kick();
  }

  /** Resolves when nothing is left to do. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Stops after the object being destroyed; what is left is found again at the next start-up. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running;
  }

  #kick(): void {
    if (this.#running || this.#stopped) return;
    this.#running = this.#work()
      .catch((error: unknown) => this.onError(error))
      .finally(() => {
        this.#running = undefined;
        if (!this.#stopped && (this.#storeHasStale || this.#waiting.size > 0)) this.#kick();
      });
  }

  async #work(): Promise<void> {
    while (this.#storeHasStale && !this.#stopped) {
      const { versions, more } = this.store.takeStaleVersions(ROWS_PER_STEP);
      for (const version of versions) this.#waiting.set(version.tokenId.toString('hex'), version.tokenId);
      this.#storeHasStale = more;
      await yieldToEventLoop();
    }
    if (this.#waiting.size === 0 || this.#stopped) return;
    const ids = [...this.#waiting.values()];
    await this.token.destroyLabelledObjectsWithIds(TOKEN_OBJECT_LABEL, ids, {
      destroyed: (id) => this.#waiting.delete(id.toString('hex')),
      stopped: () => this.#stopped,
    });
    // Ids the search did not find have no objects left.
    for (const id of ids) this.#waiting.delete(id.toString('hex'));
  }
}
