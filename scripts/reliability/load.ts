// Sustained load: autocannon keeps 64 connections busy with mixed traffic (sign, verify, encrypt,
// decrypt, wrap, get, list, create, delete, purge) against one emulator. No request may fail; the server's
// resident memory after the run stays within 10 % of after the warm-up, and it holds no more file
// descriptors than it did then.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { API, EmulatorProcess, settledFootprint } from './emulator-process.js';

export interface LoadReport {
  seconds: number;
  connections: number;
  requests: number;
  errors: number;
  non2xx: number;
  p50Ms: number;
  p99Ms: number;
  rssAfterWarmupMb: number;
  rssAfterMb: number;
  memoryGrowthPercent: number;
  fdsAfterWarmup: number;
  fdsAfter: number;
}

interface Round {
  requests: number;
  errors: number;
  non2xx: number;
  p50Ms: number;
  p99Ms: number;
}

export async function runLoad(options: { seconds: number; warmupSeconds?: number; connections?: number }): Promise<LoadReport> {
  const connections = options.connections ?? 64;
  const emulator = await EmulatorProcess.create('mhsm-load-');
  try {
    await emulator.start();
    const bearer = await emulator.token();
    const call = async (method: string, route: string, body?: unknown) => {
      const reply = await emulator.request(method, `${route}?${API}`, { body, headers: { authorization: `Bearer ${bearer}` } });
      if (reply.status !== 200) throw new Error(`${method} ${route}: ${reply.status} ${reply.text}`);
      return reply.body;
    };
    await call('POST', '/keys/load-ec/create', { kty: 'EC-HSM', crv: 'P-256' });
    await call('POST', '/keys/load-oct/create', { kty: 'oct-HSM', key_size: 256 });
    const digest = createHash('sha256').update('load').digest().toString('base64url');
    const signature = (await call('POST', '/keys/load-ec/sign', { alg: 'ES256', value: digest })).value as string;
    const sealed = await call('POST', '/keys/load-oct/encrypt', { alg: 'A256GCM', value: Buffer.alloc(1024, 7).toString('base64url') });
    const headers = { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' };
    const post = (route: string, body: unknown) => ({ method: 'POST' as const, path: `${route}?${API}`, headers, body: JSON.stringify(body) });
    let created = 0;
    const requests: autocannon.Request[] = [
      post('/keys/load-ec/sign', { alg: 'ES256', value: digest }),
      post('/keys/load-ec/verify', { alg: 'ES256', digest, value: signature }),
      post('/keys/load-oct/encrypt', { alg: 'A256GCM', value: Buffer.alloc(1024, 7).toString('base64url') }),
      post('/keys/load-oct/decrypt', { alg: 'A256GCM', value: sealed.value, iv: sealed.iv, tag: sealed.tag }),
      post('/keys/load-oct/wrapkey', { alg: 'A256KW', value: Buffer.alloc(32, 9).toString('base64url') }),
      { method: 'GET' as const, path: `/keys/load-ec?${API}`, headers },
      { method: 'GET' as const, path: `/keys?${API}&maxresults=25`, headers },
      // Each connection creates a key, then deletes and purges it: the data stays the same size,
      // so that memory growth can only be a leak.
      {
        ...post('/keys/load-new/create', { kty: 'oct-HSM', key_size: 128 }),
        setupRequest: (request: autocannon.Request, context: object) => {
          (context as { name?: string }).name = `load-${created++}`;
          return { ...request, path: `/keys/${(context as { name: string }).name}/create?${API}` };
        },
      },
      {
        method: 'DELETE' as const,
        path: '/keys/load-new',
        headers,
        setupRequest: (request: autocannon.Request, context: object) => ({ ...request, path: `/keys/${(context as { name: string }).name}?${API}` }),
      },
      {
        method: 'DELETE' as const,
        path: '/deletedkeys/load-new',
        headers,
        setupRequest: (request: autocannon.Request, context: object) => ({ ...request, path: `/deletedkeys/${(context as { name: string }).name}?${API}` }),
      },
    ];
    const ca = readFileSync(path.join(emulator.dataDir, 'ca.pem'), 'utf8');
    const round = async (seconds: number): Promise<Round> => {
      const result = await autocannon({ url: emulator.url, connections, duration: seconds, requests, tlsOptions: { ca } });
      return {
        requests: result.requests.total,
        errors: result.errors + result.timeouts,
        non2xx: result.non2xx,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
      };
    };
    // Each reading once the round's connections have closed and the process has come to rest.
    await round(options.warmupSeconds ?? 10);
    const warm = await settledFootprint(emulator.pid);
    const measured = await round(options.seconds);
    const after = await settledFootprint(emulator.pid);
    return {
      seconds: options.seconds,
      connections,
      ...measured,
      rssAfterWarmupMb: warm.rssMb,
      rssAfterMb: after.rssMb,
      memoryGrowthPercent: Math.round(((after.rssMb - warm.rssMb) / warm.rssMb) * 1000) / 10,
      fdsAfterWarmup: warm.fds,
      fdsAfter: after.fds,
    };
  } finally {
    await emulator.close();
    emulator.remove();
  }
}
