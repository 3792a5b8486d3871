// One audit line, shaped after the service's AuditEvent: what was done, by whom, from where, with
// what result. Never request or response bodies, and never the query beyond the safe parameters.
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface AuditEntry {
  time: string;
  category: 'AuditEvent';
  operationName: string;
  /** The api-version of the request. */
  operationVersion: string | null;
  resultType: 'Success' | 'Failure';
  resultSignature: string;
  /** The error message sent to the caller, for failures. */
  resultDescription?: string;
  durationMs: number;
  callerIpAddress: string;
  /** The x-ms-request-id of the response. */
  requestId: string;
  identity: { claim: { oid: string; appid: string; tid: string } } | null;
  properties: {
    httpStatusCode: number;
    requestUri: string;
    key?: { name: string; version?: string };
    /** A BYOK import: the kid of the key-exchange key its blob names (never the blob). */
    keyExchangeKey?: string;
  };
}

/** Query parameters that may appear in the log; any other (a SAS signature, say) is left out. */
const SAFE_QUERY = new Set(['api-version', 'maxresults', '$filter', '$skiptoken']);

const SIGNATURES: Readonly<Record<number, string>> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'NoContent',
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  413: 'PayloadTooLarge',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  503: 'ServiceUnavailable',
};

/** How much of an error message a line keeps: messages may repeat the caller's input. */
const MAX_DESCRIPTION = 512;

/** A query that URLSearchParams would write back unchanged, every parameter a safe one (the usual `api-version=7.6`). */
function isPlainSafeQuery(query: string): boolean {
  for (const pair of query.split('&')) {
    const at = pair.indexOf('=');
    const name = pair.slice(0, at);
    if (at < 0 || !SAFE_QUERY.has(name) || !PLAIN_VALUE.test(name) || !PLAIN_VALUE.test(pair.slice(at + 1))) return false;
  }
  return true;
}

/** Characters URLSearchParams leaves as they are. */
const PLAIN_VALUE = /^[A-Za-z0-9._*-]*$/;

export function safeRequestUri(origin: string, url: string): string {
  // Concatenated, not resolved: a path that starts with '//' is a path here, not a host.
  const target = url.split('#')[0] ?? '';
  const at = target.indexOf('?');
  const path = at < 0 ? target : target.slice(0, at);
  const query = at < 0 ? '' : target.slice(at + 1);
  if (query === '') return `${origin}${path}`.slice(0, 2048);
  // Most requests: nothing to leave out and nothing to re-encode, so no parsing.
  if (isPlainSafeQuery(query)) return `${origin}${path}?${query}`.slice(0, 2048);
  const kept = new URLSearchParams();
  for (const [name, value] of new URLSearchParams(query)) {
    if (SAFE_QUERY.has(name.toLowerCase())) kept.append(name, value);
  }
  const rest = kept.toString();
  return `${origin}${path}${rest ? `?${rest}` : ''}`.slice(0, 2048);
}

/** Route patterns are few and fixed: each is matched once. */
const keyRouteUrls = new Map<string, boolean>();
function isKeyRouteUrl(url: string): boolean {
  let known = keyRouteUrls.get(url);
  if (known === undefined) {
    known = /^\/(keys|deletedkeys)\/:name/i.test(url);
    if (keyRouteUrls.size < 1000) keyRouteUrls.set(url, known);
  }
  return known;
}

export interface AuditContext {
  operationName: string;
  origin: string;
  caller?: { objectId: string; clientId: string; tenantId: string } | undefined;
  errorMessage?: string | undefined;
  keyExchangeKey?: string | undefined;
}

export function auditEntry(request: FastifyRequest, reply: FastifyReply, context: AuditContext): AuditEntry {
  const status = reply.statusCode;
  const params = (request.params ?? {}) as { name?: string; version?: string };
  const apiVersion = (request.query as Record<string, unknown> | undefined)?.['api-version'];
  const isKeyRoute = isKeyRouteUrl(request.routeOptions.url ?? '');
  return {
    time: new Date().toISOString(),
    category: 'AuditEvent',
    operationName: context.operationName,
    operationVersion: typeof apiVersion === 'string' ? apiVersion.slice(0, 32) : null,
    resultType: status < 400 ? 'Success' : 'Failure',
    resultSignature: SIGNATURES[status] ?? String(status),
    ...(status >= 400 && context.errorMessage ? { resultDescription: context.errorMessage.slice(0, MAX_DESCRIPTION) } : {}),
    durationMs: Math.round(reply.elapsedTime * 100) / 100,
    callerIpAddress: request.ip,
    requestId: request.id,
    identity: context.caller ? { claim: { oid: context.caller.objectId, appid: context.caller.clientId, tid: context.caller.tenantId } } : null,
    properties: {
      httpStatusCode: status,
      requestUri: safeRequestUri(context.origin, request.url),
      ...(isKeyRoute && params.name ? { key: { name: params.name, ...(params.version ? { version: params.version } : {}) } } : {}),
      ...(context.keyExchangeKey ? { keyExchangeKey: context.keyExchangeKey } : {}),
    },
  };
}
