// The token's own work per operation, for bench:cost: the same PKCS#11 calls the emulator makes
// for each REST operation, on the same kinds of key, made straight through pkcs11js (not our
// addon, scheduler or key service), one at a time in this process, on keys kept as the emulator
// keeps its own: token objects (in SoftHSM2, files it checks for changes as it uses them), made
// for the run and destroyed after it. What is left of a request's server CPU once this is taken
// away is what the server adds.
import { createHash, createPublicKey, publicEncrypt, constants as cryptoConstants } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { digestInfo } from '../../src/hsm/algorithms/digest-info.js';

const P256 = Buffer.from('06082a8648ce3d030107', 'hex');

export interface TokenBaselineOptions {
  modulePath: string;
  label: string;
  pin: string;
}

export class TokenBaseline {
  readonly #p11: pkcs11js.PKCS11;
  readonly #session: Buffer;
  readonly #rsa: { publicKey: Buffer; privateKey: Buffer };
  readonly #ec: { publicKey: Buffer; privateKey: Buffer };
  readonly #aes: Buffer;
  readonly #rsaCiphertext: Buffer;
  /** The operations, by the names bench:cost gives them; `undo` runs outside the measurement. */
  readonly operations: Record<string, { run: () => void; undo?: () => void }>;

  constructor({ modulePath, label, pin }: TokenBaselineOptions) {
    const p11 = new pkcs11js.PKCS11();
    p11.load(modulePath);
    p11.C_Initialize();
    this.#p11 = p11;
    const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === label);
    if (!slot) throw new Error(`no token labelled ${label}`);
    this.#session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    p11.C_Login(this.#session, pkcs11js.CKU_USER, pin);
    const s = this.#session;
    this.#rsa = p11.C_GenerateKeyPair(
      s,
      { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
      [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_ENCRYPT, value: true },
        { type: pkcs11js.CKA_MODULUS_BITS, value: 2048 },
        { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
      ],
      [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_DECRYPT, value: true },
      ],
    );
    this.#ec = this.#ecPair(true);
    this.#aes = p11.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    ]);
    const [modulus, exponent] = p11.C_GetAttributeValue(s, this.#rsa.publicKey, [{ type: pkcs11js.CKA_MODULUS }, { type: pkcs11js.CKA_PUBLIC_EXPONENT }]).map((a) => a.value as Buffer);
    const rsaPublic = createPublicKey({ key: { kty: 'RSA', n: (modulus as Buffer).toString('base64url'), e: (exponent as Buffer).toString('base64url') }, format: 'jwk' });
    this.#rsaCiphertext = publicEncrypt({ key: rsaPublic, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from('bench secret'));

    const digest = createHash('sha256').update('bench').digest();
    const signed = digestInfo('sha256', digest);
    const kib = Buffer.alloc(1024, 0x61);
    const block = Buffer.alloc(16, 0x5a);
    const rsaBlock = Buffer.concat([Buffer.from([0]), Buffer.alloc(255, 0x11)]);
    let made: { publicKey: Buffer; privateKey: Buffer } = { publicKey: Buffer.alloc(0), privateKey: Buffer.alloc(0) };
    const gcm = { mechanism: pkcs11js.CKM_AES_GCM, parameter: { type: pkcs11js.CK_PARAMS_AES_GCM, iv: Buffer.alloc(12, 1), ivBits: 96, tagBits: 128 } as pkcs11js.AesGCM };
    this.operations = {
      // CKM_RSA_PKCS over DigestInfo || digest, as the RS256 algorithm asks of the token.
      'RS256 sign': {
        run: () => {
          p11.C_SignInit(s, { mechanism: pkcs11js.CKM_RSA_PKCS }, this.#rsa.privateKey);
          p11.C_Sign(s, signed, Buffer.alloc(256));
        },
      },
      'ES256 sign': {
        run: () => {
          p11.C_SignInit(s, { mechanism: pkcs11js.CKM_ECDSA }, this.#ec.privateKey);
          p11.C_Sign(s, digest, Buffer.alloc(64));
        },
      },
      'A256GCM encrypt 1 KiB': {
        run: () => {
          p11.C_EncryptInit(s, gcm, this.#aes);
          p11.C_Encrypt(s, kib, Buffer.alloc(1040));
        },
      },
      // SoftHSM2 2.6.1's OAEP takes SHA-1 only: the emulator has the token do the raw RSA
      // private-key operation and decodes OAEP itself, so that is the token's share here.
      'RSA-OAEP-256 decrypt': {
        run: () => {
          p11.C_DecryptInit(s, { mechanism: pkcs11js.CKM_RSA_X_509 }, this.#rsa.privateKey);
          p11.C_Decrypt(s, this.#rsaCiphertext, Buffer.alloc(256));
        },
      },
      // And the raw public-key operation for a wrap, the encoding likewise outside.
      'wrapKey RSA-OAEP-256': {
        run: () => {
          p11.C_EncryptInit(s, { mechanism: pkcs11js.CKM_RSA_X_509 }, this.#rsa.publicKey);
          p11.C_Encrypt(s, rsaBlock, Buffer.alloc(256));
        },
      },
      // RFC 3394 over a 32-byte key: 6 × 4 single-block AES-ECB operations in the token.
      'wrapKey A256KW': {
        run: () => {
          for (let i = 0; i < 24; i++) {
            p11.C_EncryptInit(s, { mechanism: pkcs11js.CKM_AES_ECB }, this.#aes);
            p11.C_Encrypt(s, block, Buffer.alloc(16));
          }
        },
      },
      // A P-256 key pair as token objects (files in SoftHSM2), as key creation makes them;
      // destroyed again outside the measurement, so that the token does not grow as it runs.
      'key create EC': {
        run: () => {
          made = this.#ecPair(true);
        },
        undo: () => {
          p11.C_DestroyObject(s, made.publicKey);
          p11.C_DestroyObject(s, made.privateKey);
        },
      },
    };
  }

  #ecPair(token: boolean): { publicKey: Buffer; privateKey: Buffer } {
    return this.#p11.C_GenerateKeyPair(
      this.#session,
      { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
      [
        { type: pkcs11js.CKA_TOKEN, value: token },
        { type: pkcs11js.CKA_VERIFY, value: true },
        { type: pkcs11js.CKA_EC_PARAMS, value: P256 },
      ],
      [
        { type: pkcs11js.CKA_TOKEN, value: token },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_SIGN, value: true },
      ],
    );
  }

  /** CPU µs per operation (this process, all threads): the median of `rounds` runs of `ms` each. */
  cpuMicrosPerOperation(name: string, { rounds = 3, ms = 400 } = {}): number {
    const operation = this.operations[name];
    if (!operation) throw new Error(`no baseline for ${name}`);
    const { run, undo } = operation;
    for (let i = 0; i < 20; i++) {
      run();
      undo?.();
    }
    const samples: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const deadline = performance.now() + ms;
      let count = 0;
      let micros = 0;
      // Timed call by call when there is something to undo, in one stretch otherwise.
      let started = process.cpuUsage();
      while (performance.now() < deadline) {
        run();
        count++;
        if (undo) {
          const used = process.cpuUsage(started);
          micros += used.user + used.system;
          undo();
          started = process.cpuUsage();
        }
      }
      if (!undo) {
        const used = process.cpuUsage(started);
        micros = used.user + used.system;
      }
      samples.push(micros / count);
    }
    samples.sort((a, b) => a - b);
    return samples[Math.floor(samples.length / 2)] as number;
  }

  close(): void {
    for (const handle of [this.#rsa.publicKey, this.#rsa.privateKey, this.#ec.publicKey, this.#ec.privateKey, this.#aes]) this.#p11.C_DestroyObject(this.#session, handle);
    this.#p11.C_CloseSession(this.#session);
    this.#p11.C_Finalize();
  }
}
