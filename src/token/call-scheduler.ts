// Where each token call runs. Heavy calls (RSA private-key work, key-pair generation, token-object
// writes) go to a worker thread on a pooled session and return a promise. Cheap calls run inline
// on the JS thread, on a session of their own, and return their value at once: a thread-pool hop
// would cost more than they do (bench:token measures both). But many cheap calls in one turn of
// the event loop add up, so each turn has an inline budget; past it, cheap calls go to the pool
// too, which keeps every turn short and puts the other cores to work under load.
import type { NativeModule, SessionCall } from '../native/addon.js';
import type { SessionPool } from './session-pool.js';

export type CallCost = 'cheap' | 'heavy';

/** Builds the call for the session it will run on. */
export type CallBuilder = (session: number) => SessionCall;

/** Inline work allowed per turn of the event loop before cheap calls move to the pool. */
export const INLINE_BUDGET_MS = 4;

export interface CallCounts {
  inline: number;
  pooled: number;
}

function invoke(module: NativeModule, call: SessionCall, inline: boolean): unknown {
  const [name, ...args] = call;
  const method = module[name] as (...values: unknown[]) => unknown;
  return method.call(module, ...args, inline);
}

export class CallScheduler {
  readonly #module: NativeModule;
  readonly #pool: SessionPool;
  readonly #inlineSession: () => number;
  readonly #counts: CallCounts = { inline: 0, pooled: 0 };
  #inlineMsThisTurn = 0;
  #turnEndScheduled = false;

  constructor(module: NativeModule, pool: SessionPool, inlineSession: () => number) {
    this.#module = module;
    this.#pool = pool;
    this.#inlineSession = inlineSession;
  }

  get counts(): Readonly<CallCounts> {
    return this.#counts;
  }

  /** A cheap call's value (or its throw) now, while this turn's budget lasts; otherwise a promise. */
  run<T>(cost: CallCost, build: CallBuilder): T | Promise<T> {
    if (cost === 'cheap' && this.#inlineMsThisTurn < INLINE_BUDGET_MS) {
      this.#counts.inline++;
      const started = performance.now();
      try {
        return invoke(this.#module, build(this.#inlineSession()), true) as T;
      } finally {
        this.#inlineMsThisTurn += performance.now() - started;
        this.#endTurnSoon();
      }
    }
    this.#counts.pooled++;
    return this.#pool.use((lease) => invoke(this.#module, build(lease.session), false) as Promise<T>);
  }

  /** setImmediate runs once the current turn's I/O callbacks are done: a new turn, a new budget. */
  #endTurnSoon(): void {
    if (this.#turnEndScheduled) return;
    this.#turnEndScheduled = true;
    setImmediate(() => {
      this.#inlineMsThisTurn = 0;
      this.#turnEndScheduled = false;
    });
  }
}
