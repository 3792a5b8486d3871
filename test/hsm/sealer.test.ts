// Sealed blobs on a real token (src/hsm/security-domain/sealer.ts): the layout, the round trip, and
// each refusal with its reason and message: not a sealed blob (length, magic, version), another
// domain's, altered anywhere (header, nonce, ciphertext, tag) or sealed for another purpose.
import { createDecipheriv, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SealPurpose, SealRefused, Sealer } from '../../src/hsm/security-domain/sealer.js';
import type { TokenKey } from '../../src/token/key-spec.js';
import { type OpenTestToken, openTestToken } from '../helpers/test-token.js';

let opened: OpenTestToken;
let sealer: Sealer;
let key: TokenKey;
const value = randomBytes(32);
const domainId = randomBytes(16);

beforeAll(async () => {
  opened = await openTestToken();
  key = await opened.token.importKey({ type: 'aes', bits: 256 }, { type: 'secret', value });
  sealer = new Sealer(opened.token, key, domainId);
});

afterAll(() => opened?.close());

async function refusal(blob: Buffer, purpose: SealPurpose = 'key-backup', field = 'value'): Promise<{ reason: string; code: string; message: string }> {
  try {
    await sealer.unseal(blob, purpose, field);
  } catch (error) {
    expect(error).toBeInstanceOf(SealRefused);
    const refused = error as SealRefused;
    // An altered blob keeps the token's own answer as its cause, for the log.
    if (refused.reason === 'altered') expect(refused.cause).toBeDefined();
    return { reason: refused.reason, code: refused.code, message: refused.message };
  }
  throw new Error('expected a refusal');
}

const notSealed = (field = 'value') => ({ reason: 'not-sealed', code: 'BadParameter', message: `${field}: not a blob sealed by a Managed HSM emulator` });
const altered = (purpose: SealPurpose, field = 'value') => ({
  reason: 'altered',
  code: 'BadParameter',
  message: `${field}: the blob's seal does not verify: it was altered, or is not a ${purpose}`,
});

describe('a sealed blob', () => {
  it('is MHSMSEAL, version 1, the domain id, a 12-byte nonce and AES-256-GCM with the header and purpose as associated data', async () => {
    const plaintext = Buffer.from('a key backup');
    const blob = await sealer.seal(plaintext, 'key-backup');
    expect(blob.subarray(0, 8).toString('latin1')).toBe('MHSMSEAL');
    expect(blob[8]).toBe(1);
    expect(blob.subarray(9, 25).equals(domainId)).toBe(true);
    expect(blob).toHaveLength(25 + 12 + plaintext.length + 16);
    // node:crypto, holding the key's value, opens it: the format is what it says.
    const decipher = createDecipheriv('aes-256-gcm', value, blob.subarray(25, 37));
    decipher.setAAD(Buffer.concat([blob.subarray(0, 25), Buffer.from('key-backup')]));
    decipher.setAuthTag(blob.subarray(-16));
    expect(Buffer.concat([decipher.update(blob.subarray(37, -16)), decipher.final()]).equals(plaintext)).toBe(true);
    expect((await sealer.unseal(blob, 'key-backup', 'value')).equals(plaintext)).toBe(true);
    // A fresh nonce each time.
    expect((await sealer.seal(plaintext, 'key-backup')).equals(blob)).toBe(false);
    expect(sealer.domainId.equals(domainId)).toBe(true);
  });

  it('opens for its own purpose only', async () => {
    const blob = await sealer.seal(Buffer.from('x'), 'full-backup');
    expect((await sealer.unseal(blob, 'full-backup', 'value')).toString()).toBe('x');
    expect(await refusal(blob, 'key-backup')).toEqual(altered('key-backup'));
    expect(await refusal(blob, 'domain-payload', 'blob')).toEqual(altered('domain-payload', 'blob'));
  });

  it('refuses what is not one, by length, magic or version', async () => {
    const blob = await sealer.seal(Buffer.alloc(0), 'key-backup');
    // The shortest blob is header, nonce and tag: one byte less is not one.
    expect(blob).toHaveLength(53);
    expect((await sealer.unseal(blob, 'key-backup', 'value'))).toHaveLength(0);
    expect(await refusal(blob.subarray(0, 52))).toEqual(notSealed());
    expect(await refusal(Buffer.alloc(0), 'key-backup', 'backup')).toEqual(notSealed('backup'));
    const magic = Buffer.from(blob);
    magic[0] = 0x6d;
    expect(await refusal(magic)).toEqual(notSealed());
    const lastMagic = Buffer.from(blob);
    lastMagic[7] = 0x00;
    expect(await refusal(lastMagic)).toEqual(notSealed());
    const version = Buffer.from(blob);
    version[8] = 2;
    expect(await refusal(version)).toEqual(notSealed());
  });

  it('tells another domain apart from an altered blob', async () => {
    const blob = await sealer.seal(Buffer.from('payload'), 'key-backup');
    const foreign = Buffer.from(blob);
    foreign[24] = (foreign[24] as number) ^ 1;
    expect(await refusal(foreign)).toEqual({
      reason: 'other-domain',
      code: 'BadParameter',
      message: 'value: made by an HSM of another security domain; it can be restored only into an HSM holding the domain that made it',
    });
    const other = new Sealer(opened.token, key, randomBytes(16));
    expect((await refusal(await other.seal(Buffer.from('x'), 'key-backup'))).reason).toBe('other-domain');
    for (const at of [25, 36, 37, blob.length - 17, blob.length - 16, blob.length - 1]) {
      const changed = Buffer.from(blob);
      changed[at] = (changed[at] as number) ^ 0x01;
      expect(await refusal(changed), `byte ${at}`).toEqual(altered('key-backup'));
    }
    expect(await refusal(blob.subarray(0, -1))).toEqual(altered('key-backup'));
    expect(await refusal(Buffer.concat([blob, Buffer.alloc(1)]))).toEqual(altered('key-backup'));
  });
});
