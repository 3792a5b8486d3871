import { expect, it } from 'vitest';
import { ShiftableClock } from '../../src/clock/clock.js';
import { restoreClockOffset } from '../../src/hsm/clock-control.js';

const storeWith = (value: string | undefined) => {
  const markers = new Map<string, string>(value === undefined ? [] : [['clock-offset-seconds', value]]);
  return { marker: (name: string) => markers.get(name), setMarker: (name: string, v: string) => void markers.set(name, v) };
};

it('restores a kept offset, and refuses to start on one that is not a sane number of seconds', () => {
  const clock = new ShiftableClock();
  restoreClockOffset(clock, storeWith('86400'));
  expect(clock.offsetSeconds).toBe(86_400);
  restoreClockOffset(clock, storeWith(undefined));
  expect(clock.offsetSeconds).toBe(86_400);
  for (const bad of ['1e300', 'abc', '-5', '99999999999999', '']) {
    expect(() => restoreClockOffset(new ShiftableClock(), storeWith(bad)), bad).toThrow(/stored clock offset/);
  }
});
