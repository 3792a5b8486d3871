// npm run bench:backup — full backup and full restore of BENCH_BACKUP_KEYS keys (default 10,000)
// through the running emulator to a local folder, beside the raw token's own work for the same
// keys measured in the same run (C_WrapKey of each under the domain's key; C_UnwrapKey of each
// into a token object): seconds, keys/s, and the server's longest event-loop stall during each.
// Goals: backup of 10,000 keys under 30 s, no stall over 20 ms.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { Pool } from 'undici';
import { resolveConfig } from '../src/cli/config.js';
import { openConfiguredToken } from '../src/cli/open-token.js';
import { ensureTls } from '../src/server/tls.js';
import { formatTable } from './bench/measure.js';
import { eventLoopStall, startBenchServer, stopBenchServer } from './bench/server-process.js';

const KEYS = Number.parseInt(process.env.BENCH_BACKUP_KEYS ?? '', 10) || 10_000;
const API = 'api-version=7.6';
const root = path.resolve(import.meta.dirname, '..');
const dataDir = path.join(os.tmpdir(), `mhsm-bench-backup-${process.pid}`);
mkdirSync(dataDir, { recursive: true, mode: 0o700 });
const { ca } = await ensureTls(dataDir, ['localhost']);

const server = await startBenchServer(dataDir);
const pool = new Pool(server.url, { connections: 64, connect: { ca } });
const admin = JSON.parse((await import('node:fs')).readFileSync(path.join(dataDir, 'admin.json'), 'utf8')) as { tenantId: string; clientId: string; clientSecret: string };
async function request(method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<any> {
  const response = await pool.request({ method: method as 'GET', path: route, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await response.body.text();
  return { status: response.statusCode, body: text ? JSON.parse(text) : undefined };
}
const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: admin.clientId, client_secret: admin.clientSecret, scope: 'https://managedhsm.azure.net/.default' });
const bearer = (await request('POST', `/${admin.tenantId}/oauth2/v2.0/token`, form.toString(), { 'content-type': 'application/x-www-form-urlencoded' })).body.access_token as string;
const api = (method: string, route: string, body?: unknown) => request(method, `${route}${route.includes('?') ? '&' : '?'}${API}`, body, { authorization: `Bearer ${bearer}` });

async function job(kind: 'backup' | 'restore', started: { status: number; body: any }): Promise<any> {
  if (started.status !== 202) throw new Error(`${kind}: ${started.status} ${JSON.stringify(started.body)}`);
  for (;;) {
    const polled = await api('GET', `/${kind}/${started.body.jobId}/pending`);
    if (polled.body.endTime !== null) {
      if (polled.body.status !== 'Succeeded') throw new Error(`${kind} failed: ${JSON.stringify(polled.body.error)}`);
      return polled.body;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

process.stderr.write(`creating ${KEYS} keys…\n`);
const createStarted = performance.now();
await Promise.all(
  Array.from({ length: 64 }, async (_, lane) => {
    for (let i = lane; i < KEYS; i += 64) {
      const reply = await api('POST', `/keys/bench-${i}/create`, { kty: 'oct-HSM', key_size: 128 });
      if (reply.status !== 200) throw new Error(`create: ${reply.status}`);
    }
  }),
);
const createSeconds = (performance.now() - createStarted) / 1000;
await new Promise((resolve) => setTimeout(resolve, 3000)); // let the WAL settle
await eventLoopStall(server);

const storageResourceUri = pathToFileURL(path.join(dataDir, 'backups')).href;
process.stderr.write('full backup…\n');
const backupStarted = performance.now();
const backedUp = await job('backup', await api('POST', '/backup', { storageResourceUri }));
const backupSeconds = (performance.now() - backupStarted) / 1000;
const backupStall = await eventLoopStall(server);
process.stderr.write('full restore…\n');
const restoreStarted = performance.now();
await job('restore', await api('PUT', '/restore', { sasTokenParameters: { storageResourceUri }, folderToRestore: (backedUp.azureStorageBlobContainerUri as string).split('/').pop() }));
const restoreSeconds = (performance.now() - restoreStarted) / 1000;
const restoreStall = await eventLoopStall(server);
const listed = await api('GET', '/keys?maxresults=25');
if (listed.body.value.length !== 25) throw new Error('the restored HSM does not list its keys');
await pool.close();
await stopBenchServer(server);

// The raw token's own work for the same keys, in the same run: the floor of each job.
process.stderr.write('raw token baseline…\n');
const db = new Database(path.join(dataDir, 'metadata.db'), { readonly: true });
const domainId = (JSON.parse((db.prepare("SELECT value FROM markers WHERE name = 'security-domain'").get() as { value: string }).value) as { domainId: string }).domainId;
const ids = (db.prepare('SELECT token_id FROM key_versions').all() as Array<{ token_id: Buffer }>).map((row) => row.token_id);
db.close();
const token = await openConfiguredToken(resolveConfig({ dataDir }, {}));
const wrappingKey = { id: Buffer.concat([Buffer.from('sd-wrap:'), Buffer.from(domainId, 'hex')]), spec: { type: 'aes', bits: 256 } as const };
const mechanism = { type: token.capabilities.aesKeyWrapPad as number };
// One pass to find every object (the server had their handles cached too), then the timed one.
for (const id of ids) await token.wrapKey(wrappingKey, mechanism, { id, spec: { type: 'aes', bits: 128 } });
const wrapStarted = performance.now();
const wrapped: Buffer[] = [];
for (const id of ids) wrapped.push(await token.wrapKey(wrappingKey, mechanism, { id, spec: { type: 'aes', bits: 128 } }));
const wrapSeconds = (performance.now() - wrapStarted) / 1000;
const unwrapStarted = performance.now();
const made = [];
for (const blob of wrapped) made.push(await token.unwrapKey(wrappingKey, mechanism, blob, { type: 'aes', bits: 128 }, { exportPolicy: 'wrap-with-trusted', label: 'bench-unwrap' }));
const unwrapSeconds = (performance.now() - unwrapStarted) / 1000;
await token.destroyLabelledObjectsWithIds('bench-unwrap', made.map((key) => key.id));
token.close();

const rate = (seconds: number) => Math.round(KEYS / seconds);
const rows: Array<Array<string | number>> = [
  ['create keys over HTTPS (context)', KEYS, createSeconds.toFixed(1), rate(createSeconds), '-'],
  ['full backup (job, to a local folder)', KEYS, backupSeconds.toFixed(1), rate(backupSeconds), `${backupStall} ms`],
  ['  baseline: raw token C_WrapKey of each key', KEYS, wrapSeconds.toFixed(1), rate(wrapSeconds), '-'],
  ['full restore (job, atomic)', KEYS, restoreSeconds.toFixed(1), rate(restoreSeconds), `${restoreStall} ms`],
  ['  baseline: raw token C_UnwrapKey of each key', KEYS, unwrapSeconds.toFixed(1), rate(unwrapSeconds), '-'],
];
console.log(`\nbench:backup — node ${process.version}, ${os.cpus().length} cores\n`);
console.log(formatTable(['operation', 'keys', 'seconds', 'keys/s', 'longest event-loop stall'], rows));
const goals = [
  backupSeconds < 30 ? 'backup under 30 s: yes' : `backup under 30 s: NO (${backupSeconds.toFixed(1)} s)`,
  Math.max(backupStall, restoreStall) <= 20 ? 'no stall over 20 ms: yes' : `no stall over 20 ms: NO (${Math.max(backupStall, restoreStall)} ms)`,
];
console.log(`\n${goals.join('\n')}`);
const dir = path.join(root, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const file = path.join(dir, `bench-backup-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify({ keys: KEYS, createSeconds, backupSeconds, backupStall, restoreSeconds, restoreStall, wrapSeconds, unwrapSeconds }, null, 2)}\n`);
console.log(`\nwritten: ${path.relative(process.cwd(), file)}`);
rmSync(dataDir, { recursive: true, force: true });
