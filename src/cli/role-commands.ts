// `mhsm role definition …` and `mhsm role assignment …`: local RBAC through the running
// emulator's REST API.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Command } from 'commander';
import { findPrincipal } from '../identity/principals.js';
import { SqliteMetadataStore } from '../store/sqlite-store.js';
import { type ClientCommandFlags, addClientOptions, clientFor, output } from './client-options.js';
import { ConfigError, resolveDataDir } from './config.js';
import type { RestClient } from './rest-client.js';
import { textTable } from './text-table.js';

const PROVIDER = '/providers/Microsoft.Authorization';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface RoleDefinition {
  id: string;
  name: string;
  properties: { roleName: string; description: string; type: string; permissions: Array<{ dataActions: string[]; notDataActions: string[] }> };
}

interface RoleAssignment {
  id: string;
  name: string;
  properties: { scope: string; roleDefinitionId: string; principalId: string };
}

const scopePrefix = (scope: string) => (scope === '/' ? '' : scope.replace(/\/+$/, ''));
const list = (text: string | undefined) => (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);

/** A role given as its GUID, its full name, or its name without "Managed HSM ". */
async function resolveRole(client: RestClient, role: string): Promise<RoleDefinition> {
  const { value } = await client.call<{ value: RoleDefinition[] }>('GET', `${PROVIDER}/roleDefinitions`);
  const wanted = role.toLowerCase();
  const found = value.find(
    (d) => d.name.toLowerCase() === wanted || d.properties.roleName.toLowerCase() === wanted || d.properties.roleName.toLowerCase() === `managed hsm ${wanted}`,
  );
  if (!found) throw new ConfigError(`--role: no role definition is named '${role}'; see mhsm role definition list`);
  return found;
}

/** A principal given as its object id, or as a name or client id registered on this data directory. */
async function resolvePrincipal(dataDir: string, assignee: string): Promise<string> {
  const store = new SqliteMetadataStore(path.join(dataDir, 'metadata.db'));
  try {
    if (GUID.test(assignee)) return store.access.principalByClientId(assignee)?.objectId ?? assignee.toLowerCase();
    return findPrincipal(store.access, assignee).objectId;
  } finally {
    await store.close();
  }
}

type RoleFlags = ClientCommandFlags & {
  roleName?: string;
  description?: string;
  dataActions?: string;
  notDataActions?: string;
  name?: string;
  role?: string;
  assignee?: string;
  scope: string;
  custom?: boolean;
};

export function addRoleCommands(program: Command): void {
  const role = program.command('role').description('local RBAC: role definitions and role assignments');
  const definition = role.command('definition').description('role definitions (built-in and custom)');
  const assignment = role.command('assignment').description('role assignments at /, /keys or /keys/{name}');

  addClientOptions(definition.command('list').description('list role definitions'))
    .option('--custom', 'custom roles only')
    .action(async (flags: RoleFlags) => {
      const { value } = await clientFor(flags).call<{ value: RoleDefinition[] }>('GET', `${PROVIDER}/roleDefinitions`);
      const shown = flags.custom ? value.filter((d) => d.properties.type === 'CustomRole') : value;
      output(flags, shown, (defs) =>
        textTable(
          ['name', 'role', 'type', 'data actions'],
          defs.map((d) => [d.name, d.properties.roleName, d.properties.type, d.properties.permissions.reduce((n, p) => n + p.dataActions.length, 0)]),
        ),
      );
    });

  addClientOptions(definition.command('create').description('create or replace a custom role'))
    .requiredOption('--role-name <name>', 'its display name')
    .requiredOption('--data-actions <list>', "data actions, comma-separated ('*' wildcards allowed)")
    .option('--not-data-actions <list>', 'data actions taken away, comma-separated')
    .option('--description <text>', 'what it is for')
    .option('--name <guid>', 'its GUID (default: a new one)')
    .action(async (flags: RoleFlags) => {
      const name = flags.name ?? randomUUID();
      const body = {
        properties: {
          roleName: flags.roleName,
          description: flags.description ?? '',
          type: 'CustomRole',
          permissions: [{ actions: [], notActions: [], dataActions: list(flags.dataActions), notDataActions: list(flags.notDataActions) }],
          assignableScopes: ['/'],
        },
      };
      const created = await clientFor(flags).call<RoleDefinition>('PUT', `${PROVIDER}/roleDefinitions/${encodeURIComponent(name)}`, body);
      output(flags, created, (d) => [`role definition ${d.name}: ${d.properties.roleName}`]);
    });

  addClientOptions(definition.command('delete').argument('<name>', 'the GUID of a custom role').description('delete a custom role')).action(
    async (name: string, flags: RoleFlags) => {
      const deleted = await clientFor(flags).call<RoleDefinition>('DELETE', `${PROVIDER}/roleDefinitions/${encodeURIComponent(name)}`);
      output(flags, deleted, (d) => [`deleted role definition ${d.name} (${d.properties.roleName})`]);
    },
  );

  addClientOptions(assignment.command('create').description('assign a role to a principal at a scope'))
    .requiredOption('--role <role>', "a role's GUID or name, e.g. 'Crypto User'")
    .requiredOption('--assignee <principal>', 'object id, client id or name of a principal')
    .option('--scope <scope>', "'/', '/keys' or '/keys/{name}'", '/')
    .action(async (flags: RoleFlags) => {
      const client = clientFor(flags);
      const definition = await resolveRole(client, flags.role as string);
      const principalId = await resolvePrincipal(resolveDataDir(flags.dataDir), flags.assignee as string);
      const created = await client.call<RoleAssignment>('PUT', `${scopePrefix(flags.scope)}${PROVIDER}/roleAssignments/${randomUUID()}`, {
        properties: { roleDefinitionId: definition.id, principalId },
      });
      output(flags, created, (a) => [`assigned ${definition.properties.roleName} to ${principalId} at ${a.properties.scope} (${a.name})`]);
    });

  addClientOptions(assignment.command('list').description('list role assignments related to a scope'))
    .option('--scope <scope>', "'/', '/keys' or '/keys/{name}'", '/')
    .option('--assignee <principal>', 'only those of this principal')
    .action(async (flags: RoleFlags) => {
      const client = clientFor(flags);
      const filter = flags.assignee ? `?$filter=${encodeURIComponent(`principalId eq '${await resolvePrincipal(resolveDataDir(flags.dataDir), flags.assignee)}'`)}` : '';
      const { value } = await client.call<{ value: RoleAssignment[] }>('GET', `${scopePrefix(flags.scope)}${PROVIDER}/roleAssignments${filter}`);
      const { value: definitions } = await client.call<{ value: RoleDefinition[] }>('GET', `${PROVIDER}/roleDefinitions`);
      const roleName = (id: string) => definitions.find((d) => d.id === id)?.properties.roleName ?? id;
      output(flags, value, (assignments) =>
        textTable(
          ['name', 'scope', 'principal', 'role'],
          assignments.map((a) => [a.name, a.properties.scope, a.properties.principalId, roleName(a.properties.roleDefinitionId)]),
        ),
      );
    });

  addClientOptions(assignment.command('delete').argument('<name>', "the assignment's name (a GUID)").description('delete a role assignment'))
    .option('--scope <scope>', 'the scope it was made at', '/')
    .action(async (name: string, flags: RoleFlags) => {
      const deleted = await clientFor(flags).call<RoleAssignment>('DELETE', `${scopePrefix(flags.scope)}${PROVIDER}/roleAssignments/${encodeURIComponent(name)}`);
      output(flags, deleted, (a) => [`deleted role assignment ${a.name} at ${a.properties.scope}`]);
    });
}
