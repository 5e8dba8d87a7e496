import { relative } from 'node:path';
import type { Argv } from 'yargs';
import { lakeDays, writeReport } from '../../report/write';
import { lakeOption, namedThresholdOptions, note, thresholdValues } from '../shared';
import { sanitizeForTerminal } from '../output';

export function builder(y: Argv): Argv {
  return namedThresholdOptions(lakeOption(y))
    .option('date', { type: 'string', describe: 'Report this UTC day, YYYY-MM-DD [default: yesterday, UTC]' })
    .option('since', { type: 'string', describe: 'Start of the period (UTC, inclusive), e.g. 2026-04-14 or 2026-04-14T09:00:00Z; with --until' })
    .option('until', { type: 'string', describe: 'End of the period (UTC, exclusive); with --since' })
    .option('out', { type: 'string', describe: 'Folder to write into [default: reports/<period>/]' })
    .option('pseudonymize-key-file', { type: 'string', describe: 'Replace people (UPNs, names, object ids, IPs, devices, sign-in ids) by keyed HMAC tokens, for a report shared beyond the security team. The file holds at least 16 random bytes: openssl rand -out report.key 32' })
    .option('html', { type: 'boolean', default: true, describe: 'Write report.html (charts); --no-html skips it' })
    .option('memory-limit', { type: 'string', default: '1GB', describe: 'DuckDB memory limit; a 10M-sign-in day needs about 2GB' })
    .example('$0 report --lake ./lake --date 2026-04-14', 'yesterday\'s report into reports/2026-04-14/')
    .example('$0 report --lake ./lake --since 2026-04-13 --until 2026-04-16 --out ./reports/week', 'three days in one report')
    .example('$0 report --lake ./lake --date 2026-04-14 --pseudonymize-key-file /etc/reauth-loops/report.key --out ./shared', 'a copy to share outside the security team')
    .example('$0 report --lake ./lake --date 2026-04-14 --min-cluster-users 5', 'a small tenant: 5 users looping at once is an incident')
    .epilog(
      'Writes report.md (a two-minute read), report.html (with charts), report.json (schema reauth-loops.report/1), ' +
        'loops.csv, clusters.csv, remediation.csv (user_id first: Import-Csv remediation.csv | ForEach-Object { Revoke-MgUserSignInSession -UserId $_.user_id }) ' +
        'and error-codes.csv. Runs detection once; the previous period\'s totals (day-over-day change) come from its report beside ' +
        'this one when the lake holds no new sign-ins for it, else from the lake. Running it again rewrites the same files.',
    );
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const lake = args.lake as string;
  const since = args.since as string | undefined;
  const until = args.until as string | undefined;
  // The only wall-clock read: which day "yesterday" is. The report itself depends on the period alone.
  const date = (args.date as string | undefined) ?? (since === undefined && until === undefined ? new Date(Date.now() - 86_400_000).toISOString().slice(0, 10) : undefined);
  const r = await writeReport(lake, {
    date,
    since,
    until,
    out: args.out as string | undefined,
    params: thresholdValues(args),
    pseudonymizeKeyFile: args['pseudonymize-key-file'] as string | undefined,
    // ── THE HTML CALL SITE ── report/html.ts renders report.html from the same ReportData; loaded here, not
    // at the top, because vega is heavy and `report --help` should not pay for it.
    html: args.html === false ? null : async (data) => (await import('../../report/html')).renderHtml(data),
    db: { memoryLimit: args['memory-limit'] as string },
  });
  if (r.torn.length) note(`${r.torn.length} torn Parquet file(s) were moved to quarantine/torn/ and skipped.`);
  const d = r.data;
  const t = d.totals;
  const n = (x: number) => x.toLocaleString('en-US');
  const vs = (k: keyof typeof t) => (d.previous ? ` (${t[k] - d.previous[k] >= 0 ? '+' : ''}${n(t[k] - d.previous[k])} vs the period before)` : '');
  const still = d.remediation.filter((x) => !x.stopped).length;
  const critical = d.denial_bursts.filter((f) => f.severity === 'critical').length;
  const atLeast = critical === d.denial_bursts.length && d.denial_bursts.length < t.denial_bursts ? 'at least ' : '';
  const shown = relative(process.cwd(), r.dir) || '.';
  process.stdout.write(
    `Wrote ${sanitizeForTerminal(shown.startsWith('..') ? r.dir : shown)}/: ${r.files.join(', ')}\n` +
      `  ${n(t.looping_users)} user(s) in reauthentication loops${vs('looping_users')}: ${n(t.loops)} loop(s), ${n(t.loop_prompts)} prompts\n` +
      `  ${n(t.clusters)} tenant-wide cluster(s)${t.clusters ? `, ${n(d.remediation.length)} user(s) in them, ${n(still)} still looping` : ''}\n` +
      `  ${n(t.denial_bursts)} MFA-denial burst(s)${critical ? ` (${atLeast}${n(critical)} critical)` : ''}, ${n(t.failure_bursts)} failure burst(s); ${n(t.sign_ins)} sign-ins, data through ${d.data_through ?? '-'}\n`,
  );
  if (!t.sign_ins) {
    const days = await lakeDays(lake);
    note(days ? `No sign-ins in ${d.period.label}: the lake holds ${days.first} to ${days.last}. Pick a day with --date.` : `The lake at ${lake} holds no sign-ins yet: fill it with \`reauth-loops import\` or \`consume\`.`);
  }
}
