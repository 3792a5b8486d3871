// `mhsm key …`: the daily key tasks as a client of the running emulator's REST API.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { type ClientCommandFlags, addClientOptions, clientFor, output } from './client-options.js';
import { ConfigError } from './config.js';
import { listAll } from './rest-client.js';
import { textTable, withProgress } from './text-table.js';

interface KeyAttributes {
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
  recoverableDays: number;
}

interface KeyBundle {
  key: { kid: string; kty: string; key_ops: string[]; crv?: string; n?: string };
  attributes: KeyAttributes;
  tags?: Record<string, string>;
  recoveryId?: string;
  deletedDate?: number;
  scheduledPurgeDate?: number;
}

interface KeyItem {
  kid: string;
  attributes: KeyAttributes;
  tags?: Record<string, string>;
  deletedDate?: number;
  scheduledPurgeDate?: number;
}

type KeyFlags = ClientCommandFlags & {
  kty?: string;
  size?: string;
  curve?: string;
  ops?: string;
  tags?: string;
  nbf?: string;
  exp?: string;
  enabled?: string;
  version?: string;
  deleted?: boolean;
  jwk?: string;
  byok?: string;
  file?: string;
};

const date = (seconds: number | undefined) => (seconds === undefined ? '' : new Date(seconds * 1000).toISOString());
const nameAndVersion = (kid: string) => {
  const parts = new URL(kid).pathname.split('/');
  return { name: parts[2] ?? '', version: parts[3] ?? '' };
};

function seconds(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new ConfigError(`${flag} must be a date such as 2027-01-31T00:00:00Z, not '${text}'`);
  return Math.floor(ms / 1000);
}

function tags(text: string | undefined): Record<string, string> | undefined {
  if (text === undefined) return undefined;
  return Object.fromEntries(
    text
      .split(',')
      .filter(Boolean)
      .map((pair) => {
        const at = pair.indexOf('=');
        if (at <= 0) throw new ConfigError(`--tags takes name=value pairs separated by commas, not '${pair}'`);
        return [pair.slice(0, at), pair.slice(at + 1)];
      }),
  );
}

function attributes(flags: KeyFlags): Record<string, unknown> | undefined {
  const result: Record<string, unknown> = {};
  const nbf = seconds(flags.nbf, '--nbf');
  const exp = seconds(flags.exp, '--exp');
  if (nbf !== undefined) result.nbf = nbf;
  if (exp !== undefined) result.exp = exp;
  if (flags.enabled !== undefined) {
    if (flags.enabled !== 'true' && flags.enabled !== 'false') throw new ConfigError('--enabled takes true or false');
    result.enabled = flags.enabled === 'true';
  }
  return Object.keys(result).length === 0 ? undefined : result;
}

const ops = (text: string | undefined) => text?.split(',').map((op) => op.trim()).filter(Boolean);

function readableBundle(bundle: KeyBundle): string[] {
  const { name, version } = nameAndVersion(bundle.key.kid);
  const a = bundle.attributes;
  return [
    `name:       ${name}`,
    `version:    ${version}`,
    `type:       ${bundle.key.kty}${bundle.key.crv ? ` ${bundle.key.crv}` : bundle.key.n ? ` ${Buffer.from(bundle.key.n, 'base64url').length * 8}` : ''}`,
    `operations: ${bundle.key.key_ops.join(', ')}`,
    `enabled:    ${a.enabled}${a.nbf ? `, not before ${date(a.nbf)}` : ''}${a.exp ? `, expires ${date(a.exp)}` : ''}`,
    `created:    ${date(a.created)}, updated ${date(a.updated)}`,
    `tags:       ${Object.entries(bundle.tags ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || '(none)'}`,
    ...(bundle.deletedDate ? [`deleted:    ${date(bundle.deletedDate)}, purged after ${date(bundle.scheduledPurgeDate)}`] : []),
  ];
}

function readableItems(items: KeyItem[], deleted: boolean): string[] {
  return textTable(
    deleted ? ['name', 'deleted', 'purge after'] : ['name', 'enabled', 'expires', 'updated'],
    items.map((item) => {
      const { name } = nameAndVersion(item.kid);
      return deleted ? [name, date(item.deletedDate), date(item.scheduledPurgeDate)] : [name, item.attributes.enabled, date(item.attributes.exp), date(item.attributes.updated)];
    }),
  );
}

export function addKeyCommands(program: Command): void {
  const key = program.command('key').description('keys of the running emulator');
  const named = (name: string, description: string) => addClientOptions(key.command(name).argument('<name>', 'key name').description(description));

  named('create', 'create a key in the token')
    .requiredOption('--kty <type>', 'RSA, EC or oct (the -HSM forms too)')
    .option('--size <bits>', 'RSA 2048/3072/4096, oct 128/192/256')
    .option('--curve <crv>', 'P-256, P-256K, P-384 or P-521')
    .option('--ops <list>', 'key operations, comma-separated')
    .option('--tags <list>', 'name=value pairs, comma-separated')
    .option('--nbf <date>', 'not usable before')
    .option('--exp <date>', 'not usable after')
    .option('--enabled <bool>', 'true or false')
    .action(async (name: string, flags: KeyFlags) => {
      const body = {
        kty: flags.kty,
        ...(flags.size ? { key_size: Number(flags.size) } : {}),
        ...(flags.curve ? { crv: flags.curve } : {}),
        ...(flags.ops ? { key_ops: ops(flags.ops) } : {}),
        ...(flags.tags ? { tags: tags(flags.tags) } : {}),
        ...(attributes(flags) ? { attributes: attributes(flags) } : {}),
      };
      const bundle = await withProgress(`creating ${name}`, () => clientFor(flags).call<KeyBundle>('POST', `/keys/${encodeURIComponent(name)}/create`, body));
      output(flags, bundle, readableBundle);
    });

  named('import', 'import a key from a JWK file with its private parts, or a BYOK transfer blob; the material goes into the token only')
    .option('--jwk <file>', 'the JSON Web Key')
    .option('--byok <file>', 'a .byok transfer blob (mhsm byok export, or an HSM vendor\'s BYOK tool); give --kty')
    .option('--kty <type>', 'with --byok: RSA-HSM, EC-HSM or oct-HSM')
    .option('--curve <crv>', 'with --byok and EC-HSM: P-256, P-256K, P-384 or P-521')
    .option('--ops <list>', 'key operations, comma-separated (default: the JWK key_ops, or the type\'s defaults)')
    .option('--tags <list>', 'name=value pairs, comma-separated')
    .action(async (name: string, flags: KeyFlags) => {
      if ((flags.jwk === undefined) === (flags.byok === undefined)) throw new ConfigError('give --jwk or --byok');
      if (flags.byok !== undefined && flags.kty === undefined) throw new ConfigError('--byok needs --kty (RSA-HSM, EC-HSM or oct-HSM)');
      let jwk: Record<string, unknown>;
      try {
        jwk = flags.byok
          ? { kty: flags.kty, ...(flags.curve ? { crv: flags.curve } : {}), key_hsm: readFileSync(flags.byok).toString('base64url') }
          : (JSON.parse(readFileSync(flags.jwk as string, 'utf8')) as Record<string, unknown>);
      } catch (error) {
        throw new ConfigError(`${flags.byok ? '--byok' : '--jwk'}: cannot read ${flags.byok ?? flags.jwk}: ${(error as Error).message}`);
      }
      if (flags.ops) jwk.key_ops = ops(flags.ops);
      const body = { key: jwk, ...(flags.tags ? { tags: tags(flags.tags) } : {}) };
      const bundle = await withProgress(`importing ${name}`, () => clientFor(flags).call<KeyBundle>('PUT', `/keys/${encodeURIComponent(name)}`, body));
      output(flags, bundle, readableBundle);
    });

  addClientOptions(key.command('list').description('list keys (or soft-deleted keys)'))
    .option('--deleted', 'soft-deleted keys')
    .action(async (flags: KeyFlags) => {
      const items = await listAll<KeyItem>(clientFor(flags), flags.deleted ? '/deletedkeys?maxresults=25' : '/keys?maxresults=25');
      output(flags, items, (list) => readableItems(list, flags.deleted ?? false));
    });

  named('show', 'show a key (its newest version, or --version)')
    .option('--version <version>', 'a version')
    .option('--deleted', 'a soft-deleted key')
    .action(async (name: string, flags: KeyFlags) => {
      const route = flags.deleted ? `/deletedkeys/${encodeURIComponent(name)}` : `/keys/${encodeURIComponent(name)}${flags.version ? `/${encodeURIComponent(flags.version)}` : ''}`;
      output(flags, await clientFor(flags).call<KeyBundle>('GET', route), readableBundle);
    });

  named('update', "change a key's operations, attributes or tags")
    .option('--version <version>', 'a version (default: the newest)')
    .option('--ops <list>', 'key operations, comma-separated')
    .option('--tags <list>', 'name=value pairs, comma-separated (replaces the tags)')
    .option('--nbf <date>', 'not usable before')
    .option('--exp <date>', 'not usable after')
    .option('--enabled <bool>', 'true or false')
    .action(async (name: string, flags: KeyFlags) => {
      const body = {
        ...(flags.ops ? { key_ops: ops(flags.ops) } : {}),
        ...(flags.tags !== undefined ? { tags: tags(flags.tags) } : {}),
        ...(attributes(flags) ? { attributes: attributes(flags) } : {}),
      };
      if (Object.keys(body).length === 0) throw new ConfigError('give --ops, --tags, --nbf, --exp or --enabled');
      const route = `/keys/${encodeURIComponent(name)}${flags.version ? `/${encodeURIComponent(flags.version)}` : ''}`;
      output(flags, await clientFor(flags).call<KeyBundle>('PATCH', route, body), readableBundle);
    });

  for (const [command, description, method, route] of [
    ['delete', 'soft-delete a key (recoverable until purged)', 'DELETE', (n: string) => `/keys/${n}`],
    ['recover', 'recover a soft-deleted key', 'POST', (n: string) => `/deletedkeys/${n}/recover`],
    ['rotate', 'make a new version of a key', 'POST', (n: string) => `/keys/${n}/rotate`],
  ] as const) {
    named(command, description).action(async (name: string, flags: KeyFlags) => {
      const bundle = await withProgress(`${command} ${name}`, () => clientFor(flags).call<KeyBundle>(method, route(encodeURIComponent(name))));
      output(flags, bundle, readableBundle);
    });
  }

  named('purge', 'remove a soft-deleted key for good').action(async (name: string, flags: KeyFlags) => {
    await withProgress(`purging ${name}`, () => clientFor(flags).call('DELETE', `/deletedkeys/${encodeURIComponent(name)}`));
    output(flags, { purged: name }, () => [`purged ${name}`]);
  });

  named('backup', 'write a backup of a key (all versions, material wrapped by the token, sealed under the security domain) to a file')
    .requiredOption('--file <file>', 'where to write the backup (0600)')
    .action(async (name: string, flags: KeyFlags) => {
      const { value } = await withProgress(`backing up ${name}`, () => clientFor(flags).call<{ value: string }>('POST', `/keys/${encodeURIComponent(name)}/backup`));
      writeFileSync(flags.file as string, value, { mode: 0o600 });
      // The file holds the base64url text the service returns: its size is the file's.
      output(flags, { name, file: flags.file, bytes: Buffer.byteLength(value) }, (r) => [`wrote the backup of ${r.name} to ${r.file} (${r.bytes} bytes)`]);
    });

  addClientOptions(key.command('restore').description('restore a key from a backup file'))
    .requiredOption('--file <file>', 'a backup written by mhsm key backup')
    .action(async (flags: KeyFlags) => {
      let value: string;
      try {
        value = readFileSync(flags.file as string, 'utf8').trim();
      } catch (error) {
        throw new ConfigError(`--file: cannot read ${flags.file}: ${(error as Error).message}`);
      }
      const bundle = await withProgress('restoring', () => clientFor(flags).call<KeyBundle>('POST', '/keys/restore', { value }));
      output(flags, bundle, readableBundle);
    });
}
