import { describe, expect, it } from 'vitest';
import { INLINE_PAYLOAD_LIMIT, runsInline } from '../../src/token/dispatch-policy.js';

describe('runsInline', () => {
  it('keeps cheap symmetric, EC P-256 and RSA public-key work on the JS thread', () => {
    expect(runsInline({ operation: 'encrypt', key: { type: 'aes', bits: 256 }, payloadBytes: 1024 })).toBe(true);
    expect(runsInline({ operation: 'sign', key: { type: 'generic-secret', bits: 256 } })).toBe(true);
    expect(runsInline({ operation: 'sign', key: { type: 'ec', curve: 'P-256' } })).toBe(true);
    expect(runsInline({ operation: 'verify', key: { type: 'rsa', bits: 4096 } })).toBe(true);
    expect(runsInline({ operation: 'digest', payloadBytes: 32 })).toBe(true);
    expect(runsInline({ operation: 'generate', key: { type: 'aes', bits: 256 } })).toBe(true);
  });

  it('sends RSA private-key work, key-pair generation, big payloads and token writes to workers', () => {
    expect(runsInline({ operation: 'sign', key: { type: 'rsa', bits: 2048 } })).toBe(false);
    expect(runsInline({ operation: 'decrypt', key: { type: 'rsa', bits: 2048 } })).toBe(false);
    expect(runsInline({ operation: 'generate', key: { type: 'rsa', bits: 2048 } })).toBe(false);
    expect(runsInline({ operation: 'generate', key: { type: 'ec', curve: 'P-256' } })).toBe(false);
    expect(runsInline({ operation: 'sign', key: { type: 'ec', curve: 'P-521' } })).toBe(false);
    expect(runsInline({ operation: 'encrypt', key: { type: 'aes', bits: 256 }, payloadBytes: INLINE_PAYLOAD_LIMIT + 1 })).toBe(false);
    expect(runsInline({ operation: 'generate', key: { type: 'aes', bits: 256 }, writesTokenObject: true })).toBe(false);
    expect(runsInline({ operation: 'sign' })).toBe(false);
  });
});
