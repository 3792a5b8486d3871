// The embedded database's schema, as the steps that built it; PRAGMA user_version counts how many
// have run.
//
// Keys and their versions carry a generation. Only the current one (the single row of
// key_generation) is the HSM's; every query names it through CURRENT_GENERATION. A full restore
// writes the backup's keys as the next generation, a chunk at a time, invisible to every reader,
// then makes it current by changing one row: the swap is one short transaction however many keys
// there are, and a crash before it leaves the staged rows to be dropped at start-up, a crash after
// it the old ones. A token object is named once per generation: a restore that finds a version's
// material unchanged names the same object in the next generation.

/** The generation every query of the keys reads and writes. */
export const CURRENT_GENERATION = '(SELECT current FROM key_generation)';

// The columns as step 3 rebuilds the tables with them (step 1 keeps its own text, as released).
const KEY_COLUMNS = `name TEXT NOT NULL COLLATE NOCASE,
     recoverable_days INTEGER NOT NULL,
     rotation_policy TEXT,
     deleted_date INTEGER,
     scheduled_purge_date INTEGER`;

const VERSION_COLUMNS = `name TEXT NOT NULL COLLATE NOCASE,
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
     updated INTEGER NOT NULL`;

const VERSION_NAMES = 'name, version, seq, token_id, spec, public_jwk, key_ops, enabled, not_before, expires, exportable, release_policy, tags, created, updated';

/** Never edited once released: a data directory has run some of them. Run with foreign keys off (step 3 rebuilds tables that reference each other). */
export const MIGRATIONS: readonly string[] = [
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
  `CREATE TABLE key_generation (
     only INTEGER NOT NULL PRIMARY KEY CHECK (only = 1),
     current INTEGER NOT NULL
   ) STRICT;
   INSERT INTO key_generation (only, current) VALUES (1, 0);
   CREATE TABLE keys_next (
     generation INTEGER NOT NULL,
     ${KEY_COLUMNS},
     PRIMARY KEY (generation, name)
   ) STRICT;
   INSERT INTO keys_next SELECT 0, * FROM keys;
   CREATE TABLE key_versions_next (
     generation INTEGER NOT NULL,
     ${VERSION_COLUMNS.replace('token_id BLOB NOT NULL UNIQUE', 'token_id BLOB NOT NULL')},
     PRIMARY KEY (generation, name, version),
     UNIQUE (generation, token_id),
     FOREIGN KEY (generation, name) REFERENCES keys (generation, name) ON DELETE CASCADE
   ) STRICT;
   INSERT INTO key_versions_next SELECT 0, ${VERSION_NAMES} FROM key_versions;
   DROP TABLE key_versions;
   DROP TABLE keys;
   ALTER TABLE keys_next RENAME TO keys;
   ALTER TABLE key_versions_next RENAME TO key_versions;
   CREATE INDEX key_versions_newest ON key_versions (generation, name, seq);`,
];
