// How long each request holds the JS thread at a stretch (MHSM_REPORT_SYNC_SPANS=1, for
// bench:cost). A span is one run of callbacks of the same request, macrotask and microtasks, with
// nothing else run in between: the time that request kept every other request from being served.
// This is per request, unlike the event-loop delay, which with many requests in flight also counts
// the many short handlers one turn of the loop runs back to back. The async hooks this needs slow
// every request, so it is a measuring mode, never on by default.
import { AsyncLocalStorage, createHook } from 'node:async_hooks';

interface RequestContext {
  route: string;
}

export interface SyncSpanReport {
  /** Requests that ran at least one span. */
  requests: number;
  /** Their longest span each: the largest, and the route it was on. */
  maxMs: number;
  maxRoute: string;
  p99Ms: number;
  /** Requests whose longest span passed 5 ms. */
  over5Ms: number;
}

/** Two callbacks of a request this close together are one span: the gap is the hooks' own cost. */
const SAME_RUN_GAP_MS = 0.05;

export class SyncSpans {
  readonly #context = new AsyncLocalStorage<RequestContext>();
  readonly #longest = new Map<RequestContext, number>();
  #depth = 0;
  #current: RequestContext | undefined;
  #runStart = 0;
  #lastEnd = 0;
  #spanStart = 0;

  readonly #hook = createHook({
    before: () => {
      if (this.#depth++ === 0) this.#spanStart = performance.now();
    },
    after: () => {
      if (--this.#depth !== 0) return;
      this.#closeCallback(this.#context.getStore());
    },
  });

  /** Called first thing in a request: what runs in its async context from now on is its own. */
  enter(route: string): void {
    this.#context.enterWith({ route });
  }

  enable(): void {
    this.#hook.enable();
  }

  disable(): void {
    this.#hook.disable();
  }

  #closeCallback(owner: RequestContext | undefined): void {
    const now = performance.now();
    if (owner !== undefined && owner === this.#current && this.#spanStart - this.#lastEnd <= SAME_RUN_GAP_MS) {
      this.#lastEnd = now;
    } else {
      this.#current = owner;
      this.#runStart = this.#spanStart;
      this.#lastEnd = now;
    }
    if (owner) this.#longest.set(owner, Math.max(this.#longest.get(owner) ?? 0, this.#lastEnd - this.#runStart));
  }

  /** What was measured since the last report; the measurement starts again. */
  report(): SyncSpanReport {
    const entries = [...this.#longest];
    this.#longest.clear();
    const spans = entries.map(([, ms]) => ms).sort((a, b) => a - b);
    let maxMs = 0;
    let maxRoute = '';
    for (const [context, ms] of entries) {
      if (ms > maxMs) {
        maxMs = ms;
        maxRoute = context.route;
      }
    }
    return {
      requests: spans.length,
      maxMs,
      maxRoute,
      p99Ms: spans.length === 0 ? 0 : (spans[Math.min(spans.length - 1, Math.floor(spans.length * 0.99))] as number),
      over5Ms: spans.filter((ms) => ms > 5).length,
    };
  }
}
