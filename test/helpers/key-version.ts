// A key version as the store keeps it, for tests that need one: an EC P-256 signing key with no
// dates, tags or policy unless told otherwise.
import { randomBytes } from 'node:crypto';
import type { KeyVersionRecord } from '../../src/store/key-records.js';

export function keyVersionRecord(name: string, overrides: Partial<KeyVersionRecord> = {}): KeyVersionRecord {
  return {
    name,
    version: randomBytes(16).toString('hex'),
    tokenId: randomBytes(16),
    spec: { type: 'ec', curve: 'P-256' },
    publicJwk: { kty: 'EC-HSM', crv: 'P-256', x: 'AAAA', y: 'BBBB' },
    keyOps: ['sign', 'verify'],
    enabled: true,
    notBefore: null,
    expires: null,
    exportable: false,
    releasePolicy: undefined,
    tags: {},
    created: 1000,
    updated: 1000,
    ...overrides,
  };
}
