// Whether another connection (a `mhsm principal` command) has committed to the store since a cache
// last looked, so that the cache knows to drop what it holds.
import type { AccessStore } from './access-store.js';

export class ExternalChanges {
  #seen: number | undefined;

  constructor(private readonly store: Pick<AccessStore, 'changesByOthers'>) {}

  /** True on the first call, and whenever another connection committed since the previous one. */
  happened(): boolean {
    const version = this.store.changesByOthers();
    if (version === this.#seen) return false;
    this.#seen = version;
    return true;
  }
}
