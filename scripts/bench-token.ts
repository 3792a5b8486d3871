// bench:token — our addon against pkcs11js on the same SoftHSM2 token, same operations, one run.
// Prints a table (ops/s, ratio ours/pkcs11js) and writes JSON under bench/results/.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { digestInfo } from '../src/hsm/algorithms/digest-info.js';
import type { NativeMechanism } from '../src/native/addon.js';
import { toNativeTemplate } from '../src/token/attributes.js';
import { CKF, CKM, CKO } from '../src/token/constants.js';
import type { CallCost } from '../src/token/call-scheduler.js';
import { costOf } from '../src/token/call-cost.js';
import { provisionEmbeddedToken } from '../src/token/embedded-softhsm.js';
import type { TokenKey } from '../src/token/key-spec.js';
import { acquireModule, releaseModule } from '../src/token/module-registry.js';
import { Token } from '../src/token/token.js';
import { type Contender, compare, formatTable } from './bench/measure.js';

const require = createRequire(import.meta.url);
const pkcs11js = require('pkcs11js') as typeof import('pkcs11js');

const WORKER_THREADS = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10) || 4;
const ROUNDS = Number.parseInt(process.env.BENCH_ROUNDS ?? '', 10) || 15;
const DURATION_MS = Number.parseInt(process.env.BENCH_MS ?? '', 10) || 200;

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-bench-'));
const embedded = await provisionEmbeddedToken(dataDir);
const token = await Token.open({ modulePath: embedded.modulePath, label: embedded.label, pin: embedded.pin, sessions: WORKER_THREADS });
const ours = acquireModule(embedded.modulePath);
const slot = token.description.slot;

// pkcs11js loads the same library; it is initialised already, which pkcs11js reports as an error.
const peer = new pkcs11js.PKCS11();
peer.load(embedded.modulePath);
try {
  peer.C_Initialize();
} catch (error) {
  if (!String((error as Error).message).includes('CKR_CRYPTOKI_ALREADY_INITIALIZED')) throw error;
}
const peerSlot = peer.C_GetSlotList(true).find((s) => peer.C_GetTokenInfo(s).label.trim() === embedded.label);
if (!peerSlot) throw new Error('pkcs11js cannot see the token');

const peerSessions = Array.from({ length: WORKER_THREADS }, () => peer.C_OpenSession(peerSlot, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION));
const lane = <T>(items: T[], index: number): T => items[index % items.length] as T;

function peerHandle(objectClass: number, id: Buffer): Buffer {
  const session = lane(peerSessions, 0);
  peer.C_FindObjectsInit(session, [
    { type: pkcs11js.CKA_CLASS, value: objectClass },
    { type: pkcs11js.CKA_ID, value: id },
  ]);
  const [handle] = peer.C_FindObjects(session, 1);
  peer.C_FindObjectsFinal(session);
  if (!handle) throw new Error('pkcs11js: object not found');
  return handle;
}

// Keys as the product stores them: token objects made by the token layer.
const rsa = await token.generateKey({ type: 'rsa', bits: 2048 });
const ec = await token.generateKey({ type: 'ec', curve: 'P-256' });
const aes = await token.generateKey({ type: 'aes', bits: 256 });
const kek = await token.generateKey({ type: 'aes', bits: 256 }, { usages: ['wrap', 'unwrap'] });
// The wrapped key must be extractable, which the token layer never makes outside wrap-with-trusted.
const targetId = Buffer.from('bench-wrap-target');
const setupSession = ours.openSession(slot, CKF.RW_SESSION);
await ours.generateKey(setupSession, { type: CKM.AES_KEY_GEN }, toNativeTemplate({
  class: CKO.SECRET_KEY, token: true, private: true, sensitive: true, extractable: true, valueLen: 32, id: targetId,
}));
ours.closeSession(setupSession);
const target: TokenKey = { id: targetId, spec: { type: 'aes', bits: 256 } };

const hash = createHash('sha256').update('bench').digest();
const digestInfoSha256 = digestInfo('sha256', hash);
const kib = Buffer.alloc(1024, 0x42);
const iv = Buffer.alloc(12, 7);
const kwp = token.capabilities.aesKeyWrapPad ?? CKM.AES_KEY_WRAP_PAD;

interface Row {
  operation: string;
  cost: CallCost;
  /** The operation through the token layer: handle cache, session pool, cheap calls inline or batched. */
  ours: () => Promise<unknown>;
  peerSync: (session: Buffer, out: Buffer) => unknown;
  peerAsync: (session: Buffer, out: Buffer) => Promise<unknown>;
}

const rsaPriv = peerHandle(CKO.PRIVATE_KEY, rsa.id);
const ecPriv = peerHandle(CKO.PRIVATE_KEY, ec.id);
const aesKey = peerHandle(CKO.SECRET_KEY, aes.id);
const kekKey = peerHandle(CKO.SECRET_KEY, kek.id);
const targetKey = peerHandle(CKO.SECRET_KEY, targetId);

const gcm: NativeMechanism = { type: CKM.AES_GCM, gcm: { iv, tagBits: 128 } };
const peerGcm = { mechanism: pkcs11js.CKM_AES_GCM, parameter: { type: pkcs11js.CK_PARAMS_AES_GCM_v240, iv, ivBits: 96, tagBits: 128 } };
const peerAesTemplate = [
  { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
  { type: pkcs11js.CKA_TOKEN, value: false },
  { type: pkcs11js.CKA_PRIVATE, value: true },
  { type: pkcs11js.CKA_SENSITIVE, value: true },
  { type: pkcs11js.CKA_EXTRACTABLE, value: false },
  { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
  { type: pkcs11js.CKA_ENCRYPT, value: true },
  { type: pkcs11js.CKA_DECRYPT, value: true },
];

const rows: Row[] = [
  {
    operation: 'RSA-2048 sign (PKCS#1 v1.5)',
    cost: costOf({ operation: 'sign', key: rsa.spec }),
    ours: () => token.sign(rsa, { type: CKM.RSA_PKCS }, digestInfoSha256),
    peerSync: (s, out) => (peer.C_SignInit(s, { mechanism: pkcs11js.CKM_RSA_PKCS }, rsaPriv), peer.C_Sign(s, digestInfoSha256, out)),
    peerAsync: (s, out) => (peer.C_SignInit(s, { mechanism: pkcs11js.CKM_RSA_PKCS }, rsaPriv), peer.C_SignAsync(s, digestInfoSha256, out)),
  },
  {
    operation: 'ECDSA P-256 sign',
    cost: costOf({ operation: 'sign', key: ec.spec }),
    ours: () => token.sign(ec, { type: CKM.ECDSA }, hash),
    peerSync: (s, out) => (peer.C_SignInit(s, { mechanism: pkcs11js.CKM_ECDSA }, ecPriv), peer.C_Sign(s, hash, out)),
    peerAsync: (s, out) => (peer.C_SignInit(s, { mechanism: pkcs11js.CKM_ECDSA }, ecPriv), peer.C_SignAsync(s, hash, out)),
  },
  {
    operation: 'AES-256-GCM encrypt 1 KiB',
    cost: costOf({ operation: 'encrypt', key: aes.spec, payloadBytes: kib.length }),
    ours: () => token.encrypt(aes, gcm, kib),
    peerSync: (s, out) => (peer.C_EncryptInit(s, peerGcm, aesKey), peer.C_Encrypt(s, kib, out)),
    peerAsync: (s, out) => (peer.C_EncryptInit(s, peerGcm, aesKey), peer.C_EncryptAsync(s, kib, out)),
  },
  {
    operation: 'AES key wrap with padding of an AES-256 key',
    cost: costOf({ operation: 'wrap', key: kek.spec }),
    ours: () => token.wrapKey(kek, { type: kwp }, target),
    peerSync: (s, out) => peer.C_WrapKey(s, { mechanism: kwp }, kekKey, targetKey, out),
    peerAsync: (s, out) => peer.C_WrapKeyAsync(s, { mechanism: kwp }, kekKey, targetKey, out),
  },
  {
    operation: 'AES-256 key generation (session object, destroyed after)',
    cost: costOf({ operation: 'generate', key: { type: 'aes', bits: 256 } }),
    ours: async () => token.destroyKey(await token.generateKey({ type: 'aes', bits: 256 }, { ephemeral: true })),
    peerSync: (s) => peer.C_DestroyObject(s, peer.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, peerAesTemplate)),
    peerAsync: async (s) => peer.C_DestroyObject(s, await peer.C_GenerateKeyAsync(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, peerAesTemplate)),
  },
];

const peerBuffers = peerSessions.map(() => Buffer.alloc(4096));
const results: Array<Record<string, unknown>> = [];
const table: Array<Array<string | number>> = [];

for (const row of rows) {
  // Sync pkcs11js calls run one at a time whatever the lanes: measured once per row.
  let peerSyncOps: number | undefined;
  for (const inFlight of [1, WORKER_THREADS]) {
    const contenders: Contender[] = [
      { name: 'ours', inFlight, operation: row.ours },
      { name: 'peerAsync', inFlight, operation: (l) => row.peerAsync(lane(peerSessions, l), lane(peerBuffers, l)) },
    ];
    if (peerSyncOps === undefined) contenders.push({ name: 'peerSync', inFlight: 1, operation: () => row.peerSync(lane(peerSessions, 0), lane(peerBuffers, 0)) });
    const measured = await compare(contenders, { rounds: ROUNDS, durationMs: DURATION_MS });
    peerSyncOps ??= measured.get('peerSync') as number;
    const oursOps = measured.get('ours') as number;
    const peerAsyncOps = measured.get('peerAsync') as number;
    const ratio = oursOps / peerAsyncOps;
    const ratioSync = oursOps / peerSyncOps;
    table.push([row.operation, inFlight, row.cost === 'cheap' ? 'inline' : 'worker', oursOps, peerAsyncOps, ratio.toFixed(2), peerSyncOps, ratioSync.toFixed(2)]);
    results.push({ operation: row.operation, inFlight, ours: row.cost, oursOps, peerAsyncOps, ratio, peerSyncOps, ratioSync });
    process.stderr.write(`measured: ${row.operation}, ${inFlight} in flight\n`);
  }
}

const headers = ['operation', 'in flight', 'ours runs', 'ours ops/s', 'pkcs11js async ops/s', 'ratio', 'pkcs11js sync ops/s', 'ratio to sync'];
console.log(`\nbench:token — SoftHSM2 ${token.description.library.version}, node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, libuv threads ${WORKER_THREADS}, ${ROUNDS} rounds × ${DURATION_MS} ms (median)\n`);
console.log(formatTable(headers, table));
console.log('\nours: the token layer (src/token) over our addon. ratio = ours / pkcs11js async, its non-blocking API (C_*Init,');
console.log('then the C_*Async call on the libuv pool), with the same number of operations in flight. "ratio to sync" compares');
console.log('with pkcs11js calls that hold the JS thread for the whole operation, one at a time (the same at every level).');

const resultsDir = path.resolve(import.meta.dirname ?? '.', '..', 'bench', 'results');
mkdirSync(resultsDir, { recursive: true });
const file = path.join(resultsDir, `token-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify({ benchmark: 'token', date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, workerThreads: WORKER_THREADS, rounds: ROUNDS, durationMs: DURATION_MS, softhsm: token.description.library.version, results }, null, 2)}\n`);
console.log(`\nwritten: ${path.relative(process.cwd(), file)}`);

for (const session of peerSessions) peer.C_CloseSession(session);
releaseModule(ours);
token.close();
rmSync(dataDir, { recursive: true, force: true });
