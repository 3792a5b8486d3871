// The emulator as a child process for the benchmarks, reporting its event loop
// (MHSM_REPORT_EVENT_LOOP): started on a data directory, asked for its longest stall since the
// last ask (SIGUSR2), stopped.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

export interface BenchServer {
  child: ChildProcess;
  url: string;
  output: () => string;
  startedInMs: number;
}

/** `nodeArgs`: extra node flags for the server, for example --cpu-prof; `args`: extra `mhsm start` options. */
export function startBenchServer(dataDir: string, nodeArgs: readonly string[] = [], args: readonly string[] = []): Promise<BenchServer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, path.join(root, 'bin/mhsm.js'), 'start', '--data-dir', dataDir, '--port', '0', ...args], {
      env: { ...process.env, MHSM_REPORT_EVENT_LOOP: '1' },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (https:\/\/\S+)/.exec(output);
      if (match) resolve({ child, url: match[1] as string, output: () => output, startedInMs: performance.now() - started });
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`the emulator exited with ${code}:\n${output}`)));
  });
}

/** The server's longest event-loop delay since the last report (SIGUSR2 restarts the measurement). */
export async function eventLoopStall(server: BenchServer): Promise<number> {
  const before = server.output().length;
  server.child.kill('SIGUSR2');
  for (let i = 0; i < 100; i++) {
    const match = /event loop delay: max ([\d.]+) ms/.exec(server.output().slice(before));
    if (match) return Number(match[1]);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Number.NaN;
}

/** SIGTERM, and the longest stall it reported on stopping. */
export async function stopBenchServer(server: BenchServer): Promise<string> {
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
  return /event loop delay: max ([\d.]+) ms/.exec(server.output())?.[1] ?? 'n/a';
}
