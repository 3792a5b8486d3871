// A signing key of the HSM's own: an RSA-2048 key pair made in the token on first use (its
// private half never leaves it), certified by the emulator's CA for signatures, and certified
// again when its certificate nears its end or the CA was replaced. The HSM signs what it releases
// (release/) and what it attests (attestation/) with one each, as compact JWS with the chain in x5c.
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import type { MarkerStore } from '../store/access-store.js';
import type { TokenKey } from '../token/key-spec.js';
import type { Token } from '../token/token.js';
import { rsaSpkiDer } from './jwk.js';
import { signDigest } from './key-crypto.js';

const SPEC = { type: 'rsa', bits: 2048 } as const;

/** Which of the HSM's signing keys: its token label, its marker in the store, its certificate's subject. */
export interface SigningKeyIdentity {
  label: string;
  marker: string;
  subject: string;
}

/** Issues the certificate chain (DER, leaf first) for a signing key's SubjectPublicKeyInfo. */
export type CertifySigningKey = (spkiDer: Buffer, subject: string) => Promise<Buffer[]>;

interface SigningKeyRecord {
  /** hex of the key pair's CKA_ID. */
  id: string;
  /** base64 DER, leaf first. */
  chain: string[];
}

export interface JwsSigner {
  /** The protected header's key fields: kid, x5c, x5t#S256. */
  header: { kid: string; x5c: string[]; 'x5t#S256': string };
  /** RS256 over the JWS signing input, in the token. */
  sign(signingInput: Buffer): Promise<Buffer>;
  /** Unix seconds after which the chain is made again. */
  renewBy: number;
}

/** A chain is made again when its leaf has less than this left, or its CA was replaced. */
const RENEW_BEFORE_SECONDS = 30 * 86_400;

export class CertifiedSigningKey {
  #signer: Promise<JwsSigner> | undefined;

  /** `currentCa`: the DER of the CA that certifies now (a replaced CA means a new chain). */
  constructor(
    private readonly token: Token,
    private readonly markers: MarkerStore,
    private readonly certify: CertifySigningKey,
    private readonly currentCa: () => Buffer,
    private readonly identity: SigningKeyIdentity,
  ) {}

  /** The signer: made on first use, certified again when its chain nears its end. */
  async signer(): Promise<JwsSigner> {
    const pending = this.#signer;
    const cached = pending && (await pending.catch(() => undefined));
    if (cached && cached.renewBy > Date.now() / 1000) return cached;
    // One load at a time: another call may have started one meanwhile. A failed one is tried
    // again on the next call.
    if (this.#signer !== pending) return this.signer();
    const loading = this.#load();
    this.#signer = loading;
    loading.catch(() => {
      if (this.#signer === loading) this.#signer = undefined;
    });
    return loading;
  }

  async #load(): Promise<JwsSigner> {
    const stored = this.markers.marker(this.identity.marker);
    const record = stored === undefined ? undefined : (JSON.parse(stored) as SigningKeyRecord);
    if (record && (await this.token.hasKey(this.#tokenKey(record.id)))) {
      const signer = this.#signerOf(record);
      // Current: certified by the CA that certifies now, and not near its end.
      if (record.chain[1] === this.currentCa().toString('base64') && signer.renewBy > Date.now() / 1000) return signer;
      return this.#certified(this.#tokenKey(record.id));
    }
    const key = await this.token.generateKey(SPEC, { id: randomBytes(16), label: this.identity.label, usages: ['sign', 'verify'] });
    try {
      const signer = await this.#certified(key);
      if (record) await this.token.destroyObjectsWithId(Buffer.from(record.id, 'hex'));
      return signer;
    } catch (error) {
      await this.token.destroyKey(key).catch(() => undefined); // no orphan of a failed first use
      throw error;
    }
  }

  /** Certifies the key (again) and records it. */
  async #certified(key: TokenKey): Promise<JwsSigner> {
    const chain = await this.certify(rsaSpkiDer(await this.token.publicKey(key)), this.identity.subject);
    const made = { id: key.id.toString('hex'), chain: chain.map((der) => der.toString('base64')) };
    this.markers.setMarker(this.identity.marker, JSON.stringify(made));
    return this.#signerOf(made);
  }

  #signerOf(record: SigningKeyRecord): JwsSigner {
    const leaf = new X509Certificate(Buffer.from(record.chain[0] as string, 'base64'));
    const thumbprint = createHash('sha256').update(leaf.raw).digest('base64url');
    const key = this.#tokenKey(record.id);
    return {
      header: { kid: thumbprint, x5c: record.chain, 'x5t#S256': thumbprint },
      sign: (signingInput) => signDigest(this.token, key, 'RS256', createHash('sha256').update(signingInput).digest()),
      renewBy: Date.parse(leaf.validTo) / 1000 - RENEW_BEFORE_SECONDS,
    };
  }

  #tokenKey(id: string): TokenKey {
    return { id: Buffer.from(id, 'hex'), spec: SPEC };
  }
}

/** The compact JWS of a JSON payload, RS256 by the signer, its key named in the protected header. */
export async function signCompactJws(signing: CertifiedSigningKey, payload: Record<string, unknown>): Promise<string> {
  const signer = await signing.signer();
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', ...signer.header })).toString('base64url');
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const signature = await signer.sign(Buffer.from(`${header}.${body}`));
  return `${header}.${body}.${signature.toString('base64url')}`;
}
