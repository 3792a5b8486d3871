// Client secrets are kept as keyed hashes and compared in constant time. The secrets are 192-bit
// random values, not passwords: against guessing, HMAC-SHA-256 under a key of the data directory
// (DATA/identity/secret-hash-key, 0600) is as strong as a slow hash, and it costs microseconds,
// where the scrypt of earlier versions cost 16 MiB and a thread-pool turn that the token's jobs
// share, so that wrong secrets could stall everyone's signatures. scrypt hashes are still
// checked, and replaced by the keyed hash on the first success (needsRehash).
import { createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const SCHEME = 'hmac-sha256';
const LEGACY_SCHEME = 'scrypt';
const KEY_BYTES = 32;

export interface SecretCheck {
  matches: boolean;
  /** The stored hash is of an older scheme: store hash(secret) in its place. */
  needsRehash: boolean;
}

export class SecretHasher {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES) throw new RangeError(`the secret-hash key must be ${KEY_BYTES} bytes`);
    this.#key = Buffer.from(key);
  }

  /** The data directory's hasher; its key is made on first use. */
  static open(dataDir: string): SecretHasher {
    const dir = path.join(dataDir, 'identity');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, 'secret-hash-key');
    if (!existsSync(file)) writeFileSync(file, randomBytes(KEY_BYTES).toString('base64url'), { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
    return new SecretHasher(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url'));
  }

  hash(secret: string): string {
    return `${SCHEME}:${this.#mac(secret).toString('base64url')}`;
  }

  async check(secret: string, stored: string): Promise<SecretCheck> {
    const [scheme, first, second] = stored.split(':');
    if (scheme === SCHEME && first !== undefined) {
      const expected = Buffer.from(first, 'base64url');
      const actual = this.#mac(secret);
      return { matches: expected.length === actual.length && timingSafeEqual(actual, expected), needsRehash: false };
    }
    if (scheme === LEGACY_SCHEME && first !== undefined && second !== undefined) {
      const expected = Buffer.from(second, 'base64url');
      const actual = await scryptOf(secret, Buffer.from(first, 'base64url'), expected.length);
      const matches = timingSafeEqual(actual, expected);
      return { matches, needsRehash: matches };
    }
    return { matches: false, needsRehash: false };
  }

  #mac(secret: string): Buffer {
    return createHmac('sha256', this.#key).update(secret, 'utf8').digest();
  }
}

function scryptOf(secret: string, salt: Buffer, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(secret, salt, length, (error, key) => (error ? reject(error) : resolve(key))));
}
