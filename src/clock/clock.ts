// The one clock behind nbf/exp, retention and purge dates and rotation: tests and operators can
// move it forward, never back.

export interface Clock {
  /** Unix seconds. */
  now(): number;
}

export class ShiftableClock implements Clock {
  #offsetSeconds = 0;

  constructor(private readonly source: () => number = () => Date.now()) {}

  now(): number {
    return Math.floor(this.source() / 1000) + this.#offsetSeconds;
  }

  get offsetSeconds(): number {
    return this.#offsetSeconds;
  }

  shift(seconds: number): void {
    if (!Number.isInteger(seconds) || seconds < 0) throw new RangeError('the clock moves forward only, by a whole number of seconds');
    this.#offsetSeconds += seconds;
  }
}
