// The addon's threading guarantee: slow calls run on worker threads and never hold the JS thread.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NativeModule } from '../../src/native/addon.js';
import { CKA, CKM } from '../../src/token/constants.js';
import { type NativeTestToken, openNativeTestToken } from '../helpers/test-token.js';
import { worstTimerLateness } from '../helpers/timer-lateness.js';

let opened: NativeTestToken | undefined;
let module: NativeModule;
let slot: number;
let session: number;

beforeAll(async () => {
  opened = await openNativeTestToken();
  ({ module, slot, session } = opened);
});

afterAll(() => opened?.close());


function isSettledSoon(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  // Two microtask turns: enough for an already-settled promise, not for a worker thread.
  return Promise.resolve()
    .then(() => undefined)
    .then(() => settled);
}

describe('worker threads', () => {
  it('generates an RSA-4096 key pair without delaying a 1 ms timer by more than 20 ms', async () => {
    let generated = false;
    const { worstMs, ticks } = await worstTimerLateness(async () => {
      const pair = await module.generateKeyPair(
        session,
        { type: CKM.RSA_PKCS_KEY_PAIR_GEN },
        [{ type: CKA.TOKEN, value: false }, { type: CKA.MODULUS_BITS, value: 4096 }],
        [{ type: CKA.TOKEN, value: false }, { type: CKA.SIGN, value: true }],
      );
      generated = pair.privateKey > 0;
    });
    expect(generated).toBe(true);
    expect(ticks).toBeGreaterThan(5); // the timer really ran during the generation
    expect(worstMs).toBeLessThan(20);
  });

  it('keeps the timer on time through 40 concurrent RSA-2048 signatures, one per session', async () => {
    const pair = await module.generateKeyPair(
      session,
      { type: CKM.RSA_PKCS_KEY_PAIR_GEN },
      [{ type: CKA.TOKEN, value: false }, { type: CKA.MODULUS_BITS, value: 2048 }],
      [{ type: CKA.TOKEN, value: false }, { type: CKA.SIGN, value: true }],
    );
    // All 40 in flight at once: run on the JS thread, they would hold it for tens of milliseconds.
    const sessions = [session, ...Array.from({ length: 39 }, () => module.openSession(slot))];
    try {
      const { worstMs } = await worstTimerLateness(async () => {
        const signatures = await Promise.all(sessions.map((s, i) => module.sign(s, { type: CKM.SHA256_RSA_PKCS }, pair.privateKey, Buffer.from(`m${i}`))));
        for (const signature of signatures) expect(signature).toHaveLength(256);
      });
      expect(worstMs).toBeLessThan(20);
    } finally {
      for (const s of sessions.slice(1)) module.closeSession(s);
    }
  });

  it('settles worker calls on a later turn of the event loop; inline calls return or throw at once', async () => {
    const worker = module.generateRandom(session, 16);
    expect(worker).toBeInstanceOf(Promise);
    expect(await isSettledSoon(worker)).toBe(false);
    expect(await worker).toHaveLength(16);
    const inline = module.generateRandom(session, 16, true);
    expect(Buffer.isBuffer(inline)).toBe(true);
    expect(inline).toHaveLength(16);
    expect(() => module.generateRandom(999999, 16, true)).toThrow(expect.objectContaining({ code: 'CKR_SESSION_HANDLE_INVALID' }));
  });
});
