// Our own token layer (src/token/) with libmhsm-pkcs11.so as its module: the token suite
// (test/token/token.test.ts) run against the library in a vitest of its own, every test's outcome
// checked. What passes is the REST surface working as a PKCS#11 token; what fails, fails for the
// reason given here (docs/pkcs11-library.md lists them), and a change either way fails this test.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PKCS11_LIBRARY, providerFixture, skipProvider, writeProviderConfig } from '../helpers/pkcs11-provider.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const hsm = providerFixture('mhsm-token-layer-');

const PROTECTION = 'CKA_PRIVATE is false (a PIN grants nothing: the principal does), and every Managed HSM key is CKA_EXTRACTABLE with CKA_WRAP_WITH_TRUSTED in the token';
const NO_SESSION_KEYS = 'Managed HSM has no session keys: a CKA_TOKEN false key cannot be generated in it';
const NO_GENERIC_SECRETS = 'the library offers no CKM_GENERIC_SECRET_KEY_GEN (HMAC keys)';
const NAME_IN_SOFT_DELETE = "the suite gives each RSA key the label 'rsa-test', and the first one's name stays in soft delete (409 Conflict) until it is purged";
const NO_SO = 'no security officer: the trusted wrapping key is the security domain\'s, made by the service, not by C_Login(CKU_SO)';

/** Each test of the token suite, and why it fails over REST (undefined: it passes). */
const EXPECTED: Record<string, string | undefined> = {
  'opening describes the token and probes its mechanisms once': undefined,
  'opening refuses a wrong PIN, an unknown label and a missing module with clear errors': undefined,
  "RSA keys { type: 'rsa', bits: 2048 } signs, verifies, encrypts, decrypts and is destroyed": undefined,
  "RSA keys { type: 'rsa', bits: 3072 } signs, verifies, encrypts, decrypts and is destroyed": NAME_IN_SOFT_DELETE,
  "RSA keys { type: 'rsa', bits: 4096 } signs, verifies, encrypts, decrypts and is destroyed": NAME_IN_SOFT_DELETE,
  "EC keys { type: 'ec', curve: 'P-256' } signs raw r||s that node:crypto verifies, and is destroyed": undefined,
  "EC keys { type: 'ec', curve: 'P-384' } signs raw r||s that node:crypto verifies, and is destroyed": undefined,
  "EC keys { type: 'ec', curve: 'P-521' } signs raw r||s that node:crypto verifies, and is destroyed": undefined,
  "EC keys { type: 'ec', curve: 'secp256k1' } signs raw r||s that node:crypto verifies, and is destroyed": undefined,
  'AES and HMAC keys AES-128 encrypts with GCM, wraps, and is destroyed': undefined,
  'AES and HMAC keys AES-192 encrypts with GCM, wraps, and is destroyed': undefined,
  'AES and HMAC keys AES-256 encrypts with GCM, wraps, and is destroyed': undefined,
  'AES and HMAC keys HMAC keys of 256 to 512 bits sign and verify': NO_GENERIC_SECRETS,
  'AES and HMAC keys refuses key specs it does not support, naming the rule': undefined,
  "protection { type: 'rsa', bits: 2048 } is a private, sensitive, never-extractable token object": PROTECTION,
  "protection { type: 'ec', curve: 'P-256' } is a private, sensitive, never-extractable token object": PROTECTION,
  "protection { type: 'aes', bits: 256 } is a private, sensitive, never-extractable token object": PROTECTION,
  "protection { type: 'generic-secret', bits: 256 } is a private, sensitive, never-extractable token object": NO_GENERIC_SECRETS,
  'protection wrap-only export: extractable only under a trusted key': NO_SESSION_KEYS,
  'handles re-resolves handles after the token closed every session': undefined,
  'handles serves many concurrent operations through the session pool': undefined,
  'trusted wrapping and unwrap wraps a wrap-only key under an SO-made trusted key and unwraps it back': NO_SO,
  'random and digest returns random bytes and digests that node:crypto agrees with': undefined,
};

describe.skipIf(skipProvider)('the token layer over libmhsm-pkcs11.so', () => {
  it('runs the token suite: what the REST surface allows passes, the rest fails for its stated reason', async () => {
    const conf = await writeProviderConfig(hsm.emulator.dataDir, path.join(hsm.scratch, 'pkcs11.json'));
    const report = path.join(hsm.scratch, 'token-suite.json');
    const env = { ...process.env, MHSM_TEST_TOKEN_MODULE: PKCS11_LIBRARY, MHSM_TEST_TOKEN_LABEL: 'mhsm', MHSM_TEST_TOKEN_PIN: 'any', MHSM_PKCS11_CONF: conf, MHSM_TOKEN_SUITE_REPORT: report };
    const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs');
    await new Promise<void>((resolve) => {
      execFile(process.execPath, [vitest, 'run', '--config', 'test/pkcs11-provider/token-suite.config.ts'], { cwd: root, env, timeout: 240_000, maxBuffer: 64 * 1024 * 1024 }, () => resolve());
    });
    const results = JSON.parse(readFileSync(report, 'utf8')) as { testResults: Array<{ assertionResults: Array<{ fullName: string; status: string }> }> };
    const outcomes = Object.fromEntries(results.testResults.flatMap((file) => file.assertionResults).map((test) => [test.fullName, test.status]));
    const expected = Object.fromEntries(Object.entries(EXPECTED).map(([name, reason]) => [name, reason === undefined ? 'passed' : 'failed']));
    expect(outcomes).toEqual(expected);
  }, 300_000);
});
