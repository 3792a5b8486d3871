// The security domain's payload (src/hsm/security-domain/domain-payload.ts): the binary layout of
// the domain id and its two key values, its checks, copies and zeroing.
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { DOMAIN_TAG, decodePayload, encodePayload, zeroPayload } from '../../src/hsm/security-domain/domain-payload.js';

const payload = () => ({ domainId: randomBytes(16), wrappingKey: randomBytes(32), sealingKey: randomBytes(32) });

it('lays out a magic, the id and the two keys, and reads them back as copies', () => {
  const original = payload();
  const bytes = encodePayload(original);
  expect(bytes).toHaveLength(88);
  expect(bytes.subarray(0, 8).toString('latin1')).toBe('MHSMSD\x01\x00');
  expect(bytes.subarray(8, 24).equals(original.domainId)).toBe(true);
  expect(bytes.subarray(24, 56).equals(original.wrappingKey)).toBe(true);
  expect(bytes.subarray(56, 88).equals(original.sealingKey)).toBe(true);
  const decoded = decodePayload(bytes);
  expect(decoded).toEqual(original);
  // Copies: zeroing the input leaves what was read.
  bytes.fill(0);
  expect(decoded).toEqual(original);
  expect(DOMAIN_TAG).toBe('hsm_backup');
});

it('encodes only a 16-byte id and two 32-byte keys', () => {
  const good = payload();
  for (const bad of [{ ...good, domainId: randomBytes(15) }, { ...good, wrappingKey: randomBytes(31) }, { ...good, sealingKey: randomBytes(33) }]) {
    expect(() => encodePayload(bad)).toThrow(new RangeError('a domain payload is a 16-byte id and two 32-byte keys'));
  }
});

it('refuses bytes of another length or magic, naming the item', () => {
  const bytes = encodePayload(payload());
  const message = 'value: the "hsm_backup" item of this security domain was not made by this emulator';
  for (const bad of [bytes.subarray(0, 87), Buffer.concat([bytes, Buffer.alloc(1)]), Buffer.alloc(0), Buffer.concat([Buffer.from('MHSMSD\x02\x00', 'latin1'), bytes.subarray(8)])]) {
    expect(() => decodePayload(bad)).toThrow(expect.objectContaining({ code: 'BadParameter', message }));
  }
});

it('zeroes both keys, and leaves the id', () => {
  const decoded = payload();
  const id = Buffer.from(decoded.domainId);
  zeroPayload(decoded);
  expect(decoded.wrappingKey.equals(Buffer.alloc(32))).toBe(true);
  expect(decoded.sealingKey.equals(Buffer.alloc(32))).toBe(true);
  expect(decoded.domainId.equals(id)).toBe(true);
});
