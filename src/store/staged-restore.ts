// A full restore being written into the next generation of the key tables (sqlite-schema.ts):
// chunks of keys in short transactions, then the swap, which changes the current generation and
// replaces the local RBAC in one transaction of a few rows.
import type Database from 'better-sqlite3';
import type { KeyRecord, KeyVersionRecord } from './key-records.js';
import type { HsmSnapshot, StagedRestore } from './metadata-store.js';

export interface StagingHooks {
  insert(key: KeyRecord, versions: readonly KeyVersionRecord[]): void;
  replaceAccess(next: Pick<HsmSnapshot, 'roleDefinitions' | 'roleAssignments'>): void;
  /** Told once, on commit or discard. */
  ended(): void;
}

export class SqliteStagedRestore implements StagedRestore {
  #open = true;

  constructor(
    private readonly db: Database.Database,
    private readonly sql: (text: string) => Database.Statement,
    /** The generation being written: the current one plus one. */
    readonly generation: number,
    private readonly hooks: StagingHooks,
  ) {}

  add(entries: ReadonlyArray<{ key: KeyRecord; versions: readonly KeyVersionRecord[] }>): void {
    this.#checkOpen();
    this.db.transaction(() => {
      for (const { key, versions } of entries) this.hooks.insert(key, versions);
    })();
  }

  commit(access: Pick<HsmSnapshot, 'roleDefinitions' | 'roleAssignments'>): void {
    this.#checkOpen();
    this.db.transaction(() => {
      const swapped = this.sql('UPDATE key_generation SET current = ? WHERE current = ?').run(this.generation, this.generation - 1);
      if (swapped.changes !== 1) throw new Error('the key generation changed while a restore was staged');
      this.hooks.replaceAccess(access);
    })();
    this.#end();
  }

  discard(): void {
    if (this.#open) this.#end();
  }

  #end(): void {
    this.#open = false;
    this.hooks.ended();
  }

  #checkOpen(): void {
    if (!this.#open) throw new Error('this restore was already committed or discarded');
  }
}
