// Plain-text tables for the operator commands' readable output.

export function textTable(headers: string[], rows: Array<Array<string | number | boolean | undefined>>): string[] {
  const cells = rows.map((row) => row.map((cell) => (cell === undefined ? '' : String(cell))));
  const widths = headers.map((header, i) => Math.max(header.length, ...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i] as number)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)];
}

/** A one-line note on stderr while a slow call runs, when a person is watching. */
export async function withProgress<T>(label: string, work: () => Promise<T>): Promise<T> {
  if (!process.stderr.isTTY) return work();
  const started = Date.now();
  process.stderr.write(`${label}…`);
  const timer = setInterval(() => process.stderr.write('.'), 500);
  try {
    const result = await work();
    process.stderr.write(` done (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    return result;
  } catch (error) {
    process.stderr.write(' failed\n');
    throw error;
  } finally {
    clearInterval(timer);
  }
}
