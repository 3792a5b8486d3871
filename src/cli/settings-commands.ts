// `mhsm settings list|set` and `mhsm status`.
import type { Command } from 'commander';
import type { Setting } from '../hsm/settings.js';
import type { EmulatorStatus } from '../server/status.js';
import { type ClientCommandFlags, addClientOptions, clientFor, output } from './client-options.js';
import { textTable } from './text-table.js';

function readableStatus(status: EmulatorStatus): string[] {
  const levels = (level: string) => status.algorithms.filter((a) => a.level === level).map((a) => a.name);
  return [
    `activation:   ${status.activation.state} (security domain: ${status.activation.securityDomain}; initial roles: ${status.activation.initialRoles})`,
    `token:        '${status.token.label}' (${status.token.manufacturer} ${status.token.model}, serial ${status.token.serialNumber})`,
    `module:       ${status.token.module}, ${status.token.mechanisms} mechanisms`,
    `native:       ${levels('native').join(' ')}`,
    `fallback:     ${levels('fallback').join(' ') || '(none)'}`,
    `unsupported:  ${levels('unsupported').join(' ') || '(none)'}`,
    `keys:         ${status.counts.keys} (${status.counts.keyVersions} versions), ${status.counts.deletedKeys} soft-deleted${status.counts.versionsBeingRemoved > 0 ? `; token objects of ${status.counts.versionsBeingRemoved} replaced versions being removed` : ''}`,
    `principals:   ${status.counts.principals}; role assignments: ${status.counts.roleAssignments}; custom roles: ${status.counts.customRoleDefinitions}`,
    `clock:        ${status.clock.now} (${(status.clock.offsetSeconds / 86_400).toFixed(2)} days ahead)`,
    `network:      public access ${status.network.publicNetworkAccess}, default ${status.network.defaultAction}, ${status.network.ipRules.length} IP rules`,
  ];
}

export function addSettingsCommands(program: Command): void {
  const settings = program.command('settings').description("the HSM's settings");
  addClientOptions(settings.command('list').description('list the settings')).action(async (flags: ClientCommandFlags) => {
    const { settings: list } = await clientFor(flags).call<{ settings: Setting[] }>('GET', '/settings');
    output(flags, list, (all) => textTable(['name', 'value', 'type'], all.map((s) => [s.name, s.value, s.type])));
  });
  addClientOptions(settings.command('set').argument('<name>').argument('<value>', 'true or false').description('change a setting')).action(
    async (name: string, value: string, flags: ClientCommandFlags) => {
      const setting = await clientFor(flags).call<Setting>('PATCH', `/settings/${encodeURIComponent(name)}`, { value });
      output(flags, setting, (s) => [`${s.name} = ${s.value}`]);
    },
  );

  addClientOptions(program.command('status').description('activation, token, capabilities and counts of the running emulator')).action(
    async (flags: ClientCommandFlags) => {
      output(flags, await clientFor(flags).call<EmulatorStatus>('GET', '/emulator/status'), readableStatus);
    },
  );
}
