// Crash safety: concurrent creates, imports, rotations, updates, deletes, recoveries and purges
// while the emulator is killed with SIGKILL at random moments and restarted. After every restart,
// every acknowledged change must be there and usable, and nothing unacknowledged half-done; at
// the end, the token's key objects and the store's rows must match one for one and SQLite's
// integrity check must pass.
import { createDecipheriv, randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { resolveConfig } from '../../src/cli/config.js';
import { openConfiguredToken } from '../../src/cli/open-token.js';
import { TOKEN_OBJECT_LABEL } from '../../src/hsm/key-service.js';
import { API, EmulatorProcess } from './emulator-process.js';

export const CRASH_OPERATIONS = ['create', 'import', 'rotate', 'update', 'delete', 'recover', 'purge'] as const;
export type CrashOperation = (typeof CRASH_OPERATIONS)[number];

export interface CrashReport {
  kills: number;
  acknowledged: number;
  /** Acknowledged operations of each kind: a campaign that never ran one proves nothing of it. */
  acknowledgedBy: Record<CrashOperation, number>;
  /** Operations a kill cut off in flight, whose outcome the check after the restart had to find. */
  cutOff: number;
  violations: string[];
}

/**
 * What a campaign failed to exercise, so that the short form and the long one hold the same bar: an
 * operation kind never acknowledged, or no kill that cut an operation off in flight.
 */
export function crashCampaignGaps(report: CrashReport): string[] {
  const gaps = CRASH_OPERATIONS.filter((operation) => report.acknowledgedBy[operation] === 0).map((operation) => `no ${operation} was acknowledged`);
  if (report.cutOff === 0) gaps.push('no kill cut an operation off in flight');
  return gaps;
}

type State = 'live' | 'deleted' | 'gone';

interface ModelKey {
  name: string;
  state: State;
  /** Acknowledged versions, oldest first. */
  versions: string[];
  tag: number;
  /** The AES key of an imported key, to check the token holds that very material. */
  material?: Buffer;
  /** An operation on it was in flight at a kill: its outcome is unknown until re-read. */
  uncertain: boolean;
  busy: boolean;
}

const ROTATION_POLICY = { lifetimeActions: [{ trigger: { timeAfterCreate: 'P30D' }, action: { type: 'Rotate' } }], attributes: { expiryTime: 'P90D' } };

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const versionOf = (kid: string) => kid.split('/').pop() as string;

export async function runCrashCampaign(options: { kills: number; lanes?: number; log?: (line: string) => void }): Promise<CrashReport> {
  const lanes = options.lanes ?? 8;
  const log = options.log ?? (() => undefined);
  const emulator = await EmulatorProcess.create('mhsm-crash-');
  const keys = new Map<string, ModelKey>();
  const violations: string[] = [];
  let acknowledged = 0;
  let cutOff = 0;
  const acknowledgedBy = Object.fromEntries(CRASH_OPERATIONS.map((operation) => [operation, 0])) as Record<CrashOperation, number>;
  let kills = 0;
  let serial = 0;
  let bearer = '';

  const call = (method: string, route: string, body?: unknown) =>
    emulator.request(method, `${route}${route.includes('?') ? '&' : '?'}${API}`, { body, headers: { authorization: `Bearer ${bearer}` } });

  /** Runs one random operation; throws when the connection dies (a kill), leaving the key uncertain. */
  async function step(lane: number): Promise<void> {
    const mine = [...keys.values()].filter((k) => k.name.startsWith(`crash-${lane}-`) && !k.busy && !k.uncertain && k.state !== 'gone');
    const choices: Array<() => Promise<void>> = [];
    const fresh = () => {
      const key: ModelKey = { name: `crash-${lane}-${serial++}`, state: 'gone', versions: [], tag: 0, uncertain: false, busy: false };
      keys.set(key.name, key);
      return key;
    };
    const on = (key: ModelKey, operation: CrashOperation, work: () => Promise<void>) => async () => {
      key.busy = true;
      key.uncertain = true;
      try {
        await work();
        key.uncertain = false;
        acknowledged++;
        acknowledgedBy[operation]++;
      } finally {
        key.busy = false;
      }
    };
    const expect = (ok: boolean, what: string) => {
      if (!ok) throw new Error(`unexpected answer: ${what}`);
    };
    if (mine.length < 6) {
      choices.push(async () => {
        const key = fresh();
        await on(key, 'create', async () => {
          const reply = await call('POST', `/keys/${key.name}/create`, { kty: 'oct-HSM', key_size: 256 });
          expect(reply.status === 200, `create ${reply.status} ${reply.text}`);
          Object.assign(key, { state: 'live', versions: [versionOf(reply.body.key.kid)] });
        })();
      });
      choices.push(async () => {
        const imported = fresh();
        const material = randomBytes(32);
        await on(imported, 'import', async () => {
          const reply = await call('PUT', `/keys/${imported.name}`, { key: { kty: 'oct-HSM', k: material.toString('base64url'), key_ops: ['encrypt', 'decrypt'] } });
          expect(reply.status === 200, `import ${reply.status} ${reply.text}`);
          Object.assign(imported, { state: 'live', versions: [versionOf(reply.body.key.kid)], material });
        })();
      });
    }
    for (const key of mine) {
      if (key.state === 'live') {
        if (!key.material) {
          choices.push(
            on(key, 'rotate', async () => {
              const policy = await call('PUT', `/keys/${key.name}/rotationpolicy`, ROTATION_POLICY);
              expect(policy.status === 200, `policy ${policy.status}`);
              const reply = await call('POST', `/keys/${key.name}/rotate`);
              expect(reply.status === 200, `rotate ${reply.status} ${reply.text}`);
              key.versions.push(versionOf(reply.body.key.kid));
            }),
          );
        }
        choices.push(
          on(key, 'update', async () => {
            const reply = await call('PATCH', `/keys/${key.name}`, { tags: { n: String(key.tag + 1) } });
            expect(reply.status === 200, `update ${reply.status}`);
            key.tag++;
          }),
          on(key, 'delete', async () => {
            const reply = await call('DELETE', `/keys/${key.name}`);
            expect(reply.status === 200, `delete ${reply.status} ${reply.text}`);
            key.state = 'deleted';
          }),
        );
      } else if (key.state === 'deleted') {
        choices.push(
          on(key, 'recover', async () => {
            const reply = await call('POST', `/deletedkeys/${key.name}/recover`);
            expect(reply.status === 200, `recover ${reply.status} ${reply.text}`);
            key.state = 'live';
          }),
          on(key, 'purge', async () => {
            const reply = await call('DELETE', `/deletedkeys/${key.name}`);
            expect(reply.status === 204, `purge ${reply.status} ${reply.text}`);
            key.state = 'gone';
          }),
        );
      }
    }
    await pick(choices)();
  }

  /** Every version must encrypt and decrypt; an imported key must hold its very material. */
  async function usable(key: ModelKey, version: string): Promise<string | undefined> {
    const plaintext = randomBytes(24);
    const sealed = await call('POST', `/keys/${key.name}/${version}/encrypt`, { alg: 'A256GCM', value: plaintext.toString('base64url') });
    if (sealed.status !== 200) return `${key.name}/${version}: encrypt answered ${sealed.status} ${sealed.text}`;
    const iv = Buffer.from(sealed.body.iv, 'base64url').subarray(0, 12);
    const opened = await call('POST', `/keys/${key.name}/${version}/decrypt`, { alg: 'A256GCM', value: sealed.body.value, iv: sealed.body.iv, tag: sealed.body.tag });
    if (opened.status !== 200 || !Buffer.from(opened.body.value, 'base64url').equals(plaintext)) return `${key.name}/${version}: decrypt answered ${opened.status}`;
    if (key.material) {
      const decipher = createDecipheriv('aes-256-gcm', key.material, iv);
      decipher.setAuthTag(Buffer.from(sealed.body.tag, 'base64url'));
      const local = Buffer.concat([decipher.update(Buffer.from(sealed.body.value, 'base64url')), decipher.final()]);
      if (!local.equals(plaintext)) return `${key.name}: the token holds other material than was imported`;
    }
    return undefined;
  }

  /** What the emulator now holds for a key. */
  async function actual(name: string): Promise<{ state: State; versions: string[]; tag: number }> {
    const live = await call('GET', `/keys/${name}/versions?maxresults=25`);
    const deleted = await call('GET', `/deletedkeys/${name}`);
    const latest = await call('GET', `/keys/${name}`);
    const versions = live.status === 200 ? (live.body.value as Array<{ kid: string; attributes: { created: number } }>).map((v) => versionOf(v.kid)) : [];
    const state: State = latest.status === 200 ? 'live' : deleted.status === 200 ? 'deleted' : 'gone';
    const tag = latest.status === 200 ? Number(latest.body.tags?.n ?? 0) : 0;
    return { state, versions, tag };
  }

  /** The server's own account of an unexpected failure, from its log. */
  function serverFailures(output: string): void {
    for (const line of output.split('\n')) {
      if (line.includes('unexpected failure')) violations.push(`server log: ${line.slice(0, 600)}`);
    }
  }

  async function verify(): Promise<void> {
    for (const line of emulator.output.split('\n')) {
      if (/has no key material in the token/.test(line)) violations.push(`after restart ${kills}: ${line.trim()}`);
    }
    for (const key of keys.values()) {
      const found = await actual(key.name);
      const fail = (what: string) => violations.push(`after kill ${kills}: ${key.name}: ${what}`);
      if (!key.uncertain) {
        if (found.state !== key.state) fail(`acknowledged ${key.state}, found ${found.state}`);
        if (key.state === 'live') {
          const missing = key.versions.filter((v) => !found.versions.includes(v));
          if (missing.length > 0) fail(`acknowledged versions missing: ${missing.join(', ')}`);
          if (found.versions.length !== key.versions.length) fail(`versions that were never acknowledged: ${found.versions.length} found, ${key.versions.length} acknowledged`);
          if (found.tag !== key.tag) fail(`acknowledged tag ${key.tag}, found ${found.tag}`);
        }
      } else {
        // The operation in flight either happened or not; acknowledged versions are all still
        // there unless the key went away, and whatever is there must work.
        if (found.state === 'live' && key.versions.some((v) => !found.versions.includes(v))) fail('an acknowledged version is missing');
        // A deleted key keeps its tags (a recovery brings them back), but they cannot be read
        // while it is deleted: then the model keeps its own, as it keeps the versions.
        Object.assign(key, { state: found.state, versions: found.state === 'live' ? found.versions : key.versions, tag: found.state === 'live' ? found.tag : key.tag, uncertain: false });
      }
      if (found.state === 'live') {
        for (const version of found.versions) {
          const problem = await usable(key, version);
          if (problem) fail(problem);
        }
      }
    }
  }

  try {
    await emulator.start();
    bearer = await emulator.token();
    while (kills < options.kills) {
      const killAt = Date.now() + 300 + Math.random() * 1200;
      let killing = false;
      const running = Array.from({ length: lanes }, async (_, lane) => {
        while (!killing) {
          try {
            await step(lane);
          } catch (error) {
            if (killing) return; // the kill cut this request off: its key stays uncertain
            violations.push(`before kill ${kills + 1}: ${(error as Error).message}`);
          }
        }
      });
      await sleep(Math.max(0, killAt - Date.now()));
      killing = true;
      await emulator.stop('SIGKILL');
      serverFailures(emulator.output);
      kills++;
      await Promise.all(running);
      cutOff += [...keys.values()].filter((key) => key.uncertain).length;
      await emulator.start();
      bearer = await emulator.token();
      await verify();
      log(`kill ${kills}: ${acknowledged} acknowledged, ${keys.size} keys, ${violations.length} violations`);
    }
    await emulator.stop('SIGTERM');

    // The token and the store, read directly with the emulator stopped.
    const db = new Database(path.join(emulator.dataDir, 'metadata.db'), { readonly: true });
    const integrity = db.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') violations.push(`SQLite integrity_check: ${String(integrity)}`);
    const stored = new Set((db.prepare('SELECT token_id FROM key_versions').all() as Array<{ token_id: Buffer }>).map((r) => r.token_id.toString('hex')));
    db.close();
    const token = await openConfiguredToken(resolveConfig({ dataDir: emulator.dataDir }, {}));
    try {
      const inToken = new Set((await token.keyIdsLabelled(TOKEN_OBJECT_LABEL)).map((id) => id.toString('hex')));
      for (const id of inToken) if (!stored.has(id)) violations.push(`token object ${id} has no metadata`);
      for (const id of stored) if (!inToken.has(id)) violations.push(`metadata names token object ${id}, which is not in the token`);
    } finally {
      token.close();
    }
    return { kills, acknowledged, acknowledgedBy, cutOff, violations };
  } finally {
    await emulator.close();
    emulator.remove();
  }
}
