// Writes that make or remove key material (create, import, rotate, restore, purge) in turn
// across principals. Generating a key is slow (an RSA-4096 pair takes seconds) and the token
// takes its object writes one at a time (SoftHSM2 needs it), so one principal's queue of writes
// would otherwise hold up everyone's. Here each principal has its own lane; the lanes are served
// round robin, a few writes at a time but never two of one principal at once, so one principal
// has at most one core's worth of generation going; work past a bound per principal, or in all,
// is refused as the service throttles, with the seconds after which to try again.
import { HsmError } from './errors.js';

export interface FairWriteQueueOptions {
  /** Writes one principal may have running or waiting. */
  perPrincipal: number;
  /** Writes all principals together may have running or waiting. */
  total: number;
  /** Writes running at once (of different principals). */
  concurrency: number;
}

export const WRITE_QUEUE_LIMITS: FairWriteQueueOptions = { perPrincipal: 64, total: 1024, concurrency: 2 };

interface Task {
  work: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

const THROTTLED = 'Request was not processed because too many requests were received. Reason: too many key writes are queued';

export class FairWriteQueue {
  readonly #lanes = new Map<string, Task[]>();
  /** Principals with waiting work, in the order they are served. */
  readonly #turns: string[] = [];
  /** Writes running or waiting, per principal. */
  readonly #pending = new Map<string, number>();
  readonly #running = new Set<string>();
  #size = 0;
  /** How long a write took lately, for Retry-After. */
  #recentMs = 100;

  constructor(private readonly options: FairWriteQueueOptions = WRITE_QUEUE_LIMITS) {}

  run<T>(principal: string, work: () => Promise<T>): Promise<T> {
    const pending = this.#pending.get(principal) ?? 0;
    if (pending >= this.options.perPrincipal || this.#size >= this.options.total) {
      const waiting = pending >= this.options.perPrincipal ? pending : this.#size;
      const seconds = Math.max(1, Math.ceil((waiting * this.#recentMs) / (1000 * this.options.concurrency)));
      throw new HsmError('Throttled', `${THROTTLED} (${waiting} waiting)`, { retryAfterSeconds: seconds });
    }
    return new Promise<T>((resolve, reject) => {
      const lane = this.#lanes.get(principal) ?? [];
      lane.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (lane.length === 1) {
        this.#lanes.set(principal, lane);
        this.#turns.push(principal);
      }
      this.#pending.set(principal, pending + 1);
      this.#size++;
      this.#next();
    });
  }

  /** Writes running or waiting. */
  get size(): number {
    return this.#size;
  }

  /** Starts the next writes while there is room: the first principals in line that run nothing now. */
  #next(): void {
    for (let i = 0; i < this.#turns.length && this.#running.size < this.options.concurrency; ) {
      const principal = this.#turns[i] as string;
      if (this.#running.has(principal)) {
        i++;
        continue;
      }
      this.#turns.splice(i, 1);
      const lane = this.#lanes.get(principal) as Task[];
      const task = lane.shift() as Task;
      // A principal with more work goes to the back of the line.
      if (lane.length > 0) this.#turns.push(principal);
      else this.#lanes.delete(principal);
      this.#start(principal, task);
    }
  }

  #start(principal: string, task: Task): void {
    this.#running.add(principal);
    const started = Date.now();
    task
      .work()
      .then(task.resolve, task.reject)
      .finally(() => {
        this.#recentMs = 0.8 * this.#recentMs + 0.2 * (Date.now() - started);
        this.#running.delete(principal);
        // It just had its turn: with more waiting, it goes behind the others.
        const at = this.#turns.indexOf(principal);
        if (at >= 0) this.#turns.push(...this.#turns.splice(at, 1));
        this.#size--;
        const left = (this.#pending.get(principal) ?? 1) - 1;
        if (left > 0) this.#pending.set(principal, left);
        else this.#pending.delete(principal);
        this.#next();
      });
  }
}
