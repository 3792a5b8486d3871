// What key release runs on, as the server assembles it: a test token with an activated domain, a
// key service over a temporary store, the local attestation authority and the HSM's release
// signing key certified by the data directory's CA.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ShiftableClock } from '../../src/clock/clock.js';
import { KeyService } from '../../src/hsm/key-service.js';
import { KeyRelease } from '../../src/hsm/release/key-release.js';
import { LocalAttestationAuthority } from '../../src/hsm/release/local-authority.js';
import { ReleaseSigningKey } from '../../src/hsm/release/release-signing-key.js';
import { TrustedAuthorities } from '../../src/hsm/release/trusted-authorities.js';
import { caCertificateDer, certifyPublicKey } from '../../src/server/tls.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import { activateTestDomain } from './test-domain.js';
import { type OpenTestToken, openTestToken } from './test-token.js';

export interface ReleaseFixture {
  opened: OpenTestToken;
  /** The data directory: the store, the CA, the authority's key. */
  dir: string;
  store: SqliteMetadataStore;
  keys: KeyService;
  authority: LocalAttestationAuthority;
  release: KeyRelease;
  /** Closes the store and the token and removes both directories. */
  close(): Promise<void>;
}

export async function openReleaseFixture(prefix: string, clock: ShiftableClock): Promise<ReleaseFixture> {
  const opened = await openTestToken();
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const store = new SqliteMetadataStore(path.join(dir, 'metadata.db'));
  const { domain } = await activateTestDomain(opened.token, store.access, opened.testToken.soPin);
  const keys = new KeyService(opened.token, store, clock, { recoverableDays: 7 });
  const authority = await LocalAttestationAuthority.open(dir);
  const signing = new ReleaseSigningKey(
    opened.token,
    store.access,
    async (spki, subject) => [await certifyPublicKey(dir, spki, subject, { usage: 'signature' }), caCertificateDer(dir)],
    () => caCertificateDer(dir),
  );
  const release = new KeyRelease(opened.token, keys, domain, new TrustedAuthorities(authority, [], clock), signing, clock);
  return {
    opened,
    dir,
    store,
    keys,
    authority,
    release,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
      opened.close();
    },
  };
}
