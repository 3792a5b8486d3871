// A security domain activated on a test token, as the first-start ceremony does it: three
// ceremony keys, quorum two.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ShiftableClock } from '../../src/hsm/clock.js';
import { ceremonyKeyPair } from '../../src/hsm/security-domain/certificates.js';
import { SecurityDomain } from '../../src/hsm/security-domain/security-domain.js';
import { certifyPublicKey } from '../../src/server/tls.js';
import type { MarkerStore } from '../../src/store/access-store.js';
import type { Token } from '../../src/token/token.js';

export const TEST_ADMIN = '00000000-0000-0000-0000-00000000a0a0';

export type CeremonyPair = Awaited<ReturnType<typeof ceremonyKeyPair>>;

export async function ceremonyPairs(count = 3): Promise<CeremonyPair[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => ceremonyKeyPair(`test domain key ${i + 1}`)));
}

/** The domain service over a token and store, not yet activated unless the store says so. */
export async function openTestDomain(token: Token, markers: MarkerStore, soPin: string | undefined, clock = new ShiftableClock()): Promise<SecurityDomain> {
  const caDir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-domain-ca-'));
  return SecurityDomain.open(token, markers, (spki, subject) => certifyPublicKey(caDir, spki, subject), clock, { soPin, initialAdminObjectId: TEST_ADMIN });
}

export async function activateTestDomain(token: Token, markers: MarkerStore, soPin: string): Promise<{ domain: SecurityDomain; file: string; pairs: CeremonyPair[] }> {
  const domain = await openTestDomain(token, markers, soPin);
  const pairs = await ceremonyPairs();
  const file = await domain.download({ certificates: pairs.map((pair) => pair.jwk), required: 2 }, TEST_ADMIN);
  return { domain, file, pairs };
}
