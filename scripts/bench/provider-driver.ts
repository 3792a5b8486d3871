// One window of bench:provider, in a process of its own so that its CPU time is the client's
// alone: SESSIONS sessions signing back to back for MS milliseconds, through libmhsm-pkcs11.so
// (pkcs11js, one worker thread a session: PKCS#11 calls block) or over REST (undici, one
// connection a lane). Prints {calls, errors, cpuMicros, seconds, latencies} as JSON.
// tsx scripts/bench/provider-driver.ts '{"via":"library"|"rest","sessions":16,"ms":1500,"op":"ES256",...}'
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { Pool } from 'undici';
import { digestInfo } from '../../src/hsm/algorithms/digest-info.js';

interface DriverOptions {
  via: 'library' | 'rest';
  sessions: number;
  ms: number;
  warmupMs: number;
  op: 'RS256' | 'ES256';
  key: string;
  library: string;
  url: string;
  ca: string;
  bearer: string;
}

const options = JSON.parse(process.argv[2] ?? '{}') as DriverOptions;
const digest = createHash('sha256').update('bench:provider').digest();

// A worker per session: it signs until the deadline the main thread sets, after a warm-up.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const pkcs11js = require(workerData.pkcs11js);
const p11 = new pkcs11js.PKCS11();
p11.load(workerData.library);
try { p11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK }); } catch (e) { if (!/ALREADY_INITIALIZED/.test(e.message)) throw e; }
const [slot] = p11.C_GetSlotList(true);
const session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
p11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, { type: pkcs11js.CKA_LABEL, value: workerData.key }]);
const [key] = p11.C_FindObjects(session, 1);
p11.C_FindObjectsFinal(session);
const rsa = workerData.op === 'RS256';
const mechanism = { mechanism: rsa ? pkcs11js.CKM_RSA_PKCS : pkcs11js.CKM_ECDSA };
const input = Buffer.from(workerData.input, 'hex');
const out = Buffer.alloc(rsa ? 256 : 64);
const sign = () => { p11.C_SignInit(session, mechanism, key); p11.C_Sign(session, input, out); };
const gate = new Int32Array(workerData.gate);
let end = Date.now() + workerData.warmupMs;
while (Date.now() < end) sign();
parentPort.postMessage({ ready: true });
Atomics.wait(gate, 0, 0);
const latencies = [];
let errors = 0;
end = performance.now() + workerData.ms;
while (performance.now() < end) {
  const begun = performance.now();
  try { sign(); latencies.push(performance.now() - begun); } catch { errors++; }
}
p11.C_CloseSession(session);
parentPort.postMessage({ latencies, errors });
`;

async function viaLibrary(): Promise<unknown> {
  const gate = new SharedArrayBuffer(4);
  const input = (options.op === 'RS256' ? digestInfo('sha256', digest) : digest).toString('hex');
  const pkcs11js = createRequire(import.meta.url).resolve('pkcs11js');
  const workers = Array.from({ length: options.sessions }, () => new Worker(WORKER, { eval: true, workerData: { ...options, input, gate, pkcs11js } }));
  const results = workers.map(
    (worker) =>
      new Promise<{ latencies: number[]; errors: number }>((resolve, reject) => {
        worker.on('message', (message: { ready?: boolean; latencies?: number[]; errors?: number }) => {
          if (!message.ready) resolve(message as { latencies: number[]; errors: number });
        });
        worker.once('error', reject);
      }),
  );
  await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('message', resolve))));
  const cpu = process.cpuUsage();
  const started = performance.now();
  Atomics.store(new Int32Array(gate), 0, 1);
  Atomics.notify(new Int32Array(gate), 0);
  const done = await Promise.all(results);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await Promise.all(workers.map((worker) => worker.terminate()));
  const latencies = done.flatMap((d) => d.latencies);
  return { calls: latencies.length, errors: done.reduce((n, d) => n + d.errors, 0), cpuMicros: used.user + used.system, seconds, latencies };
}

async function viaRest(): Promise<unknown> {
  const pool = new Pool(options.url, { connections: options.sessions, pipelining: 1, connect: { ca: options.ca } });
  const body = JSON.stringify({ alg: options.op, value: digest.toString('base64url') });
  const sign = async () => {
    const response = await pool.request({ method: 'POST', path: `/keys/${options.key}/sign?api-version=7.6`, headers: { 'content-type': 'application/json', authorization: `Bearer ${options.bearer}` }, body });
    const text = await response.body.text();
    if (response.statusCode !== 200) throw new Error(`${response.statusCode} ${text}`);
    return JSON.parse(text);
  };
  const lanes = async (ms: number, latencies?: number[]) => {
    let errors = 0;
    const deadline = performance.now() + ms;
    await Promise.all(
      Array.from({ length: options.sessions }, async () => {
        while (performance.now() < deadline) {
          const begun = performance.now();
          try {
            await sign();
            latencies?.push(performance.now() - begun);
          } catch {
            errors++;
          }
        }
      }),
    );
    return errors;
  };
  await lanes(options.warmupMs);
  const latencies: number[] = [];
  const cpu = process.cpuUsage();
  const started = performance.now();
  const errors = await lanes(options.ms, latencies);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await pool.close();
  return { calls: latencies.length, errors, cpuMicros: used.user + used.system, seconds, latencies };
}

process.stdout.write(JSON.stringify(await (options.via === 'library' ? viaLibrary() : viaRest())));
