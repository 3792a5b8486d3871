// bench:provider — RS256 and ES256 signatures through libmhsm-pkcs11.so (pkcs11js, one and 16
// sessions, a thread each) beside the same signatures over REST from Node (undici, one and 16 in
// flight), against one emulator in the same run, in alternating rounds. Each window runs in a
// process of its own (scripts/bench/provider-driver.ts), so that its CPU time is the client's.
// The library's added cost per call: its p50 and client CPU less the REST client's.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Pool } from 'undici';
import { PKCS11_LIBRARY } from '../src/cli/pkcs11-commands.js';
import { adminBearer } from './bench/admin-token.js';
import { percentile } from './bench/latency.js';
import { formatTable } from './bench/measure.js';
import { startBenchServer, stopBenchServer } from './bench/server-process.js';

const run = promisify(execFile);
const ROUND_MS = Number.parseInt(process.env.BENCH_MS ?? '', 10) || 1500;
const ROUNDS = Number.parseInt(process.env.BENCH_ROUNDS ?? '', 10) || 3;
const root = path.resolve(import.meta.dirname ?? '.', '..');

if (!existsSync(PKCS11_LIBRARY)) throw new Error(`${PKCS11_LIBRARY} is not built: npm run build:provider`);
const dataDir = path.join(os.tmpdir(), `mhsm-bench-provider-${process.pid}`);
rmSync(dataDir, { recursive: true, force: true });
mkdirSync(dataDir, { recursive: true, mode: 0o700 });
const server = await startBenchServer(dataDir);

try {
  const ca = readFileSync(path.join(dataDir, 'ca.pem'), 'utf8');
  const pool = new Pool(server.url, { connect: { ca } });
  const bearer = await adminBearer(pool, dataDir);
  for (const [name, body] of [
    ['bench-rsa', { kty: 'RSA-HSM', key_size: 2048 }],
    ['bench-ec', { kty: 'EC-HSM', crv: 'P-256' }],
  ] as const) {
    const response = await pool.request({ method: 'POST', path: `/keys/${name}/create?api-version=7.6`, headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` }, body: JSON.stringify(body) });
    if (response.statusCode !== 200) throw new Error(`create ${name}: ${response.statusCode} ${await response.body.text()}`);
    await response.body.dump();
  }
  await pool.close();
  const conf = path.join(dataDir, 'pkcs11.json');
  await run(process.execPath, [path.join(root, 'bin', 'mhsm.js'), 'pkcs11', 'config', '--data-dir', dataDir, '--out', conf]);

  interface Window {
    calls: number;
    errors: number;
    cpuMicros: number;
    seconds: number;
    latencies: number[];
  }
  const windowOf = async (via: 'library' | 'rest', op: 'RS256' | 'ES256', sessions: number): Promise<Window> => {
    const options = { via, sessions, ms: ROUND_MS, warmupMs: 400, op, key: op === 'RS256' ? 'bench-rsa' : 'bench-ec', library: PKCS11_LIBRARY, url: server.url, ca, bearer };
    const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(root, 'scripts', 'bench', 'provider-driver.ts'), JSON.stringify(options)], {
      env: { ...process.env, MHSM_PKCS11_CONF: conf },
      maxBuffer: 256 * 1024 * 1024,
    });
    return JSON.parse(stdout) as Window;
  };

  interface Cell {
    opsPerSecond: number;
    p50Us: number;
    p99Us: number;
    clientCpuUs: number;
    errors: number;
  }
  const cellOf = (windows: Window[]): Cell => {
    const latencies = windows.flatMap((w) => w.latencies).sort((a, b) => a - b);
    const calls = windows.reduce((n, w) => n + w.calls, 0);
    const seconds = windows.reduce((n, w) => n + w.seconds, 0);
    return {
      opsPerSecond: calls / seconds,
      p50Us: percentile(latencies, 50) * 1000,
      p99Us: percentile(latencies, 99) * 1000,
      clientCpuUs: windows.reduce((n, w) => n + w.cpuMicros, 0) / calls,
      errors: windows.reduce((n, w) => n + w.errors, 0),
    };
  };

  const rows: Array<Array<string | number>> = [];
  const added: Array<Array<string | number>> = [];
  const results: Record<string, unknown> = {};
  for (const op of ['RS256', 'ES256'] as const) {
    for (const sessions of [1, 16]) {
      const windows: Record<'library' | 'rest', Window[]> = { library: [], rest: [] };
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? (['library', 'rest'] as const) : (['rest', 'library'] as const);
        for (const via of order) windows[via].push(await windowOf(via, op, sessions));
      }
      const library = cellOf(windows.library);
      const rest = cellOf(windows.rest);
      results[`${op} ${sessions}`] = { library, rest };
      for (const [via, cell] of [['libmhsm-pkcs11.so', library], ['REST from Node', rest]] as const) {
        rows.push([op, sessions, via, cell.opsPerSecond, (cell.p50Us / 1000).toFixed(2), (cell.p99Us / 1000).toFixed(2), cell.clientCpuUs, cell.errors]);
      }
      added.push([op, sessions, library.p50Us - rest.p50Us, library.clientCpuUs - rest.clientCpuUs, (library.opsPerSecond / rest.opsPerSecond).toFixed(2)]);
      process.stderr.write(`measured: ${op}, ${sessions} session(s)\n`);
    }
  }
  const cpus = os.cpus();
  console.log(`\nbench:provider — node ${process.version}, ${cpus[0]?.model ?? 'cpu'} × ${cpus.length}; ${ROUNDS} alternating rounds of ${ROUND_MS} ms per cell; one emulator\n`);
  console.log(formatTable(['operation', 'sessions', 'via', 'ops/s', 'p50 ms', 'p99 ms', 'client CPU µs/call', 'errors'], rows));
  console.log('\nwhat the library adds per call, against the REST client in the same run:\n');
  console.log(formatTable(['operation', 'sessions', 'p50 added µs', 'client CPU added µs', 'ops/s library / REST'], added));
  const out = path.join(root, 'bench', 'results', `provider-${new Date().toISOString().replaceAll(':', '-')}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ roundMs: ROUND_MS, rounds: ROUNDS, results }, null, 2)}\n`);
  console.log(`\nwritten: ${path.relative(root, out)}`);
} finally {
  await stopBenchServer(server);
  rmSync(dataDir, { recursive: true, force: true });
}
