// The activation that `mhsm start` performs on a data directory's first start: three ceremony
// keys with their certificates and the domain file, written under DATA/security-domain/, private
// to the owner, any two of the keys opening the file of the domain now installed in the token.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DOMAIN_OBJECT_LABEL, sealingKeyOf, wrappingKeyOf } from '../../src/hsm/security-domain/domain-keys.js';
import { runFirstStartCeremony } from '../../src/hsm/security-domain/first-start-ceremony.js';
import { parseSecurityDomainFile } from '../../src/hsm/security-domain/sd-file.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import type { Token } from '../../src/token/token.js';
import { ceremonyPayload, openTestDomain } from '../helpers/test-domain.js';
import { type OpenTestToken, openTestToken } from '../helpers/test-token.js';

let opened: OpenTestToken | undefined;
let token: Token;
let soPin: string;
let root: string;
let store: SqliteMetadataStore;

beforeAll(async () => {
  opened = await openTestToken();
  ({ token } = opened);
  soPin = opened.testToken.soPin;
});

afterAll(() => opened?.close());

/** Each test is a new data directory over the same token; opening the domain clears earlier tests' objects. */
beforeEach(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'mhsm-ceremony-'));
  store = new SqliteMetadataStore(path.join(root, 'metadata.db'));
  await openTestDomain(token, store.access, soPin);
});

afterEach(async () => {
  await store.close();
  rmSync(root, { recursive: true, force: true });
});

const modeOf = (file: string) => statSync(file).mode & 0o777;

async function domainObjects(): Promise<string[]> {
  return (await token.keyIdsLabelled(DOMAIN_OBJECT_LABEL)).map((id) => id.toString('hex')).sort();
}

describe('first-start ceremony', () => {
  it('writes three keys with their certificates and a domain file, and activates the HSM with that domain', async () => {
    const domain = await openTestDomain(token, store.access, soPin);
    const result = await runFirstStartCeremony(domain, root);
    const dir = path.join(root, 'security-domain');
    expect(result).toEqual({
      dir,
      domainFile: path.join(dir, 'security-domain.json'),
      privateKeys: [1, 2, 3].map((i) => path.join(dir, `sd-key-${i}.pem`)),
    });
    expect(readdirSync(dir).sort()).toEqual(['sd-key-1.cer', 'sd-key-1.pem', 'sd-key-2.cer', 'sd-key-2.pem', 'sd-key-3.cer', 'sd-key-3.pem', 'security-domain.json']);
    for (const i of [1, 2, 3]) {
      // Each .cer beside its .pem is that key's certificate, as the Azure CLI looks for it.
      const certificate = new X509Certificate(readFileSync(path.join(dir, `sd-key-${i}.cer`)));
      expect(certificate.subject).toBe(`CN=mhsm security domain key ${i}`);
      expect(certificate.checkPrivateKey(createPrivateKey(readFileSync(path.join(dir, `sd-key-${i}.pem`))))).toBe(true);
    }
    const file = parseSecurityDomainFile(readFileSync(result.domainFile, 'utf8'));
    expect(file.SharedKeys.required).toBe(2);
    expect(file.SharedKeys.enc_shares).toHaveLength(3);

    expect(domain.summary()).toEqual({ state: 'Active', origin: 'download', downloadable: true, firstStart: false });
    const { domainId } = ceremonyPayload(dir, [1, 2]);
    expect(ceremonyPayload(dir, [1, 3]).domainId).toEqual(domainId);
    expect(ceremonyPayload(dir, [2, 3]).domainId).toEqual(domainId);
    expect(await domainObjects()).toEqual([sealingKeyOf(domainId).id.toString('hex'), wrappingKeyOf(domainId).id.toString('hex')].sort());
  });

  it('keeps the private keys, the domain file and their folder to the owner alone', async () => {
    const result = await runFirstStartCeremony(await openTestDomain(token, store.access, soPin), root);
    expect(modeOf(result.dir)).toBe(0o700);
    for (const file of [...result.privateKeys, result.domainFile]) expect({ file, mode: modeOf(file) }).toEqual({ file, mode: 0o600 });
  });

  it("makes the data directory's folders that do not exist yet", async () => {
    const dataDir = path.join(root, 'not', 'yet');
    const result = await runFirstStartCeremony(await openTestDomain(token, store.access, soPin), dataDir);
    expect(result.dir).toBe(path.join(dataDir, 'security-domain'));
    expect(ceremonyPayload(result.dir).domainId).toHaveLength(16);
  });

  it('run again on the active HSM, writes new keys and a new file of the same domain, private again', async () => {
    const domain = await openTestDomain(token, store.access, soPin);
    const first = await runFirstStartCeremony(domain, root);
    const firstKey = readFileSync(first.privateKeys[0]!, 'utf8');
    const { domainId } = ceremonyPayload(first.dir);
    const installed = await domainObjects();
    // A key file loosened in between is made private again.
    chmodSync(first.privateKeys[0]!, 0o644);

    const second = await runFirstStartCeremony(domain, root);
    expect(second).toEqual(first);
    expect(readFileSync(second.privateKeys[0]!, 'utf8')).not.toBe(firstKey);
    expect(modeOf(second.privateKeys[0]!)).toBe(0o600);
    expect(ceremonyPayload(second.dir, [2, 3]).domainId).toEqual(domainId);
    expect(await domainObjects()).toEqual(installed);
  });
});
