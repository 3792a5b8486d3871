// Key attestation (api-version 7.6 and later): GET /keys/{name}[/{version}]/attestation answers
// the key bundle with attributes.attestation and attributes.hsmPlatform, as
// KeyClient.getKeyAttestation reads it.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HsmError } from '../../hsm/errors.js';
import { HSM_PLATFORM, type KeyAttestation } from '../../hsm/attestation/key-attestation.js';
import type { KeyService } from '../../hsm/key-service.js';
import { keyBundle, keyId } from '../key-bundles.js';
import { originOf } from '../origin.js';
import { checkApiVersion } from './api-version.js';

type Params = { name: string; version?: string };

/** The versions that have the operation: 7.6 and the dated ones after it. */
const ATTESTATION_VERSIONS = /^(7\.6(-preview(\.\d+)?)?|\d{4}-\d{2}-\d{2}(-preview)?)$/;

export function registerAttestationRoutes(app: FastifyInstance, keys: KeyService, attestation: KeyAttestation): void {
  const attest = async (request: FastifyRequest) => {
    const apiVersion = checkApiVersion(request);
    if (!ATTESTATION_VERSIONS.test(apiVersion)) throw new HsmError('BadParameter', `api-version: key attestation needs 7.6 or later, not ${apiVersion}`);
    const { name, version } = request.params as Params;
    const view = keys.get(name, version);
    const origin = originOf(request);
    const bundle = keyBundle(view, origin, keys.purgeProtection) as { attributes: Record<string, unknown> };
    const blob = await attestation.attest(view, keyId(origin, view.version.name, view.version.version));
    return { ...bundle, attributes: { ...bundle.attributes, hsmPlatform: HSM_PLATFORM, attestation: blob } };
  };
  const op = { config: { operation: 'getKeyAttestation' as const } };
  app.get('/keys/:name/attestation', op, attest);
  app.get('/keys/:name/:version/attestation', op, attest);
}
