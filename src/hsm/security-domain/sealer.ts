// Sealed blobs: everything that leaves the HSM (single-key backups now; full backups and
// released keys as they come) is encrypted and authenticated in the token under the domain's
// sealing key with AES-GCM. Its header (format, domain id) is the associated data, together with
// what the blob is for, so that no byte of it can be changed, and a blob of one kind cannot be
// passed off as another. Only an HSM holding the same domain can open it.
import { randomBytes } from 'node:crypto';
import { CKM } from '../../token/constants.js';
import type { TokenKey } from '../../token/key-spec.js';
import type { Token } from '../../token/token.js';
import { HsmError } from '../errors.js';

const MAGIC = Buffer.from('MHSMSEAL', 'latin1');
const VERSION = 1;
const ID_BYTES = 16;
const IV_BYTES = 12;
const TAG_BITS = 128;
const HEADER_BYTES = MAGIC.length + 1 + ID_BYTES;

/** What a sealed blob is for; part of the associated data. */
export type SealPurpose = 'key-backup' | 'full-backup' | 'domain-payload';

/** Why a blob was not unsealed: not one of ours, another domain's, or altered (or of another purpose). */
export class SealRefused extends HsmError {
  constructor(
    readonly reason: 'not-sealed' | 'other-domain' | 'altered',
    message: string,
    options?: ErrorOptions,
  ) {
    super('BadParameter', message, options);
  }
}

export class Sealer {
  constructor(
    private readonly token: Token,
    private readonly key: TokenKey,
    readonly domainId: Buffer,
  ) {}

  async seal(plaintext: Buffer, purpose: SealPurpose): Promise<Buffer> {
    const header = Buffer.concat([MAGIC, Buffer.from([VERSION]), this.domainId]);
    const iv = randomBytes(IV_BYTES);
    const sealed = await this.token.encrypt(this.key, this.#mechanism(iv, header, purpose), plaintext);
    return Buffer.concat([header, iv, sealed]);
  }

  /** The plaintext, or BadParameter naming `field` when the blob is not one this domain sealed. */
  async unseal(blob: Buffer, purpose: SealPurpose, field: string): Promise<Buffer> {
    if (blob.length < HEADER_BYTES + IV_BYTES + TAG_BITS / 8 || !blob.subarray(0, MAGIC.length).equals(MAGIC) || blob[MAGIC.length] !== VERSION) {
      throw new SealRefused('not-sealed', `${field}: not a blob sealed by a Managed HSM emulator`);
    }
    const header = blob.subarray(0, HEADER_BYTES);
    if (!header.subarray(MAGIC.length + 1).equals(this.domainId)) {
      throw new SealRefused('other-domain', `${field}: made by an HSM of another security domain; it can be restored only into an HSM holding the domain that made it`);
    }
    const iv = blob.subarray(HEADER_BYTES, HEADER_BYTES + IV_BYTES);
    try {
      return await this.token.decrypt(this.key, this.#mechanism(iv, header, purpose), blob.subarray(HEADER_BYTES + IV_BYTES));
    } catch (error) {
      // The token reports a failed GCM tag check with a general error: nothing more can be said.
      throw new SealRefused('altered', `${field}: the blob's seal does not verify: it was altered, or is not a ${purpose}`, { cause: error });
    }
  }

  #mechanism(iv: Buffer, header: Buffer, purpose: SealPurpose) {
    return { type: CKM.AES_GCM, gcm: { iv, aad: Buffer.concat([header, Buffer.from(purpose)]), tagBits: TAG_BITS } };
  }
}
