// The key material sd-file.ts makes for itself on the way (the per-tag content keys it derives
// from a master key, the Shamir shares of a new file's master key, the master key a restore blob
// recovers from shares) is zeroed once used. Those buffers are not from Node's pool, so the
// functions that make them are wrapped to keep a reference to each buffer they return, and the
// buffers are read after the operation.
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ceremonyKeyPair, parseDomainCertificate } from '../../src/hsm/security-domain/certificates.js';
import {
  type DomainItem,
  buildRestoreBlob,
  buildSecurityDomainFile,
  decryptEncData,
  encryptEncData,
  parseSecurityDomainFile,
} from '../../src/hsm/security-domain/sd-file.js';
import { combineShares, splitSecret } from '../../src/hsm/security-domain/shamir.js';
import { deriveKey } from '../../src/hsm/security-domain/sp800-108.js';
import type { CeremonyPair } from '../helpers/test-domain.js';

interface Made {
  /** The buffer the function returned, as the code under test holds it. */
  live: Buffer;
  /** Its bytes when it was returned. */
  copy: Buffer;
}

const made = vi.hoisted(() => ({ deriveKey: [] as Made[], splitSecret: [] as Made[][], combineShares: [] as Made[] }));

const keep = (buffer: Buffer): Made => ({ live: buffer, copy: Buffer.from(buffer) });

vi.mock('../../src/hsm/security-domain/sp800-108.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/hsm/security-domain/sp800-108.js')>();
  return {
    ...actual,
    deriveKey: (...args: Parameters<typeof actual.deriveKey>) => {
      const out = actual.deriveKey(...args);
      made.deriveKey.push(keep(out));
      return out;
    },
  };
});

vi.mock('../../src/hsm/security-domain/shamir.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/hsm/security-domain/shamir.js')>();
  return {
    ...actual,
    splitSecret: (...args: Parameters<typeof actual.splitSecret>) => {
      const out = actual.splitSecret(...args);
      made.splitSecret.push(out.map(keep));
      return out;
    },
    combineShares: (...args: Parameters<typeof actual.combineShares>) => {
      const out = actual.combineShares(...args);
      made.combineShares.push(keep(out));
      return out;
    },
  };
});

let keys: CeremonyPair[];
let transfer: CeremonyPair;
const der = (pair: CeremonyPair) => Buffer.from(new X509Certificate(pair.certificatePem).raw);
const holder = (pair: CeremonyPair) => ({ certificateDer: der(pair), privateKey: createPrivateKey(pair.privateKeyPem) });
const recipientsOf = (pairs: CeremonyPair[]) => pairs.map((pair, index) => parseDomainCertificate(pair.jwk, index));
const freshItems = (): DomainItem[] => [
  { tag: 'hsm_backup', plaintext: randomBytes(48) },
  { tag: 'base_enclave_backup', plaintext: randomBytes(40) },
];

/** Which of these buffers still hold something other than zeros. */
const notZeroed = (buffers: readonly Made[]): Buffer[] => buffers.map((entry) => entry.live).filter((buffer) => buffer.some((byte) => byte !== 0));

beforeAll(async () => {
  const [first, ...rest] = await Promise.all(['transfer', 'key 1', 'key 2', 'key 3'].map((name) => ceremonyKeyPair(name)));
  transfer = first as CeremonyPair;
  keys = rest;
});

afterEach(() => {
  made.deriveKey.length = 0;
  made.splitSecret.length = 0;
  made.combineShares.length = 0;
});

describe('the probe', () => {
  it('sees a derived key, a share and a combined key that nobody zeroed, and not once they are zeroed', () => {
    const derived = deriveKey(randomBytes(32), 'tag', Buffer.alloc(0), 512);
    const shares = splitSecret(randomBytes(32), 3, 2);
    const combined = combineShares(shares.slice(0, 2));
    const all = [...made.deriveKey, ...made.splitSecret.flat(), ...made.combineShares];
    expect(all.map((entry) => entry.live)).toEqual([derived, ...shares, combined]);
    expect(notZeroed(all)).toHaveLength(5);
    for (const buffer of [derived, ...shares, combined]) buffer.fill(0);
    expect(notZeroed(all)).toEqual([]);
  });
});

describe('the content key of each item', () => {
  it('is zeroed after encrypting the items', () => {
    const masterKey = randomBytes(32);
    const items = freshItems();
    const data = encryptEncData(items, masterKey);
    expect(made.deriveKey).toHaveLength(2);
    // What was derived is each tag's key: it opens that item.
    made.deriveKey.forEach((entry, index) => expect(entry.copy).toEqual(deriveKey(masterKey, items[index]!.tag, Buffer.alloc(0), 512)));
    expect(decryptEncData(data, masterKey)).toEqual(items);
    expect(notZeroed(made.deriveKey.slice(0, 2))).toEqual([]);
  });

  it('is zeroed after decrypting the items', () => {
    const masterKey = randomBytes(32);
    const items = freshItems();
    const data = encryptEncData(items, masterKey);
    made.deriveKey.length = 0;
    expect(decryptEncData(data, masterKey)).toEqual(items);
    expect(made.deriveKey).toHaveLength(2);
    made.deriveKey.forEach((entry) => expect(entry.copy.length).toBe(64));
    expect(made.deriveKey[0]!.copy).not.toEqual(made.deriveKey[1]!.copy);
    expect(notZeroed(made.deriveKey.slice(0, 2))).toEqual([]);
  });
});

describe('a new security-domain file', () => {
  it('zeroes the Shamir shares of its master key once they are encrypted to the certificates', () => {
    const masterKey = randomBytes(32);
    const text = buildSecurityDomainFile({ masterKey, items: freshItems(), recipients: recipientsOf(keys), required: 2 });
    expect(parseSecurityDomainFile(text).SharedKeys.enc_shares).toHaveLength(3);
    expect(made.splitSecret).toHaveLength(1);
    const [shares] = made.splitSecret as [Made[]];
    expect(shares).toHaveLength(3);
    // They were the shares of this master key: any two give it back.
    expect(combineShares(shares.slice(1).map((entry) => entry.copy))).toEqual(masterKey);
    expect(notZeroed(shares)).toEqual([]);
  });
});

describe('a restore blob', () => {
  it('zeroes the master key it recovered from the shares once the data is decrypted', () => {
    const masterKey = randomBytes(32);
    const items = freshItems();
    const file = parseSecurityDomainFile(buildSecurityDomainFile({ masterKey, items, recipients: recipientsOf(keys), required: 2 }));
    made.combineShares.length = 0;
    buildRestoreBlob({ file, privateKeys: [holder(keys[0]!), holder(keys[2]!)], transferCertificateDer: der(transfer) });
    expect(made.combineShares).toHaveLength(1);
    expect(made.combineShares[0]!.copy).toEqual(masterKey);
    expect(notZeroed(made.combineShares)).toEqual([]);
  });
});
