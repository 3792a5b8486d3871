// The origin a client addressed us by, for kids, nextLinks, issuers and polling URLs.
import type { FastifyRequest } from 'fastify';

/** A Host header that is a host name or address with an optional port, nothing else. */
const HOST_HEADER = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** https://host[:port] as the client addressed us. */
export function originOf(request: FastifyRequest): string {
  const host = request.headers.host;
  return `https://${typeof host === 'string' && HOST_HEADER.test(host) ? host : 'localhost'}`;
}
