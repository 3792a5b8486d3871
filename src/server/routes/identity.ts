// The emulated Entra ID's endpoints: OpenID discovery, JWKS and the token endpoint, enough for
// @azure/identity's ClientSecretCredential (authorityHost = the emulator, instance discovery off).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Identity, IdentityError, isClientId } from '../../identity/identity.js';
import { FailureLimiter } from '../../identity/failure-limiter.js';
import { IDENTITY_HEADER_NAME, MANAGED_IDENTITY_PATH, ManagedIdentityError, headerMatches } from '../../identity/managed-identities.js';
import { originOf } from '../origin.js';

/** A token request is a short form: a client id, a secret, a scope. */
export const TOKEN_BODY_LIMIT = 8 * 1024;

const THROTTLED = 'AADSTS90055: TenantThrottlingError - There are too many incoming requests. Too many failed token requests came from this address or for this client id; try again later.';

/** Past the failure limit: the tenant's throttling error, with when to try again. */
function throttled(reply: FastifyReply, wait: number): FastifyReply {
  return reply.code(429).header('retry-after', String(wait)).send({ error: 'temporarily_unavailable', error_description: THROTTLED });
}

export function registerIdentityRoutes(app: FastifyInstance, identity: Identity, limiter = new FailureLimiter()): void {
  const anonymous = { config: { anonymous: true } };

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, new URLSearchParams(body as string));
  });

  const discovery = (request: FastifyRequest) => {
    const base = `${originOf(request)}/${identity.tenantId}`;
    return {
      issuer: identity.issuer(originOf(request)),
      token_endpoint: `${base}/oauth2/v2.0/token`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_types_supported: ['token'],
      grant_types_supported: ['client_credentials'],
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['client_secret_post'],
      tenant_region_scope: 'emulator',
    };
  };

  app.get('/:tenant/v2.0/.well-known/openid-configuration', anonymous, async (request, reply) => {
    const { tenant } = request.params as { tenant: string };
    if (tenant !== identity.tenantId) return reply.code(400).send({ error: 'invalid_tenant', error_description: `AADSTS90002: Tenant '${tenant}' not found.` });
    return discovery(request);
  });

  // An authority of the ADFS kind (https://HOST/adfs) needs no instance discovery, which clients
  // without a switch for it (the Azure CLI 2.45) would send to login.microsoftonline.com.
  app.get('/adfs/.well-known/openid-configuration', anonymous, async (request) => discovery(request));

  // What `az login` asks of Azure Resource Manager, when a cloud registered for the emulator points
  // its resourceManager endpoint here: this tenant has no subscriptions.
  app.get('/subscriptions', anonymous, async () => ({ value: [] }));

  app.get('/:tenant/discovery/v2.0/keys', anonymous, async () => identity.jwks);

  // Failed requests are audited and limited per source address and per client id: past the limit
  // the answer is the tenant's throttling error with Retry-After, and no secret is checked.
  const token = { config: { anonymous: true, auditFailuresAs: 'TokenRequest' }, bodyLimit: TOKEN_BODY_LIMIT };
  app.post('/:tenant/oauth2/v2.0/token', token, async (request, reply) => {
    const { tenant } = request.params as { tenant: string };
    const form = request.body instanceof URLSearchParams ? request.body : new URLSearchParams();
    const clientId = form.get('client_id') ?? '';
    const keys = [`address:${request.ip}`, ...(isClientId(clientId) ? [`client:${clientId.toLowerCase()}`] : [])];
    const wait = limiter.retryAfter(keys);
    if (wait !== undefined) return throttled(reply, wait);
    try {
      if (tenant !== identity.tenantId) throw new IdentityError('invalid_request', `AADSTS90002: Tenant '${tenant.slice(0, 64)}' not found.`);
      return await identity.issueToken(form, originOf(request));
    } catch (error) {
      if (!(error instanceof IdentityError)) throw error;
      limiter.recordFailure(keys);
      return reply.code(error.code === 'invalid_client' ? 401 : 400).send({ error: error.code, error_description: error.message });
    }
  });

  // The managed-identity endpoint, as App Service serves it (IDENTITY_ENDPOINT, IDENTITY_HEADER).
  app.get(MANAGED_IDENTITY_PATH, token, async (request, reply) => {
    const keys = [`address:${request.ip}`];
    const wait = limiter.retryAfter(keys);
    if (wait !== undefined) return throttled(reply, wait);
    const query = request.query as Record<string, string | undefined>;
    try {
      if (!headerMatches(identity.managedIdentityHeader, request.headers[IDENTITY_HEADER_NAME] as string | undefined)) {
        throw new ManagedIdentityError(401, 'X-IDENTITY-HEADER: missing or wrong; send the IDENTITY_HEADER value `mhsm env` prints');
      }
      if (query['api-version'] !== '2019-08-01') throw new ManagedIdentityError(400, 'api-version: 2019-08-01 is the version this endpoint serves');
      return await identity.issueManagedIdentityToken(query, originOf(request));
    } catch (error) {
      if (!(error instanceof ManagedIdentityError)) throw error;
      limiter.recordFailure(keys);
      return reply.code(error.status).send({ statusCode: error.status, message: error.message, error: { code: error.status === 401 ? 'Unauthorized' : 'BadRequest', message: error.message } });
    }
  });
}
