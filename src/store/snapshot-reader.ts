// A full backup's view of the store: one read transaction on a connection of its own, so that it
// sees one instant (WAL gives each reader its snapshot) while the server's connection goes on
// writing, read a page at a time with the event loop free between pages.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { KeyRecord, KeyVersionRecord } from './key-records.js';
import type { HsmSnapshot } from './metadata-store.js';
import { SqliteAccessStore } from './sqlite-access-store.js';
import { type KeyRow, type VersionRow, toKey, toVersion } from './sqlite-rows.js';

/** Rows per page: a few milliseconds of the event loop each. */
const PAGE = 500;

export async function readSnapshot(file: string): Promise<HsmSnapshot> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 2000');
    db.exec('BEGIN');
    // The first read fixes the transaction's snapshot; every later page reads the same instant.
    const generation = db.prepare('SELECT current FROM key_generation').pluck().get() as number;
    const keyPage = db.prepare('SELECT * FROM keys WHERE generation = ? AND name > ? ORDER BY name LIMIT ?');
    const keys: KeyRecord[] = [];
    for (let after = ''; ; ) {
      const rows = keyPage.all(generation, after, PAGE) as KeyRow[];
      keys.push(...rows.map(toKey));
      if (rows.length < PAGE) break;
      after = (rows[rows.length - 1] as KeyRow).name;
      await yieldToEventLoop();
    }
    const versionPage = db.prepare('SELECT * FROM key_versions WHERE generation = ? AND (name, seq) > (?, ?) ORDER BY name, seq LIMIT ?');
    const versions: KeyVersionRecord[] = [];
    for (let afterName = '', afterSeq = 0; ; ) {
      const rows = versionPage.all(generation, afterName, afterSeq, PAGE) as Array<VersionRow & { seq: number }>;
      versions.push(...rows.map(toVersion));
      if (rows.length < PAGE) break;
      const last = rows[rows.length - 1] as VersionRow & { seq: number };
      afterName = last.name;
      afterSeq = last.seq;
      await yieldToEventLoop();
    }
    const access = new SqliteAccessStore((text) => db.prepare(text), db);
    const snapshot = { keys, versions, roleDefinitions: access.customRoleDefinitions(), roleAssignments: access.roleAssignments() };
    db.exec('COMMIT');
    return snapshot;
  } finally {
    db.close();
  }
}
