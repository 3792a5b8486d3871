// The emulator as a child process for the benchmarks, reporting its event loop
// (MHSM_REPORT_EVENT_LOOP): started on a data directory, asked for its longest stall since the
// last ask (SIGUSR2), stopped.
import type { ChildProcess } from 'node:child_process';
import { spawnEmulator } from '../../src/embed/emulator-process.js';

export interface BenchServer {
  child: ChildProcess;
  url: string;
  output: () => string;
  startedInMs: number;
}

/** `nodeArgs`: extra node flags for the server, for example --cpu-prof; `args`: extra `mhsm start` options. */
export async function startBenchServer(dataDir: string, nodeArgs: readonly string[] = [], args: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<BenchServer> {
  const started = performance.now();
  const emulator = await spawnEmulator({ dataDir, args, nodeArgs, env: { MHSM_REPORT_EVENT_LOOP: '1', ...env } });
  return { child: emulator.child, url: emulator.url, output: emulator.output, startedInMs: performance.now() - started };
}

/**
 * Asks the server for its reports (SIGUSR2, which also restarts their measurements) and returns
 * the first match of `pattern` in what it prints after; undefined if nothing matches in 2 s.
 */
export async function reportOnSignal(server: BenchServer, pattern: RegExp): Promise<RegExpExecArray | undefined> {
  const before = server.output().length;
  server.child.kill('SIGUSR2');
  for (let i = 0; i < 100; i++) {
    const match = pattern.exec(server.output().slice(before));
    if (match) return match;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return undefined;
}

/** The server's longest event-loop delay since the last report. */
export async function eventLoopStall(server: BenchServer): Promise<number> {
  const match = await reportOnSignal(server, /event loop delay: max ([\d.]+) ms/);
  return match ? Number(match[1]) : Number.NaN;
}

/** SIGTERM, and the longest stall it reported on stopping. */
export async function stopBenchServer(server: BenchServer): Promise<string> {
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
  return /event loop delay: max ([\d.]+) ms/.exec(server.output())?.[1] ?? 'n/a';
}
