// Throughput measurement for benchmark scripts: lanes of back-to-back operations for a fixed time,
// repeated in alternating rounds so that drift on a shared machine hits every contender alike.

export type Operation = (lane: number) => Promise<unknown> | unknown;

export interface Contender {
  name: string;
  /** How many operations run at once; each lane runs one after another. */
  inFlight: number;
  operation: Operation;
}

async function runLanes(contender: Contender, durationMs: number): Promise<number> {
  const deadline = performance.now() + durationMs;
  let completed = 0;
  const lane = async (index: number) => {
    while (performance.now() < deadline) {
      const result = contender.operation(index);
      if (result instanceof Promise) await result;
      completed++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: contender.inFlight }, (_, index) => lane(index)));
  return completed / ((performance.now() - started) / 1000);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Median ops/s of each contender over `rounds` alternating rounds, after a short warm-up. */
export async function compare(
  contenders: Contender[],
  { rounds = 3, durationMs = 1000, warmupMs = 200 }: { rounds?: number; durationMs?: number; warmupMs?: number } = {},
): Promise<Map<string, number>> {
  for (const contender of contenders) await runLanes(contender, warmupMs);
  const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    for (const contender of order) samples.get(contender.name)?.push(await runLanes(contender, durationMs));
  }
  return new Map([...samples].map(([name, values]) => [name, median(values)]));
}

export function formatTable(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = rows.map((row) => row.map((cell) => (typeof cell === 'number' ? Math.round(cell).toLocaleString('en-US') : cell)));
  const widths = headers.map((header, i) => Math.max(header.length, ...cells.map((row) => String(row[i] ?? '').length)));
  const line = (values: string[]) => `| ${values.map((v, i) => v.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map((row) => line(row.map(String)))].join('\n');
}
