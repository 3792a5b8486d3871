// The security domain over a real token and store: activation by download, a second download of
// the same domain, recovery by upload into another HSM's state, the refusals (each changing
// nothing), start-up reconciliation and data directories older than domains.
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseDomainCertificate } from '../../src/hsm/security-domain/certificates.js';
import { DOMAIN_OBJECT_LABEL, sealingKeyOf, wrappingKeyOf } from '../../src/hsm/security-domain/domain-keys.js';
import { DOMAIN_TAG, type DomainPayload, decodePayload, encodePayload } from '../../src/hsm/security-domain/domain-payload.js';
import { type DomainItem, buildRestoreBlob, buildSecurityDomainFile, parseSecurityDomainFile } from '../../src/hsm/security-domain/sd-file.js';
import { FIRST_START_CEREMONY } from '../../src/hsm/security-domain/security-domain.js';
import { TRANSFER_KEY_LABEL } from '../../src/hsm/security-domain/transfer-key.js';
import type { MarkerStore } from '../../src/store/access-store.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import { TokenError } from '../../src/token/errors.js';
import { LEGACY_TRUSTED_KEY, LEGACY_TRUSTED_KEY_LABEL } from '../../src/token/trusted-wrapping-key.js';
import type { Token } from '../../src/token/token.js';
import { refusal, refusalOf } from '../helpers/refusal.js';
import { type CeremonyPair, TEST_ADMIN, ceremonyPairs, openDomainFile, openTestDomain } from '../helpers/test-domain.js';
import { type OpenTestToken, openTestToken } from '../helpers/test-token.js';

let opened: OpenTestToken | undefined;
let token: Token;
let soPin: string;
let pairs: CeremonyPair[];
let dir: string;
let store: SqliteMetadataStore;

beforeAll(async () => {
  opened = await openTestToken();
  ({ token } = opened);
  soPin = opened.testToken.soPin;
  pairs = await ceremonyPairs(5);
});

afterAll(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  opened?.close();
});

/** Each test starts from a fresh store: a new HSM's state over the same token. */
beforeEach(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-domain-'));
  store = new SqliteMetadataStore(path.join(dir, 'metadata.db'));
  // Domain objects of earlier tests: a fresh store names none, so opening removes them.
  await openTestDomain(token, store.access, soPin);
});

const certificates = (count = 3) => pairs.slice(0, count).map((pair) => pair.jwk);

/** Opens a domain file with a quorum of the ceremony keys, offline, as a customer can. */
function openFile(text: string, keys: CeremonyPair[]): Buffer {
  return openDomainFile(text, keys.map((pair) => ({ privateKeyPem: pair.privateKeyPem, certificate: pair.certificatePem }))).plaintext;
}

async function domainObjects(): Promise<string[]> {
  return (await token.keyIdsLabelled(DOMAIN_OBJECT_LABEL)).map((id) => id.toString('hex')).sort();
}

describe('activation by download', () => {
  it('is not active before, refuses what is wrong without changing anything, and activates with a valid request', async () => {
    const domain = await openTestDomain(token, store.access, soPin);
    expect(domain.summary()).toMatchObject({ state: 'NotActivated', firstStart: true });
    expect(() => domain.protection()).toThrow(/not activated/);
    const refusals: Array<[unknown, unknown, RegExp]> = [
      [certificates(2), 2, /certificates: required, an array of 3 to 10/],
      [[...certificates(3), ...certificates(3), ...certificates(3), pairs[3]!.jwk, pairs[4]!.jwk], 2, /array of 3 to 10/],
      [certificates(3), 4, /required: must be a whole number from 2 to the number of certificates \(3\)/],
      [certificates(3), 1, /required/],
      [certificates(3), '2', /required/],
      [[certificates(1)[0], certificates(1)[0], pairs[2]!.jwk], 2, /certificates\[1\]: the same certificate is given twice/],
      [[...certificates(2), { ...pairs[2]!.jwk, x5c: ['bm90IGEgY2VydA=='] }], 2, /certificates\[2\]\.x5c\[0\]/],
      [[...certificates(2), { ...pairs[2]!.jwk, n: pairs[0]!.jwk.n }], 2, /certificates\[2\]\.n: does not match/],
    ];
    for (const [certs, required, message] of refusals) {
      await expect(domain.download({ certificates: certs, required }, TEST_ADMIN)).rejects.toMatchObject({ code: 'BadParameter', message: expect.stringMatching(message) });
    }
    await expect(domain.download({ certificates: certificates(), required: 2 }, 'someone-else')).rejects.toMatchObject({ code: 'Forbidden', message: expect.stringMatching(/initial administrator/) });
    expect(domain.isActive).toBe(false);
    expect(await domainObjects()).toEqual([]);

    const file = await domain.download({ certificates: certificates(), required: 2 }, TEST_ADMIN);
    expect(domain.summary()).toEqual({ state: 'Active', origin: 'download', downloadable: true, firstStart: false });
    expect(domain.isActive).toBe(true);
    expect(domain.downloadStatus()).toEqual({ status: 'Success', status_details: 'The resource is active.' });
    const payload = decodePayload(openFile(file, [pairs[0]!, pairs[2]!]));
    expect((await domainObjects()).sort()).toEqual([sealingKeyOf(payload.domainId).id.toString('hex'), wrappingKeyOf(payload.domainId).id.toString('hex')].sort());
    // The domain's keys are the ones the file carries: the trusted key in the token wraps what
    // the file's wrapping key unwraps.
    const target = await token.generateKey({ type: 'aes', bits: 128 }, { exportPolicy: 'wrap-with-trusted', ephemeral: true });
    const wrapped = await token.wrapKey(wrappingKeyOf(payload.domainId), { type: token.capabilities.aesKeyWrapPad as number }, target);
    const { createDecipheriv } = await import('node:crypto');
    const unwrap = createDecipheriv('id-aes256-wrap-pad', payload.wrappingKey, Buffer.from('A65959A6', 'hex'));
    expect(Buffer.concat([unwrap.update(wrapped), unwrap.final()])).toHaveLength(16);
  });

  it('gives a second download a new file of the same domain, to anyone allowed, and survives a restart', async () => {
    const domain = await openTestDomain(token, store.access, soPin);
    const first = await domain.download({ certificates: certificates(3), required: 2 }, TEST_ADMIN);
    const again = await domain.download({ certificates: certificates(5).slice(1), required: 3 }, 'another-administrator');
    expect(parseSecurityDomainFile(again).SharedKeys.required).toBe(3);
    expect(parseSecurityDomainFile(again).EncData.data[0]?.compact_jwe).not.toBe(parseSecurityDomainFile(first).EncData.data[0]?.compact_jwe);
    expect(openFile(again, pairs.slice(2, 5))).toEqual(openFile(first, pairs.slice(0, 2)));
    const reopened = await openTestDomain(token, store.access, soPin);
    expect(reopened.summary()).toMatchObject({ state: 'Active', origin: 'download' });
    expect(openFile(await reopened.download({ certificates: certificates(3), required: 2 }, FIRST_START_CEREMONY), pairs.slice(1, 3))).toEqual(openFile(first, pairs.slice(0, 2)));
  });

  it('says what is missing without an SO PIN, and with a wrong one, changing nothing', async () => {
    const noPin = await openTestDomain(token, store.access, undefined);
    await expect(noPin.download({ certificates: certificates(), required: 2 }, TEST_ADMIN)).rejects.toMatchObject({ code: 'Conflict', message: expect.stringMatching(/--so-pin \(or MHSM_SO_PIN\)/) });
    const wrongPin = await openTestDomain(token, store.access, 'not-the-so-pin');
    await expect(wrongPin.download({ certificates: certificates(), required: 2 }, TEST_ADMIN)).rejects.toMatchObject({ code: 'Conflict', message: expect.stringMatching(/PIN the emulator was given is wrong/) });
    expect(wrongPin.isActive).toBe(false);
    expect(await domainObjects()).toEqual([]);
    // The token still works for the user after the failed SO login.
    expect(await token.random(4)).toHaveLength(4);
  });
});

describe('recovery by upload', () => {
  it('installs a domain from a restore blob made offline, and refuses every wrong blob without changing anything', async () => {
    const source = await openTestDomain(token, store.access, soPin);
    const fileText = await source.download({ certificates: certificates(3), required: 2 }, TEST_ADMIN);
    const sourcePayload = decodePayload(openFile(fileText, pairs.slice(0, 2)));
    // A new HSM over the same token: a fresh store, as a recovered instance starts.
    await store.close();
    store = new SqliteMetadataStore(path.join(mkdtempSync(path.join(dir, 'recovered-')), 'metadata.db'));
    const target = await openTestDomain(token, store.access, soPin);
    target.markNotActivated();
    expect(await domainObjects()).toEqual([]);
    await expect(target.upload('{}')).rejects.toMatchObject({ code: 'BadParameter' });

    const transfer = await target.transferKey();
    const blob = (privateKeys: CeremonyPair[], transferCertificateDer = transfer.certificateDer) =>
      buildRestoreBlob({
        file: parseSecurityDomainFile(fileText),
        privateKeys: privateKeys.map((pair) => ({ certificateDer: Buffer.from(new X509Certificate(pair.certificatePem).raw), privateKey: createPrivateKey(pair.privateKeyPem) })),
        transferCertificateDer,
      });
    const good = blob([pairs[1]!, pairs[2]!]);
    const parsed = JSON.parse(good) as { EncData: { data: Array<{ compact_jwe: string }> }; WrappedKey: { enc_key: string; x5t_256: string } };
    const flip = (jwe: string, part: number) => {
      const parts = jwe.split('.');
      const bytes = Buffer.from(parts[part] as string, 'base64url');
      bytes[3] = (bytes[3] as number) ^ 1;
      parts[part] = bytes.toString('base64url');
      return parts.join('.');
    };
    const withData = (jwe: string) => JSON.stringify({ ...parsed, EncData: { ...parsed.EncData, data: [{ ...parsed.EncData.data[0], compact_jwe: jwe }] } });
    const withKey = (encKey: string) => JSON.stringify({ ...parsed, WrappedKey: { ...parsed.WrappedKey, enc_key: encKey } });
    const otherTransfer = await ceremonyPairs(1);
    const refusals: Array<[unknown, RegExp]> = [
      ['not json at all', /value/],
      [fileText, /security-domain file/],
      [blob([pairs[0]!, pairs[1]!], Buffer.from(new X509Certificate(otherTransfer[0]!.certificatePem).raw)), /x5t_256/],
      [withData(flip(parsed.EncData.data[0]!.compact_jwe, 4)), /EncData/],
      [withData(flip(parsed.EncData.data[0]!.compact_jwe, 3)), /EncData/],
      [withKey(flip(parsed.WrappedKey.enc_key, 1)), /WrappedKey\.enc_key/],
      [withKey(flip(parsed.WrappedKey.enc_key, 4)), /WrappedKey/],
      // A wrong master key: the data items were not made under the key the blob carries.
      [withData(JSON.parse(blob([pairs[0]!, pairs[2]!])).EncData.data[0].compact_jwe), /EncData/],
    ];
    for (const [value, message] of refusals) {
      await expect(target.upload(value)).rejects.toMatchObject({ code: 'BadParameter', message: expect.stringMatching(message) });
      expect(target.isActive).toBe(false);
      expect(await domainObjects()).toEqual([]);
    }
    expect(target.uploadStatus().status).toBe('Failed');

    // base64url of the JSON text is taken too (the REST examples encode the value).
    await target.upload(Buffer.from(good).toString('base64url'));
    expect(target.summary()).toMatchObject({ state: 'Active', origin: 'upload', downloadable: true });
    expect(target.uploadStatus()).toEqual({ status: 'Success', status_details: 'The resource is active.' });
    expect(await domainObjects()).toEqual([sealingKeyOf(sourcePayload.domainId).id.toString('hex'), wrappingKeyOf(sourcePayload.domainId).id.toString('hex')].sort());
    // Both HSMs seal alike: what one sealed, the other opens.
    const sealed = await source.protection().sealer.seal(Buffer.from('from A'), 'key-backup');
    expect((await target.protection().sealer.unseal(sealed, 'key-backup', 'value')).toString()).toBe('from A');
    await expect(target.upload(good)).rejects.toMatchObject({ code: 'Conflict', message: expect.stringMatching(/already activated/) });
    // The transfer key has done its work: its private half is gone from the token, and its record.
    expect(await token.keyIdsLabelled(TRANSFER_KEY_LABEL)).toEqual([]);
    expect(store.access.marker('security-domain-transfer-key')).toBe('');
  });

  it('drops a transfer key fetched before an activation by download', async () => {
    const domain = await openTestDomain(token, store.access, soPin);
    await domain.transferKey();
    expect(await token.keyIdsLabelled(TRANSFER_KEY_LABEL)).toHaveLength(1);
    await domain.download({ certificates: certificates(), required: 2 }, TEST_ADMIN);
    expect(await token.keyIdsLabelled(TRANSFER_KEY_LABEL)).toEqual([]);
  });
});

describe('start-up', () => {
  it('removes the objects of an activation that crashed before it was recorded', async () => {
    const domain = await openTestDomain(token, store.access, soPin);
    await domain.download({ certificates: certificates(), required: 2 }, TEST_ADMIN);
    expect(await domainObjects()).toHaveLength(2);
    // A new store (no record of that activation) over the same token: what a crash between the
    // token objects and the record leaves.
    await store.close();
    store = new SqliteMetadataStore(path.join(mkdtempSync(path.join(dir, 'reopened-')), 'metadata.db'));
    const reopened = await openTestDomain(token, store.access, soPin);
    expect(reopened.isActive).toBe(false);
    expect(await domainObjects()).toEqual([]);
  });

  it('refuses to start when the active domain\'s keys are gone from the token', async () => {
    const domain = await openTestDomain(token, store.access, soPin);
    const file = await domain.download({ certificates: certificates(), required: 2 }, TEST_ADMIN);
    const { domainId } = decodePayload(openFile(file, pairs.slice(0, 2)));
    await token.destroyObjectsWithId(sealingKeyOf(domainId).id);
    await expect(openTestDomain(token, store.access, soPin)).rejects.toThrow(/lacks the security domain's sealing key/);
    await token.destroyObjectsWithId(wrappingKeyOf(domainId).id);
  });

  it('keeps a data directory made before domains working: active, sealed backups, no download', async () => {
    await token.createTrustedKey(soPin, LEGACY_TRUSTED_KEY, LEGACY_TRUSTED_KEY_LABEL, Buffer.alloc(32, 7));
    try {
      const legacy = await openTestDomain(token, store.access, soPin);
      expect(legacy.summary()).toMatchObject({ state: 'Active', origin: 'legacy', downloadable: false });
      expect(legacy.protection().wrappingKey.id).toEqual(LEGACY_TRUSTED_KEY.id);
      const sealed = await legacy.protection().sealer.seal(Buffer.from('legacy'), 'key-backup');
      expect((await legacy.protection().sealer.unseal(sealed, 'key-backup', 'value')).toString()).toBe('legacy');
      await expect(legacy.download({ certificates: certificates(), required: 2 }, TEST_ADMIN)).rejects.toMatchObject({ code: 'Conflict', message: expect.stringMatching(/cannot be downloaded/) });
      // The same state, and the same sealing key, on the next start: the upgrade is made once.
      const restarted = await openTestDomain(token, store.access, soPin);
      expect(restarted.summary()).toEqual({ state: 'Active', origin: 'legacy', downloadable: false, firstStart: false });
      expect((await restarted.protection().sealer.unseal(sealed, 'key-backup', 'value')).toString()).toBe('legacy');
      expect(await domainObjects()).toEqual([sealingKeyOf(restarted.protection().sealer.domainId).id.toString('hex')]);
    } finally {
      await token.destroyObjectsWithId(LEGACY_TRUSTED_KEY.id);
    }
  });
});

const NOT_ACTIVATED =
  'The managed HSM is not activated: it has been provisioned, but cannot be used for cryptographic operations until it is activated. To activate the HSM, download the security domain.';
const SO_PIN_MISSING =
  "Activation makes the security domain's wrapping key, an AES-256 key with CKA_TRUSTED, which only the token's security officer can create: start the emulator with --so-pin (or MHSM_SO_PIN) for this token";
const ACTIVE = { status: 'Success', status_details: 'The resource is active.' };

/** A payload made here, so that a test knows the domain a file or blob carries. */
function newPayload(): DomainPayload {
  return { domainId: randomBytes(16), wrappingKey: randomBytes(32), sealingKey: randomBytes(32) };
}

function objectIdsOf(payload: DomainPayload): string[] {
  return [sealingKeyOf(payload.domainId).id.toString('hex'), wrappingKeyOf(payload.domainId).id.toString('hex')].sort();
}

/** A security-domain file with these items, shared among the first three test certificates. */
function fileWithItems(items: DomainItem[]): string {
  const recipients = certificates(3).map((jwk, index) => parseDomainCertificate(jwk, index));
  return buildSecurityDomainFile({ masterKey: randomBytes(32), items, recipients, required: 2 });
}

/** A restore blob of a file, made offline with two of its keys for this transfer certificate. */
function restoreBlob(fileText: string, transferCertificateDer: Buffer): string {
  return buildRestoreBlob({
    file: parseSecurityDomainFile(fileText),
    privateKeys: pairs.slice(0, 2).map((pair) => ({ certificateDer: Buffer.from(new X509Certificate(pair.certificatePem).raw), privateKey: createPrivateKey(pair.privateKeyPem) })),
    transferCertificateDer,
  });
}

/** The real token, except that making the CKA_TRUSTED key fails with `failure`. */
function tokenFailingTrustedKey(real: Token, failure: Error): Token {
  return new Proxy(real, {
    get(target, property) {
      if (property === 'createTrustedKey') return () => Promise.reject(failure);
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('state before activation', () => {
  it('reports a new HSM as not activated, on its first start, with neither a download nor an upload made', async () => {
    const domain = await openTestDomain(token, store.access, soPin);
    expect(domain.isActive).toBe(false);
    expect(domain.summary()).toEqual({ state: 'NotActivated', downloadable: false, firstStart: true });
    expect(refusal(() => domain.protection())).toEqual({ code: 'Forbidden', message: NOT_ACTIVATED });
    expect(domain.downloadStatus()).toEqual({ status: 'Failed', status_details: 'No security domain download has been made on this HSM.' });
    expect(domain.uploadStatus()).toEqual({ status: 'Failed', status_details: 'No security domain has been uploaded to this HSM.' });
  });

  it('records a manual activation: no longer a first start, now and after a restart, and still activated by a download', async () => {
    const domain = await openTestDomain(token, store.access, soPin);
    domain.markNotActivated();
    expect(domain.summary()).toEqual({ state: 'NotActivated', downloadable: false, firstStart: false });
    expect(JSON.parse(store.access.marker('security-domain') as string)).toEqual({ status: 'not-activated' });
    const restarted = await openTestDomain(token, store.access, soPin);
    expect(restarted.summary()).toEqual({ state: 'NotActivated', downloadable: false, firstStart: false });
    await restarted.download({ certificates: certificates(), required: 2 }, TEST_ADMIN);
    expect(restarted.summary()).toEqual({ state: 'Active', origin: 'download', downloadable: true, firstStart: false });
  });

  it('leaves an active HSM active when asked to wait for a manual activation', async () => {
    const domain = await openTestDomain(token, store.access, soPin);
    await domain.download({ certificates: certificates(), required: 2 }, TEST_ADMIN);
    domain.markNotActivated();
    expect(domain.summary()).toEqual({ state: 'Active', origin: 'download', downloadable: true, firstStart: false });
    expect((await openTestDomain(token, store.access, soPin)).summary()).toEqual({ state: 'Active', origin: 'download', downloadable: true, firstStart: false });
  });
});

describe('download requests', () => {
  const requiredRule = 'required: must be a whole number from 2 to the number of certificates (3)';
  it.each([
    ['below two', 1],
    ['zero', 0],
    ['more than the certificates', 4],
    ['not whole', 2.5],
    ['a string', '2'],
    ['null', null],
  ])('refuses a quorum that is %s', async (_label, required) => {
    const domain = await openTestDomain(token, store.access, soPin);
    expect(await refusalOf(domain.download({ certificates: certificates(3), required }, TEST_ADMIN))).toEqual({ code: 'BadParameter', message: requiredRule });
    expect(domain.isActive).toBe(false);
    expect(await domainObjects()).toEqual([]);
  });

  const countRule = 'certificates: required, an array of 3 to 10 certificates (SecurityDomainJsonWebKey with x5c)';
  it.each([
    ['two certificates', () => certificates(2)],
    ['eleven certificates', () => [...certificates(5), ...certificates(5), pairs[0]!.jwk]],
    ['no array', () => pairs[0]!.jwk],
    ['none', () => undefined],
  ])('refuses %s', async (_label, make) => {
    const domain = await openTestDomain(token, store.access, soPin);
    expect(await refusalOf(domain.download({ certificates: make(), required: 2 }, TEST_ADMIN))).toEqual({ code: 'BadParameter', message: countRule });
    expect(domain.isActive).toBe(false);
  });

  it('takes ten certificates, a quorum of all of them, and a quorum of two when none is given', async () => {
    const ten = [...pairs, ...(await ceremonyPairs(5))];
    const domain = await openTestDomain(token, store.access, soPin);
    const first = parseSecurityDomainFile(await domain.download({ certificates: ten.map((pair) => pair.jwk), required: 10 }, TEST_ADMIN));
    expect(first.SharedKeys.enc_shares).toHaveLength(10);
    expect(first.SharedKeys.required).toBe(10);
    const all = parseSecurityDomainFile(await domain.download({ certificates: certificates(3), required: 3 }, TEST_ADMIN));
    expect(all.SharedKeys.required).toBe(3);
    const defaulted = await domain.download({ certificates: certificates(3), required: undefined }, TEST_ADMIN);
    expect(parseSecurityDomainFile(defaulted).SharedKeys.required).toBe(2);
    expect(decodePayload(openFile(defaulted, [pairs[0]!, pairs[2]!])).domainId).toEqual(decodePayload(openFile(defaulted, pairs.slice(1, 3))).domainId);
  });

  it('lets the first-start ceremony activate without an administrator', async () => {
    const domain = await openTestDomain(token, store.access, soPin);
    const file = await domain.download({ certificates: certificates(), required: 2 }, FIRST_START_CEREMONY);
    expect(domain.summary()).toEqual({ state: 'Active', origin: 'download', downloadable: true, firstStart: false });
    expect(await domainObjects()).toEqual(objectIdsOf(decodePayload(openFile(file, pairs.slice(0, 2)))));
  });

  it('names the missing SO PIN for an empty one, and keeps the token failure as the cause of a wrong one', async () => {
    const empty = await openTestDomain(token, store.access, '');
    expect(await refusalOf(empty.download({ certificates: certificates(), required: 2 }, TEST_ADMIN))).toEqual({ code: 'Conflict', message: SO_PIN_MISSING });
    const wrongPin = await openTestDomain(token, store.access, 'not-the-so-pin');
    const error = (await wrongPin.download({ certificates: certificates(), required: 2 }, TEST_ADMIN).catch((failure: unknown) => failure)) as Error & { code: string };
    expect({ code: error.code, message: error.message }).toEqual({ code: 'Conflict', message: `${SO_PIN_MISSING}: the security-officer PIN the emulator was given is wrong` });
    expect(error.cause).toBeInstanceOf(TokenError);
    expect((error.cause as TokenError).code).toBe('SO_PIN_INCORRECT');
    expect(await domainObjects()).toEqual([]);
  });

  it('passes on a token failure other than the SO PIN as it is, leaving no domain object', async () => {
    const failure = new TokenError('TOKEN_CLOSED', 'the token was closed');
    const domain = await openTestDomain(tokenFailingTrustedKey(token, failure), store.access, soPin);
    await expect(domain.download({ certificates: certificates(), required: 2 }, TEST_ADMIN)).rejects.toBe(failure);
    expect(domain.isActive).toBe(false);
    expect(domain.summary()).toEqual({ state: 'NotActivated', downloadable: false, firstStart: true });
    expect(await domainObjects()).toEqual([]);
  });

  it('removes the installed keys when the activation cannot be recorded', async () => {
    const failure = new Error('the store cannot write');
    const failingRecord: MarkerStore = {
      marker: (name) => store.access.marker(name),
      setMarker: (name, value) => {
        if (name === 'security-domain') throw failure;
        store.access.setMarker(name, value);
      },
    };
    const domain = await openTestDomain(token, failingRecord, soPin);
    await expect(domain.download({ certificates: certificates(), required: 2 }, TEST_ADMIN)).rejects.toBe(failure);
    expect(domain.isActive).toBe(false);
    expect(await domainObjects()).toEqual([]);
    expect(domain.downloadStatus()).toEqual({ status: 'Failed', status_details: 'No security domain download has been made on this HSM.' });
  });

  it('never installs a second domain into an active HSM, even when its stored record says it is not activated', async () => {
    const domain = await openTestDomain(token, store.access, soPin);
    await domain.download({ certificates: certificates(), required: 2 }, TEST_ADMIN);
    const installed = await domainObjects();
    store.access.setMarker('security-domain', JSON.stringify({ status: 'not-activated' }));
    await expect(domain.download({ certificates: certificates(), required: 2 }, TEST_ADMIN)).rejects.toThrow(
      new Error('the security domain is installed only into an HSM that is not active'),
    );
    expect(await domainObjects()).toEqual(installed);
  });

  it('refuses a new copy of a domain whose stored payload was altered, naming the security domain', async () => {
    const domain = await openTestDomain(token, store.access, soPin);
    await domain.download({ certificates: certificates(), required: 2 }, TEST_ADMIN);
    const record = JSON.parse(store.access.marker('security-domain') as string) as { sealedPayload: string };
    const sealed = Buffer.from(record.sealedPayload, 'base64url');
    sealed[sealed.length - 1] = (sealed[sealed.length - 1] as number) ^ 1;
    store.access.setMarker('security-domain', JSON.stringify({ ...record, sealedPayload: sealed.toString('base64url') }));
    expect(await refusalOf(domain.download({ certificates: certificates(), required: 2 }, TEST_ADMIN))).toEqual({
      code: 'BadParameter',
      message: "security domain: the blob's seal does not verify: it was altered, or is not a domain-payload",
    });
  });
});

describe('upload requests', () => {
  it('refuses a restore blob before this HSM has a transfer key, and reports it as the upload status', async () => {
    // Not even marked for a manual activation: a data directory's first start.
    const domain = await openTestDomain(token, store.access, soPin);
    const other = await ceremonyPairs(1);
    const blob = restoreBlob(fileWithItems([{ tag: DOMAIN_TAG, plaintext: encodePayload(newPayload()) }]), Buffer.from(new X509Certificate(other[0]!.certificatePem).raw));
    const message = 'value: this HSM has no transfer key yet; get it first (GET /securitydomain/upload, or mhsm sd transfer-key), then make the restore blob for it';
    expect(await refusalOf(domain.upload(blob))).toEqual({ code: 'BadParameter', message });
    expect(domain.uploadStatus()).toEqual({ status: 'Failed', status_details: message });
    expect(domain.isActive).toBe(false);
  });

  it('refuses a restore blob without the domain item', async () => {
    const domain = await openTestDomain(token, store.access, soPin);
    domain.markNotActivated();
    const transfer = await domain.transferKey();
    const blob = restoreBlob(fileWithItems([{ tag: 'other_item', plaintext: Buffer.from('not a domain') }]), transfer.certificateDer);
    const message = 'EncData.data: the restore blob has no "hsm_backup" item, so it is not the security domain of a Managed HSM emulator';
    expect(await refusalOf(domain.upload(blob))).toEqual({ code: 'BadParameter', message });
    expect(domain.uploadStatus()).toEqual({ status: 'Failed', status_details: message });
    expect(domain.isActive).toBe(false);
    expect(await domainObjects()).toEqual([]);
  });

  it('installs the domain item of a blob that carries other items too, and keeps its success when a later upload is refused', async () => {
    const domain = await openTestDomain(token, store.access, soPin);
    domain.markNotActivated();
    const transfer = await domain.transferKey();
    const payload = newPayload();
    const items = [
      { tag: 'other_item', plaintext: Buffer.from('not a domain') },
      { tag: DOMAIN_TAG, plaintext: encodePayload(payload) },
    ];
    await domain.upload(restoreBlob(fileWithItems(items), transfer.certificateDer));
    expect(domain.isActive).toBe(true);
    expect(domain.summary()).toEqual({ state: 'Active', origin: 'upload', downloadable: true, firstStart: false });
    expect(await domainObjects()).toEqual(objectIdsOf(payload));
    // Active by an upload: the download endpoint reports the HSM active too.
    expect(domain.downloadStatus()).toEqual(ACTIVE);
    expect(domain.uploadStatus()).toEqual(ACTIVE);
    expect((await refusalOf(domain.upload('{}'))).code).toBe('Conflict');
    expect(domain.uploadStatus()).toEqual(ACTIVE);
  });
});

describe('start-up cleanup', () => {
  it('keeps objects under the domain label whose CKA_ID names no domain object', async () => {
    const foreign = Buffer.from('not-a-domain-object-id');
    await token.generateKey({ type: 'aes', bits: 256 }, { id: foreign, label: DOMAIN_OBJECT_LABEL, usages: ['encrypt', 'decrypt'] });
    try {
      await openTestDomain(token, store.access, soPin);
      expect(await domainObjects()).toEqual([foreign.toString('hex')]);
    } finally {
      await token.destroyObjectsWithId(foreign);
    }
  });
});
