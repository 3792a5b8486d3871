// The top entries of a V8 CPU profile (node --cpu-prof), by self time: which functions the
// server's JS thread spent its time in, and by where they live (our code by folder, each package,
// Node's internals). `tsx scripts/bench/profile-top.ts FILE.cpuprofile [N] [FROM_MS]`: the N top
// functions, of the samples from FROM_MS on (to leave out start-up and set-up).
import { readFileSync } from 'node:fs';
import { formatTable } from './measure.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a function lives: a folder of ours, a package, a part of Node, or V8's own bucket. */
export function placeOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const ours = /\/(src|dist)\/([^/]+)\//.exec(url);
  if (ours && !url.includes('node_modules')) return `ours: ${ours[2]}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] as string;
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  return url;
}

export function topEntries(profile: Profile, fromMs = 0): { byFunction: Array<[string, number]>; byPlace: Array<[string, number]>; totalMs: number } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  // Self time from the samples and their time deltas (µs), not hit counts: samples are uneven.
  let at = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at / 1000 >= fromMs) self.set(id, (self.get(id) ?? 0) + delta);
  });
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  let total = 0;
  for (const [id, micros] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    total += micros;
    const file = url.replace(/^.*\/(node_modules|src|dist)\//, '$1/');
    const name = `${(functionName || '(anonymous)').slice(0, 60)} ${file ? `${file}:${lineNumber + 1}` : ''}`.trim();
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
    const place = placeOf(url, functionName);
    byPlace.set(place, (byPlace.get(place) ?? 0) + micros);
  }
  const sorted = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]);
  return { byFunction: sorted(byFunction), byPlace: sorted(byPlace), totalMs: total / 1000 };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, count = '25', fromMs = '0'] = process.argv.slice(2);
  if (!file) throw new Error('usage: profile-top.ts FILE.cpuprofile [N] [FROM_MS]');
  const { byFunction, byPlace, totalMs } = topEntries(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(fromMs));
  const pct = (micros: number) => `${((micros / 1000 / totalMs) * 100).toFixed(1)} %`;
  console.log(`${totalMs.toFixed(0)} ms busy (idle left out)\n`);
  console.log(formatTable(['where', 'self'], byPlace.slice(0, 15).map(([name, micros]) => [name, pct(micros)])));
  console.log('');
  console.log(formatTable(['function', 'self'], byFunction.slice(0, Number(count)).map(([name, micros]) => [name, pct(micros)])));
}
