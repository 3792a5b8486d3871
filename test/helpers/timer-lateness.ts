// How late a 1 ms interval timer fires while `work` runs: the measure of whether the work held
// the JS thread. The gap after the last tick counts too, so work that never let the timer run at
// all is the worst case, not a clean one.
export async function worstTimerLateness(work: () => Promise<unknown>): Promise<{ worstMs: number; ticks: number }> {
  let last = performance.now();
  let worstMs = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worstMs = Math.max(worstMs, now - last - 1);
    last = now;
    ticks++;
  }, 1);
  try {
    await work();
  } finally {
    clearInterval(timer);
    worstMs = Math.max(worstMs, performance.now() - last - 1);
  }
  return { worstMs, ticks };
}
