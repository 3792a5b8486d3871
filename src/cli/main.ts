// The `mhsm` command.
import { Command } from 'commander';
import { ALGORITHMS } from '../hsm/algorithms/registry.js';
import { operationsOf } from '../token/capabilities.js';
import { TokenError } from '../token/errors.js';
import type { Token } from '../token/token.js';
import { startEmulator } from '../server/emulator.js';
import { type Config, ConfigError, type ConfigFlags, DEFAULT_DATA_DIR, resolveConfig } from './config.js';
import { asDataDirProblem, lockDataDir, removeFirstStart } from '../server/data-dir-lock.js';
import { MANAGED_IDENTITY_PATH, identityHeaderFile } from '../identity/managed-identities.js';
import { openConfiguredToken, openConfiguredTokenWithSecrets } from './open-token.js';
import { addAuditCommands } from './audit-commands.js';
import { addClockCommands } from './clock-commands.js';
import { addNetworkCommands } from './network-commands.js';
import { addKeyCommands } from './key-commands.js';
import { addRoleCommands } from './role-commands.js';
import { addSettingsCommands } from './settings-commands.js';
import { addSecurityDomainCommands } from './sd-commands.js';
import { addByokCommands } from './byok-commands.js';
import { addAttestCommand } from './attest-command.js';
import { addBackupCommands } from './backup-commands.js';
import { addEnvCommand } from './env-command.js';
import { ServiceError } from './rest-client.js';
import { addPrincipalCommands } from './principal-commands.js';
import { addPkcs11Commands } from './pkcs11-commands.js';
import { PrincipalError } from '../identity/principals.js';
import { algorithmTable, capabilityMarkdown, mechanismTable, tokenReport } from './capability-report.js';

function addTokenOptions(command: Command): Command {
  return command
    .option('--data-dir <dir>', `data directory (MHSM_DATA_DIR, default ${DEFAULT_DATA_DIR})`)
    .option('--module <path>', 'PKCS#11 module to use instead of the embedded SoftHSM2 (MHSM_MODULE)')
    .option('--token-label <label>', 'label of the token in that module (MHSM_TOKEN_LABEL)')
    .option('--pin <pin>', 'user PIN of that token (MHSM_PIN; prefer the variable: flags show in ps)')
    .option('--so-pin <pin>', "security-officer PIN of that token, for the security domain's activation (MHSM_SO_PIN; prefer the variable)");
}

async function withToken<T>(flags: ConfigFlags, use: (token: Token) => Promise<T>): Promise<T> {
  const token = await openConfiguredToken(resolveConfig(flags));
  try {
    return await use(token);
  } finally {
    token.close();
  }
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => resolve(signal);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** Opens the token, serves until SIGINT or SIGTERM, then stops; `listening` is told once the URL is printed. */
async function runEmulator(config: Config, listening: () => void): Promise<void> {
  const { token, secrets } = await openConfiguredTokenWithSecrets(config);
  try {
    const stopped = waitForSignal(); // listening before the URL is printed
    const emulator = await startEmulator(config.dataDir, token, config.server, secrets);
    for (const line of tokenReport(token)) console.log(line);
    const { orphans, missing } = emulator.reconciliation;
    if (orphans > 0) console.log(`start-up: removing, in the background, the token objects of ${orphans} keys that no committed key version names`);
    for (const version of missing) {
      console.error(`mhsm: warning: key ${version.name} version ${version.version} has no key material in the token; it cannot be used`);
    }
    const { activation } = emulator;
    if (activation.ceremony) {
      console.log(
        `security domain: activated on first start with 3 keys and quorum 2; the domain file and the keys that recover this HSM are in ${activation.ceremony.dir}`,
      );
    } else if (activation.warning) {
      console.error(`mhsm: warning: ${activation.warning}`);
    } else if (activation.state === 'NotActivated') {
      console.log('security domain: not activated; download the security domain (mhsm sd download) or upload one (mhsm sd upload) to activate the HSM');
    }
    if (emulator.caRenewed) console.log(`TLS: a new local CA was made (${emulator.caRenewed}): clients must trust the new ${emulator.caPath}`);
    console.log(`data directory: ${config.dataDir}`);
    console.log(`CA certificate: ${emulator.caPath}`);
    console.log(`administrator credentials: ${emulator.adminPath}`);
    // The header's value is a secret: the line reads it from its file rather than showing it.
    console.log(`managed identities: export IDENTITY_ENDPOINT=${emulator.url}${MANAGED_IDENTITY_PATH} IDENTITY_HEADER="$(cat ${identityHeaderFile(config.dataDir)})" (or eval "$(mhsm env)")`);
    console.log(`listening on ${emulator.url}`);
    listening();
    const signal = await stopped;
    console.log(`${signal}: stopping`);
    await emulator.close();
  } finally {
    token.close();
  }
}

export function buildProgram(): Command {
  const program = new Command('mhsm').description('A local Azure Key Vault Managed HSM over a PKCS#11 token').showHelpAfterError();

  addTokenOptions(program.command('start'))
    .description('start the emulator: the token, then the HTTPS API, until interrupted')
    .option('--host <host>', 'address to listen on (MHSM_HOST, default localhost)')
    .option('--port <port>', 'port to listen on, 0 for any free one (MHSM_PORT, default 8443)')
    .option('--name <name>', 'the HSM name: NAME.DNS_SUFFIX is in the certificate (MHSM_NAME, default mhsm)')
    .option('--dns-suffix <suffix>', 'DNS suffix of HSM names and the token resource (MHSM_DNS_SUFFIX, default managedhsm.azure.net)')
    .option('--soft-delete-retention-days <days>', "soft-delete retention, 7 to 90, set by the HSM's first start and kept (MHSM_SOFT_DELETE_RETENTION_DAYS, default 90)")
    .option('--recoverable-days <days>', 'the same as --soft-delete-retention-days (MHSM_RECOVERABLE_DAYS)')
    .option(
      '--service-limit <name=n>',
      'raise (or lower) a limit of the service: keys (5000), key-versions (100 per key), role-definitions (50 custom), role-assignments (50 at the HSM), key-role-assignments (10 per key) (repeatable; MHSM_SERVICE_LIMITS=NAME=N,...)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--purge-protection', 'refuse to purge soft-deleted keys (MHSM_PURGE_PROTECTION)')
    .option('--network-rules <file>', 'network rules as JSON {publicNetworkAccess, defaultAction, ipRules} (MHSM_NETWORK_RULES)')
    .option('--public-network-access <Enabled|Disabled>', 'refuse every data-plane call when Disabled')
    .option('--default-action <Allow|Deny>', 'what callers no IP rule names get')
    .option('--ip-rule <cidr>', 'an IPv4 or IPv6 address or range allowed when the default is Deny (repeatable)', (value: string, previous: string[] = []) => [...previous, value])
    .option('--audit-stdout', 'also write each audit line to stdout (MHSM_AUDIT_STDOUT)')
    .option('--request-timeout <seconds>', 'a request (headers and body) must arrive within this (MHSM_REQUEST_TIMEOUT, default 30)')
    .option('--idle-timeout <seconds>', 'an idle connection is closed after this (MHSM_IDLE_TIMEOUT, default 60)')
    .option('--backup-storage-key <key>', 'the storage account key full backups use when a request asks for useManagedIdentity (MHSM_BACKUP_STORAGE_KEY; prefer the variable)')
    .option('--local-backup-root <dir>', 'a directory under which full backups to file:// folders may go, besides DATA/backups (repeatable; MHSM_LOCAL_BACKUP_ROOT)', (value: string, previous: string[] = []) => [...previous, value])
    .option(
      '--attestation-authority <issuer[=file]>',
      "an attestation authority whose tokens key release takes, besides the local one: its issuer (keys from its OpenID metadata), ISSUER=JWKS-URL, or ISSUER=FILE with a PEM key or certificate or a JWKS (repeatable; MHSM_ATTESTATION_AUTHORITY)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--no-local-attestation-authority', "trust no attestation token of the emulator's own authority, and serve neither its endpoints nor test tokens (MHSM_LOCAL_ATTESTATION_AUTHORITY=false)")
    .option('--max-connections <n>', 'connections at once, past which new ones are refused (MHSM_MAX_CONNECTIONS, default 1000)')
    .option(
      '--manual-activation',
      'on first start, give the initial administrator only the Administrator role, as the real service does (MHSM_MANUAL_ACTIVATION)',
    )
    .action(async (flags: ConfigFlags) => {
      const config = resolveConfig(flags);
      // Before anything else touches the directory: one emulator per data directory.
      const lock = lockDataDir(config.dataDir);
      let listening = false;
      try {
        await runEmulator(config, () => (listening = true));
      } catch (error) {
        // A first start that failed leaves nothing that a later start would trust.
        if (lock.fresh && !listening) removeFirstStart(config.dataDir);
        throw asDataDirProblem(config.dataDir, error);
      } finally {
        lock.release();
      }
    });

  addTokenOptions(program.command('capabilities'))
    .description("print the token's mechanisms and what each can do")
    .option('--json', 'machine-readable output')
    .option('--markdown', 'a Markdown table, as in docs/capabilities/')
    .action(async (flags: ConfigFlags & { json?: boolean; markdown?: boolean }) => {
      await withToken(flags, async (token) => {
        if (flags.markdown) {
          for (const line of capabilityMarkdown(token)) console.log(line);
        } else if (flags.json) {
          const mechanisms = token.capabilities.list().map((m) => ({ ...m, operations: operationsOf(m.flags) }));
          const algorithms = Object.values(ALGORITHMS).map((a) => ({ name: a.name, family: a.family, ...a.support(token.capabilities) }));
          console.log(JSON.stringify({ token: token.description, algorithms, mechanisms }, null, 2));
        } else {
          for (const line of [...tokenReport(token), '', ...algorithmTable(token), '', ...mechanismTable(token)]) console.log(line);
        }
      });
    });

  addPrincipalCommands(program);
  addAuditCommands(program);
  addClockCommands(program);
  addNetworkCommands(program);
  addKeyCommands(program);
  addRoleCommands(program);
  addSettingsCommands(program);
  addSecurityDomainCommands(program);
  addBackupCommands(program);
  addByokCommands(program);
  addAttestCommand(program);
  addEnvCommand(program);
  addPkcs11Commands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof TokenError || error instanceof PrincipalError || error instanceof ServiceError) {
      console.error(`mhsm: error: ${error.message}`);
    } else {
      console.error(`mhsm: error: ${(error as Error).message ?? String(error)}`);
      if (process.env.MHSM_DEBUG) console.error(error);
    }
    return 1;
  }
}
