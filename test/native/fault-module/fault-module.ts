// Builds the fault-injecting PKCS#11 module (fault-module.cc, over SoftHSM2) and switches its
// faults. The module reads MHSM_FAULT at each call, so a fault can be turned on and off between
// calls on the same session; never change it while a call is in flight.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { locateSoftHsm } from '../../../src/token/embedded-softhsm.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const nativeDir = path.resolve(here, '..', '..', '..', 'native');

export type LengthFault = 'huge-length' | 'growing-length' | 'overlong';
export type OutputOp = 'sign' | 'encrypt' | 'decrypt' | 'digest' | 'wrap';

/** Compiles the module into dir (a temporary directory) over the real module `target`; returns its path. */
export function buildFaultModule(dir: string, target: string = locateSoftHsm()): string {
  const output = path.join(dir, 'libmhsm-fault.so');
  execFileSync(
    process.env.CXX ?? 'c++',
    [
      '-shared',
      '-fPIC',
      '-std=c++17',
      '-O1',
      '-Wall',
      '-Wextra',
      '-Werror',
      `-I${nativeDir}`,
      `-I${path.join(nativeDir, 'include')}`,
      `-DMHSM_FAULT_TARGET=${JSON.stringify(target)}`,
      '-o',
      output,
      path.join(here, 'fault-module.cc'),
      '-ldl',
    ],
    { stdio: 'pipe' },
  );
  return output;
}

/** Turns a fault on (see fault-module.cc for the names), or every fault off. */
export function setFault(fault: string | undefined): void {
  if (fault === undefined) delete process.env.MHSM_FAULT;
  else process.env.MHSM_FAULT = fault;
}

/** The MHSM_FAULT name of a length fault on one output call. */
export function lengthFault(fault: LengthFault, op: OutputOp): string {
  return fault === 'growing-length' ? fault : `${fault}-${op}`;
}

/** `promise`'s value if it resolves within `ms`; fails (instead of hanging the test) otherwise. */
export async function valueWithin<T>(promise: Promise<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, pending]);
  } finally {
    clearTimeout(timer);
  }
}

/** The error `promise` rejects with within `ms`; fails if it resolves or is still pending then. */
export async function rejectionWithin(promise: Promise<unknown>, ms = 1000): Promise<Error & { code?: string; fn?: string }> {
  const outcome = await valueWithin(
    promise.then(
      (resolved) => ({ resolved }),
      (error: unknown) => ({ error }),
    ),
    ms,
  );
  if ('error' in outcome) return outcome.error as Error;
  throw new Error(`expected a rejection, got ${describe(outcome.resolved)}`);
}

function describe(value: unknown): string {
  if (Buffer.isBuffer(value)) return `a Buffer of ${value.length} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return String(value);
}
