// The emulator as a child process of the caller: `mhsm start` on a data directory, waited for
// until it prints its URL. The one way a test suite, a benchmark or a reliability campaign starts
// it (startEmulator below adds what the official clients need).
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** bin/mhsm.js of this package. */
export const mhsmScript = fileURLToPath(new URL('../../bin/mhsm.js', import.meta.url));

export interface SpawnOptions {
  dataDir: string;
  /** More `mhsm start` options (--port defaults to 0: any free port). */
  args?: readonly string[];
  /** Added to the caller's environment (MHSM_PIN, MHSM_SO_PIN for a vendor module). */
  env?: NodeJS.ProcessEnv;
  /** Flags for the emulator's node, for example --cpu-prof. */
  nodeArgs?: readonly string[];
  /** How long to wait for the URL (default 30 s). */
  timeoutMs?: number;
}

export interface EmulatorChild {
  url: string;
  dataDir: string;
  pid: number;
  child: ChildProcess;
  /** Everything it printed, stdout and stderr. */
  output(): string;
  /** Sends a signal (SIGTERM by default), waits for the exit and returns its code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function spawnEmulator(options: SpawnOptions): Promise<EmulatorChild> {
  const args = options.args ?? [];
  const port = args.includes('--port') ? [] : ['--port', '0'];
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), mhsmScript, 'start', '--data-dir', options.dataDir, ...port, ...args], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return new Promise((resolve, reject) => {
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the emulator did not start within ${(options.timeoutMs ?? 30_000) / 1000} s:\n${output}`));
    }, options.timeoutMs ?? 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = ready ? null : /listening on (https:\/\/\S+)/.exec(output);
      if (!match) return;
      ready = true;
      clearTimeout(timer);
      resolve({ url: match[1] as string, dataDir: options.dataDir, pid: child.pid as number, child, output: () => output, stop });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      if (!ready) reject(new Error(`the emulator exited (${code ?? child.signalCode}) before listening:\n${output}`));
    });
  });
}
