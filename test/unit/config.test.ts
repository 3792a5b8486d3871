import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../src/cli/config.js';

describe('resolveConfig', () => {
  it('defaults to the embedded token in ./.mhsm', () => {
    expect(resolveConfig({}, {})).toEqual({ dataDir: path.resolve('.mhsm'), token: { kind: 'embedded' } });
  });

  it('prefers flags over MHSM_* variables over defaults', () => {
    const env = { MHSM_DATA_DIR: '/env/data', MHSM_MODULE: '/env/mod.so', MHSM_TOKEN_LABEL: 'env', MHSM_PIN: 'envpin' };
    expect(resolveConfig({}, env)).toEqual({
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

  it('treats empty values as unset', () => {
    expect(resolveConfig({ dataDir: '' }, { MHSM_DATA_DIR: '', MHSM_MODULE: '' }).token).toEqual({ kind: 'embedded' });
  });
});
