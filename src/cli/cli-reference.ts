// docs/cli.md: every command's `--help`, collected from the program itself, so that the page is
// what the command says (`npm run docs:cli` writes it; test/cli/cli-doc.test.ts keeps it true).
import type { Command } from 'commander';

function walk(command: Command, path: string[]): Array<{ path: string[]; command: Command }> {
  const here = [{ path, command }];
  return [...here, ...command.commands.flatMap((sub) => walk(sub, [...path, sub.name()]))];
}

export function cliReference(program: Command): string {
  const sections = walk(program, [])
    .filter(({ path }) => path.length > 0)
    .map(({ path, command }) => {
      // Help text as a terminal 100 columns wide shows it, the same wherever it is made.
      command.configureOutput({ getOutHelpWidth: () => 100, getErrHelpWidth: () => 100 });
      const help = command.helpInformation().trimEnd();
      return `## mhsm ${path.join(' ')}\n\n\`\`\`text\n${help}\n\`\`\``;
    });
  return `# The mhsm command\n\nEvery command's \`--help\`, as the command prints it (written by \`npm run docs:cli\`; a test keeps\nit true). [options.md](options.md) says which environment variable stands for which flag.\n\n${sections.join('\n\n')}\n`;
}
