// Where each token call runs. Heavy calls (RSA private-key work, key-pair generation, token-object
// writes) go to a worker thread on a pooled session and return a promise. Cheap calls run inline
// on the JS thread, on a session of their own, and return their value at once: a thread-pool hop
// would cost more than they do (bench:token measures both).
import type { NativeModule, SessionCall } from '../native/addon.js';
import type { SessionPool } from './session-pool.js';

export type CallCost = 'cheap' | 'heavy';

/** Builds the call for the session it will run on. */
export type CallBuilder = (session: number) => SessionCall;

function invoke(module: NativeModule, call: SessionCall, inline: boolean): unknown {
  const [name, ...args] = call;
  const method = module[name] as (...values: unknown[]) => unknown;
  return method.call(module, ...args, inline);
}

export class CallScheduler {
  readonly #module: NativeModule;
  readonly #pool: SessionPool;
  readonly #inlineSession: () => number;
  readonly #inlineAllowed: () => boolean;

  /** `inlineAllowed`: false while the token may make an inline call wait (then cheap calls are pooled too). */
  constructor(module: NativeModule, pool: SessionPool, inlineSession: () => number, inlineAllowed: () => boolean = () => true) {
    this.#module = module;
    this.#pool = pool;
    this.#inlineSession = inlineSession;
    this.#inlineAllowed = inlineAllowed;
  }

  /** A cheap call's value (or its throw) now; a heavy call's promise. */
  run<T>(cost: CallCost, build: CallBuilder): T | Promise<T> {
    if (cost === 'cheap' && this.#inlineAllowed()) return invoke(this.#module, build(this.#inlineSession()), true) as T;
    return this.#pool.use((lease) => invoke(this.#module, build(lease.session), false) as Promise<T>);
  }
}
