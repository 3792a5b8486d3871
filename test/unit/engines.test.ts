// What `npm ci` installs runs on the Node.js versions package.json and the README promise: no
// package of the lockfile asks for more (npm would warn EBADENGINE), and the promise is no lower
// than the highest minimum among them.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const semver = require('semver') as { satisfies(version: string, range: string): boolean; minVersion(range: string): { version: string } | null; gt(a: string, b: string): boolean };
const root = new URL('../../', import.meta.url);
const read = (file: string) => readFileSync(new URL(file, root), 'utf8');

describe('the Node.js versions the project promises', () => {
  const promised = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
  const packages = Object.entries((JSON.parse(read('package-lock.json')) as { packages: Record<string, { engines?: { node?: string } | string[]; version?: string }> }).packages)
    .filter(([name]) => name !== '')
    .flatMap(([name, info]) => (info.engines && !Array.isArray(info.engines) && info.engines.node ? [{ name, range: info.engines.node }] : []));

  it('are all that every installed package accepts, on the version running here too', () => {
    const minimum = semver.minVersion(promised)?.version as string;
    for (const version of [minimum, process.versions.node]) {
      const refusing = packages.filter((p) => !semver.satisfies(version, p.range)).map((p) => `${p.name} (${p.range})`);
      expect(refusing, `Node.js ${version}`).toEqual([]);
    }
  });

  it('start at the highest minimum any installed package has, as the README says', () => {
    const highest = packages.map((p) => semver.minVersion(p.range)?.version ?? '0.0.0').reduce((a, b) => (semver.gt(b, a) ? b : a), '0.0.0');
    expect(semver.minVersion(promised)?.version).toBe(highest);
    expect(read('README.md')).toContain(`Node.js ${highest.replace(/\.0$/, '')} or later`);
  });
});
