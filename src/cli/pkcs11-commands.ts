// `mhsm pkcs11 config`: a configuration file for libmhsm-pkcs11.so (pkcs11-provider/) that
// reaches the emulator running on a data directory, as the initial administrator or another
// principal, and the library's path: two commands before an application can load it.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { SERVER_FILE, runningServer } from '../server/data-dir-lock.js';
import { ConfigError, DEFAULT_DATA_DIR, resolveDataDir } from './config.js';

/** Where `npm run build:provider` puts the library. */
export const PKCS11_LIBRARY = fileURLToPath(new URL('../../pkcs11-provider/build/libmhsm-pkcs11.so', import.meta.url));

type ConfigFlags = { dataDir?: string; out: string; clientId?: string; clientSecretFile?: string; label?: string; log?: string };

/** A Managed HSM token label is the slot's name in PKCS#11: 32 bytes at most. */
const MAX_LABEL = 32;

export function addPkcs11Commands(program: Command): void {
  const pkcs11 = program.command('pkcs11').description('the PKCS#11 library over the emulator, for applications that link PKCS#11 (libmhsm-pkcs11.so)');
  pkcs11
    .command('config')
    .description("write a configuration file for the PKCS#11 library that reaches the running emulator, and print the library's path")
    .requiredOption('--out <file>', 'the configuration file to write (point MHSM_PKCS11_CONF at it)')
    .option('--data-dir <dir>', `data directory of the running emulator (MHSM_DATA_DIR, default ${DEFAULT_DATA_DIR})`)
    .option('--client-id <id>', "a principal's client id (default: the initial administrator, whose secret goes to FILE.secret)")
    .option('--client-secret-file <file>', 'a file holding that principal\'s client secret, readable by its owner only (0600)')
    .option('--label <label>', 'the token label of the slot', 'mhsm')
    .option('--log <file>', "where the library logs what it refused and why (default: the application's stderr)")
    .action((flags: ConfigFlags) => {
      const dataDir = resolveDataDir(flags.dataDir);
      const server = runningServer(dataDir);
      if (!server) throw new ConfigError(`no emulator is running on ${dataDir} (no ${SERVER_FILE}): start it with mhsm start`);
      if ((flags.clientId === undefined) !== (flags.clientSecretFile === undefined)) throw new ConfigError('--client-id and --client-secret-file go together');
      if (Buffer.byteLength(flags.label ?? '') > MAX_LABEL || !flags.label) throw new ConfigError(`--label: 1 to ${MAX_LABEL} bytes (a PKCS#11 token label)`);
      const admin = JSON.parse(readFileSync(path.join(dataDir, 'admin.json'), 'utf8')) as { tenantId: string; clientId: string; clientSecret: string };
      const out = path.resolve(flags.out);
      let clientId = admin.clientId;
      let secretFile = `${out}.secret`;
      if (flags.clientId !== undefined && flags.clientSecretFile !== undefined) {
        secretFile = path.resolve(flags.clientSecretFile);
        if (!existsSync(secretFile)) throw new ConfigError(`--client-secret-file ${secretFile}: does not exist`);
        if ((statSync(secretFile).mode & 0o077) !== 0) throw new ConfigError(`--client-secret-file ${secretFile}: must be readable by its owner only (chmod 600)`);
        clientId = flags.clientId;
      } else {
        writeFileSync(secretFile, `${admin.clientSecret}\n`, { mode: 0o600 });
      }
      const config = {
        ...(flags.log === undefined ? {} : { log: path.resolve(flags.log) }),
        slots: [{ label: flags.label, url: server.url, tenantId: admin.tenantId, clientId, clientSecretFile: secretFile, caFile: path.resolve(dataDir, 'ca.pem') }],
      };
      writeFileSync(out, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
      console.log(`wrote ${out}`);
      console.log(`library: ${PKCS11_LIBRARY}${existsSync(PKCS11_LIBRARY) ? '' : ' (not built yet: npm run build:provider)'}`);
      console.log(`export MHSM_PKCS11_CONF='${out.replaceAll("'", `'\\''`)}'`);
    });
}
