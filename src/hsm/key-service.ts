// Managed HSM keys without HTTP: versions, attributes, soft delete, recovery, purge, and every
// cryptographic use checked against the key's state (enabled, nbf, exp, key_ops) first.
//
// Order of writes: a new version's token objects are made before its row is committed, and a
// purged key's row goes before its token objects; so a crash leaves at worst token objects that
// no row names, which start-up reconciliation removes, and never a row without its key.
import { randomBytes } from 'node:crypto';
import type { KeyRecord, KeyVersionRecord, Page } from '../store/key-records.js';
import type { MetadataStore, VersionChanges } from '../store/metadata-store.js';
import { type KeySpec, type TokenKey, isKeyPair } from '../token/key-spec.js';
import type { Token } from '../token/token.js';
import type { CipherResult } from './algorithms/types.js';
import type { Clock } from '../clock/clock.js';
import { HsmError, fromTokenError } from './errors.js';
import { tokenFailureCode } from '../token/errors.js';
import { keyMaterialFromJwk, publicJwk } from './jwk.js';
import { checkKeyMaterial } from './key-material-check.js';
import { unwrapTransferBlob } from './byok/byok-import.js';
import { changedReleasePolicy, releasePolicyOfNewKey } from './release/release-rules.js';
import { parseTransferBlob } from './byok/transfer-blob.js';
import { assertKeyExchangeKey, kekReference } from './byok/key-exchange-key.js';
import { decryptWith, encryptWith, signDigest, verifyDigest } from './key-crypto.js';
import { KEY_OBJECT_OPTIONS, TOKEN_OBJECT_LABEL } from './key-objects.js';
import type { TokenCleanup } from './token-cleanup.js';
import { type RotationPolicy, checkRotationPolicy, rotationDue } from './rotation-policy.js';
import { durationSeconds } from './durations.js';
import { type CheckedAttributes, type KeyOperation, checkAttributes, checkKeyName, checkTags, keyOperations, specForCreate } from './key-rules.js';

export interface KeyView {
  key: KeyRecord;
  version: KeyVersionRecord;
}

export interface CreateKeyInput {
  kty: unknown;
  keySize?: unknown;
  crv?: unknown;
  keyOps?: unknown;
  publicExponent?: unknown;
  attributes?: unknown;
  tags?: unknown;
  releasePolicy?: unknown;
}

export interface ImportKeyInput {
  /** The JWK with its private parts (kty, key_ops, n/e/d/…, crv/x/y/d, k). */
  jwk: Record<string, unknown>;
  attributes?: unknown;
  tags?: unknown;
  releasePolicy?: unknown;
}

export interface UpdateKeyInput {
  keyOps?: unknown;
  attributes?: unknown;
  tags?: unknown;
  releasePolicy?: unknown;
}

export interface KeyServiceOptions {
  /** Soft-delete retention, 7 to 90 days. */
  recoverableDays?: number;
  purgeProtection?: boolean;
  /** The service's limits: keys per HSM (soft-deleted ones count), versions per key. */
  limits?: { keys: number; keyVersions: number };
}

/** The limits the service publishes, which the emulator keeps unless told otherwise. */
export const KEY_LIMITS = { keys: 5000, keyVersions: 100 } as const;

export const MAX_PAGE = 25;
export { TOKEN_OBJECT_LABEL } from './key-objects.js';


/** What a token answers to key material it will not take. */
const REFUSED_MATERIAL: ReadonlySet<string> = new Set(['CKR_ATTRIBUTE_VALUE_INVALID', 'CKR_TEMPLATE_INCONSISTENT', 'CKR_DOMAIN_PARAMS_INVALID', 'CKR_KEY_SIZE_RANGE']);


export interface Reconciliation {
  /**
   * Keys in the token that no committed version names (a crash between making them and
   * committing, or during a full restore), handed to the background clean-up.
   */
  orphans: number;
  /** Committed versions whose token objects are gone: reported, never silently dropped. */
  missing: KeyVersionRecord[];
}

interface PreparedVersion {
  attributes: CheckedAttributes;
  tags: Record<string, string>;
  releasePolicy: unknown;
}

export class KeyService {
  readonly recoverableDays: number;
  readonly purgeProtection: boolean;
  readonly #limits: { keys: number; keyVersions: number };

  constructor(
    private readonly token: Token,
    private readonly store: MetadataStore,
    private readonly clock: Clock,
    options: KeyServiceOptions = {},
  ) {
    this.recoverableDays = options.recoverableDays ?? 90;
    this.purgeProtection = options.purgeProtection ?? false;
    this.#limits = options.limits ?? KEY_LIMITS;
    if (!Number.isInteger(this.recoverableDays) || this.recoverableDays < 7 || this.recoverableDays > 90) {
      throw new RangeError('recoverableDays must be a whole number from 7 to 90');
    }
  }

  // ---- life cycle ---------------------------------------------------------------------------

  async create(name: string, input: CreateKeyInput): Promise<KeyView> {
    checkKeyName(name);
    const spec = specForCreate(input.kty, input.keySize, input.crv, input.keyOps, input.publicExponent);
    const keyOps = keyOperations(spec, input.keyOps);
    this.#assertRoomFor(name);
    const prepared = this.#prepareVersion(input.attributes, input.tags, input.releasePolicy);
    const tokenKey = await this.#tokenCall(`create key ${name}`, () => this.token.generateKey(spec, KEY_OBJECT_OPTIONS));
    return this.#commitVersion(name, spec, tokenKey, keyOps, prepared);
  }

  async importKey(name: string, input: ImportKeyInput): Promise<KeyView> {
    checkKeyName(name);
    if (typeof input.jwk !== 'object' || input.jwk === null) throw new HsmError('BadParameter', 'key: required, a JSON Web Key');
    if (input.jwk.key_hsm !== undefined) return this.#importTransferBlob(name, input);
    const { spec, material } = keyMaterialFromJwk(input.jwk);
    checkKeyMaterial(material);
    const keyOps = keyOperations(spec, input.jwk.key_ops);
    this.#assertRoomFor(name);
    const prepared = this.#prepareVersion(input.attributes, input.tags, input.releasePolicy);
    const tokenKey = await this.#tokenCall(`import key ${name}`, () =>
      this.token.importKey(spec, material, KEY_OBJECT_OPTIONS).catch((error: unknown) => {
        // Material that passed our checks and the token still refuses is the caller's, not ours.
        const code = tokenFailureCode(error);
        if (code !== undefined && REFUSED_MATERIAL.has(code)) {
          throw new HsmError('BadParameter', `key: the token refused this key material (${code})`, { cause: error });
        }
        throw error;
      }),
    );
    return this.#commitVersion(name, spec, tokenKey, keyOps, prepared);
  }

  /** BYOK: the key arrives wrapped under one of this HSM's key-exchange keys (byok/). */
  async #importTransferBlob(name: string, input: ImportKeyInput): Promise<KeyView> {
    const blob = parseTransferBlob(input.jwk.key_hsm);
    // An oct-HSM key brought by BYOK is an AES key, whatever its key_ops.
    const declared = specForCreate(input.jwk.kty, undefined, input.jwk.crv);
    const keyOps = keyOperations(declared, input.jwk.key_ops);
    const kek = this.#keyExchangeKey(blob.kid);
    this.#assertRoomFor(name);
    const prepared = this.#prepareVersion(input.attributes, input.tags, input.releasePolicy);
    const tokenKey = await this.#tokenCall(`import key ${name}`, () => unwrapTransferBlob(this.token, kek, blob, declared));
    return this.#commitVersion(name, tokenKey.spec, tokenKey, keyOps, prepared);
  }

  /** The key a blob's header.kid names, if it is a usable key-exchange key of this HSM. */
  #keyExchangeKey(kid: string): TokenKey {
    const { name, version } = kekReference(kid);
    const key = this.store.getKey(name);
    assertKeyExchangeKey(key && key.deletedDate === null ? this.store.getVersion(key.name, version) : undefined, kid);
    return this.#tokenKey(this.#usable(name, version, 'import').version);
  }

  get(name: string, version?: string): KeyView {
    const key = this.#liveKey(name);
    const found = this.store.getVersion(key.name, version || undefined);
    if (!found) throw new HsmError('KeyNotFound', `A key with (name/id) ${name}${version ? `/${version}` : ''} was not found in this HSM`);
    return { key, version: found };
  }

  list(limit: number | undefined, after?: string): Page<KeyView> {
    const page = this.store.listKeys(this.#limit(limit), after);
    return {
      items: page.items.map((version) => ({ key: this.store.getKey(version.name) as KeyRecord, version })),
      next: page.next,
    };
  }

  listVersions(name: string, limit: number | undefined, after?: string): Page<KeyView> {
    const key = this.store.getKey(name);
    if (!key || key.deletedDate !== null) return { items: [], next: undefined };
    const page = this.store.listVersions(key.name, this.#limit(limit), after);
    return { items: page.items.map((version) => ({ key, version })), next: page.next };
  }

  update(name: string, version: string | undefined, input: UpdateKeyInput): KeyView {
    const current = this.get(name, version);
    const changes: VersionChanges = { updated: this.clock.now() };
    if (input.keyOps !== undefined) changes.keyOps = keyOperations(current.version.spec, input.keyOps);
    if (input.tags !== undefined) changes.tags = checkTags(input.tags);
    if (input.releasePolicy !== undefined && input.releasePolicy !== null) changes.releasePolicy = changedReleasePolicy(current.version, input.releasePolicy);
    const attributes = checkAttributes(input.attributes);
    if (attributes.exportable !== undefined && attributes.exportable !== current.version.exportable) {
      throw new HsmError('BadParameter', 'attributes.exportable: cannot be changed after the key is made');
    }
    if (attributes.enabled !== undefined) changes.enabled = attributes.enabled;
    if (attributes.notBefore !== undefined) changes.notBefore = attributes.notBefore;
    if (attributes.expires !== undefined) changes.expires = attributes.expires;
    const notBefore = changes.notBefore === undefined ? current.version.notBefore : changes.notBefore;
    const expires = changes.expires === undefined ? current.version.expires : changes.expires;
    if (notBefore !== null && expires !== null && expires <= notBefore) throw new HsmError('BadParameter', 'attributes.exp: must be later than attributes.nbf');
    const updated = this.store.updateVersion(current.key.name, current.version.version, changes) as KeyVersionRecord;
    return { key: current.key, version: updated };
  }

  delete(name: string): KeyView {
    const key = this.#liveKey(name);
    const now = this.clock.now();
    this.store.markDeleted(key.name, now, now + key.recoverableDays * 86400);
    return this.getDeleted(key.name);
  }

  getDeleted(name: string): KeyView {
    const key = this.store.getKey(name);
    const version = key && key.deletedDate !== null ? this.store.getVersion(key.name) : undefined;
    if (!key || !version) throw new HsmError('KeyNotFound', `Deleted Key not found: ${name}`);
    return { key, version };
  }

  listDeleted(limit: number | undefined, after?: string): Page<KeyView> {
    const page = this.store.listDeletedKeys(this.#limit(limit), after);
    return { items: page.items.map(({ key, latest }) => ({ key, version: latest })), next: page.next };
  }

  recover(name: string): KeyView {
    const deleted = this.getDeleted(name);
    this.store.markRecovered(deleted.key.name);
    return this.get(deleted.key.name);
  }

  async purge(name: string): Promise<void> {
    const deleted = this.getDeleted(name);
    if (this.purgeProtection) {
      throw new HsmError('Forbidden', `Operation "purge" is not allowed because purge protection is enabled for this HSM (key ${name})`);
    }
    await this.#removeKey(deleted.key.name);
  }

  /** Purges every soft-deleted key whose retention has run out by the clock. */
  async purgeExpired(): Promise<string[]> {
    const purged: string[] = [];
    let after: string | undefined;
    do {
      const page = this.store.listDeletedKeys(MAX_PAGE, after);
      for (const { key } of page.items) {
        if (key.scheduledPurgeDate !== null && key.scheduledPurgeDate <= this.clock.now()) {
          await this.#removeKey(key.name);
          purged.push(key.name);
        }
      }
      after = page.next;
    } while (after !== undefined);
    return purged;
  }

  /**
   * Start-up check that the store and the token agree (see the write order at the top): rows of
   * a restore that was not committed, or that a committed one replaced, are dropped; then every
   * token object that no committed row names goes to `cleanup`.
   */
  async reconcile(cleanup: TokenCleanup): Promise<Reconciliation> {
    this.store.dropUncommitted();
    const committed = new Map<string, Buffer>(this.store.tokenIds().map((id) => [id.toString('hex'), id]));
    const inToken = await this.token.keyIdsLabelled(TOKEN_OBJECT_LABEL);
    const orphans = inToken.filter((id) => !committed.has(id.toString('hex')));
    cleanup.destroy(orphans);
    const present = new Set(inToken.map((id) => id.toString('hex')));
    const missing: KeyVersionRecord[] = [];
    for (const [hex, id] of committed) {
      if (!present.has(hex)) missing.push(...this.store.versionsByTokenId(id));
    }
    return { orphans: orphans.length, missing };
  }

  // ---- rotation -----------------------------------------------------------------------------

  getRotationPolicy(name: string): RotationPolicy | undefined {
    return this.#liveKey(name).rotationPolicy as RotationPolicy | undefined;
  }

  /** Sets the policy; an empty one (no actions, no expiry) removes it. */
  setRotationPolicy(name: string, body: Record<string, unknown>): RotationPolicy | undefined {
    const key = this.#liveKey(name);
    const checked = checkRotationPolicy(body);
    const now = this.clock.now();
    const existing = key.rotationPolicy as RotationPolicy | undefined;
    const policy = checked && { ...checked, created: existing?.created ?? now, updated: now };
    this.store.setRotationPolicy(key.name, policy);
    return policy;
  }

  /** A new version with the same type, operations, tags and export rules; it expires per the policy. */
  async rotate(name: string): Promise<KeyView> {
    const { key, version } = this.get(name);
    const policy = key.rotationPolicy as RotationPolicy | undefined;
    if (!policy) throw new HsmError('BadParameter', `Key ${name} has no rotation policy; set one before rotating it`);
    this.#assertRoomFor(key.name);
    const tokenKey = await this.#tokenCall(`rotate key ${name}`, () => this.token.generateKey(version.spec, KEY_OBJECT_OPTIONS));
    const expires = policy.expiryTime === undefined ? null : this.clock.now() + (durationSeconds(policy.expiryTime) as number);
    return this.#commitVersion(key.name, version.spec, tokenKey, version.keyOps as KeyOperation[], {
      attributes: { enabled: true, exportable: version.exportable, expires },
      tags: version.tags,
      releasePolicy: version.releasePolicy,
    });
  }

  /** Rotates every key whose policy says its newest version is due. */
  async rotateDue(): Promise<string[]> {
    const rotated: string[] = [];
    for (const key of this.store.keysWithRotationPolicy()) {
      const newest = this.store.getVersion(key.name);
      const due = newest && rotationDue(key.rotationPolicy as RotationPolicy, newest.created, newest.expires);
      if (due !== undefined && due <= this.clock.now()) {
        // A key at its version limit is not rotated (the service's limit), and holds up no other.
        if (this.store.versionsOldestFirst(key.name).length >= this.#limits.keyVersions) continue;
        await this.rotate(key.name);
        rotated.push(key.name);
      }
    }
    return rotated;
  }

  /** What the clock drives: purges past retention, then rotations that are due. */
  async maintain(): Promise<{ purged: string[]; rotated: string[] }> {
    return { purged: await this.purgeExpired(), rotated: await this.rotateDue() };
  }

  // ---- cryptography -------------------------------------------------------------------------

  async sign(name: string, version: string | undefined, alg: unknown, digest: Buffer): Promise<{ view: KeyView; value: Buffer }> {
    const view = this.#usable(name, version, 'sign');
    return { view, value: await signDigest(this.token, this.#tokenKey(view.version), alg, digest) };
  }

  async verify(name: string, version: string | undefined, alg: unknown, digest: Buffer, signature: Buffer): Promise<{ view: KeyView; value: boolean }> {
    const view = this.#usable(name, version, 'verify');
    return { view, value: await verifyDigest(this.token, this.#tokenKey(view.version), alg, digest, signature) };
  }

  async encrypt(
    name: string,
    version: string | undefined,
    operation: 'encrypt' | 'wrapKey',
    alg: unknown,
    input: { plaintext: Buffer; iv?: Buffer | undefined; aad?: Buffer | undefined },
  ): Promise<{ view: KeyView; result: CipherResult }> {
    const view = this.#usable(name, version, operation);
    return { view, result: await encryptWith(this.token, this.#tokenKey(view.version), alg, operation, input) };
  }

  async decrypt(
    name: string,
    version: string | undefined,
    operation: 'decrypt' | 'unwrapKey',
    alg: unknown,
    input: { ciphertext: Buffer; iv?: Buffer | undefined; aad?: Buffer | undefined; tag?: Buffer | undefined },
  ): Promise<{ view: KeyView; value: Buffer }> {
    const view = this.#usable(name, version, operation);
    const pair = operation === 'decrypt' ? 'encrypt' : 'wrapKey';
    return { view, value: await decryptWith(this.token, this.#tokenKey(view.version), alg, pair, input) };
  }

  async random(count: unknown): Promise<Buffer> {
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 128) {
      throw new HsmError('BadParameter', 'GetRandomBytesRequest: count cannot be greater than 128 or less than 1');
    }
    return this.#tokenCall('random', () => this.token.random(count));
  }

  // ---- internals ----------------------------------------------------------------------------

  #limit(limit: number | undefined): number {
    if (limit === undefined) return MAX_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new HsmError('BadParameter', `maxresults: must be a whole number from 1 to ${MAX_PAGE}`);
    return limit;
  }

  #liveKey(name: string): KeyRecord {
    const key = this.store.getKey(name);
    if (!key || key.deletedDate !== null) throw new HsmError('KeyNotFound', `A key with (name/id) ${name} was not found in this HSM`);
    return key;
  }

  /**
   * A new version may not be made under a name that is soft-deleted, nor past the service's
   * limits: versions per key, and keys per HSM for a new name.
   */
  #assertRoomFor(name: string): void {
    const existing = this.store.getKey(name);
    if (existing && existing.deletedDate !== null) {
      throw new HsmError('Conflict', `Key ${name} is currently in a deleted but recoverable state; recover or purge it before using the name again`);
    }
    if (existing) {
      const versions = this.store.versionsOldestFirst(existing.name).length;
      if (versions >= this.#limits.keyVersions) {
        throw new HsmError('Forbidden', `Key ${name} has ${versions} versions, the limit of an HSM (${this.#limits.keyVersions}; raise it with --service-limit key-versions=N)`);
      }
      return;
    }
    this.assertRoomForNewKey();
  }

  /**
   * Whether a restore of `versions` versions under `name` fits the limits: as many versions as a
   * key may have, and room for one more key unless the name is taken. Restores call it before
   * their token work and again just before their write.
   */
  assertRoomForRestore(name: string, versions: number): void {
    if (versions > this.#limits.keyVersions) {
      throw new HsmError('Forbidden', `The backup of key ${name} has ${versions} versions, more than a key may have (${this.#limits.keyVersions}; raise it with --service-limit key-versions=N)`);
    }
    if (!this.store.getKey(name)) this.assertRoomForNewKey();
  }

  /** Whether one more key fits under the HSM's limit (soft-deleted keys count, as their names are taken). */
  assertRoomForNewKey(): void {
    const { keys, deletedKeys } = this.store.counts();
    if (keys + deletedKeys >= this.#limits.keys) {
      throw new HsmError('Forbidden', `This HSM holds ${keys + deletedKeys} keys, its limit (${this.#limits.keys}; raise it with --service-limit keys=N)`);
    }
  }

  #prepareVersion(attributesInput: unknown, tagsInput: unknown, releasePolicy: unknown): PreparedVersion {
    const attributes = checkAttributes(attributesInput);
    const tags = checkTags(tagsInput);
    return { attributes, tags, releasePolicy: releasePolicyOfNewKey(attributes.exportable ?? false, releasePolicy) };
  }

  async #commitVersion(
    name: string,
    spec: KeySpec,
    tokenKey: TokenKey,
    keyOps: KeyOperation[],
    { attributes, tags, releasePolicy }: PreparedVersion,
  ): Promise<KeyView> {
    const now = this.clock.now();
    const publicKey = isKeyPair(spec) ? publicJwk(await this.token.publicKey(tokenKey)) : null;
    const record: KeyVersionRecord = {
      name: this.store.getKey(name)?.name ?? name,
      version: randomBytes(16).toString('hex'),
      tokenId: tokenKey.id,
      spec,
      publicJwk: publicKey,
      keyOps,
      enabled: attributes.enabled ?? true,
      notBefore: attributes.notBefore ?? null,
      expires: attributes.expires ?? null,
      exportable: attributes.exportable ?? false,
      releasePolicy,
      tags,
      created: now,
      updated: now,
    };
    try {
      // Checked again here, synchronously with the write: another request may have taken the room
      // while this one was in the token.
      this.#assertRoomFor(record.name);
      this.store.addVersion(record, { recoverableDays: this.recoverableDays });
    } catch (error) {
      await this.token.destroyKey(tokenKey).catch(() => undefined); // no orphan left behind
      throw error;
    }
    return { key: this.store.getKey(record.name) as KeyRecord, version: record };
  }

  /** The key version, if it may be used for `operation` now. */
  #usable(name: string, version: string | undefined, operation: KeyOperation): KeyView {
    const view = this.get(name, version);
    const { version: v } = view;
    const now = this.clock.now();
    if (!v.enabled) throw new HsmError('Forbidden', `Operation ${operation} is not allowed on a disabled key (${name})`);
    if (v.notBefore !== null && now < v.notBefore) throw new HsmError('Forbidden', `Operation ${operation} is not allowed before the key's nbf (${name})`);
    if (v.expires !== null && now >= v.expires) throw new HsmError('Forbidden', `Operation ${operation} is not allowed on an expired key (${name})`);
    if (!v.keyOps.includes(operation)) throw new HsmError('Forbidden', `Operation ${operation} is not permitted by this key's key_ops (${name})`);
    return view;
  }

  /** The row first, then the token objects (see the write order at the top). */
  async #removeKey(name: string): Promise<void> {
    for (const version of this.store.removeKey(name)) await this.token.destroyKey(this.#tokenKey(version));
  }

  #tokenKey(version: KeyVersionRecord): TokenKey {
    return { id: version.tokenId, spec: version.spec };
  }

  async #tokenCall<T>(context: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw fromTokenError(error, context);
    }
  }
}
