// The emulator as a child process for the reliability campaigns, and a keep-alive HTTPS client
// that trusts its CA. The CA is made before the first start, so the client knows it up front.
import type { ChildProcess } from 'node:child_process';
import { spawnEmulator } from '../../src/embed/emulator-process.js';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { ensureTls } from '../../src/server/tls.js';

export const API = 'api-version=7.6';

export interface Admin {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  objectId: string;
}

export interface Reply {
  status: number;
  body: any;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

export class EmulatorProcess {
  child: ChildProcess | undefined;
  url = '';
  #output = '';
  #outputOf: (() => string) | undefined;
  #pool: Pool | undefined;
  #ca = '';

  private constructor(readonly dataDir: string) {}

  /** A fresh data directory with its CA. */
  static async create(prefix: string): Promise<EmulatorProcess> {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), prefix));
    const emulator = new EmulatorProcess(dataDir);
    emulator.#ca = (await ensureTls(dataDir, ['localhost'])).ca;
    return emulator;
  }

  get admin(): Admin {
    return JSON.parse(readFileSync(path.join(this.dataDir, 'admin.json'), 'utf8')) as Admin;
  }

  /** Starts `mhsm start` (through the embedding API's spawnEmulator) and waits for its URL. */
  async start(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<void> {
    this.#output = '';
    this.#outputOf = undefined;
    const emulator = await spawnEmulator({ dataDir: this.dataDir, args, env }).catch((error: unknown) => {
      this.#output = (error as Error).message;
      throw error;
    });
    this.child = emulator.child;
    this.#outputOf = emulator.output;
    this.url = emulator.url;
    void this.#pool?.destroy();
    this.#pool = new Pool(this.url, { connections: 128, pipelining: 1, connect: { ca: this.#ca } });
  }

  /** What the current (or last) start printed. */
  get output(): string {
    return this.#outputOf?.() ?? this.#output;
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  /** Sends a signal and waits for the process to end. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    const code = await exited;
    this.url = '';
    return code;
  }

  async request(method: string, route: string, options: { body?: unknown; raw?: string | Buffer; headers?: Record<string, string> } = {}): Promise<Reply> {
    if (!this.#pool) throw new Error('the emulator is not running');
    const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
    const response = await this.#pool.request({
      method: method as 'GET',
      path: route,
      headers: { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
      body: payload,
    });
    const text = await response.body.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: response.statusCode, body, text, headers: response.headers };
  }

  async token(credentials: { tenantId: string; clientId: string; clientSecret: string } = this.admin): Promise<string> {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: credentials.clientId,
      client_secret: credentials.clientSecret,
      scope: 'https://managedhsm.azure.net/.default',
    });
    const reply = await this.request('POST', `/${credentials.tenantId}/oauth2/v2.0/token`, {
      raw: form.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    if (reply.status !== 200) throw new Error(`no token: ${reply.status} ${reply.text}`);
    return reply.body.access_token as string;
  }

  async close(): Promise<void> {
    await this.stop();
    await this.#pool?.destroy();
    this.#pool = undefined;
  }

  remove(): void {
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Resident memory and open file descriptors of a process (Linux /proc). */
export function processFootprint(pid: number): { rssMb: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  let fds = 0;
  try {
    fds = readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    fds = -1;
  }
  return { rssMb: Math.round(rssKb / 102.4) / 10, fds };
}

/**
 * The footprint once the process has come to rest after a burst of work: its descriptors (the
 * connections of the burst) the same over three readings 100 ms apart, and its resident size within
 * 1 % over them. A condition, not a guessed pause; at most `timeoutMs`, then the last reading.
 */
export async function settledFootprint(pid: number, timeoutMs = 10_000): Promise<{ rssMb: number; fds: number }> {
  const readings = [processFootprint(pid)];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = readings.slice(-3);
    const resting = last.length === 3 && last.every((r) => r.fds === last[0]?.fds) && Math.max(...last.map((r) => r.rssMb)) <= Math.min(...last.map((r) => r.rssMb)) * 1.01;
    if (resting || Date.now() >= deadline) return readings.at(-1) as { rssMb: number; fds: number };
    await new Promise((resolve) => setTimeout(resolve, 100));
    readings.push(processFootprint(pid));
  }
}
