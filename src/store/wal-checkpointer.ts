// Moves SQLite's WAL checkpoints, the only writes that fsync in WAL mode with synchronous=NORMAL,
// off the JS thread: the main connection never checkpoints by itself, and a worker thread with a
// connection of its own checkpoints every second.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 1000');
let runs = 0;
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); runs++; parentPort.postMessage({ runs }); } catch { /* busy: next time */ }
}, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message === 'stop') { clearInterval(timer); db.close(); parentPort.close(); }
});
`;

export class WalCheckpointer {
  readonly #worker: Worker;
  #runs = 0;

  constructor(file: string, intervalMs = 1000) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, file, intervalMs } });
    this.#worker.on('message', (message: { runs: number }) => {
      this.#runs = message.runs;
    });
    this.#worker.unref();
  }

  /** How many checkpoints the worker has run. */
  get runs(): number {
    return this.#runs;
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.#worker.once('exit', resolve));
    this.#worker.ref(); // keep the process alive until the worker has closed its connection
    this.#worker.postMessage('stop');
    await exited;
  }
}
