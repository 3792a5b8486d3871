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

type SetFlags = ClientCommandFlags & { publicNetworkAccess?: string; defaultAction?: string; ipRule?: string[]; ipRules?: boolean };

export function addNetworkCommands(program: Command): void {
  const network = program.command('network').description("the emulator's network rules (its firewall)");

  addClientOptions(network.command('show').description('print the network rules in force')).action(async (flags: ClientCommandFlags) => {
    output(flags, await clientFor(flags).call<NetworkRules>('GET', '/emulator/network'), readable);
  });

  addClientOptions(network.command('set').description('change the network rules; fields not given stay'))
    .option('--public-network-access <Enabled|Disabled>', 'refuse every data-plane call when Disabled')
    .option('--default-action <Allow|Deny>', 'what callers no IP rule names get')
    // The same flag as `mhsm start --ip-rule`: repeated, it gives the whole list.
    .option('--ip-rule <cidr>', 'an IPv4 or IPv6 address or range allowed when the default is Deny (repeatable; the rules given replace the list)', (value: string, previous: string[] = []) => [...previous, value])
    .option('--no-ip-rules', 'remove every IP rule')
    .action(async (flags: SetFlags) => {
      if (flags.ipRule !== undefined && flags.ipRules === false) throw new ConfigError('give --ip-rule or --no-ip-rules, not both');
      const ipRules = flags.ipRules === false ? [] : flags.ipRule?.map((rule) => rule.trim());
      const body = {
        ...(flags.publicNetworkAccess === undefined ? {} : { publicNetworkAccess: flags.publicNetworkAccess }),
        ...(flags.defaultAction === undefined ? {} : { defaultAction: flags.defaultAction }),
        ...(ipRules === undefined ? {} : { ipRules }),
      };
      if (Object.keys(body).length === 0) throw new ConfigError('give --public-network-access, --default-action, --ip-rule or --no-ip-rules');
      output(flags, await clientFor(flags).call<NetworkRules>('PUT', '/emulator/network', body), readable);
    });
}
