// The security domain's two token objects, named by the domain's id: which CKA_IDs name them,
// and installing and removing them in a real token.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DOMAIN_OBJECT_LABEL, domainIdOfObject, installDomainKeys, removeDomainKeys, sealingKeyOf, wrappingKeyOf } from '../../src/hsm/security-domain/domain-keys.js';
import { TokenError } from '../../src/token/errors.js';
import type { Token } from '../../src/token/token.js';
import { type OpenTestToken, openTestToken } from '../helpers/test-token.js';

let opened: OpenTestToken | undefined;
let token: Token;
let soPin: string;

beforeAll(async () => {
  opened = await openTestToken();
  ({ token } = opened);
  soPin = opened.testToken.soPin;
});

afterAll(() => opened?.close());

beforeEach(async () => {
  for (const id of await token.keyIdsLabelled(DOMAIN_OBJECT_LABEL)) await token.destroyObjectsWithId(id);
});

const newPayload = () => ({ domainId: randomBytes(16), wrappingKey: randomBytes(32), sealingKey: randomBytes(32) });

async function domainObjects(): Promise<string[]> {
  return (await token.keyIdsLabelled(DOMAIN_OBJECT_LABEL)).map((id) => id.toString('hex')).sort();
}

const idsOf = (domainId: Buffer) => [sealingKeyOf(domainId).id.toString('hex'), wrappingKeyOf(domainId).id.toString('hex')].sort();

describe('domain object ids', () => {
  const domainId = randomBytes(16);

  it('reads the domain id from the wrapping and the sealing key ids', () => {
    expect(domainIdOfObject(wrappingKeyOf(domainId).id)).toEqual(domainId);
    expect(domainIdOfObject(sealingKeyOf(domainId).id)).toEqual(domainId);
  });

  it.each([
    ['another prefix', Buffer.concat([Buffer.from('sd-key!:'), domainId])],
    ['a prefix without its colon', Buffer.concat([Buffer.from('sd-wrap-'), domainId])],
    ['a random id', randomBytes(16)],
    ['a short id', Buffer.from('sd-seal')],
    ['an empty id', Buffer.alloc(0)],
  ])('names no domain for %s', (_label, id) => {
    expect(domainIdOfObject(id)).toBeUndefined();
  });
});

describe('installing and removing domain keys', () => {
  it('installs both keys and removes exactly those of one domain', async () => {
    const kept = newPayload();
    const removed = newPayload();
    await installDomainKeys(token, soPin, kept);
    await installDomainKeys(token, soPin, removed);
    expect(await domainObjects()).toEqual([...idsOf(kept.domainId), ...idsOf(removed.domainId)].sort());
    await removeDomainKeys(token, removed.domainId);
    expect(await domainObjects()).toEqual(idsOf(kept.domainId));
  });

  it('leaves no sealing key behind when the wrapping key cannot be made', async () => {
    const error = await installDomainKeys(token, 'not-the-so-pin', newPayload()).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(TokenError);
    expect((error as TokenError).code).toBe('SO_PIN_INCORRECT');
    expect(await domainObjects()).toEqual([]);
  });
});
