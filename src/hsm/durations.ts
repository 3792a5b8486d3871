// ISO 8601 durations as rotation policies write them (P90D, P1Y, PT12H, P1Y2M3DT4H5M6S), in
// seconds; months are 30 days and years 365, as the service counts them.

const DURATION = /^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;

export function durationSeconds(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (!match) return undefined;
  const [years, months, weeks, days, hours, minutes, seconds] = match.slice(1).map((part) => Number(part ?? 0)) as number[];
  return (
    (years as number) * 365 * 86400 +
    (months as number) * 30 * 86400 +
    (weeks as number) * 7 * 86400 +
    (days as number) * 86400 +
    (hours as number) * 3600 +
    (minutes as number) * 60 +
    (seconds as number)
  );
}
