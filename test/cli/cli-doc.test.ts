// docs/cli.md is every command's --help as the program prints it now.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { cliReference } from '../../src/cli/cli-reference.js';
import { buildProgram } from '../../src/cli/main.js';

it('holds the help of every command, as it is now (npm run docs:cli rewrites it)', () => {
  const doc = readFileSync(path.resolve(import.meta.dirname, '../../docs/cli.md'), 'utf8');
  const expected = cliReference(buildProgram());
  expect(expected).toContain('## mhsm backup restore');
  expect(expected).toContain('--managed-identity');
  expect(doc).toBe(expected);
});
