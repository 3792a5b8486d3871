// Network rules: public access, default action and IPv4/IPv6 rules, evaluated before
// authentication; set at start or at run time by an administrator; kept across restarts.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { API, accessToken } from '../helpers/rest.js';

let emulator: EmulatorProcess;
let port: string;
let v4: string;
let v6: string;

beforeAll(async () => {
  // Both families on one socket: IPv4 callers arrive as ::ffff:127.0.0.1.
  emulator = await startEmulatorProcess(seededDataDir(), ['--host', '::']);
  port = new URL(emulator.url).port;
  v4 = `https://127.0.0.1:${port}`;
  v6 = `https://[::1]:${port}`;
});

afterAll(async () => {
  if (!emulator) return;
  await emulator.stop();
  removeDataDir(emulator.dataDir);
});

async function status(base: string, bearer?: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${base}/keys?${API}`, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
  return { status: response.status, body: await response.json() };
}

const network = (...args: string[]) => runCli(['network', ...args, '--data-dir', emulator.dataDir, '--url', v4, '--json']);

function expectFirewall(result: { status: number; body: any }, code: string, message: RegExp): void {
  expect(result.status).toBe(403);
  expect(result.body.error).toMatchObject({ code: 'Forbidden', innererror: { code } });
  expect(result.body.error.message).toMatch(message);
}

it('allows, denies by default with allowed v4 and v6 ranges, and disables public access, before authentication', async () => {
  const token = await accessToken(v4, emulator.admin);
  expect((await status(v4, token)).status).toBe(200);
  expect((await status(v6, token)).status).toBe(200);
  expect(JSON.parse((await network('show')).stdout)).toEqual({ publicNetworkAccess: 'Enabled', defaultAction: 'Allow', ipRules: [] });

  const denyAll = await network('set', '--default-action', 'Deny', '--ip-rule', '10.0.0.0/8', '--ip-rule', 'fd00::/8');
  expect(denyAll.stderr).toBe('');
  expect(JSON.parse(denyAll.stdout)).toEqual({ publicNetworkAccess: 'Enabled', defaultAction: 'Deny', ipRules: ['10.0.0.0/8', 'fd00::/8'] });
  // Refused before the token is looked at: no 401 challenge, even without one.
  expectFirewall(await status(v4), 'ForbiddenByFirewall', /^Client address is not authorized and caller is not a trusted service\.\r\nClient address: 127\.0\.0\.1 \(Activity ID/);
  expectFirewall(await status(v6, token), 'ForbiddenByFirewall', /Client address: ::1 /);

  await network('set', '--ip-rule', '127.0.0.0/8');
  expect((await status(v4, token)).status).toBe(200);
  expectFirewall(await status(v6, token), 'ForbiddenByFirewall', /::1/);
  await network('set', '--ip-rule', '127.0.0.1', '--ip-rule', '::1');
  expect((await status(v6, token)).status).toBe(200);

  await network('set', '--public-network-access', 'Disabled');
  expectFirewall(await status(v4, token), 'ForbiddenByConnection', /^Public network access is disabled/);

  // Refused calls are audited.
  const audit = readFileSync(path.join(emulator.dataDir, 'audit', 'audit.log'), 'utf8');
  expect(audit).toMatch(/"operationName":"KeyList".*"resultSignature":"Forbidden"/);

  // Bad rules get a 400 naming the field, and change nothing.
  const bad = await network('set', '--ip-rule', '127.0.0.1', '--ip-rule', '300.1.1.1/8');
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/^mhsm: error: BadParameter: ipRules\[1\]: '300\.1\.1\.1\/8' is not an IPv4 or IPv6 address or CIDR range/);

  // Kept across a restart.
  expect(await emulator.stop()).toBe(0);
  emulator = await startEmulatorProcess(emulator.dataDir, ['--host', '::']);
  port = new URL(emulator.url).port;
  v4 = `https://127.0.0.1:${port}`;
  v6 = `https://[::1]:${port}`;
  expectFirewall(await status(v4), 'ForbiddenByConnection', /disabled/);
  expect(JSON.parse((await network('show')).stdout)).toEqual({ publicNetworkAccess: 'Disabled', defaultAction: 'Deny', ipRules: ['127.0.0.1/32', '::1/128'] });
  expect(JSON.parse((await network('set', '--no-ip-rules')).stdout).ipRules).toEqual([]);
  expect((await network('set', '--no-ip-rules', '--ip-rule', '127.0.0.1')).code).toBe(1);

  // Non-administrators cannot change them.
  await network('set', '--public-network-access', 'Enabled', '--default-action', 'Allow');
  const user = JSON.parse((await runCli(['principal', 'create', '--name', 'net-user', '--data-dir', emulator.dataDir, '--json'])).stdout);
  const denied = await runCli(['network', 'set', '--default-action', 'Deny', '--data-dir', emulator.dataDir, '--url', v4, '--client-id', user.clientId, '--client-secret', user.clientSecret]);
  expect(denied.code).toBe(1);
  expect(denied.stderr).toMatch(/AccessDenied: Not authorized to access Microsoft\.KeyVault\/managedHsm\/settings\/write\/action on \//);
});

it('takes rules from start-up flags, which replace the kept ones', async () => {
  const started = await startEmulatorProcess(seededDataDir(), ['--host', '::', '--default-action', 'Deny', '--ip-rule', '::1']);
  try {
    const p = new URL(started.url).port;
    expect((await status(`https://127.0.0.1:${p}`)).status).toBe(403);
    expect((await status(`https://[::1]:${p}`)).status).toBe(401);
  } finally {
    await started.stop();
    removeDataDir(started.dataDir);
  }
  // A rules file, with a flag on top of it.
  const fileDir = seededDataDir();
  writeFileSync(path.join(fileDir, 'rules.json'), JSON.stringify({ defaultAction: 'Deny', ipRules: ['127.0.0.1'] }));
  const fromFile = await startEmulatorProcess(fileDir, ['--host', '::', '--network-rules', path.join(fileDir, 'rules.json'), '--ip-rule', '::1']);
  try {
    const p = new URL(fromFile.url).port;
    expect((await status(`https://127.0.0.1:${p}`)).status).toBe(403);
    expect((await status(`https://[::1]:${p}`)).status).toBe(401);
  } finally {
    await fromFile.stop();
    removeDataDir(fileDir);
  }
  const unused = seededDataDir();
  const refused = await runCli(['start', '--data-dir', unused, '--port', '0', '--ip-rule', 'not-an-address']);
  removeDataDir(unused);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/^mhsm: error: network rules: ipRules\[0\]: 'not-an-address' is not an IPv4 or IPv6 address/);
});
