// bench:token — our addon against pkcs11js on the same SoftHSM2 token, same operations, one run.
// Prints a table (ops/s, ratio ours/pkcs11js) and writes JSON under bench/results/.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { NativeMechanism } from '../src/native/addon.js';
import { toNativeTemplate } from '../src/token/attributes.js';
import { CKF, CKM, CKO } from '../src/token/constants.js';
import { runsInline } from '../src/token/dispatch-policy.js';
import { provisionEmbeddedToken } from '../src/token/embedded-softhsm.js';
import type { KeySpec, TokenKey } from '../src/token/key-spec.js';
import { acquireModule, releaseModule } from '../src/token/module-registry.js';
import { Token } from '../src/token/token.js';
import { type Contender, compare, formatTable } from './bench/measure.js';

const require = createRequire(import.meta.url);
const pkcs11js = require('pkcs11js') as typeof import('pkcs11js');

const WORKER_THREADS = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10) || 4;
const ROUNDS = Number.parseInt(process.env.BENCH_ROUNDS ?? '', 10) || 3;
const DURATION_MS = Number.parseInt(process.env.BENCH_MS ?? '', 10) || 1000;

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

const ourSessions = Array.from({ length: WORKER_THREADS }, () => ours.openSession(slot, CKF.RW_SESSION));
const peerSessions = Array.from({ length: WORKER_THREADS }, () => peer.C_OpenSession(peerSlot, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION));
const lane = <T>(items: T[], index: number): T => items[index % items.length] as T;

async function ourHandle(objectClass: number, id: Buffer): Promise<number> {
  const [handle] = await ours.findObjects(lane(ourSessions, 0), toNativeTemplate({ class: objectClass, id }));
  if (handle === undefined) throw new Error('object not found');
  return handle;
}

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
await ours.generateKey(lane(ourSessions, 0), { type: CKM.AES_KEY_GEN }, toNativeTemplate({
  class: CKO.SECRET_KEY, token: true, private: true, sensitive: true, extractable: true, valueLen: 32, id: targetId,
}));
const target: TokenKey = { id: targetId, spec: { type: 'aes', bits: 256 } };

const digestInfoSha256 = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update('bench').digest()]);
const hash = createHash('sha256').update('bench').digest();
const kib = Buffer.alloc(1024, 0x42);
const iv = Buffer.alloc(12, 7);
const kwp = token.capabilities.aesKeyWrapPad ?? CKM.AES_KEY_WRAP_PAD;

interface Row {
  operation: string;
  spec?: KeySpec;
  /** Our single-shot call on a session (the dispatch policy decides inline or worker). */
  ours: (session: number, inline: boolean) => Promise<unknown>;
  /** The same through the token layer (handle cache, session pool), or undefined. */
  tokenLayer?: () => Promise<unknown>;
  peerSync: (session: Buffer, out: Buffer) => unknown;
  peerAsync: (session: Buffer, out: Buffer) => Promise<unknown>;
  inline: boolean;
}

const rsaPriv = { ours: await ourHandle(CKO.PRIVATE_KEY, rsa.id), peer: peerHandle(CKO.PRIVATE_KEY, rsa.id) };
const ecPriv = { ours: await ourHandle(CKO.PRIVATE_KEY, ec.id), peer: peerHandle(CKO.PRIVATE_KEY, ec.id) };
const aesKey = { ours: await ourHandle(CKO.SECRET_KEY, aes.id), peer: peerHandle(CKO.SECRET_KEY, aes.id) };
const kekKey = { ours: await ourHandle(CKO.SECRET_KEY, kek.id), peer: peerHandle(CKO.SECRET_KEY, kek.id) };
const targetKey = { ours: await ourHandle(CKO.SECRET_KEY, targetId), peer: peerHandle(CKO.SECRET_KEY, targetId) };

const gcm: NativeMechanism = { type: CKM.AES_GCM, gcm: { iv, tagBits: 128 } };
const peerGcm = { mechanism: pkcs11js.CKM_AES_GCM, parameter: { type: pkcs11js.CK_PARAMS_AES_GCM_v240, iv, ivBits: 96, tagBits: 128 } };
const sessionAesTemplate = toNativeTemplate({ class: CKO.SECRET_KEY, token: false, valueLen: 32, encrypt: true, decrypt: true });
const peerAesTemplate = [
  { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
  { type: pkcs11js.CKA_TOKEN, value: false },
  { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
  { type: pkcs11js.CKA_ENCRYPT, value: true },
  { type: pkcs11js.CKA_DECRYPT, value: true },
];

const rows: Row[] = [
  {
    operation: 'RSA-2048 sign (PKCS#1 v1.5)',
    spec: rsa.spec,
    inline: runsInline({ operation: 'sign', key: rsa.spec }),
    ours: (s, i) => ours.sign(s, { type: CKM.RSA_PKCS }, rsaPriv.ours, digestInfoSha256, i),
    tokenLayer: () => token.sign(rsa, { type: CKM.RSA_PKCS }, digestInfoSha256),
    peerSync: (s, out) => (peer.C_SignInit(s, { mechanism: pkcs11js.CKM_RSA_PKCS }, rsaPriv.peer), peer.C_Sign(s, digestInfoSha256, out)),
    peerAsync: (s, out) => (peer.C_SignInit(s, { mechanism: pkcs11js.CKM_RSA_PKCS }, rsaPriv.peer), peer.C_SignAsync(s, digestInfoSha256, out)),
  },
  {
    operation: 'ECDSA P-256 sign',
    spec: ec.spec,
    inline: runsInline({ operation: 'sign', key: ec.spec }),
    ours: (s, i) => ours.sign(s, { type: CKM.ECDSA }, ecPriv.ours, hash, i),
    tokenLayer: () => token.sign(ec, { type: CKM.ECDSA }, hash),
    peerSync: (s, out) => (peer.C_SignInit(s, { mechanism: pkcs11js.CKM_ECDSA }, ecPriv.peer), peer.C_Sign(s, hash, out)),
    peerAsync: (s, out) => (peer.C_SignInit(s, { mechanism: pkcs11js.CKM_ECDSA }, ecPriv.peer), peer.C_SignAsync(s, hash, out)),
  },
  {
    operation: 'AES-256-GCM encrypt 1 KiB',
    spec: aes.spec,
    inline: runsInline({ operation: 'encrypt', key: aes.spec, payloadBytes: kib.length }),
    ours: (s, i) => ours.encrypt(s, gcm, aesKey.ours, kib, i),
    tokenLayer: () => token.encrypt(aes, gcm, kib),
    peerSync: (s, out) => (peer.C_EncryptInit(s, peerGcm, aesKey.peer), peer.C_Encrypt(s, kib, out)),
    peerAsync: (s, out) => (peer.C_EncryptInit(s, peerGcm, aesKey.peer), peer.C_EncryptAsync(s, kib, out)),
  },
  {
    operation: 'AES key wrap with padding of an AES-256 key',
    spec: kek.spec,
    inline: runsInline({ operation: 'wrap', key: kek.spec }),
    ours: (s, i) => ours.wrapKey(s, { type: kwp }, kekKey.ours, targetKey.ours, i),
    tokenLayer: () => token.wrapKey(kek, { type: kwp }, target),
    peerSync: (s, out) => peer.C_WrapKey(s, { mechanism: kwp }, kekKey.peer, targetKey.peer, out),
    peerAsync: (s, out) => peer.C_WrapKeyAsync(s, { mechanism: kwp }, kekKey.peer, targetKey.peer, out),
  },
  {
    operation: 'AES-256 key generation (session object, then destroyed)',
    inline: runsInline({ operation: 'generate', key: { type: 'aes', bits: 256 } }),
    ours: async (s, i) => ours.destroyObject(s, await ours.generateKey(s, { type: CKM.AES_KEY_GEN }, sessionAesTemplate, i), i),
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
      { name: 'ours', inFlight, operation: (l) => row.ours(lane(ourSessions, l), process.env.BENCH_FORCE_WORKER ? false : row.inline) },
      { name: 'peerAsync', inFlight, operation: (l) => row.peerAsync(lane(peerSessions, l), lane(peerBuffers, l)) },
    ];
    if (row.tokenLayer) contenders.push({ name: 'tokenLayer', inFlight, operation: row.tokenLayer });
    if (peerSyncOps === undefined) contenders.push({ name: 'peerSync', inFlight: 1, operation: () => row.peerSync(lane(peerSessions, 0), lane(peerBuffers, 0)) });
    const measured = await compare(contenders, { rounds: ROUNDS, durationMs: DURATION_MS });
    peerSyncOps ??= measured.get('peerSync') as number;
    const oursOps = measured.get('ours') as number;
    const peerAsyncOps = measured.get('peerAsync') as number;
    // A fair peer obeys the same rule we do: work we keep off the JS thread, it must too.
    const baseline = row.inline ? Math.max(peerSyncOps, peerAsyncOps) : peerAsyncOps;
    const baselineName = row.inline ? (peerSyncOps >= peerAsyncOps ? 'sync' : 'async') : 'async';
    const ratio = oursOps / baseline;
    const tokenLayerOps = measured.get('tokenLayer');
    table.push([
      row.operation,
      inFlight,
      row.inline ? 'inline' : 'worker',
      oursOps,
      tokenLayerOps ?? 'n/a',
      peerSyncOps,
      peerAsyncOps,
      baselineName,
      ratio.toFixed(2),
    ]);
    results.push({ operation: row.operation, inFlight, ourDispatch: row.inline ? 'inline' : 'worker', oursOps, tokenLayerOps, peerSyncOps, peerAsyncOps, baseline: baselineName, ratio });
    process.stderr.write(`measured: ${row.operation}, ${inFlight} in flight\n`);
  }
}

const headers = ['operation', 'in flight', 'ours runs', 'ours ops/s', 'token layer ops/s', 'pkcs11js sync', 'pkcs11js async', 'baseline', 'ratio'];
console.log(`\nbench:token — SoftHSM2 ${token.description.library.version}, node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, libuv threads ${WORKER_THREADS}, ${ROUNDS} rounds × ${DURATION_MS} ms (median)\n`);
console.log(formatTable(headers, table));
console.log('\nratio = ours / baseline. Baseline: pkcs11js used by the rule we follow ourselves: where we run a call on a worker');
console.log('thread (RSA private-key work, key-pair generation), pkcs11js must use its async call; where we run inline, its');
console.log('better mode counts. Sync pkcs11js calls run one at a time, so that column is the same at every in-flight level.');

const resultsDir = path.resolve(import.meta.dirname ?? '.', '..', 'bench', 'results');
mkdirSync(resultsDir, { recursive: true });
const file = path.join(resultsDir, `token-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify({ benchmark: 'token', date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, workerThreads: WORKER_THREADS, rounds: ROUNDS, durationMs: DURATION_MS, softhsm: token.description.library.version, results }, null, 2)}\n`);
console.log(`\nwritten: ${path.relative(process.cwd(), file)}`);

for (const session of peerSessions) peer.C_CloseSession(session);
for (const session of ourSessions) ours.closeSession(session);
releaseModule(ours);
token.close();
rmSync(dataDir, { recursive: true, force: true });
