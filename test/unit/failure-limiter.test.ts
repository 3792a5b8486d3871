// Failed token requests: limited per key in fixed windows, bounded by entries.
import { expect, it } from 'vitest';
import { FailureLimiter } from '../../src/identity/failure-limiter.js';

it('refuses a key past its limit until its window ends, and forgets the oldest keys past the bound', () => {
  let now = 1_000_000;
  const limiter = new FailureLimiter({ limit: 3, windowMs: 10_000, maxEntries: 100 }, () => now);
  for (let i = 0; i < 3; i++) {
    expect(limiter.retryAfter(['ip:a', 'client:x'])).toBeUndefined();
    limiter.recordFailure(['ip:a', 'client:x']);
  }
  expect(limiter.retryAfter(['ip:a'])).toBe(10);
  expect(limiter.retryAfter(['ip:b', 'client:x'])).toBe(10);
  expect(limiter.retryAfter(['ip:b', 'client:y'])).toBeUndefined();
  now += 4_000;
  expect(limiter.retryAfter(['ip:a'])).toBe(6);
  now += 6_000;
  expect(limiter.retryAfter(['ip:a'])).toBeUndefined();
  for (let i = 0; i < 1000; i++) limiter.recordFailure([`ip:${i}`]);
  expect(limiter.size).toBe(100);
});

it('starts a new window for a failure at its end, and counts within it to the limit', () => {
  let now = 5_000_000;
  const limiter = new FailureLimiter({ limit: 2, windowMs: 10_000, maxEntries: 10 }, () => now);
  limiter.recordFailure(['k']);
  now += 9_999;
  limiter.recordFailure(['k']);
  // Two failures in the window that began at the first: over the limit for one more millisecond.
  expect(limiter.retryAfter(['k'])).toBe(1);
  now += 1;
  expect(limiter.retryAfter(['k'])).toBeUndefined();
  // A failure exactly at the window's end opens a new one, counting from one.
  limiter.recordFailure(['k']);
  expect(limiter.retryAfter(['k'])).toBeUndefined();
  limiter.recordFailure(['k']);
  expect(limiter.retryAfter(['k'])).toBe(10);
});
