// The keys endpoints of the Managed HSM data plane.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HsmError } from '../../hsm/errors.js';
import { keyExchangeKeyOf } from '../../hsm/byok/transfer-blob.js';
import type { KeyService, KeyView } from '../../hsm/key-service.js';
import type { SingleKeyBackup } from '../../hsm/backup/single-key-backup.js';
import type { FairWriteQueue } from '../../hsm/fair-write-queue.js';
import type { RotationPolicy } from '../../hsm/rotation-policy.js';
import type { OperationName } from '../operations.js';
import { originOf } from '../origin.js';
import { deletedKeyBundle, deletedKeyItem, keyBundle, keyId, keyItem } from '../key-bundles.js';
import { b64, bodyOf, bytesField } from '../wire.js';
import { checkApiVersion } from './api-version.js';

type Params = { name: string; version?: string };

/** The route's entry in the RBAC operation table. */
const op = (operation: OperationName) => ({ config: { operation } });

function maxResults(request: FastifyRequest): number | undefined {
  const value = (request.query as Record<string, unknown>).maxresults;
  if (value === undefined || value === '') return undefined;
  const number = Number(value);
  if (!Number.isInteger(number)) throw new HsmError('BadParameter', 'maxresults: must be a whole number from 1 to 25');
  return number;
}

function skipToken(request: FastifyRequest): string | undefined {
  const value = (request.query as Record<string, unknown>).$skiptoken;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function nextLink(request: FastifyRequest, path: string, apiVersion: string, next: string | undefined, limit: number | undefined): string | null {
  if (next === undefined) return null;
  const query = new URLSearchParams({ 'api-version': apiVersion, $skiptoken: next, ...(limit === undefined ? {} : { maxresults: String(limit) }) });
  return `${originOf(request)}${path}?${query.toString()}`;
}

export function registerKeyRoutes(app: FastifyInstance, keys: KeyService, backups: SingleKeyBackup, writes: FairWriteQueue): void {
  /** Writes of key material wait their turn among the principals' (fair-write-queue.ts). */
  const write = <T>(request: FastifyRequest, work: () => Promise<T>) => writes.run(request.caller?.objectId ?? '', work);
  const bundle = (request: FastifyRequest, view: KeyView) => keyBundle(view, originOf(request), keys.purgeProtection);

  app.post('/keys/:name/create', op('createKey'), async (request) => {
    checkApiVersion(request);
    const { name } = request.params as Params;
    const body = bodyOf(request.body);
    const view = await write(request, () => keys.create(name, {
      kty: body.kty,
      keySize: body.key_size,
      crv: body.crv,
      keyOps: body.key_ops,
      publicExponent: body.public_exponent,
      attributes: body.attributes,
      tags: body.tags,
      releasePolicy: body.release_policy,
    }));
    return bundle(request, view);
  });

  app.put('/keys/:name', op('importKey'), async (request) => {
    checkApiVersion(request);
    const { name } = request.params as Params;
    const body = bodyOf(request.body);
    if (typeof body.key !== 'object' || body.key === null || Array.isArray(body.key)) throw new HsmError('BadParameter', 'key: required, a JSON Web Key');
    const keyHsm = (body.key as Record<string, unknown>).key_hsm;
    if (keyHsm !== undefined) request.auditKeyExchangeKey = keyExchangeKeyOf(keyHsm);
    const view = await write(request, () => keys.importKey(name, {
      jwk: body.key as Record<string, unknown>,
      attributes: body.attributes,
      tags: body.tags,
      releasePolicy: body.release_policy,
    }));
    return bundle(request, view);
  });

  const getKey = async (request: FastifyRequest) => {
    checkApiVersion(request);
    const { name, version } = request.params as Params;
    return bundle(request, keys.get(name, version));
  };
  app.get('/keys/:name', op('getKey'), getKey);
  app.get('/keys/:name/:version', op('getKey'), getKey);

  const updateKey = async (request: FastifyRequest) => {
    checkApiVersion(request);
    const { name, version } = request.params as Params;
    const body = bodyOf(request.body);
    return bundle(request, keys.update(name, version, { keyOps: body.key_ops, attributes: body.attributes, tags: body.tags, releasePolicy: body.release_policy }));
  };
  app.patch('/keys/:name', op('updateKey'), updateKey);
  app.patch('/keys/:name/:version', op('updateKey'), updateKey);

  app.get('/keys', op('listKeys'), async (request) => {
    const apiVersion = checkApiVersion(request);
    const limit = maxResults(request);
    const page = keys.list(limit, skipToken(request));
    return {
      value: page.items.map((view) => keyItem(view, originOf(request), keys.purgeProtection, false)),
      nextLink: nextLink(request, '/keys', apiVersion, page.next, limit),
    };
  });

  app.get('/keys/:name/versions', op('listKeyVersions'), async (request) => {
    const apiVersion = checkApiVersion(request);
    const { name } = request.params as Params;
    const limit = maxResults(request);
    const page = keys.listVersions(name, limit, skipToken(request));
    return {
      value: page.items.map((view) => keyItem(view, originOf(request), keys.purgeProtection, true)),
      nextLink: nextLink(request, `/keys/${name}/versions`, apiVersion, page.next, limit),
    };
  });

  app.delete('/keys/:name', op('deleteKey'), async (request) => {
    checkApiVersion(request);
    const { name } = request.params as Params;
    return deletedKeyBundle(keys.delete(name), originOf(request), keys.purgeProtection);
  });

  app.get('/deletedkeys', op('listDeletedKeys'), async (request) => {
    const apiVersion = checkApiVersion(request);
    const limit = maxResults(request);
    const page = keys.listDeleted(limit, skipToken(request));
    return {
      value: page.items.map((view) => deletedKeyItem(view, originOf(request), keys.purgeProtection)),
      nextLink: nextLink(request, '/deletedkeys', apiVersion, page.next, limit),
    };
  });

  app.get('/deletedkeys/:name', op('getDeletedKey'), async (request) => {
    checkApiVersion(request);
    const { name } = request.params as Params;
    return deletedKeyBundle(keys.getDeleted(name), originOf(request), keys.purgeProtection);
  });

  app.delete('/deletedkeys/:name', op('purgeDeletedKey'), async (request, reply: FastifyReply) => {
    checkApiVersion(request);
    const { name } = request.params as Params;
    await write(request, () => keys.purge(name));
    // The service names a content type even on this empty answer.
    return reply.code(204).header('content-type', 'application/json; charset=utf-8').send();
  });

  app.post('/deletedkeys/:name/recover', op('recoverDeletedKey'), async (request) => {
    checkApiVersion(request);
    const { name } = request.params as Params;
    return bundle(request, keys.recover(name));
  });

  const policyBody = (request: FastifyRequest, policy: RotationPolicy | undefined) => {
    const { name } = request.params as Params;
    const key = keys.get(name).key;
    return {
      id: `${originOf(request)}/keys/${key.name}/rotationpolicy`,
      lifetimeActions: policy?.lifetimeActions ?? [],
      attributes: policy ? { ...(policy.expiryTime === undefined ? {} : { expiryTime: policy.expiryTime }), created: policy.created, updated: policy.updated } : {},
    };
  };

  app.get('/keys/:name/rotationpolicy', op('getRotationPolicy'), async (request) => {
    checkApiVersion(request);
    const { name } = request.params as Params;
    return policyBody(request, keys.getRotationPolicy(name));
  });

  app.put('/keys/:name/rotationpolicy', op('setRotationPolicy'), async (request) => {
    checkApiVersion(request);
    const { name } = request.params as Params;
    return policyBody(request, keys.setRotationPolicy(name, bodyOf(request.body)));
  });

  app.post('/keys/:name/backup', op('backupKey'), async (request) => {
    checkApiVersion(request);
    const { name } = request.params as Params;
    return { value: b64(await backups.backup(name)) };
  });

  app.post('/keys/restore', op('restoreKey'), async (request) => {
    checkApiVersion(request);
    const blob = bytesField(bodyOf(request.body), 'value', true);
    return bundle(request, await write(request, () => backups.restore(blob)));
  });

  app.post('/keys/:name/rotate', op('rotateKey'), async (request) => {
    checkApiVersion(request);
    const { name } = request.params as Params;
    return bundle(request, await write(request, () => keys.rotate(name)));
  });

  // Cryptography. An empty version segment (/keys/{name}//sign) means the newest version.
  for (const version of ['', '/:version']) {
    const base = `/keys/:name${version}`;
    const result = (request: FastifyRequest, view: KeyView, fields: Record<string, unknown>) => ({
      kid: keyId(originOf(request), view.version.name, view.version.version),
      ...fields,
    });

    app.post(`${base}/sign`, op('sign'), async (request) => {
      checkApiVersion(request);
      const { name, version: v } = request.params as Params;
      const body = bodyOf(request.body);
      const { view, value } = await keys.sign(name, v, body.alg, bytesField(body, 'value', true));
      return result(request, view, { alg: body.alg, value: b64(value) });
    });

    app.post(`${base}/verify`, op('verify'), async (request) => {
      checkApiVersion(request);
      const { name, version: v } = request.params as Params;
      const body = bodyOf(request.body);
      const { value } = await keys.verify(name, v, body.alg, bytesField(body, 'digest', true), bytesField(body, 'value', true));
      return { value };
    });

    for (const operation of ['encrypt', 'wrapKey'] as const) {
      app.post(`${base}/${operation.toLowerCase()}`, op(operation), async (request) => {
        checkApiVersion(request);
        const { name, version: v } = request.params as Params;
        const body = bodyOf(request.body);
        const aad = bytesField(body, 'aad');
        const { view, result: sealed } = await keys.encrypt(name, v, operation, body.alg, {
          plaintext: bytesField(body, 'value', true),
          iv: bytesField(body, 'iv'),
          aad,
        });
        return result(request, view, {
          alg: body.alg,
          value: b64(sealed.value),
          ...(sealed.iv ? { iv: b64(sealed.iv) } : {}),
          ...(sealed.tag ? { tag: b64(sealed.tag) } : {}),
          // The service echoes the aad of an authenticated encryption (GCM), and of nothing else.
          ...(sealed.tag && aad ? { aad: b64(aad) } : {}),
        });
      });
    }

    for (const operation of ['decrypt', 'unwrapKey'] as const) {
      app.post(`${base}/${operation.toLowerCase()}`, op(operation), async (request) => {
        checkApiVersion(request);
        const { name, version: v } = request.params as Params;
        const body = bodyOf(request.body);
        const { view, value } = await keys.decrypt(name, v, operation, body.alg, {
          ciphertext: bytesField(body, 'value', true),
          iv: bytesField(body, 'iv'),
          aad: bytesField(body, 'aad'),
          tag: bytesField(body, 'tag'),
        });
        return result(request, view, { alg: body.alg, value: b64(value) });
      });
    }
  }

  app.post('/rng', op('getRandomBytes'), async (request) => {
    checkApiVersion(request);
    const body = bodyOf(request.body);
    return { value: b64(await keys.random(body.count)) };
  });
}
