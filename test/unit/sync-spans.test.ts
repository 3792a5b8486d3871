// The measuring mode of bench:cost (MHSM_REPORT_SYNC_SPANS): each request's longest run of
// callbacks with nothing else between, with its route, not the sum of its runs and not the runs
// of anything else.
import { expect, it } from 'vitest';
import { SyncSpans } from '../../src/server/sync-spans.js';

const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // holds the thread, as a slow handler would
  }
};

it("reports each request's longest synchronous run, the route it was on, and starts again", async () => {
  const spans = new SyncSpans();
  spans.enable();
  try {
    await new Promise<void>((resolve) => setImmediate(() => { spans.enter('POST /slow'); busy(12); resolve(); }));
    await new Promise<void>((resolve) => setImmediate(() => { spans.enter('GET /fast'); busy(1); resolve(); }));
    // Work split by a wait is two runs: the longer counts, not both together.
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        spans.enter('GET /split');
        busy(4);
        setTimeout(() => {
          busy(4);
          resolve();
        }, 10);
      }),
    );
    // Work outside any request is nobody's.
    await new Promise<void>((resolve) => setImmediate(() => { busy(20); resolve(); }));
    const report = spans.report();
    expect(report.requests).toBe(3);
    expect(report.maxRoute).toBe('POST /slow');
    expect(report.maxMs).toBeGreaterThanOrEqual(12);
    expect(report.maxMs).toBeLessThan(20);
    expect(report.over5Ms).toBe(1);
    expect(spans.report()).toEqual({ requests: 0, maxMs: 0, maxRoute: '', p99Ms: 0, over5Ms: 0 });
  } finally {
    spans.disable();
  }
});
