// What start-up asks of the token: the CKA_IDs of the private and secret keys with a label (one
// search for every class; public keys, data objects and other labels left out), and whether a
// key is there, answered from the handle found then without a search, yet never wrongly.
import { expect, it } from 'vitest';
import { CKA, CKO } from '../../src/token/constants.js';
import { acquireModule, releaseModule } from '../../src/token/module-registry.js';
import { openUserSession, slotByLabel } from '../helpers/pkcs11.js';
import { tokenPerFile } from '../helpers/test-token.js';

const opened = tokenPerFile();

/** Runs `work` on a user session of a second user of the module, as another library in the process would. */
async function withOtherSession<T>(work: (module: ReturnType<typeof acquireModule>, session: number) => Promise<T>): Promise<T> {
  const module = acquireModule(opened.testToken.modulePath);
  try {
    const session = await openUserSession(module, await slotByLabel(module, opened.testToken.label), opened.testToken.pin);
    try {
      return await work(module, session);
    } finally {
      module.closeSession(session);
    }
  } finally {
    releaseModule(module);
  }
}

const hex = (ids: Buffer[]) => ids.map((id) => id.toString('hex')).sort();

it('finds the private and secret keys with the label, and nothing else', async () => {
  const label = 'labelled-ids';
  const ec = await opened.token.generateKey({ type: 'ec', curve: 'P-256' }, { label });
  const aes = await opened.token.generateKey({ type: 'aes', bits: 256 }, { label });
  const rsa = await opened.token.generateKey({ type: 'rsa', bits: 2048 }, { label });
  await opened.token.generateKey({ type: 'aes', bits: 128 }, { label: 'another-label' });
  // A data object with the label has no CKA_ID at all; a certificate-like public object has one.
  await withOtherSession(async (module, session) => {
    await module.createObject(session, [
      { type: CKA.CLASS, value: CKO.DATA },
      { type: CKA.TOKEN, value: true },
      { type: CKA.LABEL, value: Buffer.from(label) },
      { type: CKA.VALUE, value: Buffer.from('not a key') },
    ]);
  });
  expect(hex(await opened.token.keyIdsLabelled(label))).toEqual(hex([ec.id, aes.id, rsa.id]));
  expect(await opened.token.keyIdsLabelled('no-such-label')).toEqual([]);
});

it('answers hasKey from the handle found, and still says no once another session destroyed the key', async () => {
  const label = 'labelled-has';
  const key = await opened.token.generateKey({ type: 'aes', bits: 256 }, { label });
  expect(hex(await opened.token.keyIdsLabelled(label))).toEqual(hex([key.id]));
  expect(await opened.token.hasKey(key)).toBe(true);
  // Destroyed behind the token layer's back: the handle it keeps is stale.
  await withOtherSession(async (module, session) => {
    const handles = await module.findObjects(session, [{ type: CKA.ID, value: key.id }]);
    expect(handles).toHaveLength(1);
    for (const handle of handles) await module.destroyObject(session, handle);
  });
  expect(await opened.token.hasKey(key)).toBe(false);
  expect(await opened.token.hasKey(key)).toBe(false);
});

it('does not take a handle that now names another object for the key it once named', async () => {
  const label = 'labelled-reused';
  const gone = await opened.token.generateKey({ type: 'aes', bits: 128 }, { label });
  await opened.token.keyIdsLabelled(label);
  const other = await opened.token.generateKey({ type: 'aes', bits: 128 }, { label });
  const [staleHandle, otherHandle] = await withOtherSession(async (module, session) => {
    const [stale] = await module.findObjects(session, [{ type: CKA.ID, value: gone.id }]);
    const [handle] = await module.findObjects(session, [{ type: CKA.ID, value: other.id }]);
    await module.destroyObject(session, stale as number);
    return [stale as number, handle as number];
  });
  // SoftHSM2 never hands a handle out twice; a module that does would have the old handle name
  // the newer key. That is made here by answering reads of the old handle with the newer key's.
  const module = acquireModule(opened.testToken.modulePath);
  const read = module.getAttributeValue;
  Object.defineProperty(module, 'getAttributeValue', {
    configurable: true,
    value: (session: number, handle: number, ...rest: unknown[]) =>
      (read as (...args: unknown[]) => unknown).call(module, session, handle === staleHandle ? otherHandle : handle, ...rest),
  });
  try {
    expect(await opened.token.hasKey(gone)).toBe(false);
    expect(await opened.token.hasKey(other)).toBe(true);
  } finally {
    delete (module as { getAttributeValue?: unknown }).getAttributeValue;
    releaseModule(module);
  }
});
