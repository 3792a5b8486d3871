#!/usr/bin/env node
// Runs the compiled CLI; `npm ci` (or `npm run compile`) compiles it into dist/.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('mhsm: error: not built yet: run `npm ci` or `npm run compile` in the package directory');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv);
