// The security domain: the customer's root of trust. A new HSM is not activated; a download
// (3-10 certificates and a quorum) makes the domain, installs its keys in the token and hands
// the customer the file whose master key is split among the certificates; an upload (a restore
// blob made offline with a quorum of the private keys) installs the same domain into a new HSM.
//
// Plaintext domain keys exist in this process only inside download and upload, in Buffers zeroed
// before they return (docs/security-model.md). Security-domain operations run one at a time:
// installing the trusted key logs the token's user out for a moment (see Token.createTrustedKey),
// which is safe only because nothing else uses the token's keys before activation.
import { randomBytes } from 'node:crypto';
import { TokenError } from '../../token/errors.js';
import type { TokenKey } from '../../token/key-spec.js';
import type { Token } from '../../token/token.js';
import { LEGACY_TRUSTED_KEY } from '../../token/trusted-wrapping-key.js';
import type { MarkerStore } from '../../store/access-store.js';
import type { Clock } from '../../clock/clock.js';
import { HsmError } from '../errors.js';
import { parseDomainCertificate, type DomainCertificate } from './certificates.js';
import { DOMAIN_OBJECT_LABEL, domainIdOfObject, installDomainKeys, removeDomainKeys, sealingKeyOf, wrappingKeyOf } from './domain-keys.js';
import { DOMAIN_TAG, type DomainPayload, decodePayload, encodePayload, zeroPayload } from './domain-payload.js';
import { type DomainOrigin, type DomainRecord, DomainState, type OperationStatus } from './domain-state.js';
import { Sealer } from './sealer.js';
import { buildSecurityDomainFile, openRestoreBlob, parseUploadValue } from './sd-file.js';
import { type Certify, TransferKey, type TransferKeyView } from './transfer-key.js';

export interface SecurityDomainOptions {
  /** The token's security-officer PIN: only the SO can make the domain's CKA_TRUSTED key. */
  soPin?: string | Buffer | undefined;
  /** Only the initial administrator may download the domain of an HSM that is not activated. */
  initialAdminObjectId: string;
}

export type ActivationState = 'Active' | 'NotActivated';

export interface DomainSummary {
  state: ActivationState;
  origin?: DomainOrigin;
  /** Whether the domain can be downloaded (again): not for a domain older than domains. */
  downloadable: boolean;
  /** Whether the start-up should run the ceremony: a data directory's first start. */
  firstStart: boolean;
}

/** What key material leaves the token under: the domain's trusted key, and its sealer. */
export interface DomainProtection {
  wrappingKey: TokenKey;
  sealer: Sealer;
}

const ACTIVE_DETAILS = 'The resource is active.';
export const NOT_ACTIVATED_MESSAGE =
  'The managed HSM is not activated: it has been provisioned, but cannot be used for cryptographic operations until it is activated. To activate the HSM, download the security domain.';
const LEGACY_MESSAGE =
  "This HSM's trusted wrapping key was made inside its token before the emulator had security domains, and a key made inside a token cannot be exported, " +
  'so its security domain cannot be downloaded. Its keys, key backups and restores keep working within it; for a downloadable domain, start a new data directory.';
const SO_PIN_MISSING =
  "Activation makes the security domain's wrapping key, an AES-256 key with CKA_TRUSTED, which only the token's security officer can create: start the emulator with --so-pin (or MHSM_SO_PIN) for this token";

/** The caller of a download that the emulator's first start makes itself. */
export const FIRST_START_CEREMONY = Symbol('first-start ceremony');

const MIN_CERTIFICATES = 3;
const MAX_CERTIFICATES = 10;

export class SecurityDomain {
  readonly #token: Token;
  readonly #state: DomainState;
  readonly #transfer: TransferKey;
  readonly #clock: Clock;
  readonly #options: SecurityDomainOptions;
  #protection: DomainProtection | undefined;
  #firstStart = false;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(token: Token, markers: MarkerStore, certify: Certify, clock: Clock, options: SecurityDomainOptions) {
    this.#token = token;
    this.#state = new DomainState(markers);
    this.#transfer = new TransferKey(token, this.#state, certify);
    this.#clock = clock;
    this.#options = options;
  }

  /**
   * Reads the domain's state and makes the token agree with it: a data directory made before
   * domains gets a sealing key and counts as active (origin 'legacy'); domain objects left by an
   * activation or recovery that crashed before it was recorded are removed; an active domain whose
   * keys are missing from the token is an error, not a silent downgrade.
   */
  static async open(token: Token, markers: MarkerStore, certify: Certify, clock: Clock, options: SecurityDomainOptions): Promise<SecurityDomain> {
    const domain = new SecurityDomain(token, markers, certify, clock, options);
    await domain.#reconcile();
    return domain;
  }

  get isActive(): boolean {
    return this.#protection !== undefined;
  }

  summary(): DomainSummary {
    const record = this.#state.record();
    if (record?.status !== 'active') return { state: 'NotActivated', downloadable: false, firstStart: this.#firstStart };
    return { state: 'Active', origin: record.origin, downloadable: record.sealedPayload !== undefined, firstStart: false };
  }

  /** What key material leaves the token under; refused until the HSM is activated. */
  protection(): DomainProtection {
    if (!this.#protection) throw new HsmError('Forbidden', NOT_ACTIVATED_MESSAGE);
    return this.#protection;
  }

  /** Records that this data directory waits for a download or an upload (a manual activation). */
  markNotActivated(): void {
    if (this.#state.record() === undefined) this.#state.setRecord({ status: 'not-activated' });
    this.#firstStart = false;
  }

  // ---- download: activation, or a new copy of an active domain --------------------------------

  /**
   * The security-domain file (the bare JSON text) for these certificates and quorum. On an HSM
   * that is not activated this makes the domain and activates the HSM; on an active one it gives
   * a new file (a new master key and new shares) for the same domain, as the service does.
   * `caller` is the object id of the principal asking, or FIRST_START_CEREMONY for the
   * emulator's own ceremony.
   */
  download(input: { certificates: unknown; required: unknown }, caller: string | typeof FIRST_START_CEREMONY): Promise<string> {
    return this.#exclusive(async () => {
      const record = this.#state.record();
      if (record?.status === 'active' && record.sealedPayload === undefined) throw new HsmError('Conflict', LEGACY_MESSAGE);
      const recipients = checkCertificates(input.certificates);
      const required = checkRequired(input.required, recipients.length);
      if (record?.status === 'active') return this.#redownload(record, recipients, required);
      if (caller !== FIRST_START_CEREMONY && caller !== this.#options.initialAdminObjectId) {
        throw new HsmError('Forbidden', 'Only the initial administrator of the HSM may download its security domain before the HSM is activated');
      }
      const soPin = this.#soPin();
      const payload: DomainPayload = { domainId: await this.#token.random(16), wrappingKey: await this.#token.random(32), sealingKey: await this.#token.random(32) };
      try {
        const file = domainFile(payload, recipients, required);
        await this.#install(payload, soPin, 'download');
        this.#state.setStatus('download', { status: 'Success', status_details: ACTIVE_DETAILS });
        await this.#dropTransferKey();
        return file;
      } finally {
        zeroPayload(payload);
      }
    });
  }

  downloadStatus(): OperationStatus {
    if (this.isActive) return { status: 'Success', status_details: ACTIVE_DETAILS };
    return this.#state.status('download') ?? { status: 'Failed', status_details: 'No security domain download has been made on this HSM.' };
  }

  async #redownload(record: Extract<DomainRecord, { status: 'active' }>, recipients: DomainCertificate[], required: number): Promise<string> {
    const sealed = Buffer.from(record.sealedPayload as string, 'base64url');
    const plaintext = await this.protection().sealer.unseal(sealed, 'domain-payload', 'security domain');
    const payload = decodePayload(plaintext);
    plaintext.fill(0);
    try {
      return domainFile(payload, recipients, required);
    } finally {
      zeroPayload(payload);
    }
  }

  // ---- upload: recovery into a new HSM --------------------------------------------------------

  /** The transfer key for a recovery (made on first use), as the Azure CLI's init-recovery reads it. */
  transferKey(): Promise<TransferKeyView> {
    return this.#exclusive(() => this.#transfer.get());
  }

  /** Installs the domain of a restore blob (the upload's `value`) and activates the HSM. */
  upload(value: unknown): Promise<void> {
    return this.#exclusive(async () => {
      try {
        await this.#upload(value);
      } catch (error) {
        // The pending endpoint reports the refusal; nothing else changes.
        if (!this.isActive) this.#state.setStatus('upload', { status: 'Failed', status_details: (error as Error).message });
        throw error;
      }
      this.#state.setStatus('upload', { status: 'Success', status_details: ACTIVE_DETAILS });
      await this.#dropTransferKey();
    });
  }

  uploadStatus(): OperationStatus {
    return this.#state.status('upload') ?? { status: 'Failed', status_details: 'No security domain has been uploaded to this HSM.' };
  }

  async #upload(value: unknown): Promise<void> {
    if (this.#state.record()?.status === 'active') {
      throw new HsmError(
        'Conflict',
        'This HSM is already activated with a security domain: a security domain is uploaded into a new HSM that has not been activated (one started with --manual-activation)',
      );
    }
    const parsed = parseUploadValue(value);
    if (parsed.kind === 'security-domain-file') {
      throw new HsmError(
        'BadParameter',
        'value: this is a security-domain file, whose shares only the private keys of its certificates can open: make a restore blob from it with a quorum of those keys and this HSM\'s transfer key (mhsm sd restore-blob, or az keyvault security-domain restore-blob) and upload that',
      );
    }
    const expected = this.#transfer.currentX5t256();
    if (expected === undefined) throw new HsmError('BadParameter', 'value: this HSM has no transfer key yet; get it first (GET /securitydomain/upload, or mhsm sd transfer-key), then make the restore blob for it');
    if (parsed.blob.WrappedKey.x5t_256 !== expected) {
      throw new HsmError('BadParameter', "WrappedKey.x5t_256: the restore blob was made for another transfer key, not this HSM's current one");
    }
    const soPin = this.#soPin();
    const items = await openRestoreBlob(parsed.blob, (jwe) => this.#transfer.decryptCek(jwe, 'WrappedKey.enc_key'));
    let payload: DomainPayload | undefined;
    try {
      const item = items.find((candidate) => candidate.tag === DOMAIN_TAG);
      if (!item) throw new HsmError('BadParameter', `EncData.data: the restore blob has no "${DOMAIN_TAG}" item, so it is not the security domain of a Managed HSM emulator`);
      payload = decodePayload(item.plaintext);
    } finally {
      for (const item of items) item.plaintext.fill(0);
    }
    try {
      await this.#install(payload, soPin, 'upload');
    } finally {
      zeroPayload(payload);
    }
  }

  /**
   * Once the HSM has its domain the transfer key has no use: a decryption key should not linger.
   * A failure here is not the activation's: the key is retried at the next activation attempt.
   */
  async #dropTransferKey(): Promise<void> {
    await this.#transfer.remove().catch(() => undefined);
  }

  // ---- internals ----------------------------------------------------------------------------

  /** Token objects first, then the record: a crash between them leaves objects that #reconcile removes. */
  async #install(payload: DomainPayload, soPin: string | Buffer, origin: DomainOrigin): Promise<void> {
    // Installing logs the token's user out for a moment: safe only while no key is in use.
    if (this.isActive) throw new Error('the security domain is installed only into an HSM that is not active');
    try {
      await installDomainKeys(this.#token, soPin, payload);
    } catch (error) {
      if (error instanceof TokenError && error.code === 'SO_PIN_INCORRECT') {
        throw new HsmError('Conflict', `${SO_PIN_MISSING}: the security-officer PIN the emulator was given is wrong`, { cause: error });
      }
      throw error;
    }
    try {
      const sealer = new Sealer(this.#token, sealingKeyOf(payload.domainId), Buffer.from(payload.domainId));
      const encoded = encodePayload(payload);
      let sealedPayload: Buffer;
      try {
        sealedPayload = await sealer.seal(encoded, 'domain-payload');
      } finally {
        encoded.fill(0);
      }
      this.#state.setRecord({ status: 'active', domainId: payload.domainId.toString('hex'), origin, activatedAt: this.#clock.now(), sealedPayload: sealedPayload.toString('base64url') });
      this.#protection = { wrappingKey: wrappingKeyOf(payload.domainId), sealer };
      this.#firstStart = false;
    } catch (error) {
      await removeDomainKeys(this.#token, payload.domainId).catch(() => undefined);
      throw error;
    }
  }

  async #reconcile(): Promise<void> {
    let record = this.#state.record();
    if (record === undefined && (await this.#token.hasKey(LEGACY_TRUSTED_KEY))) record = await this.#upgradeLegacy();
    const activeId = record?.status === 'active' ? Buffer.from(record.domainId, 'hex') : undefined;
    for (const id of await this.#token.keyIdsLabelled(DOMAIN_OBJECT_LABEL)) {
      const domainId = domainIdOfObject(id);
      if (domainId && !(activeId && domainId.equals(activeId))) await this.#token.destroyObjectsWithId(id);
    }
    this.#firstStart = record === undefined;
    if (!activeId || record?.status !== 'active') return;
    const wrappingKey = record.origin === 'legacy' ? LEGACY_TRUSTED_KEY : wrappingKeyOf(activeId);
    const sealingKey = sealingKeyOf(activeId);
    for (const [name, key] of [['wrapping key', wrappingKey], ['sealing key', sealingKey]] as const) {
      if (!(await this.#token.hasKey(key))) {
        throw new Error(`the token lacks the security domain's ${name} (CKA_ID ${key.id.toString('hex')}): this data directory's token is not the one its domain was installed in`);
      }
    }
    this.#protection = { wrappingKey, sealer: new Sealer(this.#token, sealingKey, activeId) };
  }

  /** A data directory made before domains: its generated trusted key stays, and gets a sealing key. */
  async #upgradeLegacy(): Promise<DomainRecord> {
    const domainId = randomBytes(16);
    const sealing = sealingKeyOf(domainId);
    await this.#token.generateKey(sealing.spec, { id: sealing.id, label: DOMAIN_OBJECT_LABEL, usages: ['encrypt', 'decrypt'] });
    const record: DomainRecord = { status: 'active', domainId: domainId.toString('hex'), origin: 'legacy', activatedAt: this.#clock.now() };
    this.#state.setRecord(record);
    return record;
  }

  #soPin(): string | Buffer {
    if (this.#options.soPin === undefined || this.#options.soPin.length === 0) throw new HsmError('Conflict', SO_PIN_MISSING);
    return this.#options.soPin;
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(work, work);
    this.#queue = result.catch(() => undefined);
    return result;
  }
}

function checkCertificates(value: unknown): DomainCertificate[] {
  if (!Array.isArray(value) || value.length < MIN_CERTIFICATES || value.length > MAX_CERTIFICATES) {
    throw new HsmError('BadParameter', `certificates: required, an array of ${MIN_CERTIFICATES} to ${MAX_CERTIFICATES} certificates (SecurityDomainJsonWebKey with x5c)`);
  }
  const certificates = value.map((entry, index) => parseDomainCertificate(entry, index));
  const seen = new Set<string>();
  certificates.forEach((certificate, index) => {
    if (seen.has(certificate.x5t256)) throw new HsmError('BadParameter', `certificates[${index}]: the same certificate is given twice; each share needs its own key`);
    seen.add(certificate.x5t256);
  });
  return certificates;
}

function checkRequired(value: unknown, count: number): number {
  const required = value === undefined ? 2 : value;
  if (typeof required !== 'number' || !Number.isInteger(required) || required < 2 || required > count) {
    throw new HsmError('BadParameter', `required: must be a whole number from 2 to the number of certificates (${count})`);
  }
  return required;
}

/** A new master key for every file: the payload is the same, the file is new. */
function domainFile(payload: DomainPayload, recipients: DomainCertificate[], required: number): string {
  const masterKey = randomBytes(32);
  const plaintext = encodePayload(payload);
  try {
    return buildSecurityDomainFile({ masterKey, items: [{ tag: DOMAIN_TAG, plaintext }], recipients, required });
  } finally {
    masterKey.fill(0);
    plaintext.fill(0);
  }
}
