// Crash safety of a full restore: an HSM holds one of two states, each with a full backup; a
// restore of the other is started and the emulator killed with SIGKILL at a random moment of
// it, then restarted. After every restart the HSM must be exactly in one of the two states, never
// a mix; at the end the token's key objects and the store's rows must match one for one.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { resolveConfig } from '../../src/cli/config.js';
import { openConfiguredToken } from '../../src/cli/open-token.js';
import { TOKEN_OBJECT_LABEL } from '../../src/hsm/key-service.js';
import { API, EmulatorProcess } from './emulator-process.js';

export interface RestoreCrashReport {
  kills: number;
  /** How the restarts found the HSM: as it was, or as the backup. */
  foundBefore: number;
  foundRestored: number;
  restoreMs: number;
  violations: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runRestoreCrash(options: { kills: number; keys?: number; log?: (line: string) => void }): Promise<RestoreCrashReport> {
  const log = options.log ?? (() => undefined);
  const count = options.keys ?? 30;
  const emulator = await EmulatorProcess.create('mhsm-restore-crash-');
  const violations: string[] = [];
  let bearer = '';
  const call = async (method: string, route: string, body?: unknown) =>
    emulator.request(method, `${route}${route.includes('?') ? '&' : '?'}${API}`, { body, headers: { authorization: `Bearer ${bearer}` } });
  const started = async () => {
    await emulator.start();
    bearer = await emulator.token();
  };
  const backups = pathToFileURL(path.join(emulator.dataDir, 'backups')).href;

  /** The HSM's keys and versions (and a tag per version) as one comparable text. */
  const stateOf = async (): Promise<string> => {
    const lines: string[] = [];
    for (const list of ['/keys', '/deletedkeys']) {
      let route: string | undefined = `${list}?maxresults=25`;
      while (route) {
        const page = await call('GET', route);
        if (page.status !== 200) throw new Error(`GET ${list}: ${page.status}`);
        for (const item of page.body.value as Array<{ kid: string }>) {
          const name = item.kid.split('/').pop() as string;
          const versions = list === '/keys' ? (await call('GET', `/keys/${name}/versions`)).body.value.map((v: { kid: string; tags?: Record<string, string> }) => `${v.kid.split('/').pop()}:${v.tags?.state ?? ''}`) : [];
          lines.push(`${list} ${name} ${[...versions].sort().join(',')}`);
        }
        const next: string | null = page.body.nextLink;
        route = next ? `${list}?maxresults=25&$skiptoken=${encodeURIComponent(new URL(next).searchParams.get('$skiptoken') ?? '')}` : undefined;
      }
    }
    return lines.sort().join('\n');
  };
  const job = async (kind: 'backup' | 'restore', reply: { status: number; body: any }) => {
    if (reply.status !== 202) throw new Error(`${kind}: ${reply.status} ${JSON.stringify(reply.body)}`);
    for (;;) {
      const polled = await call('GET', `/${kind}/${reply.body.jobId}/pending`);
      if (polled.body.endTime !== null) {
        if (polled.body.status !== 'Succeeded') throw new Error(`${kind} failed: ${JSON.stringify(polled.body.error)}`);
        return polled.body;
      }
      await sleep(20);
    }
  };

  try {
    await started();
    // State A: keys with one or two versions; then its backup.
    for (let i = 0; i < count; i++) {
      await call('POST', `/keys/a-${i}/create`, { kty: 'EC-HSM', tags: { state: 'a' } });
      if (i % 3 === 0) await call('POST', `/keys/a-${i}/create`, { kty: 'EC-HSM', tags: { state: 'a' } });
    }
    const stateA = await stateOf();
    const folderA = (await job('backup', await call('POST', '/backup', { storageResourceUri: backups }))).azureStorageBlobContainerUri as string;
    // State B: some keys gone, some new, one soft-deleted; then its backup.
    for (let i = 0; i < count / 3; i++) {
      await call('DELETE', `/keys/a-${i}`);
      await call('DELETE', `/deletedkeys/a-${i}`);
      await call('POST', `/keys/b-${i}/create`, { kty: 'EC-HSM', tags: { state: 'b' } });
    }
    await call('DELETE', `/keys/a-${count - 1}`);
    const stateB = await stateOf();
    const folderB = (await job('backup', await call('POST', '/backup', { storageResourceUri: backups }))).azureStorageBlobContainerUri as string;
    const states = new Map([
      [stateA, { name: 'A', folder: folderA }],
      [stateB, { name: 'B', folder: folderB }],
    ]);
    // How long a restore takes, so that kills land all over it.
    const t0 = performance.now();
    await job('restore', await call('PUT', '/restore', { sasTokenParameters: { storageResourceUri: backups }, folderToRestore: folderA.split('/').pop() }));
    const restoreMs = Math.round(performance.now() - t0);
    let current = stateA;
    const afterRestore = await stateOf();
    if (afterRestore !== stateA) {
      const diff = [...afterRestore.split('\n').filter((line) => !stateA.includes(line)), ...stateA.split('\n').filter((line) => !afterRestore.includes(line)).map((line) => `missing ${line}`)];
      violations.push(`a completed restore did not give the backed-up state: ${diff.slice(0, 4).join('; ')}`);
    }

    let foundBefore = 0;
    let foundRestored = 0;
    for (let kill = 0; kill < options.kills; kill++) {
      const target = current === stateA ? stateB : stateA;
      const folder = (states.get(target)?.folder as string).split('/').pop();
      const reply = await call('PUT', '/restore', { sasTokenParameters: { storageResourceUri: backups }, folderToRestore: folder });
      if (reply.status !== 202) violations.push(`restore ${kill}: ${reply.status}`);
      await sleep(Math.random() * restoreMs * 1.2);
      await emulator.stop('SIGKILL');
      await started();
      if (emulator.output.includes('has no key material in the token')) violations.push(`after kill ${kill}: the start-up reported missing key material`);
      const found = await stateOf();
      if (found === current) foundBefore++;
      else if (found === target) foundRestored++;
      else violations.push(`after kill ${kill}: the HSM is in neither state (${states.get(current)?.name} before, ${states.get(target)?.name} restoring)`);
      current = found;
      log(`restore crash ${kill + 1}/${options.kills}: ${found === target ? 'restored' : 'as before'}`);
    }
    // What the last restore replaced goes in the background; then token and store one for one.
    for (let waited = 0; (await call('GET', '/emulator/status')).body.counts.versionsBeingRemoved > 0; waited += 100) {
      if (waited > 120_000) {
        violations.push('the objects a restore replaced were still being removed after 2 minutes');
        break;
      }
      await sleep(100);
    }
    await emulator.stop();
    const token = await openConfiguredToken(resolveConfig({ dataDir: emulator.dataDir }, {}));
    try {
      const inToken = new Set((await token.keyIdsLabelled(TOKEN_OBJECT_LABEL)).map((id) => id.toString('hex')));
      const db = new Database(path.join(emulator.dataDir, 'metadata.db'), { readonly: true });
      const rows = new Set((db.prepare('SELECT token_id FROM key_versions').all() as Array<{ token_id: Buffer }>).map((row) => row.token_id.toString('hex')));
      db.close();
      const extra = [...inToken].filter((id) => !rows.has(id)).length;
      const missing = [...rows].filter((id) => !inToken.has(id)).length;
      if (extra + missing > 0) violations.push(`token and store differ: ${extra} objects no row names, ${missing} rows without objects`);
    } finally {
      token.close();
    }
    return { kills: options.kills, foundBefore, foundRestored, restoreMs, violations };
  } finally {
    await emulator.close().catch(() => undefined);
    emulator.remove();
  }
}
