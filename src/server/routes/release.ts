// Secure key release: POST /keys/{name}[/{version}]/release, answered with the HSM's JWS; and the
// local attestation authority's own endpoints (OpenID metadata, JWKS, the SDK tests' test token),
// reached without a bearer token as an attestation service is.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Clock } from '../../clock/clock.js';
import type { KeyRelease, Released } from '../../hsm/release/key-release.js';
import { AUTHORITY_PATH, type LocalAttestationAuthority, localIssuer } from '../../hsm/release/local-authority.js';
import { keyBundle, keyId } from '../key-bundles.js';
import { originOf } from '../origin.js';
import { bodyOf } from '../wire.js';
import { checkApiVersion } from './api-version.js';

type Params = { name: string; version?: string };

export interface ReleaseRouteOptions {
  release: KeyRelease;
  /** The local attestation authority, unless turned off. */
  authority?: LocalAttestationAuthority;
  clock: Clock;
  purgeProtection: boolean;
  /** The URL the emulator announces (server.json), a name of the local authority too. */
  url: () => string | undefined;
}

export function registerReleaseRoutes(app: FastifyInstance, options: ReleaseRouteOptions): void {
  const localIssuers = (request: FastifyRequest) => {
    const announced = options.url();
    return [localIssuer(originOf(request)), ...(announced ? [localIssuer(announced)] : [])];
  };

  const release = async (request: FastifyRequest) => {
    const apiVersion = checkApiVersion(request);
    const { name, version } = request.params as Params;
    const body = bodyOf(request.body);
    const origin = originOf(request);
    // The payload as the service writes it: what was asked, and the key as a bundle whose key
    // carries key_hsm (its kty without -HSM, as recorded).
    const describe = ({ view, enc, nonce, keyHsm }: Released) => {
      const { key, attributes, tags, release_policy: policy } = keyBundle(view, origin, options.purgeProtection) as Record<string, Record<string, unknown>>;
      return {
        request: { 'api-version': apiVersion, enc, kid: keyId(origin, name, version || undefined), ...(nonce === undefined ? {} : { nonce }) },
        response: {
          key: {
            attributes,
            key: { ...key, kty: String(key?.kty).replace(/-HSM$/, ''), key_hsm: keyHsm },
            // The bundle has tags only when the key has some.
            ...(tags ? { tags } : {}),
            ...(policy ? { release_policy: policy } : {}),
          },
        },
      };
    };
    const value = await options.release.release(name, version || undefined, { target: body.target, nonce: body.nonce, enc: body.enc }, localIssuers(request), describe);
    return { value };
  };
  app.post('/keys/:name/release', { config: { operation: 'releaseKey' } }, release);
  app.post('/keys/:name/:version/release', { config: { operation: 'releaseKey' } }, release);

  const { authority } = options;
  if (!authority) return;
  const anonymous = { config: { anonymous: true } };
  app.get(`${AUTHORITY_PATH}/.well-known/openid-configuration`, anonymous, async (request) => authority.metadata(originOf(request)));
  app.get(`${AUTHORITY_PATH}/keys`, anonymous, async () => authority.jwks());
  // Its runtime key's private half is kept by nobody: a release to it is no use to its caller.
  const testToken = async (request: FastifyRequest) => ({ token: await authority.testToken(localIssuer(originOf(request)), options.clock.now()) });
  app.get(`${AUTHORITY_PATH}/generate-test-token`, anonymous, testToken);
  app.get('/generate-test-token', anonymous, testToken);
}
