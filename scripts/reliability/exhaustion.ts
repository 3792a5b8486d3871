// Resource exhaustion: for a bounded time, attackers on loopback replay what a security review
// found (distinct 1 MB client ids, unknown client ids, wrong-secret floods, unauthenticated floods
// with long key names, slow bodies, one principal queueing RSA-4096 generations) while a
// well-behaved client signs, creates keys and reads the audit log. Reported: the server's
// resident memory, the good client's latencies and errors, whether every authenticated audit line
// of the window was kept, and the connections still open once the timeouts have run.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { connect } from 'node:tls';
import { runCli } from '../../test/helpers/cli.js';
import { API, EmulatorProcess, processFootprint } from './emulator-process.js';

export interface ExhaustionReport {
  seconds: number;
  crashed: boolean;
  rssStartMb: number;
  rssMaxMb: number;
  rssEndMb: number;
  signs: number;
  signP50Ms: number;
  signP99Ms: number;
  creates: number;
  createP50Ms: number;
  createP99Ms: number;
  goodErrors: number;
  authenticatedLines: number;
  authenticatedLinesKept: number;
  attackRequests: number;
  slowConnections: number;
  openConnectionsAfter: number;
  violations: string[];
}

const REQUEST_TIMEOUT_S = 5;

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number);
}

/** Established TCP connections on the server's port, from /proc/net/tcp and tcp6. */
function establishedOn(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local address is field 1, state field 3 (01 = ESTABLISHED)
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '01') count++;
    }
  }
  return count;
}

export async function runExhaustion(options: { seconds: number; log?: (line: string) => void }): Promise<ExhaustionReport> {
  const log = options.log ?? (() => {});
  const emulator = await EmulatorProcess.create('mhsm-exhaustion-');
  const violations: string[] = [];
  try {
    await emulator.start(['--request-timeout', String(REQUEST_TIMEOUT_S)], { MHSM_AUDIT_MAX_BYTES: String(4 * 1024 * 1024) });
    const admin = emulator.admin;
    const port = Number(new URL(emulator.url).port);
    const good = await emulator.token();
    const goodCall = (method: string, route: string, body?: unknown) =>
      emulator.request(method, `${route}${route.includes('?') ? '&' : '?'}${API}`, { body, headers: { authorization: `Bearer ${good}` } });
    const noisyCreated = await runCli(['principal', 'create', '--name', 'noisy', '--data-dir', emulator.dataDir, '--json']);
    const noisy = JSON.parse(noisyCreated.stdout) as { clientId: string; clientSecret: string; objectId: string };
    for (const role of ['Managed HSM Crypto Officer', 'Managed HSM Crypto User']) {
      const assigned = await runCli(['role', 'assignment', 'create', '--role', role, '--assignee', noisy.objectId, '--scope', '/', '--data-dir', emulator.dataDir]);
      if (assigned.code !== 0) throw new Error(`role assignment: ${assigned.stderr}`);
    }
    const noisyToken = await emulator.token({ tenantId: admin.tenantId, ...noisy });
    if ((await goodCall('POST', '/keys/good-signer/create', { kty: 'EC-HSM', crv: 'P-256' })).status !== 200) throw new Error('setup: no signing key');
    const digest = Buffer.alloc(32, 5).toString('base64url');
    for (let i = 0; i < 50; i++) await goodCall('POST', '/keys/good-signer/sign', { alg: 'ES256', value: digest });
    const rssStartMb = processFootprint(emulator.pid).rssMb;
    let rssMaxMb = rssStartMb;
    const sampler = setInterval(() => {
      try {
        rssMaxMb = Math.max(rssMaxMb, processFootprint(emulator.pid).rssMb);
      } catch {
        // the process is gone: reported below
      }
    }, 250);

    const deadline = Date.now() + options.seconds * 1000;
    const running = () => Date.now() < deadline;
    const attacker = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'exhaustion-attacker.ts')], {
      env: {
        ...process.env,
        URL: emulator.url,
        TENANT: admin.tenantId,
        ADMIN_CLIENT_ID: admin.clientId,
        NOISY_TOKEN: noisyToken,
        CA_FILE: path.join(emulator.dataDir, 'ca.pem'),
        SECONDS: String(options.seconds),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let attackerOutput = '';
    attacker.stdout.on('data', (chunk: Buffer) => {
      attackerOutput += chunk.toString();
    });
    const attackerDone = new Promise<number>((resolve) => attacker.on('exit', () => resolve(Number((JSON.parse(attackerOutput.trim() || '{}') as { requests?: number }).requests ?? 0))));

    // Slow bodies: connections that send a byte every two seconds.
    const ca = readFileSync(path.join(emulator.dataDir, 'ca.pem'));
    const slowSockets: Array<import('node:tls').TLSSocket> = [];
    for (let i = 0; i < 100; i++) {
      const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
      socket.on('error', () => undefined);
      socket.on('secureConnect', () => {
        socket.write(`POST /keys/slow/create?${API} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n`);
      });
      slowSockets.push(socket);
    }
    const trickle = setInterval(() => {
      for (const socket of slowSockets) if (!socket.destroyed) socket.write('{');
    }, 2000);

    // The good client: signs back to back, creates a key every half second, reads the audit log.
    const signs: number[] = [];
    const creates: number[] = [];
    const goodRequestIds: string[] = [];
    let goodErrors = 0;
    const goodOp = async (samples: number[], method: string, route: string, body?: unknown) => {
      const started = performance.now();
      const reply = await goodCall(method, route, body).catch(() => undefined);
      samples.push(performance.now() - started);
      if (!reply || reply.status !== 200) {
        goodErrors++;
        if (violations.length < 10) violations.push(`good client ${method} ${route}: ${reply?.status ?? 'no answer'} ${reply?.text.slice(0, 200) ?? ''}`);
      }
      const id = reply?.headers['x-ms-request-id'];
      if (typeof id === 'string') goodRequestIds.push(id);
    };
    let created = 0;
    const goodClient = Promise.all([
      (async () => {
        while (running()) await goodOp(signs, 'POST', '/keys/good-signer/sign', { alg: 'ES256', value: digest });
      })(),
      (async () => {
        while (running()) {
          await goodOp(creates, 'POST', `/keys/good-${created++}/create`, { kty: 'EC-HSM', crv: 'P-256' });
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      })(),
      (async () => {
        while (running()) {
          try {
            readFileSync(path.join(emulator.dataDir, 'audit', 'audit.log'), 'utf8');
          } catch {
            goodErrors++;
          }
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      })(),
    ]);

    const [, attackRequests] = await Promise.all([goodClient, attackerDone]);
    clearInterval(trickle);
    log(`exhaustion: window over after ${options.seconds} s; waiting for the request timeout`);
    // The slow bodies must have been cut off by now, or be within the timeout.
    await new Promise((resolve) => setTimeout(resolve, (REQUEST_TIMEOUT_S + 3) * 1000));
    const slowAlive = slowSockets.filter((socket) => !socket.destroyed && socket.readyState === 'open').length;
    const openConnectionsAfter = establishedOn(port);
    for (const socket of slowSockets) socket.destroy();
    clearInterval(sampler);
    const crashed = emulator.child?.exitCode !== null || emulator.child?.signalCode !== null;
    const rssEndMb = crashed ? 0 : processFootprint(emulator.pid).rssMb;
    await emulator.stop();

    const lines = readdirSync(path.join(emulator.dataDir, 'audit')).flatMap((file) =>
      readFileSync(path.join(emulator.dataDir, 'audit', file), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { requestId: string }),
    );
    const kept = new Set(lines.map((line) => line.requestId));
    const authenticatedLinesKept = goodRequestIds.filter((id) => kept.has(id)).length;

    const report: ExhaustionReport = {
      seconds: options.seconds,
      crashed,
      rssStartMb,
      rssMaxMb,
      rssEndMb,
      signs: signs.length,
      signP50Ms: percentile(signs, 50),
      signP99Ms: percentile(signs, 99),
      creates: creates.length,
      createP50Ms: percentile(creates, 50),
      createP99Ms: percentile(creates, 99),
      goodErrors,
      authenticatedLines: goodRequestIds.length,
      authenticatedLinesKept,
      attackRequests,
      slowConnections: slowAlive,
      openConnectionsAfter,
      violations,
    };
    if (crashed) violations.push('the emulator crashed');
    if (rssMaxMb - rssStartMb > 50) violations.push(`resident memory grew ${Math.round(rssMaxMb - rssStartMb)} MB (limit 50 MB)`);
    if (report.signP99Ms >= 50) violations.push(`the good client's sign p99 is ${report.signP99Ms} ms (limit 50 ms)`);
    if (report.createP99Ms >= 2000) violations.push(`the good client's create p99 is ${report.createP99Ms} ms (limit 2 s)`);
    if (authenticatedLinesKept < goodRequestIds.length) violations.push(`${goodRequestIds.length - authenticatedLinesKept} authenticated audit lines were lost`);
    if (slowAlive > 0) violations.push(`${slowAlive} slow-body connections were still open after the request timeout`);
    return report;
  } finally {
    await emulator.close().catch(() => undefined);
    emulator.remove();
  }
}
