// Throughput with per-operation latencies, for a fixed time with a fixed number in flight.

export interface LatencyResult {
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/** The p-th percentile (0-100) of values sorted ascending; NaN for none. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/**
 * The warm-up runs at the same concurrency first, so that connections (and their TLS handshakes)
 * exist and the JIT has compiled the path before anything is counted.
 */
export async function measureLatency(operation: () => Promise<unknown>, inFlight: number, durationMs: number, warmupMs = 1000): Promise<LatencyResult> {
  const run = async (ms: number, record: boolean) => {
    const deadline = performance.now() + ms;
    const latencies: number[] = [];
    let errors = 0;
    const lane = async () => {
      while (performance.now() < deadline) {
        const started = performance.now();
        try {
          await operation();
          if (record) latencies.push(performance.now() - started);
        } catch {
          errors++;
        }
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: inFlight }, lane));
    return { latencies, errors, seconds: (performance.now() - started) / 1000 };
  };
  await run(warmupMs, false);
  const { latencies, errors, seconds } = await run(durationMs, true);
  latencies.sort((a, b) => a - b);
  return { opsPerSecond: latencies.length / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), errors };
}

/**
 * Two contenders measured in alternating rounds (after one warm-up each), so that a machine whose
 * speed drifts during the run slows both alike: median ops/s, latencies pooled over the rounds.
 */
export async function measurePair(
  first: () => Promise<unknown>,
  second: (() => Promise<unknown>) | undefined,
  inFlight: number,
  { rounds = 5, roundMs = 400 }: { rounds?: number; roundMs?: number } = {},
): Promise<[LatencyResult, LatencyResult | undefined]> {
  const samples: [LatencyResult[], LatencyResult[]] = [[], []];
  for (let round = 0; round < rounds; round++) {
    const warmup = round === 0 ? 1000 : 100;
    const order = round % 2 === 0 ? ([0, 1] as const) : ([1, 0] as const);
    for (const which of order) {
      const operation = which === 0 ? first : second;
      if (operation) samples[which].push(await measureLatency(operation, inFlight, roundMs, warmup));
    }
  }
  const combine = (results: LatencyResult[]): LatencyResult | undefined => {
    if (results.length === 0) return undefined;
    const ops = results.map((r) => r.opsPerSecond).sort((a, b) => a - b);
    const median = ops[Math.floor(ops.length / 2)] as number;
    // Percentiles of the pooled rounds, approximated by the median of each round's percentile.
    const p50 = results.map((r) => r.p50Ms).sort((a, b) => a - b)[Math.floor(results.length / 2)] as number;
    const p99 = Math.max(...results.map((r) => r.p99Ms));
    return { opsPerSecond: median, p50Ms: p50, p99Ms: p99, errors: results.reduce((sum, r) => sum + r.errors, 0) };
  };
  return [combine(samples[0]) as LatencyResult, combine(samples[1])];
}
