// docs/options.md stays true: every flag of `mhsm start` and every MHSM_* variable the code reads
// is in it.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';

const root = path.resolve(import.meta.dirname, '../..');
const doc = readFileSync(path.join(root, 'docs/options.md'), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(path.join(dir, entry.name)) : entry.name.endsWith('.ts') ? [path.join(dir, entry.name)] : [],
  );
}

it('documents every flag of mhsm start and of the client commands', () => {
  const program = buildProgram();
  const start = program.commands.find((c) => c.name() === 'start');
  const status = program.commands.find((c) => c.name() === 'status');
  const flags = [...(start?.options ?? []), ...(status?.options ?? [])].map((o) => o.long as string);
  expect(flags.length).toBeGreaterThan(15);
  expect(flags.filter((flag) => !doc.includes(`\`${flag}`))).toEqual([]);
});

it('documents every MHSM_ environment variable the code reads', () => {
  const variables = new Set(sources(path.join(root, 'src')).flatMap((file) => readFileSync(file, 'utf8').match(/MHSM_[A-Z0-9_]+/g) ?? []));
  expect(variables.size).toBeGreaterThan(10);
  expect([...variables].filter((name) => !doc.includes(`\`${name}\``))).toEqual([]);
});
