// The `mhsm` command.
import { Command } from 'commander';
import { ALGORITHMS } from '../hsm/algorithms/registry.js';
import { operationsOf } from '../token/capabilities.js';
import { TokenError } from '../token/errors.js';
import type { Token } from '../token/token.js';
import { ConfigError, type ConfigFlags, DEFAULT_DATA_DIR, resolveConfig } from './config.js';
import { openConfiguredToken } from './open-token.js';
import { algorithmTable, capabilityMarkdown, mechanismTable, tokenReport } from './capability-report.js';

function addTokenOptions(command: Command): Command {
  return command
    .option('--data-dir <dir>', `data directory (MHSM_DATA_DIR, default ${DEFAULT_DATA_DIR})`)
    .option('--module <path>', 'PKCS#11 module to use instead of the embedded SoftHSM2 (MHSM_MODULE)')
    .option('--token-label <label>', 'label of the token in that module (MHSM_TOKEN_LABEL)')
    .option('--pin <pin>', 'user PIN of that token (MHSM_PIN; prefer the variable: flags show in ps)');
}

async function withToken<T>(flags: ConfigFlags, use: (token: Token) => Promise<T>): Promise<T> {
  const token = await openConfiguredToken(resolveConfig(flags));
  try {
    return await use(token);
  } finally {
    token.close();
  }
}

function waitForSignal(): Promise<NodeJS.Signals> {
  // Signal listeners alone do not keep the event loop alive.
  const keepAlive = setInterval(() => undefined, 2 ** 30);
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      clearInterval(keepAlive);
      resolve(signal);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export function buildProgram(): Command {
  const program = new Command('mhsm').description('A local Azure Key Vault Managed HSM over a PKCS#11 token').showHelpAfterError();

  addTokenOptions(program.command('start'))
    .description('open the token and run until interrupted')
    .action(async (flags: ConfigFlags) => {
      const config = resolveConfig(flags);
      await withToken(flags, async (token) => {
        const stopped = waitForSignal(); // listening before "ready" is printed
        for (const line of tokenReport(token)) console.log(line);
        console.log(`data directory: ${config.dataDir}`);
        console.log('ready (the HTTPS API is not part of this build yet); press Ctrl-C to stop');
        const signal = await stopped;
        console.log(`${signal}: closing the token`);
      });
    });

  addTokenOptions(program.command('capabilities'))
    .description("print the token's mechanisms and what each can do")
    .option('--json', 'machine-readable output')
    .option('--markdown', 'a Markdown table, as in docs/capabilities/')
    .action(async (flags: ConfigFlags & { json?: boolean; markdown?: boolean }) => {
      await withToken(flags, async (token) => {
        if (flags.markdown) {
          for (const line of capabilityMarkdown(token)) console.log(line);
        } else if (flags.json) {
          const mechanisms = token.capabilities.list().map((m) => ({ ...m, operations: operationsOf(m.flags) }));
          const algorithms = Object.values(ALGORITHMS).map((a) => ({ name: a.name, family: a.family, ...a.support(token.capabilities) }));
          console.log(JSON.stringify({ token: token.description, algorithms, mechanisms }, null, 2));
        } else {
          for (const line of [...tokenReport(token), '', ...algorithmTable(token), '', ...mechanismTable(token)]) console.log(line);
        }
      });
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof TokenError) {
      console.error(`mhsm: error: ${error.message}`);
    } else {
      console.error(`mhsm: error: ${(error as Error).message ?? String(error)}`);
      if (process.env.MHSM_DEBUG) console.error(error);
    }
    return 1;
  }
}
