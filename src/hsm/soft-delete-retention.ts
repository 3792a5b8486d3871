// The HSM's soft-delete retention (7 to 90 days): chosen when the HSM is made, by its first start,
// and kept in the data directory; as with the service, it cannot change afterwards.
import type { MarkerStore } from '../store/access-store.js';
import { HsmError } from './errors.js';

const MARKER = 'soft-delete-retention-days';
export const DEFAULT_RETENTION_DAYS = 90;

/**
 * The retention this HSM keeps: the stored one; or, where none is stored, that of the keys it
 * already holds (a data directory made before the retention was kept); or, on first start, the
 * one asked for (default 90).
 */
export function softDeleteRetentionDays(markers: MarkerStore, requested: number | undefined, ofExistingKeys?: number): number {
  const marked = markers.marker(MARKER);
  const stored = marked ?? (ofExistingKeys === undefined ? undefined : String(ofExistingKeys));
  if (stored !== undefined) {
    const days = Number(stored);
    if (requested !== undefined && requested !== days) {
      throw new HsmError(
        'BadParameter',
        `--soft-delete-retention-days: this HSM keeps soft-deleted keys ${days} days, set when it was made; the retention of an HSM cannot change (start without the flag, or with ${days})`,
      );
    }
    if (marked === undefined) markers.setMarker(MARKER, stored);
    return days;
  }
  const days = requested ?? DEFAULT_RETENTION_DAYS;
  markers.setMarker(MARKER, String(days));
  return days;
}
