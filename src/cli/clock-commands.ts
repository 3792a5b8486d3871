// `mhsm clock show` and `mhsm clock shift --days N`: the running emulator's clock, moved forward
// only; what the new time made due (purges, rotations) happens at once and is reported.
import type { Command } from 'commander';
import type { ClockState } from '../hsm/clock-control.js';
import { type ClientCommandFlags, addClientOptions, clientFor, output } from './client-options.js';
import { ConfigError } from './config.js';

const readableState = (state: ClockState) => [`emulator time: ${state.now} (${(state.offsetSeconds / 86_400).toFixed(2)} days ahead of this machine)`];

export function addClockCommands(program: Command): void {
  const clock = program.command('clock').description("the emulator's clock (forward only)");

  addClientOptions(clock.command('show').description("print the running emulator's time")).action(async (flags: ClientCommandFlags) => {
    const state = await clientFor(flags).call<ClockState>('GET', '/emulator/clock');
    output(flags, state, readableState);
  });

  addClientOptions(clock.command('shift').description('move the clock forward: purges past retention and due rotations run at once'))
    .option('--days <n>', 'days to move forward')
    .option('--seconds <n>', 'seconds to move forward')
    .action(async (flags: ClientCommandFlags & { days?: string; seconds?: string }) => {
      if ((flags.days === undefined) === (flags.seconds === undefined)) throw new ConfigError('give --days or --seconds');
      const body = flags.days !== undefined ? { days: Number(flags.days) } : { seconds: Number(flags.seconds) };
      const result = await clientFor(flags).call<ClockState & { purged: string[]; rotated: string[] }>('POST', '/emulator/clock/shift', body);
      output(flags, result, (r) => [
        ...readableState(r),
        `purged: ${r.purged.length === 0 ? 'none' : r.purged.join(', ')}`,
        `rotated: ${r.rotated.length === 0 ? 'none' : r.rotated.join(', ')}`,
      ]);
    });
}
