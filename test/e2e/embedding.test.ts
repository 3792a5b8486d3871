// The emulator inside a test suite, as a user's global setup starts it: startEmulator() from the
// package's entry point, the official KeyClient and CryptographyClient with the credential and
// client options it returns, trusting its CA in this process only (not through
// NODE_EXTRA_CA_CERTS, which here names another CA), and stop() removing the temporary data.
import { existsSync } from 'node:fs';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { afterAll, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../src/embed/index.js';

let hsm: Emulator | undefined;

afterAll(async () => {
  await hsm?.stop();
});

describe('startEmulator', () => {
  it('starts on a temporary data directory, serves the official clients through its own options, and removes it on stop', async () => {
    hsm = await startEmulator();
    expect(hsm.url).toMatch(/^https:\/\/localhost:\d+$/);
    expect(hsm.ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
    // Its CA is not trusted by this process at large: only the clients given clientOptions trust it.
    await expect(fetch(`${hsm.url}/emulator/status`)).rejects.toThrow();
    const keys = new KeyClient(hsm.url, hsm.credential, hsm.clientOptions);
    const key = await keys.createEcKey('embedded', { curve: 'P-256', hsm: true });
    expect(key.keyType).toBe('EC-HSM');
    const crypto = new CryptographyClient(key, hsm.credential, hsm.clientOptions);
    const digest = Buffer.alloc(32, 3);
    const signed = await crypto.sign('ES256', digest);
    expect((await crypto.verify('ES256', digest, signed.result)).result).toBe(true);
    const dataDir = hsm.dataDir;
    expect(existsSync(`${dataDir}/admin.json`)).toBe(true);
    expect(await hsm.stop()).toBe(0);
    hsm = undefined;
    expect(existsSync(dataDir)).toBe(false);
  });

  it('reports a start that fails, with what the emulator said', async () => {
    await expect(startEmulator({ args: ['--recoverable-days', '3'] })).rejects.toThrow(/recoverable/i);
  });
});
