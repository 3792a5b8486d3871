// The write queue: one write at a time, the principals served in turn, and work past the bounds
// refused with a Retry-After.
import { describe, expect, it } from 'vitest';
import { FairWriteQueue } from '../../src/hsm/fair-write-queue.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

describe('FairWriteQueue', () => {
  it('serves principals round robin, one write at a time', async () => {
    const queue = new FairWriteQueue({ perPrincipal: 10, total: 100, concurrency: 1 });
    const order: string[] = [];
    let running = 0;
    let most = 0;
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const task = (name: string) => () => {
      running++;
      most = Math.max(most, running);
      order.push(name);
      const gate = deferred();
      gates.set(name, gate);
      return gate.promise.then(() => {
        running--;
      });
    };
    const all = [
      queue.run('a', task('a1')),
      queue.run('a', task('a2')),
      queue.run('a', task('a3')),
      queue.run('a', task('a4')),
      queue.run('b', task('b1')),
      queue.run('c', task('c1')),
      queue.run('b', task('b2')),
    ];
    for (let i = 0; i < all.length; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      gates.get(order[order.length - 1] as string)?.resolve();
    }
    await Promise.all(all);
    // One principal's backlog does not hold the others back: b and c come right after a's first.
    expect(order).toEqual(['a1', 'b1', 'c1', 'a2', 'b2', 'a3', 'a4']);
    expect(most).toBe(1);
    expect(queue.size).toBe(0);
  });

  it('runs writes of different principals side by side, never two of one principal', async () => {
    const queue = new FairWriteQueue({ perPrincipal: 10, total: 100, concurrency: 2 });
    const runningNow = new Set<string>();
    let overlap = 0;
    let sameTwice = false;
    const task = (principal: string) => async () => {
      if (runningNow.has(principal)) sameTwice = true;
      runningNow.add(principal);
      overlap = Math.max(overlap, runningNow.size);
      await new Promise((resolve) => setTimeout(resolve, 5));
      runningNow.delete(principal);
    };
    await Promise.all([...Array.from({ length: 5 }, () => queue.run('a', task('a'))), ...Array.from({ length: 5 }, () => queue.run('b', task('b')))]);
    expect(overlap).toBe(2);
    expect(sameTwice).toBe(false);
  });

  it('refuses work past the per-principal and total bounds with a Retry-After, and goes on after a failure', async () => {
    const queue = new FairWriteQueue({ perPrincipal: 2, total: 3, concurrency: 1 });
    const gate = deferred();
    const held = [queue.run('a', () => gate.promise), queue.run('a', () => Promise.resolve())];
    expect(() => queue.run('a', () => Promise.resolve())).toThrow(expect.objectContaining({ code: 'Throttled', retryAfterSeconds: expect.any(Number) }));
    const failing = queue.run('b', () => Promise.reject(new Error('boom')));
    expect(() => queue.run('c', () => Promise.resolve())).toThrow(expect.objectContaining({ code: 'Throttled' }));
    gate.resolve();
    await Promise.all(held);
    await expect(failing).rejects.toThrow('boom');
    await expect(queue.run('c', async () => 'done')).resolves.toBe('done');
  });
});
