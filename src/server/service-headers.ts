// The headers the service sends on every answer, as its recorded traffic shows them: its security
// headers, where the request came from (x-ms-keyvault-network-info), how long the server took
// (x-ms-server-latency, milliseconds), and which build answered.
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { callerAddress } from '../network/network-rules.js';

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const FIXED = {
  'cache-control': 'no-cache',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'SAMEORIGIN',
  'content-security-policy': "default-src 'self'",
  'x-ms-keyvault-region': 'local',
  'x-ms-keyvault-service-version': `${PACKAGE_VERSION}.0`,
  'x-ms-build-version': `mhsm-emulator-${PACKAGE_VERSION}`,
} as const;

/** conn_type=Ipv4;addr=…;act_addr_fam=…; as the service writes it (an IPv4 caller on IPv6 is Ipv4). */
function networkInfo(ip: string): string {
  const address = callerAddress(ip);
  const family = isIPv6(address) ? 'Ipv6' : 'Ipv4';
  return `conn_type=${family};addr=${address};act_addr_fam=${family};`;
}

export function registerServiceHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(FIXED);
    reply.header('x-ms-keyvault-network-info', networkInfo(request.ip));
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('x-ms-server-latency', String(Math.round(reply.elapsedTime)));
    done(null, payload);
  });
}
