// The activation ceremony that `mhsm start` performs itself on a data directory's first start,
// so that one command gives a working HSM: three RSA-2048 key pairs with self-signed
// certificates, quorum two, the domain downloaded to them. The domain file and the three
// private keys (0600) are written under DATA/security-domain/: with any two of the keys, the
// file recovers this HSM into a new one. Real deployments keep such keys apart; this is a
// local emulator, and --manual-activation leaves the ceremony to the user.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type CeremonyPair, ceremonyKeyPair } from './certificates.js';
import { FIRST_START_CEREMONY, type SecurityDomain } from './security-domain.js';

export const CEREMONY_KEYS = 3;
export const CEREMONY_QUORUM = 2;
export const CEREMONY_DIR = 'security-domain';
export const DOMAIN_FILE = 'security-domain.json';

export interface CeremonyResult {
  dir: string;
  domainFile: string;
  privateKeys: string[];
}

function writePrivate(file: string, content: string): void {
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** The ceremony's key pairs and their certificates; a start may begin making them early (RSA, off the JS thread). */
export function ceremonyKeyPairs(): Promise<CeremonyPair[]> {
  return Promise.all(Array.from({ length: CEREMONY_KEYS }, (_, i) => ceremonyKeyPair(`mhsm security domain key ${i + 1}`)));
}

export async function runFirstStartCeremony(domain: SecurityDomain, dataDir: string, keyPairs: Promise<CeremonyPair[]> = ceremonyKeyPairs()): Promise<CeremonyResult> {
  const dir = path.join(dataDir, CEREMONY_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pairs = await keyPairs;
  const privateKeys: string[] = [];
  pairs.forEach((pair, i) => {
    // The Azure CLI finds a key's certificate at the key's path with .cer for its extension.
    const keyFile = path.join(dir, `sd-key-${i + 1}.pem`);
    writePrivate(keyFile, pair.privateKeyPem);
    writeFileSync(path.join(dir, `sd-key-${i + 1}.cer`), pair.certificatePem);
    privateKeys.push(keyFile);
  });
  const file = await domain.download({ certificates: pairs.map((pair) => pair.jwk), required: CEREMONY_QUORUM }, FIRST_START_CEREMONY);
  const domainFile = path.join(dir, DOMAIN_FILE);
  writePrivate(domainFile, file);
  return { dir, domainFile, privateKeys };
}
