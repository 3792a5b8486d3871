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
