// npm run docs:cli — writes docs/cli.md from the program's own help texts.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { cliReference } from '../src/cli/cli-reference.js';
import { buildProgram } from '../src/cli/main.js';

const file = path.resolve(import.meta.dirname, '../docs/cli.md');
writeFileSync(file, cliReference(buildProgram()));
console.log(`written: ${path.relative(process.cwd(), file)}`);
