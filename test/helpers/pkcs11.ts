// Small helpers for tests that drive the addon directly.
import { CKA, CKF, CKO, CKU } from '../../src/token/constants.js';
import type { NativeAttribute, NativeModule } from '../../src/native/addon.js';
import { acquireModule, releaseModule } from '../../src/token/module-registry.js';

export function slotByLabel(module: NativeModule, label: string): Promise<number> {
  return (async () => {
    for (const slot of module.getSlotList(true)) {
      const info = await module.getTokenInfo(slot);
      if ((info.flags & CKF.TOKEN_INITIALIZED) !== 0 && info.label === label) return slot;
    }
    throw new Error(`no token '${label}'`);
  })();
}

export async function openUserSession(module: NativeModule, slot: number, pin: string): Promise<number> {
  const session = module.openSession(slot, CKF.RW_SESSION);
  try {
    await module.login(session, CKU.USER, pin);
  } catch (error) {
    if ((error as { code?: string }).code !== 'CKR_USER_ALREADY_LOGGED_IN') throw error;
  }
  return session;
}

/** A session-object AES key with a known value (so results can be checked against vectors). */
export function aesKeyTemplate(value: Buffer, extra: NativeAttribute[] = []): NativeAttribute[] {
  return [
    { type: CKA.CLASS, value: CKO.SECRET_KEY },
    { type: CKA.KEY_TYPE, value: 0x1f },
    { type: CKA.TOKEN, value: false },
    { type: CKA.VALUE, value },
    { type: CKA.ENCRYPT, value: true },
    { type: CKA.DECRYPT, value: true },
    { type: CKA.WRAP, value: true },
    { type: CKA.UNWRAP, value: true },
    ...extra,
  ];
}

export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

export interface ObjectCounter {
  /** Every object a session of this process can see: token objects and all sessions' objects. */
  count(): Promise<number>;
  close(): void;
}

/**
 * Counts the objects of a token this process has open (through the token layer's own module
 * instance, so that its session objects are seen too: another process would not see them).
 */
export async function inProcessObjects(modulePath: string, label: string): Promise<ObjectCounter> {
  const module = acquireModule(modulePath);
  const session = module.openSession(await slotByLabel(module, label), CKF.RW_SESSION);
  return {
    count: async () => (await module.findObjects(session, [])).length,
    close() {
      module.closeSession(session);
      releaseModule(module);
    },
  };
}
