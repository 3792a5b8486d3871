// Long loops of inline token calls (cheap calls run on the JS thread: call-scheduler.ts) and of
// row work give the event loop back every few milliseconds, so that a job over thousands of keys
// never holds requests up: each step awaits `spend()`, which yields only when the budget is used.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

export class EventLoopBudget {
  #since = performance.now();

  constructor(private readonly milliseconds = 4) {}

  async spend(): Promise<void> {
    if (performance.now() - this.#since < this.milliseconds) return;
    await yieldToEventLoop();
    this.#since = performance.now();
  }
}
