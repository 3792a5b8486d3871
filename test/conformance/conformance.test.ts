// The conformance tier: every recording of a real Managed HSM under recordings/ (README.md)
// replayed against the emulator over TLS, with Azurite as the backups' Blob Storage. Each
// recording's differences must be exactly those accepted in accepted-differences.ts, each with its
// reason (and listed in docs/differences.md): a new difference fails, and so does a fixed one still
// listed as accepted.
//
// The replay checks itself too: the last test alters recorded answers on purpose (a status, a
// deterministic value, a field, a header) and expects the comparison to see each.
import { appendFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Azurite, startAzurite } from '../helpers/azurite.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { accessToken, callJson } from '../helpers/rest.js';
import { IN_ANY_RECORDING, IN_RECORDING } from './accepted-differences.js';
import { type Recording, type ReplayContext, Replayer, loadRecordings } from './replay.js';

const recordings = loadRecordings();
let azurite: Azurite;

/** An emulator to replay against: the recorded HSMs kept soft-deleted keys 7 or 90 days. */
interface Target {
  emulator: EmulatorProcess;
  bearer: string;
  context: ReplayContext;
}
const targets = new Map<number, Target>();
/** The patterns of IN_ANY_RECORDING some recording showed. */
const seen = new Set<string>();

/** The retention of the HSM a recording was made against, from its first key's attributes. */
function recordedRetention(recording: Recording): number {
  for (const entry of recording.entries) {
    const days = JSON.stringify(entry.responseBody ?? null).match(/"recoverableDays":\s*(\d+)/)?.[1];
    if (days) return Number(days);
  }
  return 7;
}

/** Back to a fresh HSM between recordings: no keys, deleted keys, custom roles or extra assignments. */
async function resetHsm({ emulator, bearer }: Target): Promise<void> {
  for (const item of (await callJson(emulator.url, bearer, 'GET', '/keys')).body?.value ?? []) {
    const name = String(item.kid).split('/').pop();
    await callJson(emulator.url, bearer, 'DELETE', `/keys/${name}`);
  }
  for (const item of (await callJson(emulator.url, bearer, 'GET', '/deletedkeys')).body?.value ?? []) {
    const name = String(item.kid).split('/').pop();
    expect((await callJson(emulator.url, bearer, 'DELETE', `/deletedkeys/${name}`)).status).toBe(204);
  }
  const assignments = (await callJson(emulator.url, bearer, 'GET', '/providers/Microsoft.Authorization/roleAssignments')).body?.value ?? [];
  for (const assignment of assignments) {
    if (assignment.properties?.principalId === emulator.admin.objectId) continue;
    await callJson(emulator.url, bearer, 'DELETE', `${assignment.properties.scope === '/' ? '' : assignment.properties.scope}/providers/Microsoft.Authorization/roleAssignments/${assignment.name}`);
  }
  const definitions = (await callJson(emulator.url, bearer, 'GET', '/providers/Microsoft.Authorization/roleDefinitions')).body?.value ?? [];
  for (const definition of definitions) {
    if (definition.properties?.type !== 'CustomRole') continue;
    await callJson(emulator.url, bearer, 'DELETE', `/providers/Microsoft.Authorization/roleDefinitions/${definition.name}`);
  }
}

beforeAll(async () => {
  azurite = await startAzurite();
  const containerUrl = await azurite.createContainer('conformance');
  for (const days of new Set(recordings.map(recordedRetention))) {
    const emulator = await startEmulatorProcess(seededDataDir(), ['--soft-delete-retention-days', String(days)]);
    const bearer = await accessToken(emulator.url, emulator.admin);
    const testToken = (await (await fetch(`${emulator.url}/generate-test-token`)).json()) as { token: string };
    const own = (await callJson(emulator.url, bearer, 'GET', '/providers/Microsoft.Authorization/roleAssignments')).body.value as Array<{ name: string }>;
    targets.set(days, {
      emulator,
      bearer,
      context: {
        url: emulator.url,
        bearer,
        ownAssignments: own.map((assignment) => assignment.name),
        storage: { containerUrl, sas: azurite.containerSas('conformance', 'racwdl') },
        attestation: { token: testToken.token, authority: `${emulator.url}/attestation` },
      },
    });
  }
}, 120_000);

afterAll(async () => {
  for (const { emulator } of targets.values()) {
    await emulator.stop();
    removeDataDir(emulator.dataDir);
  }
  await azurite?.stop();
});

/** Replays a recording on a fresh HSM of its retention, with stand-ins of its own. */
async function replay(recording: Recording) {
  const target = targets.get(recordedRetention(recording)) as Target;
  await resetHsm(target);
  return new Replayer(target.context).replay(recording);
}

it('holds at least 150 recorded request/response pairs from the official SDKs', () => {
  const entries = recordings.reduce((sum, recording) => sum + recording.entries.length, 0);
  expect(entries).toBeGreaterThanOrEqual(150);
});

describe.each(recordings.map((recording) => [recording.file, recording] as [string, Recording]))('%s', (file, recording) => {
  it(`replays "${recording.test}" with only the accepted differences`, async () => {
    const results = await replay(recording);
    const found = results.flatMap((result) => result.differences.map((difference) => `#${result.index} ${result.request}: ${difference}`));
    // MHSM_CONFORMANCE_REPORT=FILE: every difference found, for reading them all at once.
    const report = process.env.MHSM_CONFORMANCE_REPORT;
    if (report) appendFileSync(report, `== ${file}\n${found.map((line) => `  ${line}\n`).join('')}`);
    const accepted = Object.keys(IN_RECORDING[file] ?? {});
    const anywhere = Object.keys(IN_ANY_RECORDING);
    for (const pattern of anywhere) if (found.some((difference) => difference.includes(pattern))) seen.add(pattern);
    const unexplained = found.filter((difference) => ![...accepted, ...anywhere].some((pattern) => difference.includes(pattern)));
    const fixed = accepted.filter((pattern) => !found.some((difference) => difference.includes(pattern)));
    expect({ unexplained, fixed }).toEqual({ unexplained: [], fixed: [] });
  });
});

it('still sees every difference accepted in any recording', () => {
  expect(Object.keys(IN_ANY_RECORDING).filter((pattern) => !seen.has(pattern))).toEqual([]);
});

it('sees a changed status, value, field and header: the comparison can fail', async () => {
  const original = recordings.find((recording) => recording.file === 'js-keys/create-oct-key-with-options.json') as Recording;
  const altered = structuredClone(original);
  const create = altered.entries[1] as (typeof altered.entries)[number];
  (create.responseBody as { key: { kty: string } }).key.kty = 'RSA-HSM';
  (create.responseBody as { attributes: Record<string, unknown> }).attributes.hsmPlatform = '2';
  create.responseHeaders['azure-asyncoperation'] = 'https://hsm.example/keys/job';
  const purge = altered.entries[4] as (typeof altered.entries)[number];
  purge.status = 200;
  const found = (await replay(altered)).flatMap((result) => result.differences.map((difference) => `#${result.index} ${difference}`));
  expect(found).toEqual(
    expect.arrayContaining([
      expect.stringContaining('#1 body.key.kty: recorded "RSA-HSM", live "oct-HSM"'),
      expect.stringContaining('#1 body.attributes.hsmPlatform: recorded "2", live absent'),
      expect.stringContaining('#4 status: recorded 200, live 204'),
      expect.stringContaining('#1 header azure-asyncoperation: recorded "https://hsm.example/keys/job", live absent'),
    ]),
  );
  expect(found.filter((difference) => !difference.includes('Unauthorized'))).toHaveLength(4);
});

it('sees a different plaintext, and a kid naming another key', async () => {
  const original = recordings.find((recording) => recording.file === 'js-keys/aes-gcm-encrypt-decrypt.json') as Recording;
  const altered = structuredClone(original);
  const decrypt = altered.entries[5] as (typeof altered.entries)[number];
  (decrypt.responseBody as { value: string }).value = Buffer.from('another plaintext').toString('base64url');
  const created = altered.entries[1] as (typeof altered.entries)[number];
  const key = (created.responseBody as { key: { kid: string } }).key;
  key.kid = key.kid.replace('/keys/cryptography-client-test/', '/keys/another-key/');
  const found = (await replay(altered)).flatMap((result) => result.differences.map((difference) => `#${result.index} ${difference}`));
  expect(found).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^#5 body\.value: .*\(a different plaintext\)$/),
      expect.stringMatching(/^#1 body\.key\.kid: .*\(another key, host or form\)$/),
    ]),
  );
});
