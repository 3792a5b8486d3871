// api-version: required on every data-plane request, one of the versions the service has.
import type { FastifyRequest } from 'fastify';
import { HsmError } from '../../hsm/errors.js';

const SUPPORTED = /^(7\.[0-6](-preview(\.\d+)?)?|2025-0[67]-01(-preview)?)$/;

export function checkApiVersion(request: FastifyRequest): string {
  const version = (request.query as Record<string, unknown>)['api-version'];
  if (typeof version !== 'string' || version === '') throw new HsmError('BadParameter', 'api-version: required');
  if (!SUPPORTED.test(version)) {
    throw new HsmError('BadParameter', `api-version: '${version}' is not supported; use 7.0 to 7.6 or 2025-07-01`);
  }
  return version;
}
