// A fresh SQLite metadata store in a temporary directory for each test of a file, closed and
// removed after it.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';

export interface TempStore {
  /** The test's data directory, holding metadata.db. */
  dir: string;
  store: SqliteMetadataStore;
}

/** Registers the hooks; the returned object holds the current test's store. */
export function storePerTest(prefix: string): TempStore {
  const current = {} as TempStore;
  beforeEach(() => {
    current.dir = mkdtempSync(path.join(os.tmpdir(), prefix));
    current.store = new SqliteMetadataStore(path.join(current.dir, 'metadata.db'));
  });
  afterEach(async () => {
    await current.store.close();
    rmSync(current.dir, { recursive: true, force: true });
  });
  return current;
}
