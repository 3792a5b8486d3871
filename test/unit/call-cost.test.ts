import { describe, expect, it } from 'vitest';
import { CHEAP_PAYLOAD_LIMIT, costOf } from '../../src/token/call-cost.js';

describe('costOf', () => {
  it('rates symmetric, EC P-256 and RSA public-key work on small payloads cheap', () => {
    expect(costOf({ operation: 'encrypt', key: { type: 'aes', bits: 256 }, payloadBytes: 1024 })).toBe('cheap');
    expect(costOf({ operation: 'sign', key: { type: 'generic-secret', bits: 256 } })).toBe('cheap');
    expect(costOf({ operation: 'sign', key: { type: 'ec', curve: 'P-256' } })).toBe('cheap');
    expect(costOf({ operation: 'verify', key: { type: 'rsa', bits: 4096 } })).toBe('cheap');
    expect(costOf({ operation: 'digest', payloadBytes: 32 })).toBe('cheap');
    expect(costOf({ operation: 'generate', key: { type: 'aes', bits: 256 } })).toBe('cheap');
  });

  it('rates RSA private-key work, key-pair generation, big payloads and token writes heavy', () => {
    expect(costOf({ operation: 'sign', key: { type: 'rsa', bits: 2048 } })).toBe('heavy');
    expect(costOf({ operation: 'decrypt', key: { type: 'rsa', bits: 2048 } })).toBe('heavy');
    expect(costOf({ operation: 'generate', key: { type: 'rsa', bits: 2048 } })).toBe('heavy');
    expect(costOf({ operation: 'generate', key: { type: 'ec', curve: 'P-256' } })).toBe('heavy');
    expect(costOf({ operation: 'sign', key: { type: 'ec', curve: 'P-521' } })).toBe('heavy');
    expect(costOf({ operation: 'encrypt', key: { type: 'aes', bits: 256 }, payloadBytes: CHEAP_PAYLOAD_LIMIT + 1 })).toBe('heavy');
    expect(costOf({ operation: 'generate', key: { type: 'aes', bits: 256 }, writesTokenObject: true })).toBe('heavy');
    expect(costOf({ operation: 'sign' })).toBe('heavy');
  });
});
