// The plaintext key material the security domain holds while it activates an HSM or makes a new
// copy of its file (the domain keys, their encoded payload, a file's master key, a restore blob's
// items) is zeroed once used. Those buffers are not from Node's pool, so the functions that make
// them are wrapped to keep a reference to each buffer they return, and the buffers are read after
// the operation; the secrets they held are known from the file, opened offline with a quorum.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodePayload, encodePayload } from '../../src/hsm/security-domain/domain-payload.js';
import { buildRestoreBlob, parseSecurityDomainFile } from '../../src/hsm/security-domain/sd-file.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import type { Token } from '../../src/token/token.js';
import { type CeremonyPair, TEST_ADMIN, ceremonyPairs, openDomainFile, openTestDomain } from '../helpers/test-domain.js';
import { type OpenTestToken, openTestToken } from '../helpers/test-token.js';

interface Made {
  /** The buffer a function returned, as the code under test holds it. */
  live: Buffer;
  /** Its bytes when it was returned. */
  copy: Buffer;
}

const made = vi.hoisted(() => ({
  recording: false,
  randomBytes: [] as Made[],
  encodePayload: [] as Made[],
  decodePayload: [] as Array<{ domainId: Made; wrappingKey: Made; sealingKey: Made }>,
  restoreBlobItems: [] as Array<{ tag: string; plaintext: Made }>,
}));

const keep = (buffer: Buffer): Made => ({ live: buffer, copy: Buffer.from(buffer) });

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  const randomBytes = ((...args: Parameters<typeof actual.randomBytes>) => {
    const out = (actual.randomBytes as (...a: unknown[]) => unknown)(...args);
    if (made.recording && Buffer.isBuffer(out)) made.randomBytes.push(keep(out));
    return out;
  }) as typeof actual.randomBytes;
  return { ...actual, randomBytes, default: { ...actual, randomBytes } };
});

vi.mock('../../src/hsm/security-domain/domain-payload.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/hsm/security-domain/domain-payload.js')>();
  return {
    ...actual,
    encodePayload: (...args: Parameters<typeof actual.encodePayload>) => {
      const out = actual.encodePayload(...args);
      if (made.recording) made.encodePayload.push(keep(out));
      return out;
    },
    decodePayload: (...args: Parameters<typeof actual.decodePayload>) => {
      const out = actual.decodePayload(...args);
      if (made.recording) made.decodePayload.push({ domainId: keep(out.domainId), wrappingKey: keep(out.wrappingKey), sealingKey: keep(out.sealingKey) });
      return out;
    },
  };
});

vi.mock('../../src/hsm/security-domain/sd-file.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/hsm/security-domain/sd-file.js')>();
  return {
    ...actual,
    openRestoreBlob: async (...args: Parameters<typeof actual.openRestoreBlob>) => {
      const out = await actual.openRestoreBlob(...args);
      if (made.recording) made.restoreBlobItems.push(...out.map((item) => ({ tag: item.tag, plaintext: keep(item.plaintext) })));
      return out;
    },
  };
});

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
  pairs = await ceremonyPairs(3);
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
  dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-domain-zero-'));
  store = new SqliteMetadataStore(path.join(dir, 'metadata.db'));
  // Domain objects of earlier tests: a fresh store names none, so opening removes them.
  await openTestDomain(token, store.access, soPin);
});

afterEach(() => {
  vi.restoreAllMocks();
  made.recording = false;
  made.randomBytes.length = 0;
  made.encodePayload.length = 0;
  made.decodePayload.length = 0;
  made.restoreBlobItems.length = 0;
});

const certificates = () => pairs.map((pair) => pair.jwk);
const heldKeys = (chosen: CeremonyPair[]) => chosen.map((pair) => ({ privateKeyPem: pair.privateKeyPem, certificate: pair.certificatePem }));
const allZero = (buffer: Buffer) => buffer.every((byte) => byte === 0);

/** Runs `operation` with the wrapped functions keeping what they return. */
async function recording<T>(operation: () => Promise<T>): Promise<T> {
  made.recording = true;
  try {
    return await operation();
  } finally {
    made.recording = false;
  }
}

describe('the probe', () => {
  it('sees an encoded payload, decoded keys and a random buffer that nobody zeroed, and not once they are zeroed', async () => {
    const { randomBytes } = await import('node:crypto');
    const payload = await recording(async () => decodePayload(encodePayload({ domainId: randomBytes(16), wrappingKey: randomBytes(32), sealingKey: randomBytes(32) })));
    const all = [...made.randomBytes, ...made.encodePayload, ...made.decodePayload.flatMap((entry) => [entry.domainId, entry.wrappingKey, entry.sealingKey])];
    expect(all).toHaveLength(7);
    expect(all.filter((entry) => allZero(entry.live))).toEqual([]);
    expect(made.decodePayload[0]!.wrappingKey.live).toBe(payload.wrappingKey);
    for (const entry of all) entry.live.fill(0);
    expect(all.filter((entry) => !allZero(entry.live))).toEqual([]);
  });
});

describe('a download', () => {
  it('zeroes the new domain keys, the file\'s master key and its plaintext once the HSM is activated', async () => {
    const domain = await openTestDomain(token, store.access, soPin);
    const fromToken: Made[] = [];
    const random = token.random.bind(token);
    vi.spyOn(token, 'random').mockImplementation(async (length) => {
      const out = await random(length);
      fromToken.push(keep(out));
      return out;
    });
    const file = await recording(() => domain.download({ certificates: certificates(), required: 2 }, TEST_ADMIN));
    expect(domain.isActive).toBe(true);
    const { plaintext, masterKey } = openDomainFile(file, heldKeys(pairs.slice(0, 2)));
    const payload = decodePayload(plaintext);

    // The domain's keys came from the token: the file carries them, and they are zeroed.
    for (const key of [payload.wrappingKey, payload.sealingKey]) {
      const held = fromToken.filter((entry) => entry.copy.equals(key));
      expect(held).toHaveLength(1);
      expect(allZero(held[0]!.live)).toBe(true);
    }

    // The payload, encoded twice (for the file and for sealing): both copies are zeroed.
    expect(made.encodePayload).toHaveLength(2);
    for (const entry of made.encodePayload) {
      expect(entry.copy).toEqual(plaintext);
      expect(allZero(entry.live)).toBe(true);
    }

    // The file's master key.
    const master = made.randomBytes.filter((entry) => entry.copy.equals(masterKey));
    expect(master).toHaveLength(1);
    expect(allZero(master[0]!.live)).toBe(true);
  });

  it('of an active domain zeroes the domain keys it unsealed, the file\'s master key and its plaintext', async () => {
    const domain = await openTestDomain(token, store.access, soPin);
    await domain.download({ certificates: certificates(), required: 2 }, TEST_ADMIN);
    const file = await recording(() => domain.download({ certificates: certificates(), required: 2 }, TEST_ADMIN));
    const { plaintext, masterKey } = openDomainFile(file, heldKeys(pairs.slice(1, 3)));
    const payload = decodePayload(plaintext);

    expect(made.decodePayload).toHaveLength(1);
    const [unsealed] = made.decodePayload as [(typeof made.decodePayload)[number]];
    expect(unsealed.wrappingKey.copy).toEqual(payload.wrappingKey);
    expect(unsealed.sealingKey.copy).toEqual(payload.sealingKey);
    expect(allZero(unsealed.wrappingKey.live)).toBe(true);
    expect(allZero(unsealed.sealingKey.live)).toBe(true);

    expect(made.encodePayload).toHaveLength(1);
    expect(made.encodePayload[0]!.copy).toEqual(plaintext);
    expect(allZero(made.encodePayload[0]!.live)).toBe(true);

    const master = made.randomBytes.filter((entry) => entry.copy.equals(masterKey));
    expect(master).toHaveLength(1);
    expect(allZero(master[0]!.live)).toBe(true);
  });
});

describe('an upload', () => {
  it('zeroes the restore blob\'s items, the domain keys decoded from them and their encoded payload once the HSM is activated', async () => {
    const source = await openTestDomain(token, store.access, soPin);
    const fileText = await source.download({ certificates: certificates(), required: 2 }, TEST_ADMIN);
    const { plaintext } = openDomainFile(fileText, heldKeys(pairs.slice(0, 2)));
    const payload = decodePayload(plaintext);
    // A new HSM over the same token: a fresh store, as a recovered instance starts.
    await store.close();
    store = new SqliteMetadataStore(path.join(mkdtempSync(path.join(dir, 'recovered-')), 'metadata.db'));
    const target = await openTestDomain(token, store.access, soPin);
    target.markNotActivated();
    const transfer = await target.transferKey();
    const blob = buildRestoreBlob({
      file: parseSecurityDomainFile(fileText),
      privateKeys: pairs.slice(1, 3).map((pair) => ({ certificateDer: Buffer.from(new X509Certificate(pair.certificatePem).raw), privateKey: createPrivateKey(pair.privateKeyPem) })),
      transferCertificateDer: transfer.certificateDer,
    });

    await recording(() => target.upload(blob));
    expect(target.summary()).toMatchObject({ state: 'Active', origin: 'upload' });

    expect(made.restoreBlobItems).toHaveLength(1);
    expect(made.restoreBlobItems[0]!.plaintext.copy).toEqual(plaintext);
    expect(allZero(made.restoreBlobItems[0]!.plaintext.live)).toBe(true);

    expect(made.decodePayload).toHaveLength(1);
    const [decoded] = made.decodePayload as [(typeof made.decodePayload)[number]];
    expect(decoded.wrappingKey.copy).toEqual(payload.wrappingKey);
    expect(decoded.sealingKey.copy).toEqual(payload.sealingKey);
    expect(allZero(decoded.wrappingKey.live)).toBe(true);
    expect(allZero(decoded.sealingKey.live)).toBe(true);

    expect(made.encodePayload).toHaveLength(1);
    expect(made.encodePayload[0]!.copy).toEqual(plaintext);
    expect(allZero(made.encodePayload[0]!.live)).toBe(true);
  });
});
