// `mhsm principal create|list|delete`: service principals of the emulated tenant, kept in the data
// directory's store, so a running emulator sees them at once.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ShiftableClock } from '../clock/clock.js';
import { Identity } from '../identity/identity.js';
import { PrincipalError, createManagedIdentity, createPrincipal, deletePrincipal } from '../identity/principals.js';
import { isManagedIdentity } from '../identity/managed-identities.js';
import { SqliteMetadataStore } from '../store/sqlite-store.js';
import { DEFAULT_DATA_DIR, resolveDataDir } from './config.js';

type Flags = { dataDir?: string; json?: boolean };

async function withTenant<T>(flags: Flags, use: (store: SqliteMetadataStore, identity: Identity) => Promise<T>): Promise<T> {
  const dataDir = resolveDataDir(flags.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const store = new SqliteMetadataStore(path.join(dataDir, 'metadata.db'));
  try {
    // The tenant is made here if the emulator never ran on this directory.
    const identity = await Identity.open(dataDir, 'https://managedhsm.azure.net', new ShiftableClock(), store.access);
    return await use(store, identity);
  } finally {
    await store.close();
  }
}

export function addPrincipalCommands(program: Command): void {
  const principal = program.command('principal').description("service principals of the emulated tenant: each gets tokens with its client id and secret");
  const dataDirOption = `data directory (MHSM_DATA_DIR, default ${DEFAULT_DATA_DIR})`;

  principal
    .command('create')
    .description('register a principal and print its credentials (the secret is shown only this once), or a managed identity')
    .option('--name <name>', 'display name of a service principal (with a client secret)')
    .option('--managed-identity <name>', 'display name of a managed identity instead: no secret; applications get its tokens from the managed-identity endpoint (mhsm env)')
    .option('--data-dir <dir>', dataDirOption)
    .option('--json', 'print the credentials as JSON')
    .action(async (flags: Flags & { name?: string; managedIdentity?: string }) => {
      if ((flags.name === undefined) === (flags.managedIdentity === undefined)) throw new PrincipalError('give one of --name NAME or --managed-identity NAME');
      await withTenant(flags, async (store, identity) => {
        const now = Math.floor(Date.now() / 1000);
        if (flags.managedIdentity !== undefined) {
          const created = { tenantId: identity.tenantId, ...createManagedIdentity(store.access, flags.managedIdentity, now) };
          if (flags.json) {
            console.log(JSON.stringify(created, null, 2));
            return;
          }
          console.log(`tenant id:     ${created.tenantId}`);
          console.log(`display name:  ${created.displayName} (managed identity)`);
          console.log(`client id:     ${created.clientId}`);
          console.log(`object id:     ${created.objectId}`);
          console.log("Applications get its tokens through IDENTITY_ENDPOINT and IDENTITY_HEADER (eval \"$(mhsm env)\"); the first managed identity registered answers requests that name none. Assign it a role before it uses keys.");
          return;
        }
        const created = createPrincipal(store.access, identity.hasher, flags.name as string, now);
        const credentials = { tenantId: identity.tenantId, ...created };
        if (flags.json) {
          console.log(JSON.stringify(credentials, null, 2));
          return;
        }
        console.log(`tenant id:     ${credentials.tenantId}`);
        console.log(`display name:  ${credentials.displayName}`);
        console.log(`client id:     ${credentials.clientId}`);
        console.log(`object id:     ${credentials.objectId}`);
        console.log(`client secret: ${credentials.clientSecret}`);
        console.log('The secret is not stored and cannot be shown again. Assign the principal a role before it uses keys.');
      });
    });

  principal
    .command('list')
    .description('list the principals (never their secrets)')
    .option('--data-dir <dir>', dataDirOption)
    .option('--json', 'machine-readable output')
    .action(async (flags: Flags) => {
      await withTenant(flags, async (store) => {
        const rows = store.access.principals().map((p) => ({ displayName: p.displayName, kind: isManagedIdentity(p) ? 'managed identity' : 'service principal', clientId: p.clientId, objectId: p.objectId, created: new Date(p.created * 1000).toISOString() }));
        if (flags.json) {
          console.log(JSON.stringify(rows, null, 2));
          return;
        }
        for (const row of rows) console.log(`${row.objectId}  ${row.clientId}  ${row.displayName}${row.kind === 'managed identity' ? ' (managed identity)' : ''}`);
      });
    });

  principal
    .command('delete')
    .argument('<principal>', 'display name, client id or object id')
    .description('delete a principal: its tokens are refused from the next request on')
    .option('--data-dir <dir>', dataDirOption)
    .action(async (reference: string, flags: Flags) => {
      await withTenant(flags, async (store, identity) => {
        const removed = deletePrincipal(store.access, reference, identity.admin.objectId);
        console.log(`deleted principal ${removed.displayName} (object id ${removed.objectId})`);
      });
    });
}
