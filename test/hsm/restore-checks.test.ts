// Key material unwrapped from a backup is checked against what the backup says it is before it is
// kept (src/hsm/backup/restore-checks.ts, checkUnwrapped): the key type, an RSA key's size and
// public key, an EC key's curve and whether the declared point pairs with it (by a signature), a
// secret key's length. Each mismatch is refused by name, on real token objects.
import { createCipheriv, generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VersionBackup } from '../../src/hsm/backup/key-backup.js';
import { checkUnwrapped } from '../../src/hsm/backup/restore-checks.js';
import { publicJwk } from '../../src/hsm/jwk.js';
import { CKM } from '../../src/token/constants.js';
import type { KeySpec, TokenKey } from '../../src/token/key-spec.js';
import type { Token } from '../../src/token/token.js';
import { keyVersionRecord } from '../helpers/key-version.js';
import { refusalOf } from '../helpers/refusal.js';
import { type OpenTestToken, openTestToken } from '../helpers/test-token.js';

let opened: OpenTestToken;
let token: Token;
let rsa: TokenKey;
let rsaJwk: Record<string, string>;
let ec: TokenKey;
let ecJwk: Record<string, string>;

beforeAll(async () => {
  opened = await openTestToken();
  token = opened.token;
  rsa = await token.generateKey({ type: 'rsa', bits: 2048 });
  rsaJwk = publicJwk(await token.publicKey(rsa));
  ec = await token.generateKey({ type: 'ec', curve: 'P-256' });
  ecJwk = publicJwk(await token.publicKey(ec));
});

afterAll(() => opened?.close());

function version(spec: KeySpec, publicJwk: Record<string, string> | null): VersionBackup {
  const { name: _name, tokenId: _tokenId, ...fields } = keyVersionRecord('k', { spec, publicJwk });
  return { ...fields, wrapped: '' };
}

const check = (key: TokenKey, declared: VersionBackup, wrappedLength = 0) => checkUnwrapped(token, key, declared, wrappedLength, 'versions[0]');
const refused = (message: string) => ({ code: 'BadParameter', message: `value: versions[0]${message}` });

describe('an RSA key', () => {
  it('passes with its own size and public key, and gives the public parts from the key itself', async () => {
    const parts = await check(rsa, version({ type: 'rsa', bits: 2048 }, rsaJwk));
    expect(parts).toEqual(await token.publicKey(rsa));
  });

  it('is refused when it is not the declared size', async () => {
    expect(await refusalOf(check(rsa, version({ type: 'rsa', bits: 3072 }, rsaJwk)))).toEqual(refused(': the key material is not an RSA-3072 key'));
  });

  it('is refused when the declared public key differs in its modulus, its exponent, or is missing', async () => {
    const other = publicJwk(await token.publicKey(await token.generateKey({ type: 'rsa', bits: 2048, publicExponent: 3 })));
    for (const declared of [{ ...rsaJwk, n: other.n }, { ...rsaJwk, e: other.e }]) {
      expect(await refusalOf(check(rsa, version({ type: 'rsa', bits: 2048 }, declared as Record<string, string>)))).toEqual(refused('.publicJwk does not match the key material'));
    }
    expect(await refusalOf(check(rsa, version({ type: 'rsa', bits: 2048 }, null)))).toEqual(refused('.publicJwk does not match the key material'));
  });
});

describe('an EC key', () => {
  it('passes with its own curve and point', async () => {
    expect(await check(ec, version({ type: 'ec', curve: 'P-256' }, ecJwk))).toEqual(await token.publicKey(ec));
  });

  it('is refused when it is not on the declared curve', async () => {
    const p384 = publicJwk(await token.publicKey(await token.generateKey({ type: 'ec', curve: 'P-384' })));
    expect(await refusalOf(check(ec, version({ type: 'ec', curve: 'P-384' }, p384)))).toEqual(refused(': the key material is not a P-384 key'));
  });

  it("is refused when the declared point is another key's, or no point of the curve", async () => {
    const another = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as Record<string, string>;
    const declared = { ...ecJwk, x: another.x as string, y: another.y as string };
    expect(await refusalOf(check(ec, version({ type: 'ec', curve: 'P-256' }, declared)))).toEqual(refused('.publicJwk does not match the key material'));
    // x and y of the right length that are not a point of P-256.
    const y = Buffer.from(ecJwk.y as string, 'base64url');
    y[31] = (y[31] as number) ^ 1;
    const offCurve = { ...ecJwk, y: y.toString('base64url') };
    expect(await refusalOf(check(ec, version({ type: 'ec', curve: 'P-256' }, offCurve)))).toEqual(refused('.publicJwk does not match the key material'));
  });
});

describe('a secret key', () => {
  it('is refused when its type is not the declared one', async () => {
    const aes = await token.importKey({ type: 'aes', bits: 256 }, { type: 'secret', value: randomBytes(32) });
    // The same object named as an HMAC key of the same length.
    const asHmac: TokenKey = { id: aes.id, spec: { type: 'generic-secret', bits: 256 } };
    expect(await refusalOf(check(asHmac, version({ type: 'generic-secret', bits: 256 }, null)))).toEqual(refused(': the key material is not a generic-secret key'));
  });

  it('with a recorded length, is checked by that length whatever the wrap says', async () => {
    const imported = await token.importKey({ type: 'aes', bits: 256 }, { type: 'secret', value: randomBytes(32) });
    expect((await token.secretShape(imported)).valueLen).toBe(32);
    expect(await check(imported, version({ type: 'aes', bits: 256 }, null), 7)).toBeUndefined();
    const asAes128: TokenKey = { id: imported.id, spec: { type: 'aes', bits: 128 } };
    expect(await refusalOf(check(asAes128, version({ type: 'aes', bits: 128 }, null), 24))).toEqual(refused(': the key material is not a 128-bit key'));
  });

  it('unwrapped without a recorded length, is checked by the length of its wrap (RFC 5649)', async () => {
    const kek = randomBytes(32);
    const unwrapping = await token.importKey({ type: 'aes', bits: 256 }, { type: 'secret', value: kek }, { usages: ['wrap', 'unwrap'] });
    const cipher = createCipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
    const wrapped = Buffer.concat([cipher.update(randomBytes(16)), cipher.final()]);
    const unwrapped = await token.unwrapKey(unwrapping, { type: CKM.AES_KEY_WRAP_PAD }, wrapped, { type: 'aes', bits: 128 });
    expect((await token.secretShape(unwrapped)).valueLen ?? 0).toBe(0);
    expect(wrapped).toHaveLength(24);
    expect(await check(unwrapped, version({ type: 'aes', bits: 128 }, null), wrapped.length)).toBeUndefined();
    for (const length of [16, 32, 40]) {
      expect(await refusalOf(check(unwrapped, version({ type: 'aes', bits: 128 }, null), length)), String(length)).toEqual(refused(': the key material is not a 128-bit key'));
    }
  });
});
