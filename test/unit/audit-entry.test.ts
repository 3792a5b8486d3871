import fc from 'fast-check';
import { expect, it } from 'vitest';
import { safeRequestUri } from '../../src/audit/audit-entry.js';

it('keeps only the safe query parameters, and reads a path starting with // as a path', () => {
  expect(safeRequestUri('https://localhost:8443', '/keys/k/sign?api-version=7.6&sig=secret&se=2030&maxresults=5')).toBe(
    'https://localhost:8443/keys/k/sign?api-version=7.6&maxresults=5',
  );
  expect(safeRequestUri('https://localhost:8443', '//metadata/endpoints?api-version=2015-01-01')).toBe('https://localhost:8443//metadata/endpoints?api-version=2015-01-01');
  expect(safeRequestUri('https://h:1', '/rng?token=abc')).toBe('https://h:1/rng');
});

// The query as URLSearchParams parses and writes it, keeping the safe names: what safeRequestUri
// wrote for every query before its shortcut for plain ones.
function parsedRequestUri(origin: string, url: string): string {
  const target = url.split('#')[0] ?? '';
  const at = target.indexOf('?');
  const path = at < 0 ? target : target.slice(0, at);
  const query = at < 0 ? '' : target.slice(at + 1);
  if (query === '') return `${origin}${path}`.slice(0, 2048);
  const kept = new URLSearchParams();
  for (const [name, value] of new URLSearchParams(query)) {
    if (['api-version', 'maxresults', '$filter', '$skiptoken'].includes(name.toLowerCase())) kept.append(name, value);
  }
  const rest = kept.toString();
  return `${origin}${path}${rest ? `?${rest}` : ''}`.slice(0, 2048);
}

it('writes any query as parsing it would, plain ones taken as they are included', () => {
  const names = fc.constantFrom('api-version', 'API-Version', 'maxresults', '$skiptoken', '%24filter', 'sig', 'se', 'x', '');
  const value = fc.stringMatching(/^[A-Za-z0-9._*~%+=$ -]{0,12}$/);
  const query = fc.array(fc.tuple(names, fc.option(value)), { maxLength: 4 }).map((pairs) => pairs.map(([n, v]) => (v === null ? n : `${n}=${v}`)).join('&'));
  fc.assert(
    fc.property(query, fc.boolean(), (q, withHash) => {
      const url = `/keys/k?${q}${withHash ? '#frag' : ''}`;
      expect(safeRequestUri('https://h:1', url)).toBe(parsedRequestUri('https://h:1', url));
    }),
    { numRuns: 2000 },
  );
  // The common case goes through unparsed, and is the same.
  expect(safeRequestUri('https://h:1', '/keys/k?api-version=7.6')).toBe('https://h:1/keys/k?api-version=7.6');
  expect(safeRequestUri('https://h:1', '/keys?api-version=7.6&maxresults=25')).toBe('https://h:1/keys?api-version=7.6&maxresults=25');
});
