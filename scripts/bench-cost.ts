// bench:cost — what the server adds to each request, measured by its own CPU time: for each
// operation at 1 and 16 in flight, the emulator's CPU µs per request (/proc, all its threads),
// the token's own CPU per operation on the same kind of key (the same PKCS#11 calls straight
// through pkcs11js), the difference, and that difference against a bare fastify HTTPS server
// with the same certificate and TLS settings, measured in alternating rounds in the same cell.
// Then with 10,000 more keys: key GET, signing and list pages; restart time; and how long each
// request holds the JS thread at a stretch. Prints tables and writes JSON under bench/results/.
import { type ChildProcess, spawn } from 'node:child_process';
import { constants, createHash, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { type BenchServer, reportOnSignal, startBenchServer, stopBenchServer } from './bench/server-process.js';
import { formatTable } from './bench/measure.js';
import { percentile } from './bench/latency.js';
import { processCpuMicros } from './bench/process-cpu.js';
import { adminBearer } from './bench/admin-token.js';
import { TokenBaseline } from './bench/token-baseline.js';
import type { SyncSpanReport } from '../src/server/sync-spans.js';

const ROUND_MS = Number.parseInt(process.env.BENCH_MS ?? '', 10) || 1000;
const ROUNDS = Number.parseInt(process.env.BENCH_ROUNDS ?? '', 10) || 3;
const SCALE_KEYS = Number.parseInt(process.env.BENCH_SCALE_KEYS ?? '', 10) || 10_000;
const LEVELS = [1, 16] as const;
const API = 'api-version=7.6';
const TARGET_RATIO = 1.5;
const root = path.resolve(import.meta.dirname ?? '.', '..');
const only = process.env.BENCH_ONLY;
// BENCH_SERVER_NODE_ARGS: extra node flags for the emulator, for example --cpu-prof.
const serverNodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
// The service's 5,000-key limit, raised for the scale run.
const serverArgs = ['--service-limit', 'keys=100000'];

const dataDir = path.join(os.tmpdir(), `mhsm-bench-cost-${process.pid}`);
rmSync(dataDir, { recursive: true, force: true });
mkdirSync(dataDir, { recursive: true, mode: 0o700 });

// ---- Servers and clients -----------------------------------------------------------------------

// A run that fails part-way takes its servers with it.
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
const track = (started: BenchServer) => {
  children.add(started.child);
  return started;
};

function startBare(host: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'scripts', 'bench', 'bare-server.ts'), dataDir, host], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (https:\/\/\S+)/.exec(output);
      if (match) resolve({ child, url: match[1] as string });
    });
    child.once('exit', (code) => reject(new Error(`the bare server exited (${code}): ${output}`)));
  });
}

interface Target {
  pid: number;
  pool: Pool;
}

const ca = () => readFileSync(path.join(dataDir, 'ca.pem'), 'utf8');
const poolFor = (url: string) => new Pool(url, { connections: 16, pipelining: 1, connect: { ca: ca() } });

async function send(pool: Pool, method: 'GET' | 'POST', route: string, body?: unknown, bearer?: string): Promise<unknown> {
  const response = await pool.request({
    method,
    path: route,
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.body.text();
  if (response.statusCode >= 300) throw new Error(`${method} ${route}: ${response.statusCode} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

const bearerFor = (pool: Pool) => adminBearer(pool, dataDir);

// ---- Measurement -------------------------------------------------------------------------------

interface Window {
  requests: number;
  errors: number;
  cpuMicros: number;
  seconds: number;
  latencies: number[];
}

/** `inFlight` lanes back to back for `ms`; the server's CPU from before the first to after the last. */
async function measureWindow(target: Target, operation: (lane: number) => Promise<unknown>, inFlight: number, ms: number): Promise<Window> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: unknown;
  const cpuBefore = processCpuMicros(target.pid);
  const started = performance.now();
  const deadline = started + ms;
  await Promise.all(
    Array.from({ length: inFlight }, async (_, lane) => {
      while (performance.now() < deadline) {
        const begun = performance.now();
        try {
          await operation(lane);
          latencies.push(performance.now() - begun);
        } catch (error) {
          errors++;
          firstError ??= error;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpuMicros = processCpuMicros(target.pid) - cpuBefore;
  if (errors > 0) process.stderr.write(`errors: ${errors}, the first: ${(firstError as Error).message}\n`);
  return { requests: latencies.length, errors, cpuMicros, seconds, latencies };
}

interface Cell {
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  requests: number;
  cpuMicrosPerRequest: number;
}

function combine(windows: Window[]): Cell {
  const latencies = windows.flatMap((w) => w.latencies).sort((a, b) => a - b);
  const requests = windows.reduce((sum, w) => sum + w.requests, 0);
  return {
    opsPerSecond: requests / windows.reduce((sum, w) => sum + w.seconds, 0),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    errors: windows.reduce((sum, w) => sum + w.errors, 0),
    requests,
    cpuMicrosPerRequest: windows.reduce((sum, w) => sum + w.cpuMicros, 0) / requests,
  };
}

/** Contenders measured in alternating rounds after a warm-up each, so that drift hits them alike. */
async function measureCell(contenders: Array<{ target: Target; operation: (lane: number) => Promise<unknown> }>, inFlight: number): Promise<Cell[]> {
  for (const { target, operation } of contenders) await measureWindow(target, operation, inFlight, 500);
  const windows: Window[][] = contenders.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    const order = contenders.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    for (const i of order) {
      const contender = contenders[i] as (typeof contenders)[number];
      windows[i]?.push(await measureWindow(contender.target, contender.operation, inFlight, ROUND_MS));
    }
  }
  return windows.map(combine);
}

// ---- The run -----------------------------------------------------------------------------------

let server: BenchServer = track(await startBenchServer(dataDir, serverNodeArgs, serverArgs));
const freshStartMs = server.startedInMs;
const host = new URL(server.url).hostname;
const bare = await startBare(host);
const barePool = poolFor(bare.url);
let pool = poolFor(server.url);
let emulator: Target = { pid: server.child.pid as number, pool };
const bareTarget: Target = { pid: bare.child.pid as number, pool: barePool };
let bearer = await bearerFor(pool);
const api = (method: 'GET' | 'POST', route: string, body?: unknown) => send(emulator.pool, method, route, body, bearer);

const rsa = (await api('POST', `/keys/bench-rsa/create?${API}`, { kty: 'RSA-HSM', key_size: 2048 })) as { key: { n: string; e: string } };
await api('POST', `/keys/bench-ec/create?${API}`, { kty: 'EC-HSM', crv: 'P-256' });
await api('POST', `/keys/bench-oct/create?${API}`, { kty: 'oct-HSM', key_size: 256 });
// Seven more, so that the store holds 10 keys; key GET reads these in turn.
const FEW = 7;
for (let i = 0; i < FEW; i++) await api('POST', `/keys/few-${i}/create?${API}`, { kty: 'oct-HSM', key_size: 128 });

const rsaPublic = createPublicKey({ key: { kty: 'RSA', n: rsa.key.n, e: rsa.key.e }, format: 'jwk' });
const b64 = (value: Buffer) => value.toString('base64url');
const digest = b64(createHash('sha256').update('bench').digest());
const kib = b64(Buffer.alloc(1024, 0x61));
const oaep = b64(publicEncrypt({ key: rsaPublic, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from('bench secret')));
const cek = b64(randomBytes(32));
let created = 0;
let getIndex = 0;
let getAmong = (): string => `few-${getIndex++ % FEW}`;

interface Operation {
  name: string;
  /** The token's share, from token-baseline.ts; none for operations that do not reach the token. */
  baseline?: string;
  run: () => Promise<unknown>;
  /** Judged against the target (key creation is not). */
  judged: boolean;
}

const operations: Operation[] = [
  { name: 'key GET', judged: true, run: () => api('GET', `/keys/${getAmong()}?${API}`) },
  { name: 'RS256 sign', baseline: 'RS256 sign', judged: true, run: () => api('POST', `/keys/bench-rsa/sign?${API}`, { alg: 'RS256', value: digest }) },
  { name: 'ES256 sign', baseline: 'ES256 sign', judged: true, run: () => api('POST', `/keys/bench-ec/sign?${API}`, { alg: 'ES256', value: digest }) },
  { name: 'A256GCM encrypt 1 KiB', baseline: 'A256GCM encrypt 1 KiB', judged: true, run: () => api('POST', `/keys/bench-oct/encrypt?${API}`, { alg: 'A256GCM', value: kib }) },
  { name: 'RSA-OAEP-256 decrypt', baseline: 'RSA-OAEP-256 decrypt', judged: true, run: () => api('POST', `/keys/bench-rsa/decrypt?${API}`, { alg: 'RSA-OAEP-256', value: oaep }) },
  { name: 'wrapKey RSA-OAEP-256', baseline: 'wrapKey RSA-OAEP-256', judged: true, run: () => api('POST', `/keys/bench-rsa/wrapkey?${API}`, { alg: 'RSA-OAEP-256', value: cek }) },
  { name: 'wrapKey A256KW', baseline: 'wrapKey A256KW', judged: true, run: () => api('POST', `/keys/bench-oct/wrapkey?${API}`, { alg: 'A256KW', value: cek }) },
  { name: 'list keys (10 keys)', judged: true, run: () => api('GET', `/keys?${API}`) },
  // Last: it adds keys, and the rows above are of a store with 10.
  { name: 'key create EC', baseline: 'key create EC', judged: false, run: () => api('POST', `/keys/made-${created++}/create?${API}`, { kty: 'EC-HSM', crv: 'P-256' }) },
];
const chosen = operations.filter((o) => !only || o.name.startsWith(only));

// The token's own work, on token objects in this process, before any request is measured.
process.env.SOFTHSM2_CONF = path.join(dataDir, 'softhsm', 'softhsm2.conf');
const pins = JSON.parse(readFileSync(path.join(dataDir, 'softhsm', 'pins.json'), 'utf8')) as { label: string; userPin: string };
const baseline = new TokenBaseline({ modulePath: '/usr/lib/softhsm/libsofthsm2.so', label: pins.label, pin: pins.userPin });
const tokenMicros = new Map<string, number>();
for (const operation of chosen) {
  if (operation.baseline) tokenMicros.set(operation.baseline, baseline.cpuMicrosPerOperation(operation.baseline));
}
baseline.close();
process.stderr.write('measured: the token baselines\n');

const bareSign = () => send(barePool, 'POST', '/keys/bench-ec/sign', { alg: 'ES256', value: digest });
const fmt = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
const table: Array<Array<string | number>> = [];
const results: Array<Record<string, unknown>> = [];
const at16 = new Map<string, Cell>();
for (const operation of chosen) {
  for (const inFlight of LEVELS) {
    const [cell, bareCell] = (await measureCell([{ target: emulator, operation: operation.run }, { target: bareTarget, operation: bareSign }], inFlight)) as [Cell, Cell];
    const token = operation.baseline ? (tokenMicros.get(operation.baseline) ?? 0) : 0;
    const added = cell.cpuMicrosPerRequest - token;
    const ratio = added / bareCell.cpuMicrosPerRequest;
    if (inFlight === 16) at16.set(operation.name, cell);
    table.push([
      operation.name,
      inFlight,
      cell.opsPerSecond,
      fmt(cell.p50Ms),
      fmt(cell.p99Ms),
      fmt(cell.cpuMicrosPerRequest, 0),
      operation.baseline ? fmt(token, 0) : '0',
      fmt(added, 0),
      fmt(bareCell.cpuMicrosPerRequest, 0),
      fmt(ratio),
      operation.judged ? (ratio <= TARGET_RATIO ? 'yes' : 'NO') : '(not judged)',
      cell.errors,
    ]);
    results.push({ operation: operation.name, inFlight, emulator: cell, bare: bareCell, tokenMicrosPerOperation: token, addedMicros: added, ratioToBare: ratio, judged: operation.judged });
    process.stderr.write(`measured: ${operation.name}, ${inFlight} in flight\n`);
  }
}

console.log(`\nbench:cost — node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}; server CPU from /proc over ${ROUNDS} rounds of ${ROUND_MS} ms per cell, the bare server in alternating rounds of the same cell\n`);
console.log(
  formatTable(
    ['operation', 'in flight', 'ops/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'token CPU µs/op', 'added µs', 'bare HTTPS µs/req', 'added / bare', `≤ ${TARGET_RATIO}`, 'errors'],
    table,
  ),
);
console.log('\ntoken CPU: the same PKCS#11 calls through pkcs11js, one at a time in the benchmark\'s process. added: server CPU minus token CPU.');

// ---- 10,000 more keys --------------------------------------------------------------------------

const scale: Array<Array<string | number>> = [];
const scaleResults: Record<string, unknown> = {};
if (!only) {
  const createStarted = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < SCALE_KEYS) await api('POST', `/keys/scale-${next++}/create?${API}`, { kty: 'oct-HSM', key_size: 128 });
    }),
  );
  const createSeconds = (performance.now() - createStarted) / 1000;
  // The WAL checkpointer folds the bulk creation into the database for a while after it.
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const stored = 3 + FEW + created + SCALE_KEYS;
  getAmong = () => `scale-${getIndex++ % SCALE_KEYS}`;
  // Page 400 of 25 (or the last, of fewer keys): its skip token, by walking the pages as a client does.
  const lastPage = Math.min(400, Math.floor(stored / 25));
  let page400 = `/keys?${API}&maxresults=25`;
  for (let page = 1; page < lastPage; page++) {
    const { nextLink } = (await api('GET', page400)) as { nextLink: string | null };
    if (!nextLink) throw new Error(`only ${page} pages of 25`);
    page400 = new URL(nextLink).pathname + new URL(nextLink).search;
  }
  const again = async (name: string, run: () => Promise<unknown>, compareWith?: string) => {
    const [cell] = (await measureCell([{ target: emulator, operation: run }], 16)) as [Cell];
    const before = compareWith ? at16.get(compareWith) : undefined;
    const change = before ? cell.cpuMicrosPerRequest / before.cpuMicrosPerRequest - 1 : undefined;
    scale.push([name, fmt(cell.cpuMicrosPerRequest, 0), before ? fmt(before.cpuMicrosPerRequest, 0) : '', change === undefined ? '' : `${(change * 100).toFixed(1)} %`, fmt(cell.p50Ms)]);
    scaleResults[name] = { cell, tenKeys: before, change };
    return cell;
  };
  const byName = (name: string) => operations.find((o) => o.name === name) as Operation;
  await again(`key GET among ${stored} keys`, byName('key GET').run, 'key GET');
  await again(`ES256 sign with ${stored} keys`, byName('ES256 sign').run, 'ES256 sign');
  await again(`RS256 sign with ${stored} keys`, byName('RS256 sign').run, 'RS256 sign');
  const first = await again('list keys, page 1 of 25', () => api('GET', `/keys?${API}&maxresults=25`));
  const last = await again(`list keys, page ${lastPage} of 25`, () => api('GET', page400));
  scale.push([`page ${lastPage} / page 1`, fmt(last.cpuMicrosPerRequest / first.cpuMicrosPerRequest), '', '', '']);
  scaleResults.created = { keys: SCALE_KEYS, seconds: createSeconds };
  process.stderr.write('measured: the scale run\n');

  // Restart with them.
  await stopBenchServer(server);
  server = track(await startBenchServer(dataDir, serverNodeArgs, serverArgs));
  scaleResults.restartMs = server.startedInMs;
  scale.push([`restart with ${stored} keys, until listening`, `${fmt(scaleResults.restartMs as number, 0)} ms`, '', '', '']);
  scale.push(['fresh start of a new data directory, until listening', `${fmt(freshStartMs, 0)} ms`, '', '', '']);
}
// Stopped, not killed: a server run with --cpu-prof writes its profile on the way out.
await stopBenchServer(server);
await emulator.pool.close();

// ---- How long each request holds the JS thread -------------------------------------------------

async function syncSpans(target: BenchServer): Promise<SyncSpanReport> {
  const match = await reportOnSignal(target, /sync spans: (\{.*\})/);
  if (!match) throw new Error('the emulator did not report its sync spans');
  return JSON.parse(match[1] as string);
}
server = track(await startBenchServer(dataDir, [], serverArgs, { MHSM_REPORT_SYNC_SPANS: '1' }));
pool = poolFor(server.url);
emulator = { pid: server.child.pid as number, pool };
bearer = await bearerFor(pool);
const spans: Array<Array<string | number>> = [];
const spanResults: Array<Record<string, unknown>> = [];
for (const operation of chosen) {
  for (const inFlight of LEVELS) {
    await measureWindow(emulator, operation.run, inFlight, 300);
    await syncSpans(server);
    await measureWindow(emulator, operation.run, inFlight, ROUND_MS);
    const report = await syncSpans(server);
    spans.push([operation.name, inFlight, report.requests, fmt(report.p99Ms), fmt(report.maxMs), report.maxRoute, report.over5Ms]);
    spanResults.push({ operation: operation.name, inFlight, ...report });
  }
}
await stopBenchServer(server);
await emulator.pool.close();
bare.child.kill('SIGTERM');
await barePool.close();

if (scale.length > 0) {
  console.log(`\nwith ${SCALE_KEYS} more keys (16 in flight; created through the API in ${fmt((scaleResults.created as { seconds: number }).seconds, 1)} s)\n`);
  console.log(formatTable(['measure', 'server CPU µs/req', 'with 10 keys', 'change', 'p50 ms'], scale));
}
console.log('\nhow long one request holds the JS thread at a stretch (its longest run of callbacks with nothing else in between; measured with async hooks, which slow every request)\n');
console.log(formatTable(['operation', 'in flight', 'requests', 'p99 ms', 'max ms', 'max on', 'over 5 ms'], spans));

const resultsDir = path.join(root, 'bench', 'results');
mkdirSync(resultsDir, { recursive: true });
const file = path.join(resultsDir, `cost-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  `${JSON.stringify({ benchmark: 'cost', date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, roundMs: ROUND_MS, rounds: ROUNDS, freshStartMs, results, scale: scaleResults, syncSpans: spanResults }, null, 2)}\n`,
);
console.log(`\nwritten: ${path.relative(process.cwd(), file)}`);
rmSync(dataDir, { recursive: true, force: true });
