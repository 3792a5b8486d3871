// buildApp(): the fastify instance, not yet listening. The order of a request:
// request id → authentication (a 401 challenge before any body is read) → route and body
// parsing → api-version → handler (domain call) → JSON. Errors leave through one handler.
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { KeyService } from '../hsm/key-service.js';
import { HsmError } from '../hsm/errors.js';
import { type Identity, IdentityError, type VerifiedCaller } from '../identity/identity.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ClockControl } from '../hsm/clock-control.js';
import type { NetworkPolicy } from '../network/network-policy.js';
import type { Settings } from '../hsm/settings.js';
import { registerSettingsRoutes } from './routes/settings.js';
import { originOf } from './origin.js';
import { registerSecurityDomainRoutes } from './routes/security-domain.js';
import { type BackupRouteOptions, registerBackupRoutes } from './routes/backup.js';
import { NOT_ACTIVATED_MESSAGE, type SecurityDomain } from '../hsm/security-domain/security-domain.js';
import type { SingleKeyBackup } from '../hsm/backup/single-key-backup.js';
import { FairWriteQueue } from '../hsm/fair-write-queue.js';
import type { EmulatorStatus } from './status.js';
import { registerEmulatorRoutes } from './routes/emulator.js';
import { callerAddress } from '../network/network-rules.js';
import type { AccessControl } from '../rbac/access-control.js';
import { registerAuditHooks } from './audit-hooks.js';
import { registerServiceHeaders } from './service-headers.js';
import type { SyncSpans } from './sync-spans.js';
import { OPERATIONS, type OperationName } from './operations.js';
import { keyScope } from '../rbac/scopes.js';
import { STATUS_OF, envelope } from './http-errors.js';
import { registerIdentityRoutes } from './routes/identity.js';
import { registerKeyRoutes } from './routes/keys.js';
import { registerAttestationRoutes } from './routes/attestation.js';
import type { KeyAttestation } from '../hsm/attestation/key-attestation.js';
import { type ReleaseRouteOptions, registerReleaseRoutes } from './routes/release.js';
import { type ScopePrefix, registerRbacRoutes, routeScope } from './routes/rbac.js';

export const BODY_LIMIT = 1024 * 1024;

function noSchemas(): never {
  throw new Error('routes of this server take no JSON schema: check the body in the handler');
}

/** How long a client may take and how many may be connected at once. */
export interface ConnectionLimits {
  /** The whole request, headers and body, must arrive within this (a slow body is cut off). */
  requestTimeoutMs: number;
  /** The headers must arrive within this. */
  headersTimeoutMs: number;
  /** A connection with nothing going on is closed after this (keep-alive included). */
  idleTimeoutMs: number;
  /** Connections past this are refused. */
  maxConnections: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = { requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, idleTimeoutMs: 60_000, maxConnections: 1000 };

export interface AppOptions {
  keys: KeyService;
  backups: SingleKeyBackup;
  /** Full backup, full restore and selective restore. */
  fullBackup: BackupRouteOptions;
  /** Where writes of key material wait their turn; one per app unless given. */
  writes?: FairWriteQueue;
  domain: SecurityDomain;
  /** Key attestation; none in tests of the app alone. */
  attestation?: KeyAttestation;
  /** Secure key release and the local attestation authority; none in tests of the app alone. */
  release?: ReleaseRouteOptions;
  identity: Identity;
  access: AccessControl;
  clock: ClockControl;
  network: NetworkPolicy;
  settings: Settings;
  status: () => EmulatorStatus;
  /** Where every data-plane request is recorded; none in tests of the app alone. */
  audit?: AuditLog;
  /** The port clients reach us on (tokens name it in their issuer). */
  port: () => number;
  https?: { key: string; cert: string };
  /** pino's level for the server log (unexpected failures are logged at error), or false for none. */
  logLevel?: string | false;
  limits?: ConnectionLimits;
  /** Measures how long each request holds the JS thread (a measuring mode for bench:cost). */
  syncSpans?: SyncSpans;
}

declare module 'fastify' {
  interface FastifyRequest {
    requestId: string;
    caller?: VerifiedCaller;
  }
  interface FastifyContextConfig {
    /** Routes of the emulated Entra ID, reached without a bearer token. */
    anonymous?: boolean;
    /** For an anonymous route: its failures are audited under this operation name. */
    auditFailuresAs?: string;
    /** The route's entry in the RBAC operation table; a route without one is refused to everyone. */
    operation?: OperationName;
    /** For role routes: the scope their URL names. */
    scopePrefix?: ScopePrefix;
    /** Reached whatever the network rules say (they are how the rules are changed). */
    networkExempt?: boolean;
  }
}

/** The scope an operation addresses, from the operation table and the route's parameters. */
function targetScope(request: FastifyRequest, operation: OperationName): string {
  switch (OPERATIONS[operation].scope) {
    case 'hsm':
      return '/';
    case 'keys':
      return '/keys';
    case 'key':
      return keyScope((request.params as { name: string }).name);
    case 'path':
      return routeScope(request.routeOptions.config.scopePrefix ?? '/', request.params);
  }
}

export function buildApp(options: AppOptions): FastifyInstance {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const app = Fastify({
    // Node checks the request and header timeouts every connectionsCheckingInterval (30 s unless
    // told otherwise): often enough here for a short timeout to hold.
    ...(options.https ? { https: { ...options.https, minVersion: 'TLSv1.2' as const, connectionsCheckingInterval: Math.min(1000, limits.requestTimeoutMs / 2) } } : {}),
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: Math.min(limits.idleTimeoutMs, 72_000),
    logger: options.logLevel ? { level: options.logLevel } : false,
    // No child logger per request: its only binding would be the request id, which the one line
    // logged per failed request names itself; making it cost every request a pino child.
    childLoggerFactory: (logger) => logger,
    bodyLimit: BODY_LIMIT,
    // maxParamLength: key names may be 127 characters; longer ones get the service's rule, not a 414.
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 1024 },
    genReqId: () => randomUUID(),
    // Bodies are checked in code, field by field (wire.ts): no route has a JSON schema, so the
    // schema compilers (ajv, fast-json-stringify) are not loaded, a twentieth of a second of
    // every start. A route given a schema fails at start-up, not silently unchecked.
    schemaController: { compilersFactory: { buildValidator: noSchemas, buildSerializer: noSchemas } },
    // Requests the router cannot take (a malformed %-escape, a segment past maxParamLength) get
    // the service's envelope too, not fastify's own error body.
    frameworkErrors: (error, request, reply) => {
      reply.header('x-ms-request-id', request.id);
      const message =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? 'A segment of the request path is longer than any name the service takes'
          : error.code === 'FST_ERR_BAD_URL'
            ? 'The request path is not a valid URL: a %-escape is malformed'
            : 'The request could not be read';
      void (reply as unknown as FastifyReply).code(400).send(envelope('BadParameter', message, request.id));
    },
  });

  // A request without a body but with content-type: application/json (a DELETE from some
  // clients) is a request without a body, not malformed JSON.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined);
    else parseJson(request, body as string, done);
  });

  app.server.headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  app.server.maxConnections = limits.maxConnections;

  app.decorateRequest('requestId', '');
  const { syncSpans } = options;
  // Hooks that do not wait are callback-style: an async hook costs each request a promise and a
  // turn of the microtask queue (bench:cost).
  if (syncSpans) {
    app.addHook('onRequest', (request, _reply, done) => {
      syncSpans.enter(`${request.method} ${request.routeOptions.url ?? request.url}`);
      done();
    });
  }
  if (options.audit) registerAuditHooks(app, options.audit);
  app.addHook('onRequest', (request, reply, done) => {
    request.requestId = request.id;
    reply.header('x-ms-request-id', request.id);
    done();
  });
  registerServiceHeaders(app);

  // Network rules come first, before authentication, as the service's firewall does.
  app.addHook('onRequest', (request, reply, done) => {
    const config = request.routeOptions.config;
    if (config?.anonymous || config?.networkExempt) return done();
    const decision = options.network.acl.decide(request.ip);
    if (decision.allowed) return done();
    const message =
      decision.reason === 'ForbiddenByFirewall'
        ? `Client address is not authorized and caller is not a trusted service.\r\nClient address: ${callerAddress(request.ip)}`
        : 'Public network access is disabled and request is not from a trusted service nor via an approved private link.';
    const body = envelope('Forbidden', message, request.id);
    // Answered here: done() is not called, and the request goes no further.
    reply.code(403).send({ error: { ...body.error, innererror: { code: decision.reason } } });
  });

  // Authentication comes before the body is read: the SDKs send their first request without a
  // token and without its body, and expect the challenge. A token seen before is checked without
  // waiting (Identity.knownCaller), so the hook waits only for a new one's signature.
  const BEARER = /^Bearer\s+\S+$/i;
  app.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.config?.anonymous) return done();
    const refuse = (message: string) => {
      const challenge = `Bearer authorization="${originOf(request)}/${options.identity.tenantId}", resource="${options.identity.resource}"`;
      reply.header('www-authenticate', challenge).code(401).send(envelope('Unauthorized', message, request.id));
    };
    const header = request.headers.authorization;
    if (typeof header !== 'string' || !BEARER.test(header)) return refuse('Request is missing a Bearer or PoP token.');
    const token = header.replace(/^Bearer\s+/i, '');
    const failed = (error: unknown) => refuse(error instanceof IdentityError ? error.message : 'the bearer token is not valid');
    const verified = (caller: VerifiedCaller) => {
      request.caller = caller;
      try {
        authorize(request, caller);
      } catch (error) {
        return done(error as Error);
      }
      done();
    };
    let known: VerifiedCaller | undefined;
    try {
      known = options.identity.knownCaller(token);
    } catch (error) {
      return failed(error);
    }
    if (known) return verified(known);
    options.identity.verify(token, options.port()).then(verified, failed);
  });

  // Authorization, also before the body: deny unless one of the caller's role assignments grants
  // the operation's data action at its scope.
  function authorize(request: FastifyRequest, caller: VerifiedCaller): void {
    if (request.is404) return;
    const operation = request.routeOptions.config?.operation;
    if (!operation) throw new HsmError('AccessDenied', `Not authorized to access ${request.method} ${request.routeOptions.url ?? ''}`);
    // Until the security domain is downloaded (or uploaded), the HSM answers only its
    // security-domain endpoints and the emulator's own: it has nothing to authorize against.
    if (!options.domain.isActive && !OPERATIONS[operation].beforeActivation) throw new HsmError('Forbidden', NOT_ACTIVATED_MESSAGE);
    options.access.authorize(caller.objectId, OPERATIONS[operation].action, targetScope(request, operation));
  }

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof HsmError) {
      if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
      return reply.code(STATUS_OF[error.code]).send(envelope(error.code, error.message, request.id, error.verbatim));
    }
    const fastifyError = error as { code?: string; statusCode?: number; message: string };
    if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send(envelope('BadParameter', `The request body is larger than ${BODY_LIMIT} bytes`, request.id));
    }
    if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
      const message = fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (fastifyError as { name?: string }).name === 'SyntaxError'
        ? 'The request body is not valid JSON'
        : fastifyError.message;
      return reply.code(fastifyError.statusCode).send(envelope('BadParameter', message, request.id));
    }
    request.log.error({ err: error, requestId: request.id }, 'unexpected failure');
    return reply.code(500).send(envelope('InternalError', 'The emulator failed unexpectedly; see its log for this request id', request.id));
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(envelope('NotFound', `${request.method} ${request.url.split('?')[0]} is not an operation of this service`, request.id));
  });

  registerIdentityRoutes(app, options.identity);
  registerKeyRoutes(app, options.keys, options.backups, options.writes ?? new FairWriteQueue());
  registerSecurityDomainRoutes(app, options.domain);
  registerBackupRoutes(app, options.fullBackup);
  registerRbacRoutes(app, options.access);
  registerEmulatorRoutes(app, options.clock, options.network, options.status);
  registerSettingsRoutes(app, options.settings);
  if (options.release) registerReleaseRoutes(app, options.release);
  if (options.attestation) registerAttestationRoutes(app, options.keys, options.attestation);
  return app;
}
