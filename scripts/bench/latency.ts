// Throughput with per-operation latencies, for a fixed time with a fixed number in flight.

export interface LatencyResult {
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

function percentile(sorted: number[], p: number): number {
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
