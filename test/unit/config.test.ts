import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../src/cli/config.js';

describe('resolveConfig', () => {
  const limits = { requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, idleTimeoutMs: 60_000, maxConnections: 1000 };
  const server = { host: 'localhost', port: 8443, name: 'mhsm', dnsSuffix: 'managedhsm.azure.net', recoverableDays: undefined, serviceLimits: {}, purgeProtection: false, manualActivation: false, limits, backupStorage: { localRoots: [] }, localAttestationAuthority: true, attestationAuthorities: [], audit: { stdout: false } };

  it('defaults to the embedded token in ./.mhsm and https://localhost:8443', () => {
    expect(resolveConfig({}, {})).toEqual({ dataDir: path.resolve('.mhsm'), token: { kind: 'embedded' }, server });
  });

  it('reads the server settings from flags and MHSM_* variables, checking each', () => {
    expect(resolveConfig({ port: '0', name: 'myhsm' }, { MHSM_DNS_SUFFIX: 'managedhsm.localhost', MHSM_RECOVERABLE_DAYS: '7', MHSM_PURGE_PROTECTION: 'true', MHSM_MANUAL_ACTIVATION: '1' }).server).toEqual({
      ...server,
      port: 0,
      name: 'myhsm',
      dnsSuffix: 'managedhsm.localhost',
      recoverableDays: 7,
      purgeProtection: true,
      manualActivation: true,
    });
    expect(() => resolveConfig({ port: '70000' }, {})).toThrow("--port (MHSM_PORT) must be a whole number from 0 to 65535, not '70000'");
    expect(() => resolveConfig({ port: '1e3' }, {})).toThrow(/--port/);
    expect(() => resolveConfig({ recoverableDays: '6' }, {})).toThrow(/--recoverable-days \(MHSM_RECOVERABLE_DAYS\) must be a whole number from 7 to 90/);
    expect(() => resolveConfig({ softDeleteRetentionDays: '91' }, {})).toThrow(/--soft-delete-retention-days \(MHSM_SOFT_DELETE_RETENTION_DAYS\) must be a whole number from 7 to 90/);
    expect(resolveConfig({ softDeleteRetentionDays: '30' }, { MHSM_RECOVERABLE_DAYS: '7' }).server.recoverableDays).toBe(30);
    expect(resolveConfig({}, { MHSM_SOFT_DELETE_RETENTION_DAYS: '8' }).server.recoverableDays).toBe(8);
    expect(resolveConfig({ serviceLimit: ['keys=100000', 'key-role-assignments=20'] }, { MHSM_SERVICE_LIMITS: 'key-versions=500,role-definitions=60' }).server.serviceLimits).toEqual({
      keys: 100_000,
      keyAssignments: 20,
      keyVersions: 500,
      roleDefinitions: 60,
    });
    expect(resolveConfig({ serviceLimit: ['keys=7'] }, { MHSM_SERVICE_LIMITS: 'keys=9' }).server.serviceLimits).toEqual({ keys: 7 });
    expect(() => resolveConfig({ serviceLimit: ['vaults=3'] }, {})).toThrow(/'vaults=3' is not NAME=N with NAME one of keys, key-versions/);
    expect(() => resolveConfig({ serviceLimit: ['keys=0'] }, {})).toThrow(/--service-limit keys must be a whole number from 1/);
    expect(() => resolveConfig({ name: 'bad_name' }, {})).toThrow(/--name must be/);
    expect(() => resolveConfig({ dnsSuffix: 'not a name' }, {})).toThrow(/--dns-suffix must be a DNS name/);
    expect(resolveConfig({ requestTimeout: '5', maxConnections: '10' }, { MHSM_IDLE_TIMEOUT: '7' }).server.limits).toEqual({ ...limits, requestTimeoutMs: 5000, idleTimeoutMs: 7000, maxConnections: 10 });
    expect(() => resolveConfig({ requestTimeout: '0' }, {})).toThrow(/--request-timeout \(MHSM_REQUEST_TIMEOUT\) must be a whole number from 1 to 3600/);
  });

  it('prefers flags over MHSM_* variables over defaults', () => {
    const env = { MHSM_DATA_DIR: '/env/data', MHSM_MODULE: '/env/mod.so', MHSM_TOKEN_LABEL: 'env', MHSM_PIN: 'envpin' };
    expect(resolveConfig({}, env)).toMatchObject({
      dataDir: '/env/data',
      token: { kind: 'module', modulePath: '/env/mod.so', label: 'env', pin: 'envpin' },
    });
    expect(resolveConfig({ dataDir: '/flag/data', tokenLabel: 'flag' }, env)).toMatchObject({
      dataDir: '/flag/data',
      token: { label: 'flag', pin: 'envpin' },
    });
  });

  it('names what a module configuration lacks', () => {
    expect(() => resolveConfig({ module: '/m.so' }, {})).toThrow(new ConfigError('--module needs --token-label (MHSM_TOKEN_LABEL) and --pin (MHSM_PIN)'));
    expect(() => resolveConfig({ module: '/m.so', tokenLabel: 'x' }, {})).toThrow('--module needs --pin (MHSM_PIN)');
    expect(() => resolveConfig({ pin: '1' }, {})).toThrow(/go with --module/);
    expect(() => resolveConfig({ module: '/m.so', tokenLabel: 'x'.repeat(33), pin: '1' }, {})).toThrow(/at most 32 characters/);
  });

  it('takes attestation authorities by issuer or issuer=file, and names a bad one', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-config-'));
    try {
      const pemPath = path.join(dir, 'authority.pem');
      writeFileSync(pemPath, generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'pem', type: 'spki' }));
      const authorities = resolveConfig({ attestationAuthority: ['https://maa.example/', `https://other.example=${pemPath}`] }, { MHSM_ATTESTATION_AUTHORITY: 'https://env.example' }).server.attestationAuthorities;
      expect(authorities?.map((a) => [a.issuer, a.keys === undefined])).toEqual([['https://maa.example/', true], ['https://other.example', false], ['https://env.example', true]]);
      expect(() => resolveConfig({ attestationAuthority: ['maa.example'] }, {})).toThrow(new ConfigError("--attestation-authority (MHSM_ATTESTATION_AUTHORITY): 'maa.example' is not a URL (the authority's issuer, as its tokens' iss)"));
      expect(() => resolveConfig({ attestationAuthority: ['http://maa.example'] }, {})).toThrow(/fetched over HTTPS only/);
      expect(() => resolveConfig({ attestationAuthority: ['https://maa.example=http://maa.example/keys'] }, {})).toThrow(/JWKS is fetched over HTTPS only/);
      expect(resolveConfig({ attestationAuthority: ['https://maa.example=https://maa.example/certs'] }, {}).server.attestationAuthorities?.[0]?.keys).toBeTypeOf('function');
      expect(() => resolveConfig({ attestationAuthority: [`https://x.example=${path.join(dir, 'missing.pem')}`] }, {})).toThrow(/ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('treats empty values as unset', () => {
    expect(resolveConfig({ dataDir: '' }, { MHSM_DATA_DIR: '', MHSM_MODULE: '' }).token).toEqual({ kind: 'embedded' });
  });
});
