import { expect, it } from 'vitest';
import { safeRequestUri } from '../../src/audit/audit-entry.js';

it('keeps only the safe query parameters, and reads a path starting with // as a path', () => {
  expect(safeRequestUri('https://localhost:8443', '/keys/k/sign?api-version=7.6&sig=secret&se=2030&maxresults=5')).toBe(
    'https://localhost:8443/keys/k/sign?api-version=7.6&maxresults=5',
  );
  expect(safeRequestUri('https://localhost:8443', '//metadata/endpoints?api-version=2015-01-01')).toBe('https://localhost:8443//metadata/endpoints?api-version=2015-01-01');
  expect(safeRequestUri('https://h:1', '/rng?token=abc')).toBe('https://h:1/rng');
});
