// `mhsm attest`: the local attestation authority mints an attestation token, as an attestation
// service would for an attested environment: chosen claims, and the environment's runtime key
// (the RSA key a release is wrapped to). Key release takes it as `target`. Offline: it reads the
// authority's key and the emulator's clock from the data directory.
import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ShiftableClock } from '../clock/clock.js';
import { restoreClockOffset } from '../hsm/clock-control.js';
import { LocalAttestationAuthority, localIssuer, runtimeJwk } from '../hsm/release/local-authority.js';
import { SERVER_FILE, runningServer } from '../server/data-dir-lock.js';
import { SqliteMetadataStore } from '../store/sqlite-store.js';
import { ConfigError, DEFAULT_DATA_DIR, resolveDataDir } from './config.js';

type AttestFlags = { dataDir?: string; claim?: string[]; runtimeKey: string; runtimeKid: string; issuer?: string; lifetime: string; out?: string };

/** `a.b=v`: v as true/false, a number, or text; a dotted name nests (x-ms-sevsnpvm.hostdata). */
export function claimsOf(pairs: readonly string[]): Record<string, unknown> {
  const claims: Record<string, unknown> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new ConfigError(`--claim takes name=value, not '${pair}'`);
    const text = pair.slice(at + 1);
    const value = text === 'true' ? true : text === 'false' ? false : /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text;
    const parts = pair.slice(0, at).split('.');
    if (parts.some((part) => part === '' || part === '__proto__' || part === 'constructor' || part === 'prototype')) {
      throw new ConfigError(`--claim: '${pair.slice(0, at)}' is not a claim name`);
    }
    let node = claims;
    for (const part of parts.slice(0, -1)) {
      const next = node[part];
      node = (typeof next === 'object' && next !== null ? next : (node[part] = {})) as Record<string, unknown>;
    }
    node[parts[parts.length - 1] as string] = value;
  }
  return claims;
}

/** The emulator's time (its clock offset is kept in the store), so its nbf/exp checks agree. */
async function emulatorNow(dataDir: string): Promise<number> {
  const clock = new ShiftableClock();
  const dbPath = path.join(dataDir, 'metadata.db');
  if (!existsSync(dbPath)) return clock.now();
  const store = new SqliteMetadataStore(dbPath);
  try {
    restoreClockOffset(clock, store.access);
  } finally {
    await store.close();
  }
  return clock.now();
}

export function addAttestCommand(program: Command): void {
  program
    .command('attest')
    .description("mint an attestation token from the local attestation authority, for key release: claims, and the attested environment's runtime key")
    .option('--data-dir <dir>', `data directory (MHSM_DATA_DIR, default ${DEFAULT_DATA_DIR})`)
    .option('--claim <name=value>', 'a claim (repeatable); true/false and numbers are JSON values, dotted names nest', (value: string, previous: string[] = []) => [...previous, value])
    .requiredOption('--runtime-key <pem>', "the environment's RSA public key (PEM), to which a release is wrapped")
    .option('--runtime-kid <kid>', 'its kid, which a release names', 'runtime-key')
    .option('--issuer <url>', 'the issuer (default: the local authority of the running emulator, URL/attestation/)')
    .option('--lifetime <seconds>', 'how long the token is valid', '28800')
    .option('--out <file>', 'write the token here (default: standard output)')
    .action(async (flags: AttestFlags) => {
      const dataDir = resolveDataDir(flags.dataDir);
      const url = runningServer(dataDir)?.url;
      if (!flags.issuer && !url) throw new ConfigError(`no emulator is running on ${dataDir} (no ${SERVER_FILE}): start it, or give --issuer`);
      const lifetimeSeconds = Number(flags.lifetime);
      if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds < 1) throw new ConfigError('--lifetime takes a whole number of seconds');
      let runtimeKey;
      try {
        runtimeKey = runtimeJwk(createPublicKey(readFileSync(flags.runtimeKey)), flags.runtimeKid);
      } catch (error) {
        throw new ConfigError(`--runtime-key: ${flags.runtimeKey} is not an RSA public key in PEM: ${(error as Error).message}`);
      }
      const authority = await LocalAttestationAuthority.open(dataDir);
      const token = await authority.mint({
        issuer: flags.issuer ?? localIssuer(url as string),
        claims: claimsOf(flags.claim ?? []),
        runtimeKeys: [runtimeKey],
        now: await emulatorNow(dataDir),
        lifetimeSeconds,
      });
      if (flags.out) writeFileSync(flags.out, `${token}\n`, { mode: 0o600 });
      else console.log(token);
    });
}
