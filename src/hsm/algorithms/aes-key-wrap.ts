// AES Key Wrap (RFC 3394) and AES Key Wrap with Padding (RFC 5649) built on single-block AES
// operations, for tokens that only wrap key objects or wrap padded data wrongly: the AES key
// stays in the token and runs each block; only the framing is done here.

/** Encrypts or decrypts one 16-byte block with the key in the token (AES-ECB). */
export type BlockCipher = (block: Buffer) => Promise<Buffer>;

const DEFAULT_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
const PADDED_IV_PREFIX = Buffer.from('a65959a6', 'hex');

function xorCounter(a: Buffer, t: number): Buffer {
  const out = Buffer.from(a);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(t));
  for (let i = 0; i < 8; i++) out[i] = (out[i] as number) ^ (counter[i] as number);
  return out;
}

async function wrapBlocks(encrypt: BlockCipher, iv: Buffer, plaintext: Buffer): Promise<Buffer> {
  const n = plaintext.length / 8;
  let a = iv;
  const r = Array.from({ length: n }, (_, i) => plaintext.subarray(i * 8, i * 8 + 8));
  for (let j = 0; j <= 5; j++) {
    for (let i = 0; i < n; i++) {
      const b = await encrypt(Buffer.concat([a, r[i] as Buffer]));
      a = xorCounter(b.subarray(0, 8), n * j + i + 1);
      r[i] = b.subarray(8, 16);
    }
  }
  return Buffer.concat([a, ...r]);
}

async function unwrapBlocks(decrypt: BlockCipher, ciphertext: Buffer): Promise<{ iv: Buffer; plaintext: Buffer }> {
  const n = ciphertext.length / 8 - 1;
  let a = ciphertext.subarray(0, 8);
  const r = Array.from({ length: n }, (_, i) => ciphertext.subarray(8 + i * 8, 16 + i * 8));
  for (let j = 5; j >= 0; j--) {
    for (let i = n - 1; i >= 0; i--) {
      const b = await decrypt(Buffer.concat([xorCounter(a, n * j + i + 1), r[i] as Buffer]));
      a = b.subarray(0, 8);
      r[i] = b.subarray(8, 16);
    }
  }
  return { iv: Buffer.from(a), plaintext: Buffer.concat(r) };
}

/** RFC 3394: the plaintext is a multiple of 8 bytes, at least 16. */
export async function aesKeyWrap(encrypt: BlockCipher, plaintext: Buffer): Promise<Buffer> {
  if (plaintext.length < 16 || plaintext.length % 8 !== 0) {
    throw new RangeError('the value to wrap must be a multiple of 8 bytes and at least 16 bytes');
  }
  return wrapBlocks(encrypt, DEFAULT_IV, plaintext);
}

/** RFC 3394 unwrap; undefined when the integrity check fails. */
export async function aesKeyUnwrap(decrypt: BlockCipher, ciphertext: Buffer): Promise<Buffer | undefined> {
  if (ciphertext.length < 24 || ciphertext.length % 8 !== 0) return undefined;
  const { iv, plaintext } = await unwrapBlocks(decrypt, ciphertext);
  return iv.equals(DEFAULT_IV) ? plaintext : undefined;
}

/** RFC 5649: any plaintext of 1 byte or more. */
export async function aesKeyWrapPad(encrypt: BlockCipher, plaintext: Buffer): Promise<Buffer> {
  if (plaintext.length === 0) throw new RangeError('the value to wrap must not be empty');
  const mli = Buffer.alloc(4);
  mli.writeUInt32BE(plaintext.length);
  const aiv = Buffer.concat([PADDED_IV_PREFIX, mli]);
  const padded = Buffer.concat([plaintext, Buffer.alloc((8 - (plaintext.length % 8)) % 8)]);
  if (padded.length === 8) return encrypt(Buffer.concat([aiv, padded]));
  return wrapBlocks(encrypt, aiv, padded);
}

/** RFC 5649 unwrap; undefined when the integrity check or the length indicator fails. */
export async function aesKeyUnwrapPad(decrypt: BlockCipher, ciphertext: Buffer): Promise<Buffer | undefined> {
  if (ciphertext.length < 16 || ciphertext.length % 8 !== 0) return undefined;
  let iv: Buffer;
  let padded: Buffer;
  if (ciphertext.length === 16) {
    const block = await decrypt(ciphertext);
    iv = block.subarray(0, 8);
    padded = block.subarray(8);
  } else {
    ({ iv, plaintext: padded } = await unwrapBlocks(decrypt, ciphertext));
  }
  if (!iv.subarray(0, 4).equals(PADDED_IV_PREFIX)) return undefined;
  const length = iv.readUInt32BE(4);
  if (length > padded.length || length <= padded.length - 8) return undefined;
  if (padded.subarray(length).some((byte) => byte !== 0)) return undefined;
  return padded.subarray(0, length);
}
