// `mhsm env`: the environment an application needs to reach the running emulator unmodified, as
// shell lines for eval "$(mhsm env)": the managed-identity endpoint and its header (for
// ManagedIdentityCredential and DefaultAzureCredential), and the CA for Node.js and Python; with
// --admin, the initial administrator's credentials for EnvironmentCredential too.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { identityHeaderOf, MANAGED_IDENTITY_PATH } from '../identity/managed-identities.js';
import { SERVER_FILE, runningServer } from '../server/data-dir-lock.js';
import { ConfigError, DEFAULT_DATA_DIR, resolveDataDir } from './config.js';

const quoted = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

export function addEnvCommand(program: Command): void {
  program
    .command('env')
    .description('print shell lines that point an application at the running emulator: eval "$(mhsm env)"')
    .option('--data-dir <dir>', `data directory (MHSM_DATA_DIR, default ${DEFAULT_DATA_DIR})`)
    .option('--admin', "also the initial administrator's credentials for EnvironmentCredential (AZURE_TENANT_ID=adfs: an authority of the ADFS kind needs no instance discovery)")
    .action((flags: { dataDir?: string; admin?: boolean }) => {
      const dataDir = resolveDataDir(flags.dataDir);
      const server = runningServer(dataDir);
      if (!server) throw new ConfigError(`no emulator is running on ${dataDir} (no ${SERVER_FILE}): start it with mhsm start`);
      const { url } = server;
      const ca = path.join(dataDir, 'ca.pem');
      const lines: Array<[string, string]> = [
        ['IDENTITY_ENDPOINT', `${url}${MANAGED_IDENTITY_PATH}`],
        ['IDENTITY_HEADER', identityHeaderOf(dataDir)],
        ['NODE_EXTRA_CA_CERTS', ca],
        ['REQUESTS_CA_BUNDLE', ca],
      ];
      if (flags.admin) {
        const admin = JSON.parse(readFileSync(path.join(dataDir, 'admin.json'), 'utf8')) as { clientId: string; clientSecret: string };
        lines.push(['AZURE_AUTHORITY_HOST', url], ['AZURE_TENANT_ID', 'adfs'], ['AZURE_CLIENT_ID', admin.clientId], ['AZURE_CLIENT_SECRET', admin.clientSecret]);
      }
      for (const [name, value] of lines) {
        console.log(`export ${name}=${quoted(value)}`);
      }
    });
}
