// libmhsm-pkcs11.so through graphene-pk11, the object-style PKCS#11 binding for Node: a key pair
// made, found again by template, signed with, verified both here and with the public key from
// REST, and destroyed (soft delete).
import { randomBytes, verify } from 'node:crypto';
import path from 'node:path';
import * as graphene from 'graphene-pk11';
import { beforeAll, describe, expect, it } from 'vitest';
import { PKCS11_LIBRARY, providerFixture, publicKeyOverRest, skipProvider, writeProviderConfig } from '../helpers/pkcs11-provider.js';
import { accessToken, callJson } from '../helpers/rest.js';

const hsm = providerFixture('mhsm-graphene-');

beforeAll(async () => {
  process.env.MHSM_PKCS11_CONF = await writeProviderConfig(hsm.emulator.dataDir, path.join(hsm.scratch, 'pkcs11.json'));
});

describe.skipIf(skipProvider)('graphene-pk11 with libmhsm-pkcs11.so', () => {
  it('makes, finds, signs with, verifies and destroys a key pair', async () => {
    const module = graphene.Module.load(PKCS11_LIBRARY, 'mhsm');
    module.initialize();
    try {
      expect(module.manufacturerID).toBe('managed-hsm-emulator');
      const slot = module.getSlots(0);
      expect(slot.getToken().label).toBe('mhsm');
      expect(slot.getMechanisms().items(0)).toBeDefined();
      const session = slot.open(graphene.SessionFlag.RW_SESSION | graphene.SessionFlag.SERIAL_SESSION);
      const id = randomBytes(4);
      const pair = session.generateKeyPair(
        graphene.KeyGenMechanism.EC,
        { keyType: graphene.KeyType.EC, token: true, label: 'graphene-ec', id, verify: true, paramsEC: graphene.NamedCurve.getByName('secp256r1').value },
        { keyType: graphene.KeyType.EC, token: true, label: 'graphene-ec', id, sign: true, sensitive: true },
      );
      const found = session.find({ class: graphene.ObjectClass.PRIVATE_KEY, id });
      expect(found.length).toBe(1);
      const privateKey = found.items(0).toType<graphene.PrivateKey>();
      expect(privateKey.label).toBe('graphene-ec');
      expect(privateKey.sensitive).toBe(true);

      const data = randomBytes(500);
      const signature = session.createSign('ECDSA_SHA256', privateKey).once(data);
      expect(session.createVerify('ECDSA_SHA256', pair.publicKey).once(data, signature)).toBe(true);
      const { key } = await publicKeyOverRest(hsm.emulator.url, hsm.emulator.admin, 'graphene-ec');
      expect(verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
      expect(session.generateRandom(64)).toHaveLength(64);

      privateKey.destroy();
      expect(session.find({ class: graphene.ObjectClass.PRIVATE_KEY, id }).length).toBe(0);
      const bearer = await accessToken(hsm.emulator.url, hsm.emulator.admin);
      expect((await callJson(hsm.emulator.url, bearer, 'GET', '/deletedkeys/graphene-ec')).status).toBe(200);
      session.close();
    } finally {
      module.finalize();
    }
  });
});
