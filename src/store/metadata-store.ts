// The metadata store interface. SQLite is the embedded implementation; another engine (a shared
// database for several emulator nodes) can implement the same.
import type { KeyRecord, KeyVersionRecord, Page } from './key-records.js';
import type { RoleAssignmentRecord, RoleDefinitionRecord } from './access-store.js';

/** What a full backup holds of the store: every key (deleted ones too) and the local RBAC. */
export interface HsmSnapshot {
  keys: KeyRecord[];
  /** Every version, each key's oldest first. */
  versions: KeyVersionRecord[];
  /** Custom role definitions (the built-in ones are the same everywhere). */
  roleDefinitions: RoleDefinitionRecord[];
  roleAssignments: RoleAssignmentRecord[];
}

/** A full restore being written: add the keys a chunk at a time, then commit, or discard. */
export interface StagedRestore {
  /** Adds keys (deleted ones too) with their versions, each key's oldest first, in one short transaction. */
  add(entries: ReadonlyArray<{ key: KeyRecord; versions: readonly KeyVersionRecord[] }>): void;
  /**
   * Makes the staged keys, with this local RBAC, the HSM's, in one short transaction; the
   * replaced rows become stale (takeStaleVersions).
   */
  commit(access: Pick<HsmSnapshot, 'roleDefinitions' | 'roleAssignments'>): void;
  /** Gives up: what was staged becomes stale. */
  discard(): void;
}

export interface StaleVersions {
  versions: KeyVersionRecord[];
  /** Whether stale rows remain after these. */
  more: boolean;
}

export interface VersionChanges {
  keyOps?: string[];
  enabled?: boolean;
  notBefore?: number | null;
  expires?: number | null;
  releasePolicy?: unknown;
  tags?: Record<string, string>;
  updated: number;
}

export interface MetadataStore {
  /** The key, live or soft-deleted, by name (any case). */
  getKey(name: string): KeyRecord | undefined;
  /** A version of a key; the newest when version is undefined. */
  getVersion(name: string, version?: string): KeyVersionRecord | undefined;
  /** Live keys in name order, each as its newest version. */
  listKeys(limit: number, after?: string): Page<KeyVersionRecord>;
  listVersions(name: string, limit: number, after?: string): Page<KeyVersionRecord>;
  /** Every version of a key, oldest first. */
  versionsOldestFirst(name: string): KeyVersionRecord[];
  listDeletedKeys(limit: number, after?: string): Page<{ key: KeyRecord; latest: KeyVersionRecord }>;
  /** Adds a version, creating the key if it is new; one transaction. */
  addVersion(version: KeyVersionRecord, key: { recoverableDays: number }): void;
  /**
   * Adds a new key with all its versions (oldest first) in one transaction; false, writing
   * nothing, when the name is taken (a restore that lost a race with a create).
   */
  addKey(versions: readonly KeyVersionRecord[], key: { recoverableDays: number; rotationPolicy: unknown }): boolean;
  updateVersion(name: string, version: string, changes: VersionChanges): KeyVersionRecord | undefined;
  setRotationPolicy(name: string, policy: unknown): void;
  /** Live keys that have a rotation policy. */
  keysWithRotationPolicy(): KeyRecord[];
  markDeleted(name: string, deletedDate: number, scheduledPurgeDate: number): void;
  markRecovered(name: string): void;
  /** Removes a key and all its versions; returns those whose token objects are to go (none that a staged restore keeps). */
  removeKey(name: string): KeyVersionRecord[];
  /**
   * Everything a full backup takes, as of one instant, read a page at a time off a connection
   * of its own: writes go on meanwhile, and the event loop is never held for long.
   */
  readSnapshot(): Promise<HsmSnapshot>;
  /**
   * Starts a full restore: keys written beside the current ones, seen by no reader until
   * committed. One at a time; refused while what a failed restore staged is still being removed.
   */
  stageRestore(): StagedRestore;
  /**
   * Removes up to `limit` rows that are no longer the HSM's (what a committed restore replaced,
   * what a failed one staged), returning the versions among them, whose token objects are to go.
   */
  takeStaleVersions(limit: number): StaleVersions;
  /** At start-up: removes every row of another generation than the current (their token objects are then orphans). Returns how many versions. */
  dropUncommitted(): number;
  /** Replaces one key and all its versions in one transaction (a selective restore); returns the old versions. */
  replaceKey(key: KeyRecord, versions: readonly KeyVersionRecord[]): KeyVersionRecord[];
  /** Every CKA_ID the store refers to, for reconciliation with the token. */
  tokenIds(): Buffer[];
  versionsByTokenId(tokenId: Buffer): KeyVersionRecord[];
  /** How many keys there are, live and soft-deleted, and how many versions in all. */
  counts(): { keys: number; deletedKeys: number; versions: number };
  close(): Promise<void>;
}
