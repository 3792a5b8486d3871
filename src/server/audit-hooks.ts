// Feeds the audit log: every data-plane request, allowed, denied or failed, once its response is
// ready. The routes of the emulated Entra ID are not the HSM's: of them, only failed token
// requests are recorded (a guessed secret is worth knowing about).
import type { FastifyInstance } from 'fastify';
import { auditEntry } from '../audit/audit-entry.js';
import type { AuditLog } from '../audit/audit-log.js';
import { originOf } from './origin.js';
import { OPERATIONS } from './operations.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The error message the caller was sent, without its Activity ID. */
    auditError?: string;
    /** The kid of the key-exchange key a BYOK import names. */
    auditKeyExchangeKey?: string;
  }
}

const ACTIVITY_SUFFIX = / \(Activity ID: [^)]*\)$/;

export function registerAuditHooks(app: FastifyInstance, audit: AuditLog): void {
  // Callback-style hooks, as every hook of this server that does not wait: an async one costs each
  // request a promise and a turn of the microtask queue (bench:cost).
  app.addHook('preSerialization', (request, reply, payload, done) => {
    if (reply.statusCode >= 400) {
      const body = payload as { error?: { message?: unknown } | string; error_description?: unknown } | null;
      // The service's envelope, or an OAuth error of the tenant.
      const message = typeof body?.error === 'object' ? body.error?.message : body?.error_description;
      if (typeof message === 'string') request.auditError = message.replace(ACTIVITY_SUFFIX, '');
    }
    done(null, payload);
  });

  // Recorded when the answer is ready, not when it has been delivered: a caller that hangs up
  // while a key is being made still leaves a line for the key it made.
  app.addHook('onSend', (request, reply, payload, done) => {
    const config = request.routeOptions.config;
    if (config?.anonymous && !(config.auditFailuresAs && reply.statusCode >= 400)) return done(null, payload);
    const operation = config?.operation;
    audit.record(
      auditEntry(request, reply, {
        operationName: operation ? OPERATIONS[operation].auditName : (config?.auditFailuresAs ?? 'Unknown'),
        origin: originOf(request),
        caller: request.caller,
        errorMessage: request.auditError,
        keyExchangeKey: request.auditKeyExchangeKey,
      }),
    );
    done(null, payload);
  });
}
