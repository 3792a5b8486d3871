// A ceremony key pair's private key leaves ceremonyKeyPair only as PEM text: the PKCS#8 DER
// exported to build it is zeroed afterwards (docs/security-model.md). That DER is native crypto
// output, outside Node's Buffer pool, so the export of private KeyObjects is recorded here.
import 'reflect-metadata';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ceremonyKeyPair } from '../../src/hsm/security-domain/certificates.js';

interface Exported {
  options: unknown;
  buffer: Buffer;
  snapshot: Buffer;
}

const privatePrototype = Object.getPrototypeOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey) as KeyObject;
const realExport = privatePrototype.export;
let exported: Exported[] = [];

beforeEach(() => {
  exported = [];
  vi.spyOn(privatePrototype, 'export').mockImplementation(function (this: KeyObject, ...args: unknown[]) {
    const out = (realExport as (...a: unknown[]) => unknown).apply(this, args);
    if (Buffer.isBuffer(out)) exported.push({ options: args[0], buffer: out, snapshot: Buffer.from(out) });
    return out as never;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  exported = [];
});

const isZero = (buffer: Buffer) => buffer.every((byte) => byte === 0);
const derOf = (pemText: string) => Buffer.from(pemText.replace(/-----[A-Z ]+-----/g, '').replace(/\s/g, ''), 'base64');

describe('ceremonyKeyPair', () => {
  it('the recorder sees a private key DER that nobody zeroed', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const der = privateKey.export({ type: 'pkcs8', format: 'der' });
    expect(exported).toHaveLength(1);
    expect(exported[0]?.buffer).toBe(der);
    expect(isZero(der)).toBe(false);
  });

  it('zeroes the PKCS#8 DER of the private key once its PEM is made', async () => {
    const pair = await ceremonyKeyPair('ceremony-zeroing');
    expect(exported).toHaveLength(1);
    const [pkcs8] = exported as [Exported];
    expect(pkcs8.options).toEqual({ type: 'pkcs8', format: 'der' });
    // The recorded DER is the key the PEM carries, and it no longer holds it.
    expect(derOf(pair.privateKeyPem).equals(pkcs8.snapshot)).toBe(true);
    expect(isZero(pkcs8.snapshot)).toBe(false);
    expect(isZero(pkcs8.buffer)).toBe(true);
  });
});
