// The transfer key of a recovery: an RSA-2048 key pair generated in the token, whose private
// half never leaves it, and a certificate for its public half from the emulator's CA (the form
// in which the Azure CLI reads it). A restore blob's master key is encrypted to it; the RSA
// step of the decryption runs in the token (raw RSA), the OAEP decoding outside it, as for
// RSA-OAEP-256 keys on a module without OAEP-SHA-256.
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { CKM } from '../../token/constants.js';
import type { TokenKey } from '../../token/key-spec.js';
import type { Token } from '../../token/token.js';
import type { HashName } from '../algorithms/digest-info.js';
import { oaepDecode } from '../algorithms/oaep.js';
import { rsaSpkiDer } from '../jwk.js';
import { HsmError } from '../errors.js';
import { x5tS256 } from './certificates.js';
import type { DomainState } from './domain-state.js';

export const TRANSFER_KEY_LABEL = 'mhsm-transfer-key';
const SPEC = { type: 'rsa', bits: 2048 } as const;
const MODULUS_BYTES = 256;

/** Issues a certificate (DER) for an RSA public key (SubjectPublicKeyInfo DER). */
export type Certify = (spkiDer: Buffer, subject: string) => Promise<Buffer>;

export interface TransferKeyView {
  certificateDer: Buffer;
  /** base64url(SHA-256(certificate DER)): how a restore blob names the key it was made for. */
  x5t256: string;
  x5t: string;
  n: Buffer;
  e: Buffer;
}

/** The part of a parsed JWE the RSA step needs. */
export interface EncryptedCek {
  header: { alg?: unknown };
  encryptedKey: Buffer;
}

const OAEP_HASH: Readonly<Record<string, HashName>> = { 'RSA-OAEP-256': 'sha256', 'RSA-OAEP': 'sha1' };

export class TransferKey {
  constructor(
    private readonly token: Token,
    private readonly state: DomainState,
    private readonly certify: Certify,
  ) {}

  /** The current transfer key, made on first use. */
  async get(): Promise<TransferKeyView> {
    const existing = this.state.transferKey();
    if (existing && (await this.token.hasKey(this.#tokenKey(existing.id)))) return viewOf(Buffer.from(existing.certificate, 'base64'));
    const key = await this.token.generateKey(SPEC, { id: randomBytes(16), label: TRANSFER_KEY_LABEL, usages: ['decrypt', 'encrypt'] });
    const certificate = await this.certify(rsaSpkiDer(await this.token.publicKey(key)), 'CN=Managed HSM emulator security domain transfer key');
    if (existing) await this.token.destroyObjectsWithId(Buffer.from(existing.id, 'hex'));
    this.state.setTransferKey({ id: key.id.toString('hex'), certificate: certificate.toString('base64') });
    return viewOf(certificate);
  }

  /** base64url SHA-256 of the current transfer certificate, if there is one. */
  currentX5t256(): string | undefined {
    const existing = this.state.transferKey();
    return existing && viewOf(Buffer.from(existing.certificate, 'base64')).x5t256;
  }

  /** The content-encryption key of a JWE encrypted to the transfer key (zero it after use). */
  async decryptCek(jwe: EncryptedCek, field: string): Promise<Buffer> {
    const existing = this.state.transferKey();
    if (!existing) throw new HsmError('BadParameter', `${field}: this HSM has no transfer key; get it first (GET /securitydomain/upload)`);
    // Own members only: 'toString' or 'constructor' must not pass as an algorithm.
    const hash = typeof jwe.header.alg === 'string' && Object.hasOwn(OAEP_HASH, jwe.header.alg) ? OAEP_HASH[jwe.header.alg] : undefined;
    if (!hash) throw new HsmError('BadParameter', `${field}: alg must be RSA-OAEP-256 or RSA-OAEP`);
    if (jwe.encryptedKey.length !== MODULUS_BYTES) throw new HsmError('BadParameter', `${field}: the encrypted key must be ${MODULUS_BYTES} bytes for the transfer key`);
    let encoded: Buffer;
    try {
      encoded = await this.token.decrypt(this.#tokenKey(existing.id), { type: CKM.RSA_X_509 }, jwe.encryptedKey);
    } catch (error) {
      throw new HsmError('BadParameter', `${field}: cannot be decrypted with this HSM's transfer key`, { cause: error });
    }
    const cek = oaepDecode(hash, encoded, MODULUS_BYTES);
    encoded.fill(0);
    if (!cek) throw new HsmError('BadParameter', `${field}: cannot be decrypted with this HSM's transfer key`);
    return cek;
  }

  /** After a recovery the transfer key has done its work. */
  async remove(): Promise<void> {
    const existing = this.state.transferKey();
    if (!existing) return;
    await this.token.destroyObjectsWithId(Buffer.from(existing.id, 'hex'));
    this.state.setTransferKey(undefined);
  }

  #tokenKey(idHex: string): TokenKey {
    return { id: Buffer.from(idHex, 'hex'), spec: SPEC };
  }
}

function viewOf(certificateDer: Buffer): TransferKeyView {
  const jwk = new X509Certificate(certificateDer).publicKey.export({ format: 'jwk' });
  return {
    certificateDer,
    x5t256: x5tS256(certificateDer),
    x5t: createHash('sha1').update(certificateDer).digest('base64url'),
    n: Buffer.from(jwk.n as string, 'base64url'),
    e: Buffer.from(jwk.e as string, 'base64url'),
  };
}
