// npm run reliability — the long forms of the four campaigns, one table:
//   crash safety (RELIABILITY_KILLS SIGKILLs, default 24, and RELIABILITY_RESTORE_KILLS during
//   full restores, default 12), hostile input (RELIABILITY_CASES cases,
//   default 10,000), sustained load (RELIABILITY_LOAD_SECONDS, default 60, 64 connections),
//   resource exhaustion (RELIABILITY_EXHAUSTION_SECONDS, default 60).
// `npm run reliability -- crash|hostile|load|exhaustion` runs one. Exits 1 if any check failed.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { formatTable } from './bench/measure.js';
import { type CrashReport, crashCampaignGaps, runCrashCampaign } from './reliability/crash.js';
import { type HostileReport, runHostileCampaign } from './reliability/hostile.js';
import { type LoadReport, runLoad } from './reliability/load.js';
import { type ExhaustionReport, runExhaustion } from './reliability/exhaustion.js';
import { type RestoreCrashReport, runRestoreCrash } from './reliability/restore-crash.js';

const only = process.argv[2];
const wanted = (name: string) => only === undefined || only === name;
const int = (name: string, fallback: number) => Number.parseInt(process.env[name] ?? '', 10) || fallback;
const progress = (line: string) => process.stderr.write(`${line}\n`);

let crash: CrashReport | undefined;
let hostile: HostileReport | undefined;
let load: LoadReport | undefined;
let exhaustion: ExhaustionReport | undefined;
let restoreCrash: RestoreCrashReport | undefined;
if (wanted('crash')) {
  crash = await runCrashCampaign({ kills: int('RELIABILITY_KILLS', 24), log: progress });
  restoreCrash = await runRestoreCrash({ kills: int('RELIABILITY_RESTORE_KILLS', 12), log: progress });
}
if (wanted('hostile')) {
  const seed = Number.parseInt(process.env.RELIABILITY_SEED ?? '', 10);
  hostile = await runHostileCampaign({ runs: int('RELIABILITY_CASES', 10_000), ...(Number.isNaN(seed) ? {} : { seed }) });
}
if (wanted('load')) load = await runLoad({ seconds: int('RELIABILITY_LOAD_SECONDS', 60), warmupSeconds: 15 });
if (wanted('exhaustion')) exhaustion = await runExhaustion({ seconds: int('RELIABILITY_EXHAUSTION_SECONDS', 60), log: progress });

const failures: string[] = [];
const rows: Array<[string, string, string]> = [];
if (crash) {
  rows.push(['crash safety', 'kills survived', String(crash.kills)]);
  rows.push(['crash safety', 'operations acknowledged', `${crash.acknowledged} (${Object.entries(crash.acknowledgedBy).map(([operation, n]) => `${operation} ${n}`).join(', ')})`]);
  rows.push(['crash safety', 'operations cut off in flight by a kill', String(crash.cutOff)]);
  rows.push(['crash safety', 'violations', String(crash.violations.length)]);
  if (crash.violations.length > 0) failures.push(...crash.violations.slice(0, 20));
  failures.push(...crashCampaignGaps(crash));
}
if (restoreCrash) {
  rows.push(['crash safety', 'kills during a full restore', String(restoreCrash.kills)]);
  rows.push(['crash safety', 'found as before / as the backup', `${restoreCrash.foundBefore} / ${restoreCrash.foundRestored} (a restore takes ${restoreCrash.restoreMs} ms)`]);
  rows.push(['crash safety', 'restores found mixed, or token and store apart', String(restoreCrash.violations.length)]);
  failures.push(...restoreCrash.violations);
  if (restoreCrash.foundBefore + restoreCrash.foundRestored !== restoreCrash.kills) failures.push(`full restore: ${restoreCrash.kills} kills, but ${restoreCrash.foundBefore + restoreCrash.foundRestored} states found as before or as the backup`);
}
if (hostile) {
  rows.push(['hostile input', `cases tried (seed ${hostile.seed})`, String(hostile.cases)]);
  rows.push(['hostile input', '5xx or broken connections', String(hostile.serverErrors)]);
  rows.push(['hostile input', '4xx without the error envelope', String(hostile.badEnvelopes)]);
  rows.push(['hostile input', 'bad or missing token answered with a success', String(hostile.forgedAccepted)]);
  rows.push(['hostile input', 'server answering afterwards', hostile.aliveAfter ? 'yes' : 'NO']);
  if (hostile.serverErrors > 0 || hostile.badEnvelopes > 0 || hostile.forgedAccepted > 0 || !hostile.aliveAfter) failures.push(`hostile input (seed ${hostile.seed}, RELIABILITY_SEED replays it):`, ...hostile.examples);
  if (!hostile.aliveAfter) failures.push('the server did not answer after the hostile run');
}
if (load) {
  rows.push(['sustained load', `requests in ${load.seconds} s, ${load.connections} connections`, load.requests.toLocaleString('en-US')]);
  rows.push(['sustained load', 'errors (failed, timed out, non-2xx)', String(load.errors + load.non2xx)]);
  rows.push(['sustained load', 'latency p50 / p99', `${load.p50Ms} ms / ${load.p99Ms} ms`]);
  rows.push(['sustained load', 'memory after warm-up → after run', `${load.rssAfterWarmupMb} MB → ${load.rssAfterMb} MB (${load.memoryGrowthPercent >= 0 ? '+' : ''}${load.memoryGrowthPercent} %)`]);
  rows.push(['sustained load', 'file descriptors after warm-up → after run', `${load.fdsAfterWarmup} → ${load.fdsAfter}`]);
  if (load.errors + load.non2xx > 0) failures.push(`${load.errors + load.non2xx} requests failed under load`);
  if (load.memoryGrowthPercent > 10) failures.push(`resident memory grew ${load.memoryGrowthPercent} % under load (limit 10 %)`);
  if (load.fdsAfter > load.fdsAfterWarmup) failures.push(`file descriptors grew from ${load.fdsAfterWarmup} to ${load.fdsAfter}`);
}

if (exhaustion) {
  const e = exhaustion;
  rows.push(['resource exhaustion', `attack requests in ${e.seconds} s`, e.attackRequests.toLocaleString('en-US')]);
  rows.push(['resource exhaustion', 'crashed', e.crashed ? 'YES' : 'no']);
  rows.push(['resource exhaustion', 'resident memory start → max (limit +50 MB)', `${e.rssStartMb} MB → ${e.rssMaxMb} MB`]);
  rows.push(['resource exhaustion', 'good client sign p50 / p99 (limit 50 ms)', `${e.signP50Ms} ms / ${e.signP99Ms} ms (${e.signs})`]);
  rows.push(['resource exhaustion', 'good client create p50 / p99 (limit 2 s)', `${e.createP50Ms} ms / ${e.createP99Ms} ms (${e.creates})`]);
  rows.push(['resource exhaustion', 'good client errors', String(e.goodErrors)]);
  rows.push(['resource exhaustion', 'authenticated audit lines kept', `${e.authenticatedLinesKept} of ${e.authenticatedLines}`]);
  rows.push(['resource exhaustion', 'slow-body connections open after the timeout', String(e.slowConnections)]);
  rows.push(['resource exhaustion', 'connections established at the end', String(e.openConnectionsAfter)]);
  failures.push(...e.violations);
}

console.log(`\nreliability — node ${process.version}\n`);
console.log(formatTable(['campaign', 'measure', 'value'], rows));
if (failures.length > 0) {
  console.log('\nfailed:');
  for (const failure of failures) console.log(`- ${failure}`);
}
const dir = path.resolve(import.meta.dirname, '..', 'bench', 'results');
mkdirSync(dir, { recursive: true });
const file = path.join(dir, `reliability-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify({ crash, restoreCrash, hostile, load, exhaustion, failures }, null, 2)}\n`);
console.log(`\nwritten: ${path.relative(process.cwd(), file)}`);
process.exitCode = failures.length > 0 ? 1 : 0;
