// The embedded metadata store: SQLite in WAL mode (better-sqlite3), one file in the data directory.
import { chmodSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { KeySpec } from '../token/key-spec.js';
import type { KeyRecord, KeyVersionRecord, Page } from './key-records.js';
import type { HsmSnapshot, MetadataStore, VersionChanges } from './metadata-store.js';
import type { AccessStore } from './access-store.js';
import { SqliteAccessStore } from './sqlite-access-store.js';
import { WalCheckpointer } from './wal-checkpointer.js';

/** Schema steps; PRAGMA user_version counts how many have run. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE keys (
     name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
     recoverable_days INTEGER NOT NULL,
     rotation_policy TEXT,
     deleted_date INTEGER,
     scheduled_purge_date INTEGER
   ) STRICT;
   CREATE TABLE key_versions (
     name TEXT NOT NULL COLLATE NOCASE REFERENCES keys(name) ON DELETE CASCADE,
     version TEXT NOT NULL,
     seq INTEGER NOT NULL,
     token_id BLOB NOT NULL UNIQUE,
     spec TEXT NOT NULL,
     public_jwk TEXT,
     key_ops TEXT NOT NULL,
     enabled INTEGER NOT NULL,
     not_before INTEGER,
     expires INTEGER,
     exportable INTEGER NOT NULL,
     release_policy TEXT,
     tags TEXT NOT NULL,
     created INTEGER NOT NULL,
     updated INTEGER NOT NULL,
     PRIMARY KEY (name, version)
   ) STRICT;
   CREATE INDEX key_versions_newest ON key_versions (name, seq);`,
  `CREATE TABLE principals (
     object_id TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
     client_id TEXT NOT NULL UNIQUE COLLATE NOCASE,
     display_name TEXT NOT NULL,
     secret_hash TEXT NOT NULL,
     created INTEGER NOT NULL
   ) STRICT;
   CREATE TABLE role_definitions (
     name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
     body TEXT NOT NULL
   ) STRICT;
   CREATE TABLE role_assignments (
     name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
     scope TEXT NOT NULL,
     principal_id TEXT NOT NULL COLLATE NOCASE,
     role_definition_name TEXT NOT NULL COLLATE NOCASE
   ) STRICT;
   CREATE INDEX role_assignments_principal ON role_assignments (principal_id);
   CREATE TABLE markers (name TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) STRICT;`,
];

interface VersionRow {
  name: string;
  version: string;
  token_id: Buffer;
  spec: string;
  public_jwk: string | null;
  key_ops: string;
  enabled: number;
  not_before: number | null;
  expires: number | null;
  exportable: number;
  release_policy: string | null;
  tags: string;
  created: number;
  updated: number;
}

interface KeyRow {
  name: string;
  recoverable_days: number;
  rotation_policy: string | null;
  deleted_date: number | null;
  scheduled_purge_date: number | null;
}

function fromJson(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

function toVersion(row: VersionRow): KeyVersionRecord {
  return {
    name: row.name,
    version: row.version,
    tokenId: row.token_id,
    spec: JSON.parse(row.spec) as KeySpec,
    publicJwk: row.public_jwk === null ? null : (JSON.parse(row.public_jwk) as Record<string, string>),
    keyOps: JSON.parse(row.key_ops) as string[],
    enabled: row.enabled === 1,
    notBefore: row.not_before,
    expires: row.expires,
    exportable: row.exportable === 1,
    releasePolicy: fromJson(row.release_policy),
    tags: JSON.parse(row.tags) as Record<string, string>,
    created: row.created,
    updated: row.updated,
  };
}

function toKey(row: KeyRow): KeyRecord {
  return {
    name: row.name,
    recoverableDays: row.recoverable_days,
    rotationPolicy: fromJson(row.rotation_policy),
    deletedDate: row.deleted_date,
    scheduledPurgeDate: row.scheduled_purge_date,
  };
}

function page<T>(rows: T[], limit: number, cursor: (row: T) => string): Page<T> {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  const last = items[items.length - 1];
  return { items, next: more && last !== undefined ? cursor(last) : undefined };
}

const NEWEST = `SELECT v.* FROM key_versions v WHERE v.name = ? COLLATE NOCASE ORDER BY v.seq DESC LIMIT 1`;

export class SqliteMetadataStore implements MetadataStore {
  readonly #db: Database.Database;
  /** Statements are compiled once: preparing one costs more than running it. */
  readonly #statements = new Map<string, Database.Statement>();
  readonly #checkpointer: WalCheckpointer;
  /** Principals, role definitions and role assignments, in the same database. */
  readonly access: AccessStore;

  constructor(file: string) {
    this.#db = new Database(file);
    // Principals' secret hashes live here; the WAL and shared-memory files take this mode too.
    chmodSync(file, 0o600);
    this.#db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit survives the process being killed at any instant (what the
    // crash tests check) without an fsync on the JS thread per write; a power cut may lose the
    // last commits.
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('foreign_keys = ON');
    // `mhsm principal` writes to the same file while the server runs.
    this.#db.pragma('busy_timeout = 2000');
    this.#migrate();
    // Checkpoints fsync; a worker thread runs them (wal-checkpointer.ts), never this connection.
    this.#db.pragma('wal_autocheckpoint = 0');
    this.#checkpointer = new WalCheckpointer(file);
    this.access = new SqliteAccessStore((text) => this.#sql(text), this.#db);
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

  #migrate(): void {
    const done = this.#db.pragma('user_version', { simple: true }) as number;
    for (let step = done; step < MIGRATIONS.length; step++) {
      this.#db.transaction(() => {
        this.#db.exec(MIGRATIONS[step] as string);
        this.#db.pragma(`user_version = ${step + 1}`);
      })();
    }
  }

  getKey(name: string): KeyRecord | undefined {
    const row = this.#sql('SELECT * FROM keys WHERE name = ?').get(name) as KeyRow | undefined;
    return row && toKey(row);
  }

  getVersion(name: string, version?: string): KeyVersionRecord | undefined {
    const row = (
      version === undefined
        ? this.#sql(NEWEST).get(name)
        : this.#sql('SELECT * FROM key_versions WHERE name = ? AND version = ?').get(name, version)
    ) as VersionRow | undefined;
    return row && toVersion(row);
  }

  listKeys(limit: number, after = ''): Page<KeyVersionRecord> {
    const rows = this.#db
      .prepare(
        `SELECT v.* FROM keys k JOIN key_versions v ON v.name = k.name
         WHERE k.deleted_date IS NULL AND k.name > ? COLLATE NOCASE
           AND v.seq = (SELECT MAX(seq) FROM key_versions WHERE name = k.name)
         ORDER BY k.name COLLATE NOCASE LIMIT ?`,
      )
      .all(after, limit + 1) as VersionRow[];
    return this.#versionPage(rows, limit, (row) => row.name);
  }

  listVersions(name: string, limit: number, after = ''): Page<KeyVersionRecord> {
    const rows = this.#db
      .prepare('SELECT * FROM key_versions WHERE name = ? AND version > ? ORDER BY version LIMIT ?')
      .all(name, after, limit + 1) as VersionRow[];
    return this.#versionPage(rows, limit, (row) => row.version);
  }

  versionsOldestFirst(name: string): KeyVersionRecord[] {
    return (this.#sql('SELECT * FROM key_versions WHERE name = ? ORDER BY seq').all(name) as VersionRow[]).map(toVersion);
  }

  #versionPage(rows: VersionRow[], limit: number, cursor: (row: VersionRow) => string): Page<KeyVersionRecord> {
    const result = page(rows, limit, cursor);
    return { items: result.items.map(toVersion), next: result.next };
  }

  listDeletedKeys(limit: number, after = ''): Page<{ key: KeyRecord; latest: KeyVersionRecord }> {
    const keys = this.#db
      .prepare('SELECT * FROM keys WHERE deleted_date IS NOT NULL AND name > ? COLLATE NOCASE ORDER BY name COLLATE NOCASE LIMIT ?')
      .all(after, limit + 1) as KeyRow[];
    const result = page(keys, limit, (row) => row.name);
    const items = result.items.flatMap((row) => {
      const latest = this.getVersion(row.name);
      return latest ? [{ key: toKey(row), latest }] : [];
    });
    return { items, next: result.next };
  }

  addVersion(version: KeyVersionRecord, key: { recoverableDays: number }): void {
    this.#db.transaction(() => {
      this.#sql('INSERT INTO keys (name, recoverable_days) VALUES (?, ?) ON CONFLICT (name) DO NOTHING').run(version.name, key.recoverableDays);
      const seq = (this.#sql('SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM key_versions WHERE name = ?').get(version.name) as { seq: number }).seq;
      this.#sql(
        `INSERT INTO key_versions (name, version, seq, token_id, spec, public_jwk, key_ops, enabled, not_before, expires,
           exportable, release_policy, tags, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
          version.name,
          version.version,
          seq,
          version.tokenId,
          JSON.stringify(version.spec),
          version.publicJwk === null ? null : JSON.stringify(version.publicJwk),
          JSON.stringify(version.keyOps),
          version.enabled ? 1 : 0,
          version.notBefore,
          version.expires,
          version.exportable ? 1 : 0,
          version.releasePolicy === undefined ? null : JSON.stringify(version.releasePolicy),
          JSON.stringify(version.tags),
          version.created,
          version.updated,
        );
    })();
  }

  addKey(versions: readonly KeyVersionRecord[], key: { recoverableDays: number; rotationPolicy: unknown }): boolean {
    const name = versions[0]?.name;
    if (name === undefined) throw new RangeError('a key needs at least one version');
    return this.#db.transaction(() => {
      const inserted = this.#sql('INSERT INTO keys (name, recoverable_days) VALUES (?, ?) ON CONFLICT (name) DO NOTHING').run(name, key.recoverableDays).changes > 0;
      if (!inserted) return false;
      for (const version of versions) this.addVersion(version, key);
      if (key.rotationPolicy !== undefined && key.rotationPolicy !== null) this.setRotationPolicy(name, key.rotationPolicy);
      return true;
    })();
  }

  updateVersion(name: string, version: string, changes: VersionChanges): KeyVersionRecord | undefined {
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
    this.#sql(`UPDATE key_versions SET ${sets.join(', ')} WHERE name = @name AND version = @version`).run(values);
    return this.getVersion(name, version);
  }

  setRotationPolicy(name: string, policy: unknown): void {
    this.#sql('UPDATE keys SET rotation_policy = ? WHERE name = ?').run(policy === undefined ? null : JSON.stringify(policy), name);
  }

  keysWithRotationPolicy(): KeyRecord[] {
    return (this.#sql('SELECT * FROM keys WHERE rotation_policy IS NOT NULL AND deleted_date IS NULL').all() as KeyRow[]).map(toKey);
  }

  markDeleted(name: string, deletedDate: number, scheduledPurgeDate: number): void {
    this.#sql('UPDATE keys SET deleted_date = ?, scheduled_purge_date = ? WHERE name = ?').run(deletedDate, scheduledPurgeDate, name);
  }

  markRecovered(name: string): void {
    this.#sql('UPDATE keys SET deleted_date = NULL, scheduled_purge_date = NULL WHERE name = ?').run(name);
  }

  removeKey(name: string): KeyVersionRecord[] {
    return this.#db.transaction(() => {
      const versions = this.versionsOldestFirst(name);
      this.#sql('DELETE FROM keys WHERE name = ?').run(name);
      return versions;
    })();
  }

  snapshot(): HsmSnapshot {
    return this.#db.transaction(() => ({
      keys: (this.#sql('SELECT * FROM keys ORDER BY name COLLATE NOCASE').all() as KeyRow[]).map(toKey),
      versions: (this.#sql('SELECT * FROM key_versions ORDER BY name COLLATE NOCASE, seq').all() as VersionRow[]).map(toVersion),
      roleDefinitions: this.access.customRoleDefinitions(),
      roleAssignments: this.access.roleAssignments(),
    }))();
  }

  replaceAll(next: HsmSnapshot): KeyVersionRecord[] {
    return this.#db.transaction(() => {
      const replaced = (this.#sql('SELECT * FROM key_versions').all() as VersionRow[]).map(toVersion);
      this.#sql('DELETE FROM key_versions').run();
      this.#sql('DELETE FROM keys').run();
      this.#sql('DELETE FROM role_assignments').run();
      this.#sql('DELETE FROM role_definitions').run();
      this.#insertKeys(next.keys, next.versions);
      for (const definition of next.roleDefinitions) this.access.putRoleDefinition(definition);
      for (const assignment of next.roleAssignments) this.access.addRoleAssignment(assignment);
      return replaced;
    })();
  }

  replaceKey(key: KeyRecord, versions: readonly KeyVersionRecord[]): KeyVersionRecord[] {
    return this.#db.transaction(() => {
      const replaced = this.versionsOldestFirst(key.name);
      this.#sql('DELETE FROM keys WHERE name = ?').run(key.name);
      this.#insertKeys([key], versions);
      return replaced;
    })();
  }

  /** Keys with their deleted state and policies, then their versions in order (inside a transaction). */
  #insertKeys(keys: readonly KeyRecord[], versions: readonly KeyVersionRecord[]): void {
    for (const key of keys) {
      this.#sql('INSERT INTO keys (name, recoverable_days, rotation_policy, deleted_date, scheduled_purge_date) VALUES (?, ?, ?, ?, ?)').run(
        key.name,
        key.recoverableDays,
        key.rotationPolicy === undefined || key.rotationPolicy === null ? null : JSON.stringify(key.rotationPolicy),
        key.deletedDate,
        key.scheduledPurgeDate,
      );
    }
    for (const version of versions) this.addVersion(version, { recoverableDays: 90 });
  }

  tokenIds(): Buffer[] {
    return (this.#sql('SELECT token_id FROM key_versions').all() as Array<{ token_id: Buffer }>).map((row) => row.token_id);
  }

  versionsByTokenId(tokenId: Buffer): KeyVersionRecord[] {
    return (this.#sql('SELECT * FROM key_versions WHERE token_id = ?').all(tokenId) as VersionRow[]).map(toVersion);
  }

  counts(): { keys: number; deletedKeys: number; versions: number } {
    const keys = this.#sql('SELECT COUNT(*) - COUNT(deleted_date) AS live, COUNT(deleted_date) AS deleted FROM keys').get() as { live: number; deleted: number };
    const versions = (this.#sql('SELECT COUNT(*) AS n FROM key_versions').get() as { n: number }).n;
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
