// Options shared by the commands that talk to a running emulator.
import type { Command } from 'commander';
import { DEFAULT_DATA_DIR, resolveDataDir } from './config.js';
import { type ClientFlags, RestClient } from './rest-client.js';

export type ClientCommandFlags = ClientFlags & { dataDir?: string; json?: boolean };

export function addClientOptions(command: Command): Command {
  return command
    .option('--data-dir <dir>', `data directory of the running emulator (MHSM_DATA_DIR, default ${DEFAULT_DATA_DIR})`)
    .option('--url <url>', 'the emulator URL (default: the one running on the data directory)')
    .option('--client-id <id>', "a principal's client id (MHSM_CLIENT_ID; default: the initial administrator in admin.json)")
    .option('--client-secret <secret>', 'its client secret (MHSM_CLIENT_SECRET; prefer the variable: flags show in ps)')
    .option('--json', 'machine-readable output');
}

export function clientFor(flags: ClientCommandFlags): RestClient {
  return RestClient.open(resolveDataDir(flags.dataDir), flags);
}

/** Prints `value` as JSON with --json, otherwise as the lines `readable` makes of it. */
export function output<T>(flags: ClientCommandFlags, value: T, readable: (value: T) => string[]): void {
  if (flags.json) console.log(JSON.stringify(value, null, 2));
  else for (const line of readable(value)) console.log(line);
}
