// One validated configuration: flags, then MHSM_* environment variables, then defaults.
import path from 'node:path';

export type TokenConfig =
  /** SoftHSM2 provisioned in the data directory. */
  | { kind: 'embedded' }
  /** Any PKCS#11 module and an existing token on it. */
  | { kind: 'module'; modulePath: string; label: string; pin: string };

export interface Config {
  dataDir: string;
  token: TokenConfig;
}

export interface ConfigFlags {
  dataDir?: string | undefined;
  module?: string | undefined;
  tokenLabel?: string | undefined;
  pin?: string | undefined;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export const DEFAULT_DATA_DIR = '.mhsm';

function pick(flag: string | undefined, env: string | undefined): string | undefined {
  if (flag !== undefined && flag !== '') return flag;
  if (env !== undefined && env !== '') return env;
  return undefined;
}

export function resolveConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = path.resolve(pick(flags.dataDir, env.MHSM_DATA_DIR) ?? DEFAULT_DATA_DIR);
  const modulePath = pick(flags.module, env.MHSM_MODULE);
  const label = pick(flags.tokenLabel, env.MHSM_TOKEN_LABEL);
  const pin = pick(flags.pin, env.MHSM_PIN);

  if (modulePath === undefined) {
    if (label !== undefined || pin !== undefined) {
      throw new ConfigError('--token-label and --pin (MHSM_TOKEN_LABEL, MHSM_PIN) go with --module (MHSM_MODULE)');
    }
    return { dataDir, token: { kind: 'embedded' } };
  }
  const missing = [label === undefined && '--token-label (MHSM_TOKEN_LABEL)', pin === undefined && '--pin (MHSM_PIN)'].filter(Boolean);
  if (missing.length > 0) throw new ConfigError(`--module needs ${missing.join(' and ')}`);
  if ((label as string).length > 32) throw new ConfigError('--token-label must be at most 32 characters (a PKCS#11 token label)');
  return { dataDir, token: { kind: 'module', modulePath: path.resolve(modulePath), label: label as string, pin: pin as string } };
}
