// A security domain activated on a test token, as the first-start ceremony does it: three
// ceremony keys, quorum two.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ShiftableClock } from '../../src/clock/clock.js';
import { type CeremonyPair, ceremonyKeyPair, x5tS256 } from '../../src/hsm/security-domain/certificates.js';
import { DOMAIN_TAG, decodePayload } from '../../src/hsm/security-domain/domain-payload.js';
import { decryptJwe, decryptRsaCek, parseJwe } from '../../src/hsm/security-domain/jwe.js';
import { decryptEncData, parseSecurityDomainFile } from '../../src/hsm/security-domain/sd-file.js';
import { combineShares } from '../../src/hsm/security-domain/shamir.js';
import { SecurityDomain } from '../../src/hsm/security-domain/security-domain.js';
import { certifyPublicKey } from '../../src/server/tls.js';
import type { MarkerStore } from '../../src/store/access-store.js';
import type { Token } from '../../src/token/token.js';

export const TEST_ADMIN = '00000000-0000-0000-0000-00000000a0a0';

export type { CeremonyPair };

export async function ceremonyPairs(count = 3): Promise<CeremonyPair[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => ceremonyKeyPair(`test domain key ${i + 1}`)));
}

/** The domain service over a token and store, not yet activated unless the store says so. */
export async function openTestDomain(token: Token, markers: MarkerStore, soPin: string | undefined, clock = new ShiftableClock()): Promise<SecurityDomain> {
  const caDir = testCaDir();
  return SecurityDomain.open(token, markers, (spki, subject) => certifyPublicKey(caDir, spki, subject), clock, { soPin, initialAdminObjectId: TEST_ADMIN });
}

const caDirs: string[] = [];
process.on('exit', () => {
  for (const dir of caDirs) rmSync(dir, { recursive: true, force: true });
});

/** A CA directory of its own for each domain (the CA signs its exchange key), removed at exit. */
function testCaDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-domain-ca-'));
  caDirs.push(dir);
  return dir;
}

export async function activateTestDomain(token: Token, markers: MarkerStore, soPin: string): Promise<{ domain: SecurityDomain; file: string; pairs: CeremonyPair[] }> {
  const domain = await openTestDomain(token, markers, soPin);
  const pairs = await ceremonyPairs();
  const file = await domain.download({ certificates: pairs.map((pair) => pair.jwk), required: 2 }, TEST_ADMIN);
  return { domain, file, pairs };
}

/** A ceremony key as a customer holds it: the private key and its certificate. */
export interface HeldKey {
  privateKeyPem: string | Buffer;
  certificate: string | Buffer;
}

/**
 * Opens a security-domain file offline with a quorum of its keys, as a customer can: the
 * emulator's payload item and the file's master key. Throws if the file has no such item.
 */
export function openDomainFile(text: string, keys: readonly HeldKey[]): { plaintext: Buffer; masterKey: Buffer } {
  const file = parseSecurityDomainFile(text);
  const shares = keys.map((key) => {
    const x5t = x5tS256(Buffer.from(new X509Certificate(key.certificate).raw));
    const jwe = parseJwe(file.SharedKeys.enc_shares.find((share) => share.x5t_256 === x5t)?.enc_key);
    return decryptJwe(jwe, decryptRsaCek(createPrivateKey(key.privateKeyPem), jwe));
  });
  const masterKey = combineShares(shares);
  const item = decryptEncData(file.EncData.data, masterKey).find((candidate) => candidate.tag === DOMAIN_TAG);
  if (!item) throw new Error(`the security-domain file has no "${DOMAIN_TAG}" item`);
  return { plaintext: item.plaintext, masterKey };
}

/** The keys `sd-key-N.pem` with their `.cer` of a ceremony directory (DATA/security-domain). */
export function ceremonyKeysIn(dir: string, numbers: readonly number[]): HeldKey[] {
  return numbers.map((i) => ({ privateKeyPem: readFileSync(path.join(dir, `sd-key-${i}.pem`)), certificate: readFileSync(path.join(dir, `sd-key-${i}.cer`)) }));
}

/** The payload of a ceremony directory's domain file, opened with two of its keys. */
export function ceremonyPayload(dir: string, numbers: readonly number[] = [1, 2]) {
  const { plaintext, masterKey } = openDomainFile(readFileSync(path.join(dir, 'security-domain.json'), 'utf8'), ceremonyKeysIn(dir, numbers));
  return { ...decodePayload(plaintext), masterKey };
}
