// The HSM's soft-delete retention: chosen by the first start, kept, never changed; a data
// directory from before it was kept takes the retention of the keys it holds.
import { describe, expect, it } from 'vitest';
import { softDeleteRetentionDays } from '../../src/hsm/soft-delete-retention.js';
import type { MarkerStore } from '../../src/store/access-store.js';

function markers(initial: Record<string, string> = {}): MarkerStore & { all: Map<string, string> } {
  const all = new Map(Object.entries(initial));
  return { all, marker: (name: string) => all.get(name), setMarker: (name: string, value: string) => void all.set(name, value) } as unknown as MarkerStore & { all: Map<string, string> };
}

describe('softDeleteRetentionDays', () => {
  it('is the one asked for on first start (90 when none is), and is kept', () => {
    const first = markers();
    expect(softDeleteRetentionDays(first, 30)).toBe(30);
    expect(first.all.get('soft-delete-retention-days')).toBe('30');
    expect(softDeleteRetentionDays(first, undefined)).toBe(30);
    expect(softDeleteRetentionDays(first, 30)).toBe(30);
    expect(softDeleteRetentionDays(markers(), undefined)).toBe(90);
  });

  it('cannot change once set', () => {
    const kept = markers({ 'soft-delete-retention-days': '7' });
    expect(() => softDeleteRetentionDays(kept, 8)).toThrow(/keeps soft-deleted keys 7 days.*cannot change/);
  });

  it('is, for a data directory made before it was kept, that of the keys it holds', () => {
    const old = markers();
    expect(softDeleteRetentionDays(old, undefined, 7)).toBe(7);
    expect(old.all.get('soft-delete-retention-days')).toBe('7');
    expect(() => softDeleteRetentionDays(markers(), 90, 7)).toThrow(/keeps soft-deleted keys 7 days/);
  });
});
