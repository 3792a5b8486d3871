// `mhsm network show|set`: the running emulator's network rules, changed at run time by an
// administrator and kept across restarts.
import type { Command } from 'commander';
import type { NetworkRules } from '../network/network-rules.js';
import { type ClientCommandFlags, addClientOptions, clientFor, output } from './client-options.js';
import { ConfigError } from './config.js';

const readable = (rules: NetworkRules) => [
  `public network access: ${rules.publicNetworkAccess}`,
  `default action:        ${rules.defaultAction}`,
  `IP rules:              ${rules.ipRules.length === 0 ? '(none)' : rules.ipRules.join(', ')}`,
];

type SetFlags = ClientCommandFlags & { publicNetworkAccess?: string; defaultAction?: string; ipRules?: string };

export function addNetworkCommands(program: Command): void {
  const network = program.command('network').description("the emulator's network rules (its firewall)");

  addClientOptions(network.command('show').description('print the network rules in force')).action(async (flags: ClientCommandFlags) => {
    output(flags, await clientFor(flags).call<NetworkRules>('GET', '/emulator/network'), readable);
  });

  addClientOptions(network.command('set').description('change the network rules; fields not given stay'))
    .option('--public-network-access <Enabled|Disabled>', 'refuse every data-plane call when Disabled')
    .option('--default-action <Allow|Deny>', 'what callers no IP rule names get')
    .option('--ip-rules <list>', "comma-separated IPv4/IPv6 addresses or CIDR ranges ('' for none)")
    .action(async (flags: SetFlags) => {
      const body = {
        ...(flags.publicNetworkAccess === undefined ? {} : { publicNetworkAccess: flags.publicNetworkAccess }),
        ...(flags.defaultAction === undefined ? {} : { defaultAction: flags.defaultAction }),
        ...(flags.ipRules === undefined ? {} : { ipRules: flags.ipRules.split(',').map((r) => r.trim()).filter(Boolean) }),
      };
      if (Object.keys(body).length === 0) throw new ConfigError('give --public-network-access, --default-action or --ip-rules');
      output(flags, await clientFor(flags).call<NetworkRules>('PUT', '/emulator/network', body), readable);
    });
}
