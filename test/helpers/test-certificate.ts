// A server certificate issued by the test run's CA (test/global-setup.ts), for test servers that are
// not the emulator (Azurite): every process of the run trusts that CA through NODE_EXTRA_CA_CERTS,
// so these servers are reached with TLS checks on, as the emulator is.
import { rmSync } from 'node:fs';
import { ensureTls } from '../../src/server/tls.js';
import { seededDataDir } from './emulator.js';

export interface TestCertificate {
  /** PEM of the leaf certificate. */
  cert: string;
  /** PEM (PKCS#8) of its private key. */
  key: string;
}

/**
 * A server certificate for these names (DNS names or IP addresses). It is the emulator's own
 * issuing code run over a data directory seeded with the run's CA, so the leaf is exactly what the
 * emulator serves. The CA is name-constrained to loopback and the emulator's DNS suffix.
 */
export async function issueTestServerCertificate(names: readonly string[] = ['127.0.0.1', 'localhost']): Promise<TestCertificate> {
  const dataDir = seededDataDir();
  try {
    const { cert, key, caRenewed } = await ensureTls(dataDir, names);
    // A renewed CA would be one the run does not trust: the names were outside the CA's scope.
    if (caRenewed) throw new Error(`the test CA cannot certify ${names.join(', ')}: ${caRenewed}`);
    return { cert, key };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
