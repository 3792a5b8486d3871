// Feeds the audit log: every data-plane request, allowed, denied or failed, once its response is
// ready. The routes of the emulated Entra ID are not the HSM's and are not audited.
import type { FastifyInstance } from 'fastify';
import { auditEntry } from '../audit/audit-entry.js';
import type { AuditLog } from '../audit/audit-log.js';
import { originOf } from './origin.js';
import { OPERATIONS } from './operations.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The error message the caller was sent, without its Activity ID. */
    auditError?: string;
  }
}

const ACTIVITY_SUFFIX = / \(Activity ID: [^)]*\)$/;

export function registerAuditHooks(app: FastifyInstance, audit: AuditLog): void {
  app.addHook('preSerialization', async (request, reply, payload) => {
    if (reply.statusCode >= 400) {
      const message = (payload as { error?: { message?: unknown } } | null)?.error?.message;
      if (typeof message === 'string') request.auditError = message.replace(ACTIVITY_SUFFIX, '');
    }
    return payload;
  });

  // Recorded when the answer is ready, not when it has been delivered: a caller that hangs up
  // while a key is being made still leaves a line for the key it made.
  app.addHook('onSend', async (request, reply, payload) => {
    const config = request.routeOptions.config;
    if (config?.anonymous) return payload;
    const operation = config?.operation;
    audit.record(
      auditEntry(request, reply, {
        operationName: operation ? OPERATIONS[operation].auditName : 'Unknown',
        origin: originOf(request),
        caller: request.caller,
        errorMessage: request.auditError,
      }),
    );
    return payload;
  });
}
