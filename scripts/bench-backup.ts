// npm run bench:backup — full backup and full restore of BENCH_BACKUP_KEYS keys (default 10,000)
// through the running emulator to a local folder: the backup; a restore over the HSM it was taken
// from after a tenth of its keys changed (purged and made again: those are unwrapped, the others'
// objects kept; the replaced token objects then go in the background, watched for up to
// BENCH_BACKUP_CLEANUP_SECONDS, default 120); and the disaster-recovery restore into a new HSM
// on a new token given the same security domain. Beside them, the raw token's own work for the
// same keys in the same run (C_WrapKey of each under the domain's key; C_UnwrapKey of each into a
// token object): seconds, keys/s, and the server's longest event-loop stall during each.
// Goals: backup of 10,000 keys under 30 s, no stall over 20 ms.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { Pool } from 'undici';
import { resolveConfig } from '../src/cli/config.js';
import { openConfiguredToken } from '../src/cli/open-token.js';
import { TOKEN_OBJECT_LABEL } from '../src/hsm/key-objects.js';
import { EmulatorCredential } from '../src/embed/credential.js';
import { ensureTls } from '../src/server/tls.js';
import { formatTable } from './bench/measure.js';
import { type BenchServer, eventLoopStall, startBenchServer, stopBenchServer } from './bench/server-process.js';

const KEYS = Number.parseInt(process.env.BENCH_BACKUP_KEYS ?? '', 10) || 10_000;
const CLEANUP_SECONDS = Number.parseInt(process.env.BENCH_BACKUP_CLEANUP_SECONDS ?? '', 10) || 120;
const API = 'api-version=7.6';
const root = path.resolve(import.meta.dirname, '..');
const work = path.join(os.tmpdir(), `mhsm-bench-backup-${process.pid}`);
const dirA = path.join(work, 'a');
const dirB = path.join(work, 'b');
const backups = path.join(work, 'backups');
for (const dir of [dirA, dirB, backups]) mkdirSync(dir, { recursive: true, mode: 0o700 });
const storageResourceUri = pathToFileURL(backups).href;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Hsm {
  server: BenchServer;
  api: (method: string, route: string, body?: unknown) => Promise<{ status: number; body: any }>;
  close: () => Promise<void>;
}

async function startHsm(dataDir: string, args: string[] = []): Promise<Hsm> {
  const { ca } = await ensureTls(dataDir, ['localhost']);
  const server = await startBenchServer(dataDir, (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean), ['--local-backup-root', backups, ...args]);
  const pool = new Pool(server.url, { connections: 64, connect: { ca } });
  const request = async (method: string, route: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await pool.request({ method: method as 'GET', path: route, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.body.text();
    return { status: response.statusCode, body: text ? JSON.parse(text) : undefined };
  };
  const admin = JSON.parse(readFileSync(path.join(dataDir, 'admin.json'), 'utf8')) as { tenantId: string; clientId: string; clientSecret: string };
  const bearer = (await new EmulatorCredential(server.url, admin, ca).getToken('https://managedhsm.azure.net/.default')).token;
  return {
    server,
    api: (method, route, body) => request(method, `${route}${route.includes('?') ? '&' : '?'}${API}`, body, { authorization: `Bearer ${bearer}` }),
    close: async () => {
      await pool.close();
      await stopBenchServer(server);
    },
  };
}

async function job(hsm: Hsm, kind: 'backup' | 'restore', started: { status: number; body: any }): Promise<any> {
  if (started.status !== 202) throw new Error(`${kind}: ${started.status} ${JSON.stringify(started.body)}`);
  for (;;) {
    const polled = await hsm.api('GET', `/${kind}/${started.body.jobId}/pending`);
    if (polled.body.endTime !== null) {
      if (polled.body.status !== 'Succeeded') throw new Error(`${kind} failed: ${JSON.stringify(polled.body.error)}`);
      return polled.body;
    }
    await sleep(100);
  }
}

/** Seconds a job takes, and the server's longest stall while it ran. */
async function timed(hsm: Hsm, run: () => Promise<unknown>): Promise<{ seconds: number; stall: number }> {
  await eventLoopStall(hsm.server);
  const started = performance.now();
  await run();
  const seconds = (performance.now() - started) / 1000;
  const stall = await eventLoopStall(hsm.server);
  process.stderr.write(`  ${seconds.toFixed(1)} s, longest stall ${stall} ms\n`);
  return { seconds, stall };
}

function mhsm(...args: string[]): void {
  execFileSync(process.execPath, [path.join(root, 'bin/mhsm.js'), ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}

// ---- HSM A: keys, backup, restore over itself ----------------------------------------------------
const a = await startHsm(dirA);
process.stderr.write(`creating ${KEYS} keys…\n`);
const createStarted = performance.now();
await Promise.all(
  Array.from({ length: 64 }, async (_, lane) => {
    for (let i = lane; i < KEYS; i += 64) {
      const reply = await a.api('POST', `/keys/bench-${i}/create`, { kty: 'oct-HSM', key_size: 128 });
      if (reply.status !== 200) throw new Error(`create: ${reply.status}`);
    }
  }),
);
const createSeconds = (performance.now() - createStarted) / 1000;
process.stderr.write(`  ${createSeconds.toFixed(1)} s\n`);
await sleep(3000); // let the WAL settle

process.stderr.write('full backup…\n');
let folder = '';
const backup = await timed(a, async () => {
  folder = ((await job(a, 'backup', await a.api('POST', '/backup', { storageResourceUri }))).azureStorageBlobContainerUri as string).split('/').pop() as string;
});
const restoreBody = { sasTokenParameters: { storageResourceUri }, folderToRestore: folder };

// A tenth of the keys changed since the backup: purged and made again (new material, new versions).
process.stderr.write('changing a tenth of the keys…\n');
const changed = Math.ceil(KEYS / 10);
await Promise.all(
  Array.from({ length: 16 }, async (_, lane) => {
    for (let i = lane; i < changed; i += 16) {
      const name = `bench-${i * 10}`;
      for (const [method, route, body] of [['DELETE', `/keys/${name}`], ['DELETE', `/deletedkeys/${name}`], ['POST', `/keys/${name}/create`, { kty: 'oct-HSM', key_size: 128 }]] as const) {
        const reply = await a.api(method, route, body);
        if (reply.status >= 300) throw new Error(`${method} ${route}: ${reply.status}`);
      }
    }
  }),
);
process.stderr.write('full restore over the same HSM…\n');
const inPlace = await timed(a, async () => job(a, 'restore', await a.api('PUT', '/restore', restoreBody)));
process.stderr.write(`removing the replaced token objects in the background (watched up to ${CLEANUP_SECONDS} s)…\n`);
const cleanupStarted = performance.now();
let left = 0;
let signs = 0;
await eventLoopStall(a.server);
for (;;) {
  left = (await a.api('GET', '/emulator/status')).body.counts.versionsBeingRemoved as number;
  if (left === 0 || performance.now() - cleanupStarted > CLEANUP_SECONDS * 1000) break;
  // The HSM serves meanwhile: a crypto call on a restored key.
  const sealed = await a.api('POST', `/keys/bench-${signs % KEYS}/encrypt`, { alg: 'A128GCM', value: 'AAAA' });
  if (sealed.status !== 200) throw new Error(`encrypt during the clean-up: ${sealed.status}`);
  signs++;
  await sleep(200);
}
const cleanupSeconds = (performance.now() - cleanupStarted) / 1000;
const cleanupStall = await eventLoopStall(a.server);
process.stderr.write(`  ${cleanupSeconds.toFixed(1)} s, ${left} left, longest stall ${cleanupStall} ms\n`);
const listed = await a.api('GET', '/keys?maxresults=25');
if (listed.body.value.length !== 25) throw new Error('the restored HSM does not list its keys');
await a.close();

// ---- HSM B: a new token given A's domain, restoring A's backup ---------------------------------
process.stderr.write('disaster recovery: a new HSM given the same domain…\n');
const b = await startHsm(dirB, ['--manual-activation']);
const ceremony = path.join(dirA, 'security-domain');
mhsm('sd', 'transfer-key', '--out', path.join(work, 'transfer.pem'), '--data-dir', dirB);
mhsm('sd', 'restore-blob', '--sd-file', path.join(ceremony, 'security-domain.json'), '--key', path.join(ceremony, 'sd-key-1.pem'), '--key', path.join(ceremony, 'sd-key-2.pem'), '--transfer-key', path.join(work, 'transfer.pem'), '--out', path.join(work, 'blob.json'));
mhsm('sd', 'upload', '--blob', path.join(work, 'blob.json'), '--data-dir', dirB);
const recovery = await timed(b, async () => job(b, 'restore', await b.api('PUT', '/restore', restoreBody)));
const countsB = (await b.api('GET', '/emulator/status')).body.counts as { keys: number };
if (countsB.keys !== KEYS) throw new Error(`the new HSM holds ${countsB.keys} keys after the restore, not ${KEYS}`);
await b.close();

// ---- The raw token's own work for the same keys, on B's token ----------------------------------
process.stderr.write('raw token baseline…\n');
const db = new Database(path.join(dirB, 'metadata.db'), { readonly: true });
const domainId = (JSON.parse((db.prepare("SELECT value FROM markers WHERE name = 'security-domain'").get() as { value: string }).value) as { domainId: string }).domainId;
const ids = db.prepare('SELECT token_id FROM key_versions WHERE generation = (SELECT current FROM key_generation)').pluck().all() as Buffer[];
db.close();
const token = await openConfiguredToken(resolveConfig({ dataDir: dirB }, {}));
const wrappingKey = { id: Buffer.concat([Buffer.from('sd-wrap:'), Buffer.from(domainId, 'hex')]), spec: { type: 'aes', bits: 256 } as const };
const mechanism = { type: token.capabilities.aesKeyWrapPad as number };
// One search finds every object (the server had their handles too), then the timed pass.
await token.keyIdsLabelled(TOKEN_OBJECT_LABEL);
const wrapStarted = performance.now();
const wrapped: Buffer[] = [];
for (const id of ids) wrapped.push(await token.wrapKey(wrappingKey, mechanism, { id, spec: { type: 'aes', bits: 128 } }));
const wrapSeconds = (performance.now() - wrapStarted) / 1000;
const unwrapStarted = performance.now();
for (const blob of wrapped) await token.unwrapKey(wrappingKey, mechanism, blob, { type: 'aes', bits: 128 }, { exportPolicy: 'wrap-with-trusted', label: 'bench-unwrap' });
const unwrapSeconds = (performance.now() - unwrapStarted) / 1000;
token.close();

const rate = (seconds: number) => Math.round(KEYS / seconds);
const removed = changed - left;
const rows: Array<Array<string | number>> = [
  ['create keys over HTTPS (context)', KEYS, createSeconds.toFixed(1), rate(createSeconds), '-'],
  ['full backup (job, to a local folder)', KEYS, backup.seconds.toFixed(1), rate(backup.seconds), `${backup.stall} ms`],
  ['  baseline: raw token C_WrapKey of each key', KEYS, wrapSeconds.toFixed(1), rate(wrapSeconds), '-'],
  ['full restore into a new HSM (job, atomic)', KEYS, recovery.seconds.toFixed(1), rate(recovery.seconds), `${recovery.stall} ms`],
  ['full restore over the same HSM, a tenth changed (job, atomic)', KEYS, inPlace.seconds.toFixed(1), rate(inPlace.seconds), `${inPlace.stall} ms`],
  [`  then: replaced objects destroyed in the background${left > 0 ? ` (${left} left when stopped)` : ''}`, removed, cleanupSeconds.toFixed(1), Math.round(removed / cleanupSeconds), `${cleanupStall} ms`],
  ['  baseline: raw token C_UnwrapKey of each key', KEYS, unwrapSeconds.toFixed(1), rate(unwrapSeconds), '-'],
];
console.log(`\nbench:backup — node ${process.version}, ${os.cpus().length} cores\n`);
console.log(formatTable(['operation', 'keys', 'seconds', 'keys/s', 'longest event-loop stall'], rows));
const stalls = [backup.stall, recovery.stall, inPlace.stall, cleanupStall];
const goals = [
  backup.seconds < 30 ? 'backup under 30 s: yes' : `backup under 30 s: NO (${backup.seconds.toFixed(1)} s)`,
  Math.max(...stalls) <= 20 ? 'no stall over 20 ms: yes' : `no stall over 20 ms: NO (${Math.max(...stalls)} ms)`,
];
console.log(`\n${goals.join('\n')}`);
const dir = path.join(root, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const file = path.join(dir, `bench-backup-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify({ keys: KEYS, createSeconds, backup, recovery, inPlace, cleanupSeconds, cleanupLeft: left, cleanupStall, wrapSeconds, unwrapSeconds }, null, 2)}\n`);
console.log(`\nwritten: ${path.relative(process.cwd(), file)}`);
rmSync(work, { recursive: true, force: true });
