// Moving the emulator's clock forward on request, so that 90-day flows take seconds: the offset
// is kept in the store (a restart never moves time back), and the key maintenance that the new
// time makes due (purges past retention, rotations) runs at once.
import { HsmError } from './errors.js';
import type { ShiftableClock } from '../clock/clock.js';
import type { KeyService } from './key-service.js';
import type { MarkerStore } from '../store/access-store.js';

const OFFSET_MARKER = 'clock-offset-seconds';
/** Ten years in one shift, a hundred in all: far enough for any retention or rotation flow. */
const MAX_SHIFT_SECONDS = 10 * 366 * 86_400;
const MAX_OFFSET_SECONDS = 10 * MAX_SHIFT_SECONDS;

export interface ClockState {
  /** The emulator's time, ISO 8601. */
  now: string;
  offsetSeconds: number;
}

/** Applies the offset a previous run left, before anything reads the clock. */
export function restoreClockOffset(clock: ShiftableClock, store: MarkerStore): void {
  const text = store.marker(OFFSET_MARKER);
  if (text === undefined) return;
  const saved = /^\d{1,12}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(saved) || saved > MAX_OFFSET_SECONDS) {
    // Refusing to start beats running with time moved back, or so far ahead nothing works.
    throw new Error(`the stored clock offset '${text.slice(0, 40)}' is not a number of seconds from 0 to ${MAX_OFFSET_SECONDS}`);
  }
  if (saved > clock.offsetSeconds) clock.shift(saved - clock.offsetSeconds);
}

export class ClockControl {
  constructor(
    private readonly clock: ShiftableClock,
    private readonly store: MarkerStore,
    private readonly keys: KeyService,
  ) {}

  state(): ClockState {
    return { now: new Date(this.clock.now() * 1000).toISOString(), offsetSeconds: this.clock.offsetSeconds };
  }

  async shift(input: { days?: unknown; seconds?: unknown }): Promise<ClockState & { purged: string[]; rotated: string[] }> {
    const seconds = shiftSeconds(input);
    if (this.clock.offsetSeconds + seconds > MAX_OFFSET_SECONDS) {
      throw new HsmError('BadParameter', `the clock may run at most ${MAX_OFFSET_SECONDS / 86_400} days ahead in all; it is ${this.clock.offsetSeconds / 86_400} days ahead now`);
    }
    this.clock.shift(seconds);
    this.store.setMarker(OFFSET_MARKER, String(this.clock.offsetSeconds));
    const { purged, rotated } = await this.keys.maintain();
    return { ...this.state(), purged, rotated };
  }
}

function shiftSeconds({ days, seconds }: { days?: unknown; seconds?: unknown }): number {
  if ((days === undefined) === (seconds === undefined)) throw new HsmError('BadParameter', 'give either days or seconds to move the clock forward by');
  const value = days !== undefined ? days : seconds;
  const total = days !== undefined ? Number(value) * 86_400 : Number(value);
  if (typeof value !== 'number' || !Number.isInteger(total) || total <= 0 || total > MAX_SHIFT_SECONDS) {
    throw new HsmError('BadParameter', `${days !== undefined ? 'days' : 'seconds'}: must be a positive number, at most ten years; the clock never moves back`);
  }
  return total;
}
