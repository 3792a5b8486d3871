// The short forms of the reliability campaigns (npm run reliability runs the long ones): a few
// SIGKILLs under concurrent writes, a few hundred hostile requests, a few seconds of 64-connection
// mixed load. Each checks what its long form checks.
import { expect, it } from 'vitest';
import { crashCampaignGaps, runCrashCampaign } from '../../scripts/reliability/crash.js';
import { runHostileCampaign } from '../../scripts/reliability/hostile.js';
import { runLoad } from '../../scripts/reliability/load.js';
import { runExhaustion } from '../../scripts/reliability/exhaustion.js';
import { runRestoreCrash } from '../../scripts/reliability/restore-crash.js';

it('crash safety: every acknowledged change survives SIGKILL, nothing half-done, token and store agree', async () => {
  const report = await runCrashCampaign({ kills: 3, lanes: 6 });
  expect(report.violations).toEqual([]);
  expect(report.kills).toBe(3);
  expect(report.acknowledged).toBeGreaterThan(30);
  // What the long form fails on too: every kind of operation acknowledged, and a kill that cut one off.
  expect(crashCampaignGaps(report)).toEqual([]);
}, 180_000);

it('crash safety of a full restore: after a SIGKILL at any moment the HSM is as it was or as the backup', async () => {
  const report = await runRestoreCrash({ kills: 3, keys: 15 });
  expect(report.violations).toEqual([]);
  expect(report.kills).toBe(3);
  expect(report.foundBefore + report.foundRestored).toBe(3);
}, 180_000);

it('hostile input: no 5xx, every 4xx with the error envelope, no success without a valid token, and the server still answers', async () => {
  const report = await runHostileCampaign({ runs: 400 });
  // On failure, the seed that replays the same cases (RELIABILITY_SEED=… npm run reliability:hostile).
  const seed = `seed ${report.seed}`;
  expect(report.examples, seed).toEqual([]);
  expect(report.cases, seed).toBe(400);
  expect(report.serverErrors, seed).toBe(0);
  expect(report.badEnvelopes, seed).toBe(0);
  expect(report.forgedAccepted, seed).toBe(0);
  expect(report.aliveAfter, seed).toBe(true);
}, 120_000);

it('sustained load: 64 connections of mixed traffic without an error, a leaked descriptor or memory growth', async () => {
  const report = await runLoad({ seconds: 4, warmupSeconds: 2 });
  expect(report.requests).toBeGreaterThan(1000);
  expect(report.errors).toBe(0);
  expect(report.non2xx).toBe(0);
  expect(report.fdsAfter).toBeLessThanOrEqual(report.fdsAfterWarmup);
  // The long form allows 10 % after a 15 s warm-up; two seconds of warm-up leave more to settle.
  expect(report.memoryGrowthPercent).toBeLessThanOrEqual(25);
}, 120_000);

it('resource exhaustion: no crash, bounded memory, a good client unhurt, every authenticated audit line kept, slow bodies cut off', async () => {
  const report = await runExhaustion({ seconds: 10 });
  expect(report.violations).toEqual([]);
  expect(report.crashed).toBe(false);
  expect(report.attackRequests).toBeGreaterThan(100);
  expect(report.signs).toBeGreaterThan(50);
  expect(report.creates).toBeGreaterThan(3);
  expect(report.authenticatedLinesKept).toBe(report.authenticatedLines);
}, 120_000);
