// Generating a stored key: the slow part (the key generation itself) runs concurrently on the
// pooled sessions, as session objects; only their copy into token objects waits for other
// token-object writes. One principal's RSA-4096 keys do not hold up another's EC key.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NativeModule } from '../../src/native/addon.js';
import { type AttributeName, attributeTypes, decodeAttributes, toNativeTemplate } from '../../src/token/attributes.js';
import { CKM, CKO } from '../../src/token/constants.js';
import type { TokenKey } from '../../src/token/key-spec.js';
import { acquireModule, releaseModule } from '../../src/token/module-registry.js';
import type { Token } from '../../src/token/token.js';
import { openUserSession, slotByLabel } from '../helpers/pkcs11.js';
import { type OpenTestToken, type TestToken, openTestToken } from '../helpers/test-token.js';

let opened: OpenTestToken | undefined;
let testToken: TestToken;
let token: Token;
/** The process's instance of the module (shared with `token`), and a session of our own on it. */
let module: NativeModule;
let session: number;

beforeAll(async () => {
  opened = await openTestToken();
  ({ testToken, token } = opened);
  module = acquireModule(testToken.modulePath);
  session = await openUserSession(module, await slotByLabel(module, testToken.label), testToken.pin);
});

afterAll(() => {
  if (opened) {
    module.closeSession(session);
    releaseModule(module);
    opened.close();
  }
});

/** The key's objects of one class, token or session objects, as the addon finds them. */
function objectsOf(key: TokenKey, objectClass: number, tokenObject: boolean): Promise<number[]> {
  return module.findObjects(session, toNativeTemplate({ class: objectClass, id: key.id, token: tokenObject }));
}

async function attributesOf<N extends AttributeName>(key: TokenKey, objectClass: number, names: readonly N[]) {
  const [handle, ...more] = await objectsOf(key, objectClass, true);
  expect(handle, `a token object of class ${objectClass}`).toBeDefined();
  expect(more).toEqual([]);
  return decodeAttributes(names, await module.getAttributeValue(session, handle as number, attributeTypes(names)));
}

const PRIVATE_ATTRIBUTES = [
  'token',
  'private',
  'sensitive',
  'extractable',
  'wrapWithTrusted',
  'local',
  'alwaysSensitive',
  'neverExtractable',
  'keyGenMechanism',
  'label',
  'sign',
] as const;

/** A generated key pair's private half as a stored key must be, whatever way it was made. */
function expectedPrivate(label: string, keyGenMechanism: number) {
  return {
    token: true,
    private: true,
    sensitive: true,
    extractable: false,
    wrapWithTrusted: false,
    local: true,
    alwaysSensitive: true,
    neverExtractable: true,
    keyGenMechanism,
    label,
    sign: true,
  };
}

async function expectStoredPair(key: TokenKey, label: string, keyGenMechanism: number): Promise<void> {
  expect(await attributesOf(key, CKO.PRIVATE_KEY, PRIVATE_ATTRIBUTES)).toEqual(expectedPrivate(label, keyGenMechanism));
  expect(await attributesOf(key, CKO.PUBLIC_KEY, ['token', 'private', 'local', 'label', 'verify'] as const)).toEqual({
    token: true,
    private: false,
    local: true,
    label,
    verify: true,
  });
  // The session objects the key was generated as are gone.
  expect(await objectsOf(key, CKO.PRIVATE_KEY, false)).toEqual([]);
  expect(await objectsOf(key, CKO.PUBLIC_KEY, false)).toEqual([]);
}

describe('generating stored keys', () => {
  it('a P-256 key started 50 ms into an RSA-4096 generation does not wait for it', async () => {
    const finished: string[] = [];
    const rsa = token.generateKey({ type: 'rsa', bits: 4096 }, { label: 'slow' }).then((key) => {
      finished.push('rsa-4096');
      return key;
    });
    await sleep(50);
    expect(finished, 'the RSA-4096 generation is still running').toEqual([]);
    const ec = token.generateKey({ type: 'ec', curve: 'P-256' }, { label: 'quick' }).then((key) => {
      finished.push('p-256');
      return key;
    });
    const [rsaKey, ecKey] = await Promise.all([rsa, ec]);
    expect(finished).toEqual(['p-256', 'rsa-4096']);

    // Both work: each private half signs what its public half verifies.
    const data = Buffer.from('both keys work');
    const rsaSignature = await token.sign(rsaKey, { type: CKM.SHA256_RSA_PKCS }, data);
    expect(await token.verify(rsaKey, { type: CKM.SHA256_RSA_PKCS }, data, rsaSignature)).toBe(true);
    expect(await token.verify(rsaKey, { type: CKM.SHA256_RSA_PKCS }, Buffer.from('other data'), rsaSignature)).toBe(false);
    const digest = createHash('sha256').update(data).digest();
    const ecSignature = await token.sign(ecKey, { type: CKM.ECDSA }, digest);
    expect(ecSignature).toHaveLength(64);
    expect(await token.verify(ecKey, { type: CKM.ECDSA }, digest, ecSignature)).toBe(true);
    expect(await token.verify(ecKey, { type: CKM.ECDSA }, createHash('sha256').update('other data').digest(), ecSignature)).toBe(false);

    await expectStoredPair(rsaKey, 'slow', CKM.RSA_PKCS_KEY_PAIR_GEN);
    await expectStoredPair(ecKey, 'quick', CKM.EC_KEY_PAIR_GEN);
  });

  it('keeps wrap-only export through the copy into a token object', async () => {
    const key = await token.generateKey({ type: 'ec', curve: 'P-256' }, { label: 'wrap-only', exportPolicy: 'wrap-with-trusted' });
    expect(await attributesOf(key, CKO.PRIVATE_KEY, PRIVATE_ATTRIBUTES)).toEqual({
      ...expectedPrivate('wrap-only', CKM.EC_KEY_PAIR_GEN),
      extractable: true,
      wrapWithTrusted: true,
      neverExtractable: false,
    });
  });

  it('leaves neither session objects nor half a key behind when a copy fails', async () => {
    // `token` calls the module instance this process shares: make its second copy fail.
    const copyObject = module.copyObject;
    let copies = 0;
    const failure = Object.assign(new Error('C_CopyObject failed: CKR_DEVICE_ERROR'), { name: 'Pkcs11Error', code: 'CKR_DEVICE_ERROR', rv: 0x30, fn: 'C_CopyObject' });
    // The addon's methods are read-only on its prototype: shadow it on the instance.
    Object.defineProperty(module, 'copyObject', {
      configurable: true,
      value: (...args: Parameters<NativeModule['copyObject']>) => {
        copies++;
        return copies === 2 ? Promise.reject(failure) : copyObject.apply(module, args);
      },
    });
    const id = Buffer.from('failed-copy');
    try {
      await expect(token.generateKey({ type: 'rsa', bits: 2048 }, { id })).rejects.toBe(failure);
    } finally {
      delete (module as Partial<NativeModule>).copyObject;
    }
    expect(module.copyObject).toBe(copyObject);
    expect(copies).toBe(2);
    expect(await module.findObjects(session, toNativeTemplate({ id }))).toEqual([]);
    // And the next key is made as usual.
    const key = await token.generateKey({ type: 'rsa', bits: 2048 }, { id, label: 'after' });
    await expectStoredPair(key, 'after', CKM.RSA_PKCS_KEY_PAIR_GEN);
  });
});
