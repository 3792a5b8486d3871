// Rows of the key tables and the records they hold (sqlite-schema.ts makes the tables).
import type { KeySpec } from '../token/key-spec.js';
import type { KeyRecord, KeyVersionRecord } from './key-records.js';

export interface VersionRow {
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

export interface KeyRow {
  name: string;
  recoverable_days: number;
  rotation_policy: string | null;
  deleted_date: number | null;
  scheduled_purge_date: number | null;
}

function fromJson(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

function toJson(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

export function toVersion(row: VersionRow): KeyVersionRecord {
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

export function toKey(row: KeyRow): KeyRecord {
  return {
    name: row.name,
    recoverableDays: row.recoverable_days,
    rotationPolicy: fromJson(row.rotation_policy),
    deletedDate: row.deleted_date,
    scheduledPurgeDate: row.scheduled_purge_date,
  };
}

/** The columns INSERT_KEY names, in its order, after the generation. */
export function keyValues(key: KeyRecord): unknown[] {
  return [key.name, key.recoverableDays, toJson(key.rotationPolicy), key.deletedDate, key.scheduledPurgeDate];
}

/** The columns INSERT_VERSION names, in its order, after the generation and seq. */
export function versionValues(version: KeyVersionRecord): unknown[] {
  return [
    version.name,
    version.version,
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
  ];
}
