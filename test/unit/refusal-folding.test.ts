// Refusals of unauthenticated callers are folded per source; authenticated lines never are.
import { expect, it } from 'vitest';
import type { AuditEntry } from '../../src/audit/audit-entry.js';
import { RefusalFolding } from '../../src/audit/refusal-folding.js';

const entry = (ip: string, status: number, identity: AuditEntry['identity'] = null, name = 'k'): AuditEntry => ({
  time: new Date().toISOString(),
  category: 'AuditEvent',
  operationName: 'KeyGet',
  operationVersion: '7.6',
  resultType: status < 400 ? 'Success' : 'Failure',
  resultSignature: String(status),
  resultDescription: 'x'.repeat(2000),
  durationMs: 1,
  callerIpAddress: ip,
  requestId: 'r',
  identity,
  properties: { httpStatusCode: status, requestUri: `https://h/keys/${name}`, key: { name } },
});

it('writes a few refusals per source in full, cut short, then one summary with the count; authenticated lines always', () => {
  let now = 0;
  const written: any[] = [];
  const folding = new RefusalFolding((line) => written.push(line), { perWindow: 3, windowMs: 1000, maxSources: 10 }, () => now);
  const who = { claim: { oid: 'o', appid: 'a', tid: 't' } };
  for (let i = 0; i < 100; i++) folding.record(entry('10.0.0.1', 401, null, 'n'.repeat(1024)));
  for (let i = 0; i < 5; i++) folding.record(entry('10.0.0.2', 401));
  for (let i = 0; i < 50; i++) folding.record(entry('10.0.0.1', 403, who));
  expect(written.filter((l) => l.identity === null)).toHaveLength(6);
  expect(written.filter((l) => l.identity !== null)).toHaveLength(50);
  for (const line of written.filter((l) => l.identity === null)) {
    expect(JSON.stringify(line).length).toBeLessThan(1200);
    expect(line.properties.key.name.length).toBeLessThanOrEqual(128);
  }
  expect(written[0].properties.key.name).toHaveLength(128);
  now = 1000;
  folding.flush(false);
  const summaries = written.filter((l) => l.operationName === 'RefusedRequestsSummary');
  expect(summaries.map((s) => [s.callerIpAddress, s.summary.count, s.summary.statusCodes])).toEqual([
    ['10.0.0.1', 97, { 401: 97 }],
    ['10.0.0.2', 2, { 401: 2 }],
  ]);
  // A new window writes in full again.
  folding.record(entry('10.0.0.1', 401));
  expect(written.at(-1).operationName).toBe('KeyGet');
});
