// The embedded metadata store: SQLite in WAL mode (better-sqlite3), one file in the data directory.
import { chmodSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { KeyRecord, KeyVersionRecord, Page } from './key-records.js';
import type { HsmSnapshot, MetadataStore, StaleVersions, StagedRestore, VersionChanges } from './metadata-store.js';
import type { AccessStore } from './access-store.js';
import { SqliteAccessStore } from './sqlite-access-store.js';
import { type KeyRow, type VersionRow, keyValues, toKey, toVersion, versionValues } from './sqlite-rows.js';
import { CURRENT_GENERATION as G, MIGRATIONS } from './sqlite-schema.js';
import { readSnapshot } from './snapshot-reader.js';
import { SqliteStagedRestore } from './staged-restore.js';
import { WalCheckpointer } from './wal-checkpointer.js';
import { RecordCache } from './record-cache.js';

function page<T>(rows: T[], limit: number, cursor: (row: T) => string): Page<T> {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  const last = items[items.length - 1];
  return { items, next: more && last !== undefined ? cursor(last) : undefined };
}

/** Rows of a key version after its generation and seq, as INSERT_VERSION takes them (sqlite-rows.ts versionValues). */
export const INSERT_VERSION = `INSERT INTO key_versions (generation, seq, name, version, token_id, spec, public_jwk, key_ops, enabled, not_before,
  expires, exportable, release_policy, tags, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
/** A key's row after its generation (sqlite-rows.ts keyValues). */
export const INSERT_KEY = 'INSERT INTO keys (generation, name, recoverable_days, rotation_policy, deleted_date, scheduled_purge_date) VALUES (?, ?, ?, ?, ?, ?)';

const NEWEST = `SELECT * FROM key_versions WHERE generation = ${G} AND name = ? ORDER BY seq DESC LIMIT 1`;

export class SqliteMetadataStore implements MetadataStore {
  readonly #file: string;
  readonly #db: Database.Database;
  /** Statements are compiled once: preparing one costs more than running it. */
  readonly #statements = new Map<string, Database.Statement>();
  readonly #checkpointer: WalCheckpointer;
  /** The generation a full restore is writing, which clean-up leaves alone. */
  #staging: number | undefined;
  /** Principals, role definitions and role assignments, in the same database. */
  readonly access: AccessStore;
  /**
   * Keys and versions of the current generation as getKey and getVersion read them. Every method
   * that writes rows of the current generation starts by forgetting what it holds.
   */
  readonly #records: RecordCache<KeyRecord | KeyVersionRecord>;

  constructor(file: string) {
    this.#file = file;
    this.#db = new Database(file);
    // Principals' secret hashes live here; the WAL and shared-memory files take this mode too.
    chmodSync(file, 0o600);
    this.#db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit survives the process being killed at any instant (what the
    // crash tests check) without an fsync on the JS thread per write; a power cut may lose the
    // last commits.
    this.#db.pragma('synchronous = NORMAL');
    // `mhsm principal` writes to the same file while the server runs.
    this.#db.pragma('busy_timeout = 2000');
    // better-sqlite3 turns foreign keys on by default; off while the schema steps run.
    this.#db.pragma('foreign_keys = OFF');
    this.#migrate();
    this.#db.pragma('foreign_keys = ON');
    // Checkpoints fsync; a worker thread runs them (wal-checkpointer.ts), never this connection.
    this.#db.pragma('wal_autocheckpoint = 0');
    this.#checkpointer = new WalCheckpointer(file);
    this.access = new SqliteAccessStore((text) => this.#sql(text), this.#db);
    this.#records = new RecordCache(() => this.access.changesByOthers());
  }

  /** How many WAL checkpoints have run off the JS thread. */
  get checkpoints(): number {
    return this.#checkpointer.runs;
  }

  #sql(text: string): Database.Statement {
    let statement = this.#statements.get(text);
    if (!statement) {
      statement = this.#db.prepare(text);
      this.#statements.set(text, statement);
    }
    return statement;
  }

  /** Foreign keys stay off while the steps run: step 3 rebuilds tables that reference each other. */
  #migrate(): void {
    const done = this.#db.pragma('user_version', { simple: true }) as number;
    for (let step = done; step < MIGRATIONS.length; step++) {
      this.#db.transaction(() => {
        this.#db.exec(MIGRATIONS[step] as string);
        const broken = this.#db.pragma('foreign_key_check') as unknown[];
        if (broken.length > 0) throw new Error(`schema step ${step + 1} left ${broken.length} rows without their key`);
        this.#db.pragma(`user_version = ${step + 1}`);
      })();
    }
  }

  // Names compare without case (COLLATE NOCASE, ASCII): so do the cache's keys. Versions are
  // matched exactly, as the column is.
  getKey(name: string): KeyRecord | undefined {
    return this.#records.get(`k:${name.toLowerCase()}`, () => {
      const row = this.#sql(`SELECT * FROM keys WHERE generation = ${G} AND name = ?`).get(name) as KeyRow | undefined;
      return row && toKey(row);
    }) as KeyRecord | undefined;
  }

  getVersion(name: string, version?: string): KeyVersionRecord | undefined {
    return this.#records.get(`v:${name.toLowerCase()}:${version ?? ''}`, () => {
      const row = (
        version === undefined
          ? this.#sql(NEWEST).get(name)
          : this.#sql(`SELECT * FROM key_versions WHERE generation = ${G} AND name = ? AND version = ?`).get(name, version)
      ) as VersionRow | undefined;
      return row && toVersion(row);
    }) as KeyVersionRecord | undefined;
  }

  listKeys(limit: number, after = ''): Page<KeyVersionRecord> {
    const rows = this.#sql(
      `SELECT v.* FROM keys k JOIN key_versions v ON v.generation = k.generation AND v.name = k.name
       WHERE k.generation = ${G} AND k.deleted_date IS NULL AND k.name > ? COLLATE NOCASE
         AND v.seq = (SELECT MAX(seq) FROM key_versions WHERE generation = k.generation AND name = k.name)
       ORDER BY k.name COLLATE NOCASE LIMIT ?`,
    ).all(after, limit + 1) as VersionRow[];
    return this.#versionPage(rows, limit, (row) => row.name);
  }

  listVersions(name: string, limit: number, after = ''): Page<KeyVersionRecord> {
    const rows = this.#sql(`SELECT * FROM key_versions WHERE generation = ${G} AND name = ? AND version > ? ORDER BY version LIMIT ?`).all(
      name,
      after,
      limit + 1,
    ) as VersionRow[];
    return this.#versionPage(rows, limit, (row) => row.version);
  }

  versionsOldestFirst(name: string): KeyVersionRecord[] {
    return (this.#sql(`SELECT * FROM key_versions WHERE generation = ${G} AND name = ? ORDER BY seq`).all(name) as VersionRow[]).map(toVersion);
  }

  #versionPage(rows: VersionRow[], limit: number, cursor: (row: VersionRow) => string): Page<KeyVersionRecord> {
    const result = page(rows, limit, cursor);
    return { items: result.items.map(toVersion), next: result.next };
  }

  listDeletedKeys(limit: number, after = ''): Page<{ key: KeyRecord; latest: KeyVersionRecord }> {
    const keys = this.#sql(
      `SELECT * FROM keys WHERE generation = ${G} AND deleted_date IS NOT NULL AND name > ? COLLATE NOCASE ORDER BY name COLLATE NOCASE LIMIT ?`,
    ).all(after, limit + 1) as KeyRow[];
    const result = page(keys, limit, (row) => row.name);
    const items = result.items.flatMap((row) => {
      const latest = this.getVersion(row.name);
      return latest ? [{ key: toKey(row), latest }] : [];
    });
    return { items, next: result.next };
  }

  addVersion(version: KeyVersionRecord, key: { recoverableDays: number }): void {
    this.#records.clear();
    this.#db.transaction(() => {
      this.#sql(`INSERT INTO keys (generation, name, recoverable_days) VALUES (${G}, ?, ?) ON CONFLICT (generation, name) DO NOTHING`).run(
        version.name,
        key.recoverableDays,
      );
      const seq = (this.#sql(`SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM key_versions WHERE generation = ${G} AND name = ?`).get(version.name) as { seq: number })
        .seq;
      this.#insertVersion(this.#current(), seq, version);
    })();
  }

  #current(): number {
    return this.#sql(`SELECT ${G}`).pluck().get() as number;
  }

  #insertVersion(generation: number, seq: number, version: KeyVersionRecord): void {
    this.#sql(INSERT_VERSION).run(generation, seq, ...versionValues(version));
  }

  addKey(versions: readonly KeyVersionRecord[], key: { recoverableDays: number; rotationPolicy: unknown }): boolean {
    this.#records.clear();
    const name = versions[0]?.name;
    if (name === undefined) throw new RangeError('a key needs at least one version');
    return this.#db.transaction(() => {
      if (this.getKey(name)) return false;
      this.#insertKeyWithVersions(this.#current(), { name, recoverableDays: key.recoverableDays, rotationPolicy: key.rotationPolicy, deletedDate: null, scheduledPurgeDate: null }, versions);
      return true;
    })();
  }

  /** A key and its versions, oldest first, into a generation (inside a transaction). */
  #insertKeyWithVersions(generation: number, key: KeyRecord, versions: readonly KeyVersionRecord[]): void {
    this.#sql(INSERT_KEY).run(generation, ...keyValues(key));
    versions.forEach((version, index) => this.#insertVersion(generation, index + 1, version));
  }

  updateVersion(name: string, version: string, changes: VersionChanges): KeyVersionRecord | undefined {
    this.#records.clear();
    const sets: string[] = ['updated = @updated'];
    const values: Record<string, unknown> = { name, version, updated: changes.updated };
    const column = (field: string, value: unknown) => {
      sets.push(`${field} = @${field}`);
      values[field] = value;
    };
    if (changes.keyOps !== undefined) column('key_ops', JSON.stringify(changes.keyOps));
    if (changes.enabled !== undefined) column('enabled', changes.enabled ? 1 : 0);
    if (changes.notBefore !== undefined) column('not_before', changes.notBefore);
    if (changes.expires !== undefined) column('expires', changes.expires);
    if (changes.releasePolicy !== undefined) column('release_policy', JSON.stringify(changes.releasePolicy));
    if (changes.tags !== undefined) column('tags', JSON.stringify(changes.tags));
    this.#sql(`UPDATE key_versions SET ${sets.join(', ')} WHERE generation = ${G} AND name = @name AND version = @version`).run(values);
    return this.getVersion(name, version);
  }

  setRotationPolicy(name: string, policy: unknown): void {
    this.#records.clear();
    this.#sql(`UPDATE keys SET rotation_policy = ? WHERE generation = ${G} AND name = ?`).run(policy === undefined ? null : JSON.stringify(policy), name);
  }

  keysWithRotationPolicy(): KeyRecord[] {
    return (this.#sql(`SELECT * FROM keys WHERE generation = ${G} AND rotation_policy IS NOT NULL AND deleted_date IS NULL`).all() as KeyRow[]).map(toKey);
  }

  markDeleted(name: string, deletedDate: number, scheduledPurgeDate: number): void {
    this.#records.clear();
    this.#sql(`UPDATE keys SET deleted_date = ?, scheduled_purge_date = ? WHERE generation = ${G} AND name = ?`).run(deletedDate, scheduledPurgeDate, name);
  }

  markRecovered(name: string): void {
    this.#records.clear();
    this.#sql(`UPDATE keys SET deleted_date = NULL, scheduled_purge_date = NULL WHERE generation = ${G} AND name = ?`).run(name);
  }

  removeKey(name: string): KeyVersionRecord[] {
    this.#records.clear();
    return this.#db.transaction(() => {
      const versions = this.versionsOldestFirst(name);
      this.#sql(`DELETE FROM keys WHERE generation = ${G} AND name = ?`).run(name);
      return versions.filter((version) => !this.#stillNamed(version.tokenId));
    })();
  }

  /**
   * Whether a row of the current generation, or of the one a restore is staging, names this
   * object: a restore keeps the objects of versions it finds unchanged, so one object can be
   * named twice, and it goes only when neither names it.
   */
  #stillNamed(tokenId: Buffer): boolean {
    return this.#sql(`SELECT 1 FROM key_versions WHERE generation IN (${G}, ${G} + 1) AND token_id = ?`).pluck().get(tokenId) !== undefined;
  }

  readSnapshot(): Promise<HsmSnapshot> {
    return readSnapshot(this.#file);
  }

  stageRestore(): StagedRestore {
    if (this.#staging !== undefined) throw new Error('a full restore is already being staged');
    const generation = this.#db.transaction(() => {
      const next = this.#current() + 1;
      // What a failed restore staged and its clean-up has not yet removed is removed first.
      const leftover = this.#sql('SELECT COUNT(*) FROM key_versions WHERE generation >= ?').pluck().get(next) as number;
      if (leftover > 0) throw new Error(`${leftover} key versions of an unfinished restore are still being removed; try again shortly`);
      this.#sql('DELETE FROM keys WHERE generation >= ?').run(next);
      return next;
    })();
    this.#staging = generation;
    return new SqliteStagedRestore(this.#db, (text) => this.#sql(text), generation, {
      insert: (key, versions) => this.#insertKeyWithVersions(generation, key, versions),
      // A commit makes the staged generation the current one: every record read before is old.
      ended: () => {
        this.#staging = undefined;
        this.#records.clear();
      },
      replaceAccess: (next) => this.#replaceAccess(next),
    });
  }

  #replaceAccess(next: Pick<HsmSnapshot, 'roleDefinitions' | 'roleAssignments'>): void {
    this.#sql('DELETE FROM role_assignments').run();
    this.#sql('DELETE FROM role_definitions').run();
    for (const definition of next.roleDefinitions) this.access.putRoleDefinition(definition);
    for (const assignment of next.roleAssignments) this.access.addRoleAssignment(assignment);
  }

  takeStaleVersions(limit: number): StaleVersions {
    const staging = this.#staging ?? -1;
    return this.#db.transaction(() => {
      // Two ranges of the primary key, so that neither scans the current generation's rows.
      const older = this.#sql(`SELECT rowid, * FROM key_versions WHERE generation < ${G} LIMIT ?`).all(limit) as Array<VersionRow & { rowid: number }>;
      const rows =
        older.length === limit
          ? older
          : [...older, ...(this.#sql(`SELECT rowid, * FROM key_versions WHERE generation > ${G} AND generation != ? LIMIT ?`).all(staging, limit - older.length) as Array<VersionRow & { rowid: number }>)];
      const remove = this.#sql('DELETE FROM key_versions WHERE rowid = ?');
      const versions: KeyVersionRecord[] = [];
      for (const row of rows) {
        remove.run(row.rowid);
        if (!this.#stillNamed(row.token_id)) versions.push(toVersion(row));
      }
      if (rows.length === limit) return { versions, more: true };
      // No stale version is left, so no stale key has versions: the keys go, as many.
      const budget = limit - rows.length;
      let keys = this.#sql(`DELETE FROM keys WHERE rowid IN (SELECT rowid FROM keys WHERE generation < ${G} LIMIT ?)`).run(budget).changes;
      if (keys < budget) {
        keys += this.#sql(`DELETE FROM keys WHERE rowid IN (SELECT rowid FROM keys WHERE generation > ${G} AND generation != ? LIMIT ?)`).run(staging, budget - keys).changes;
      }
      return { versions, more: keys === budget };
    })();
  }

  dropUncommitted(): number {
    return this.#db.transaction(() => {
      const versions = this.#sql(`DELETE FROM key_versions WHERE generation != ${G}`).run().changes;
      this.#sql(`DELETE FROM keys WHERE generation != ${G}`).run();
      return versions;
    })();
  }

  replaceKey(key: KeyRecord, versions: readonly KeyVersionRecord[]): KeyVersionRecord[] {
    this.#records.clear();
    return this.#db.transaction(() => {
      const replaced = this.versionsOldestFirst(key.name);
      this.#sql(`DELETE FROM keys WHERE generation = ${G} AND name = ?`).run(key.name);
      this.#insertKeyWithVersions(this.#current(), key, versions);
      return replaced.filter((version) => !this.#stillNamed(version.tokenId));
    })();
  }

  tokenIds(): Buffer[] {
    return this.#sql(`SELECT token_id FROM key_versions WHERE generation = ${G}`).pluck().all() as Buffer[];
  }

  versionsByTokenId(tokenId: Buffer): KeyVersionRecord[] {
    return (this.#sql(`SELECT * FROM key_versions WHERE generation = ${G} AND token_id = ?`).all(tokenId) as VersionRow[]).map(toVersion);
  }

  counts(): { keys: number; deletedKeys: number; versions: number } {
    const keys = this.#sql(`SELECT COUNT(*) - COUNT(deleted_date) AS live, COUNT(deleted_date) AS deleted FROM keys WHERE generation = ${G}`).get() as {
      live: number;
      deleted: number;
    };
    const versions = this.#sql(`SELECT COUNT(*) FROM key_versions WHERE generation = ${G}`).pluck().get() as number;
    return { keys: keys.live, deletedKeys: keys.deleted, versions };
  }

  /** SQLite's own consistency check: 'ok' when the file is sound. */
  integrityCheck(): string {
    return this.#db.pragma('integrity_check', { simple: true }) as string;
  }

  /** Stops the checkpointer and folds the WAL into the database file before closing. */
  async close(): Promise<void> {
    await this.#checkpointer.stop();
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
    this.#db.close();
  }
}
