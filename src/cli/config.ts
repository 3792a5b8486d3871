// One validated configuration: flags, then MHSM_* environment variables, then defaults.
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { HsmError } from '../hsm/errors.js';
import { type ConfiguredAuthority, parseAuthority } from '../hsm/release/trusted-authorities.js';
import { type NetworkRules, OPEN_NETWORK, parseNetworkRules } from '../network/network-rules.js';
import type { ServerConfig, ServiceLimits } from '../server/emulator.js';
import { DEFAULT_LIMITS } from '../server/app.js';

export type TokenConfig =
  /** SoftHSM2 provisioned in the data directory. */
  | { kind: 'embedded' }
  /** Any PKCS#11 module and an existing token on it. */
  | { kind: 'module'; modulePath: string; label: string; pin: string; soPin?: string | undefined };

export interface Config {
  dataDir: string;
  token: TokenConfig;
  server: ServerConfig;
}

export interface ConfigFlags {
  host?: string | undefined;
  port?: string | undefined;
  name?: string | undefined;
  dnsSuffix?: string | undefined;
  recoverableDays?: string | undefined;
  softDeleteRetentionDays?: string | undefined;
  serviceLimit?: string[] | undefined;
  purgeProtection?: boolean | undefined;
  manualActivation?: boolean | undefined;
  auditStdout?: boolean | undefined;
  networkRules?: string | undefined;
  publicNetworkAccess?: string | undefined;
  defaultAction?: string | undefined;
  ipRule?: string[] | undefined;
  requestTimeout?: string | undefined;
  idleTimeout?: string | undefined;
  maxConnections?: string | undefined;
  backupStorageKey?: string | undefined;
  localBackupRoot?: string[] | undefined;
  attestationAuthority?: string[] | undefined;
  localAttestationAuthority?: boolean | undefined;
  dataDir?: string | undefined;
  module?: string | undefined;
  tokenLabel?: string | undefined;
  pin?: string | undefined;
  soPin?: string | undefined;
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

function integer(text: string, what: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw new ConfigError(`${what} must be a whole number from ${min} to ${max}, not '${text}'`);
  return value;
}

const isTrue = (value: string | undefined) => value === 'true' || value === '1';

const DNS_LABELS = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** Network rules from --network-rules FILE (JSON) and the flags on top of it; none when nothing was given. */
function resolveNetwork(flags: ConfigFlags, env: NodeJS.ProcessEnv): NetworkRules | undefined {
  const file = pick(flags.networkRules, env.MHSM_NETWORK_RULES);
  const overrides = {
    ...(flags.publicNetworkAccess === undefined ? {} : { publicNetworkAccess: flags.publicNetworkAccess }),
    ...(flags.defaultAction === undefined ? {} : { defaultAction: flags.defaultAction }),
    ...(flags.ipRule === undefined ? {} : { ipRules: flags.ipRule }),
  };
  if (file === undefined && Object.keys(overrides).length === 0) return undefined;
  try {
    const base = file === undefined ? OPEN_NETWORK : parseNetworkRules(JSON.parse(readFileSync(file, 'utf8')));
    return parseNetworkRules(overrides, base);
  } catch (error) {
    if (error instanceof HsmError || error instanceof SyntaxError) throw new ConfigError(`network rules${file ? ` (${file})` : ''}: ${error.message}`);
    throw new ConfigError(`--network-rules: cannot read ${file}: ${(error as Error).message}`);
  }
}

function resolveServer(flags: ConfigFlags, env: NodeJS.ProcessEnv): ServerConfig {
  const name = pick(flags.name, env.MHSM_NAME) ?? 'mhsm';
  const dnsSuffix = pick(flags.dnsSuffix, env.MHSM_DNS_SUFFIX) ?? 'managedhsm.azure.net';
  if (!/^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$/i.test(name)) throw new ConfigError('--name must be 1 to 24 letters, digits and dashes');
  if (!DNS_LABELS.test(dnsSuffix)) throw new ConfigError('--dns-suffix must be a DNS name such as managedhsm.azure.net');
  const purgeProtection = flags.purgeProtection ?? isTrue(env.MHSM_PURGE_PROTECTION);
  const manualActivation = flags.manualActivation ?? isTrue(env.MHSM_MANUAL_ACTIVATION);
  const network = resolveNetwork(flags, env);
  return {
    host: pick(flags.host, env.MHSM_HOST) ?? 'localhost',
    port: integer(pick(flags.port, env.MHSM_PORT) ?? '8443', '--port (MHSM_PORT)', 0, 65535),
    name,
    dnsSuffix,
    recoverableDays: retentionDays(flags, env),
    // The variable's first, so that a flag for the same limit wins.
    serviceLimits: serviceLimits([...(env.MHSM_SERVICE_LIMITS ? env.MHSM_SERVICE_LIMITS.split(',') : []), ...(flags.serviceLimit ?? [])]),
    purgeProtection,
    manualActivation,
    ...(network ? { network } : {}),
    limits: {
      requestTimeoutMs:
        1000 * integer(pick(flags.requestTimeout, env.MHSM_REQUEST_TIMEOUT) ?? String(DEFAULT_LIMITS.requestTimeoutMs / 1000), '--request-timeout (MHSM_REQUEST_TIMEOUT)', 1, 3600),
      headersTimeoutMs: DEFAULT_LIMITS.headersTimeoutMs,
      idleTimeoutMs: 1000 * integer(pick(flags.idleTimeout, env.MHSM_IDLE_TIMEOUT) ?? String(DEFAULT_LIMITS.idleTimeoutMs / 1000), '--idle-timeout (MHSM_IDLE_TIMEOUT)', 1, 3600),
      maxConnections: integer(pick(flags.maxConnections, env.MHSM_MAX_CONNECTIONS) ?? String(DEFAULT_LIMITS.maxConnections), '--max-connections (MHSM_MAX_CONNECTIONS)', 1, 1_000_000),
    },
    backupStorage: {
      accountKey: pick(flags.backupStorageKey, env.MHSM_BACKUP_STORAGE_KEY),
      localRoots: [...(flags.localBackupRoot ?? []), ...(env.MHSM_LOCAL_BACKUP_ROOT ? [env.MHSM_LOCAL_BACKUP_ROOT] : [])].map((root) => path.resolve(root)),
    },
    localAttestationAuthority: flags.localAttestationAuthority !== false && env.MHSM_LOCAL_ATTESTATION_AUTHORITY !== 'false',
    attestationAuthorities: attestationAuthorities([...(flags.attestationAuthority ?? []), ...(env.MHSM_ATTESTATION_AUTHORITY ? [env.MHSM_ATTESTATION_AUTHORITY] : [])]),
    audit: {
      stdout: flags.auditStdout ?? isTrue(env.MHSM_AUDIT_STDOUT),
      ...(env.MHSM_AUDIT_MAX_BYTES ? { maxBytes: integer(env.MHSM_AUDIT_MAX_BYTES, 'MHSM_AUDIT_MAX_BYTES', 1024, 2 ** 40) } : {}),
    },
  };
}

/** --soft-delete-retention-days (or its older name --recoverable-days); none: the HSM's own, or 90 on first start. */
function retentionDays(flags: ConfigFlags, env: NodeJS.ProcessEnv): number | undefined {
  const given = pick(flags.softDeleteRetentionDays ?? flags.recoverableDays, env.MHSM_SOFT_DELETE_RETENTION_DAYS ?? env.MHSM_RECOVERABLE_DAYS);
  // The error names the flag or variable the user wrote.
  const oldName = flags.softDeleteRetentionDays === undefined && (flags.recoverableDays !== undefined || env.MHSM_SOFT_DELETE_RETENTION_DAYS === undefined);
  const what = oldName ? '--recoverable-days (MHSM_RECOVERABLE_DAYS)' : '--soft-delete-retention-days (MHSM_SOFT_DELETE_RETENTION_DAYS)';
  return given === undefined ? undefined : integer(given, what, 7, 90);
}

const LIMIT_NAMES: Readonly<Record<string, keyof ServiceLimits>> = {
  keys: 'keys',
  'key-versions': 'keyVersions',
  'role-definitions': 'roleDefinitions',
  'role-assignments': 'rootAssignments',
  'key-role-assignments': 'keyAssignments',
};

/** --service-limit NAME=N (repeatable; MHSM_SERVICE_LIMITS=NAME=N,NAME=N): a service limit raised (or lowered). */
function serviceLimits(specs: readonly string[]): Partial<ServiceLimits> {
  const limits: Partial<ServiceLimits> = {};
  for (const spec of specs) {
    const [name, value] = spec.trim().split('=');
    const key = LIMIT_NAMES[name ?? ''];
    if (!key || value === undefined) throw new ConfigError(`--service-limit (MHSM_SERVICE_LIMITS): '${spec}' is not NAME=N with NAME one of ${Object.keys(LIMIT_NAMES).join(', ')}`);
    limits[key] = integer(value, `--service-limit ${name}`, 1, 1_000_000_000);
  }
  return limits;
}

/** --attestation-authority ISSUER[=FILE], each checked now: a bad one stops the start. */
function attestationAuthorities(specs: readonly string[]): ConfiguredAuthority[] {
  return specs.map((spec) => {
    try {
      return parseAuthority(spec);
    } catch (error) {
      throw new ConfigError(`--attestation-authority (MHSM_ATTESTATION_AUTHORITY): ${(error as Error).message.replace(/^--attestation-authority: /, '')}`);
    }
  });
}

export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(pick(flag, env.MHSM_DATA_DIR) ?? DEFAULT_DATA_DIR);
}

export function resolveConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = resolveDataDir(flags.dataDir, env);
  const server = resolveServer(flags, env);
  const modulePath = pick(flags.module, env.MHSM_MODULE);
  const label = pick(flags.tokenLabel, env.MHSM_TOKEN_LABEL);
  const pin = pick(flags.pin, env.MHSM_PIN);
  const soPin = pick(flags.soPin, env.MHSM_SO_PIN);

  if (modulePath === undefined) {
    if (label !== undefined || pin !== undefined || soPin !== undefined) {
      throw new ConfigError('--token-label, --pin and --so-pin (MHSM_TOKEN_LABEL, MHSM_PIN, MHSM_SO_PIN) go with --module (MHSM_MODULE)');
    }
    return { dataDir, token: { kind: 'embedded' }, server };
  }
  const missing = [label === undefined && '--token-label (MHSM_TOKEN_LABEL)', pin === undefined && '--pin (MHSM_PIN)'].filter(Boolean);
  if (missing.length > 0) throw new ConfigError(`--module needs ${missing.join(' and ')}`);
  if ((label as string).length > 32) throw new ConfigError('--token-label must be at most 32 characters (a PKCS#11 token label)');
  return { dataDir, token: { kind: 'module', modulePath: path.resolve(modulePath), label: label as string, pin: pin as string, soPin }, server };
}
