// How costly a token call is. A hop to the libuv pool costs tens of microseconds, more than a
// symmetric operation on a small payload or an RSA public-key operation takes: those are cheap,
// and run inline or batched (call-scheduler.ts). RSA private-key operations, key-pair generation
// and anything that writes token objects cost far more and must never hold the JS thread: heavy,
// one worker-thread call each. bench:token measures both sides of this line.
import type { CallCost } from './call-scheduler.js';
import type { KeySpec } from './key-spec.js';

/** Above this many bytes even a symmetric operation is heavy. */
export const CHEAP_PAYLOAD_LIMIT = 64 * 1024;

export type TokenOperation =
  | 'sign'
  | 'verify'
  | 'encrypt'
  | 'decrypt'
  | 'wrap'
  | 'unwrap'
  | 'digest'
  | 'random'
  | 'generate';

const PUBLIC_KEY_OPERATIONS: ReadonlySet<TokenOperation> = new Set(['verify', 'encrypt', 'wrap']);

export interface DispatchQuery {
  operation: TokenOperation;
  /** The key the operation uses (for wrap: the wrapping key); none for digest and random. */
  key?: KeySpec | undefined;
  payloadBytes?: number | undefined;
  /** The call creates or changes a token object (a file write in SoftHSM2). */
  writesTokenObject?: boolean | undefined;
}

export function costOf(query: DispatchQuery): CallCost {
  return isCheap(query) ? 'cheap' : 'heavy';
}

function isCheap({ operation, key, payloadBytes = 0, writesTokenObject = false }: DispatchQuery): boolean {
  if (writesTokenObject || payloadBytes > CHEAP_PAYLOAD_LIMIT) return false;
  if (key === undefined) return operation === 'digest' || operation === 'random';
  switch (key.type) {
    case 'aes':
    case 'generic-secret':
      return true;
    case 'ec':
      return key.curve === 'P-256' && (operation === 'sign' || operation === 'verify');
    case 'rsa':
      return PUBLIC_KEY_OPERATIONS.has(operation);
  }
}
