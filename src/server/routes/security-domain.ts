// The security-domain endpoints: download (activation), the transfer key and upload (recovery),
// and their pending-status endpoints. Their work is done when the first call answers, so the
// pending endpoints report the outcome at once; the 202s carry Azure-AsyncOperation and
// Retry-After for the pollers of the official clients.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SecurityDomain } from '../../hsm/security-domain/security-domain.js';
import { originOf } from '../origin.js';
import { bodyOf } from '../wire.js';
import { checkApiVersion } from './api-version.js';

function accepted(request: FastifyRequest, reply: FastifyReply, pendingPath: string): void {
  reply.code(202).header('azure-asyncoperation', `${originOf(request)}${pendingPath}`).header('retry-after', '0');
}

export function registerSecurityDomainRoutes(app: FastifyInstance, domain: SecurityDomain): void {
  app.post('/securitydomain/download', { config: { operation: 'downloadSecurityDomain' } }, async (request, reply) => {
    checkApiVersion(request);
    const body = bodyOf(request.body);
    const caller = request.caller?.objectId;
    if (caller === undefined) throw new Error('a security-domain download reached its route without an authenticated caller');
    const value = await domain.download({ certificates: body.certificates, required: body.required }, caller);
    accepted(request, reply, '/securitydomain/download/pending');
    return { value };
  });

  app.get('/securitydomain/download/pending', { config: { operation: 'securityDomainDownloadStatus' } }, async (request) => {
    checkApiVersion(request);
    return domain.downloadStatus();
  });

  app.get('/securitydomain/upload', { config: { operation: 'getTransferKey' } }, async (request) => {
    checkApiVersion(request);
    const key = await domain.transferKey();
    const jwk = {
      kid: `${originOf(request)}/transfer_key`,
      kty: 'RSA',
      key_ops: ['encrypt'],
      alg: 'RSA-OAEP-256',
      n: key.n.toString('base64url'),
      e: key.e.toString('base64url'),
      x5c: [key.certificateDer.toString('base64')],
      x5t: key.x5t,
      'x5t#S256': key.x5t256,
    };
    // A JSON string, not an object: the Azure CLI and the Python SDK json.loads it.
    return { key_format: 'jwk', transfer_key: JSON.stringify(jwk) };
  });

  app.post('/securitydomain/upload', { config: { operation: 'uploadSecurityDomain' } }, async (request, reply) => {
    checkApiVersion(request);
    await domain.upload(bodyOf(request.body).value);
    accepted(request, reply, '/securitydomain/upload/pending');
    return { status: 'InProgress', status_details: '' };
  });

  app.get('/securitydomain/upload/pending', { config: { operation: 'securityDomainUploadStatus' } }, async (request) => {
    checkApiVersion(request);
    return domain.uploadStatus();
  });
}
