import type { Argv } from 'yargs';
import { applyRetention, RETENTION_KINDS, type RetentionResult } from '../../lake/retention';
import { sanitizeForTerminal } from '../output';
import { note } from '../shared';

export function builder(y: Argv): Argv {
  return y
    .option('lake', { type: 'string', demandOption: true, describe: 'Lake folder' })
    .option('keep-days', { type: 'number', demandOption: true, describe: 'Keep this many days before today (UTC); older partitions, import summaries and reports are deleted' })
    .option('quarantine-keep-days', { type: 'number', describe: 'Keep quarantined input this many days [default: --keep-days]' })
    .option('reports', { type: 'string', describe: 'Reports folder (one YYYY-MM-DD folder per night) to prune too' })
    .option('dry-run', { type: 'boolean', describe: 'List what would be deleted; delete nothing' })
    .option('wait-minutes', { type: 'number', default: 30, describe: 'Wait this long for an import, a landing or a compaction to release the lake' })
    .option('json', { type: 'boolean', describe: 'Print the result as one JSON object' })
    .example('$0 retention --lake ./lake --keep-days 30 --dry-run', 'what would go')
    .example('$0 retention --lake ./lake --keep-days 30 --quarantine-keep-days 7 --reports ./reports', 'keep 30 days of sign-ins and reports, a week of rejected input')
    .epilog(
      'Deletes whole days: sign_ins/date=D/ by event date, quarantine files by their newest entry (quarantine/torn/date=D/ by event date), ' +
        '_imports/ summaries by when the run last wrote, and <reports>/D/ folders, when older than the keep days. Never today or newer, ' +
        'never _alerts/, _staging/ or a name it does not know, never through a symbolic link. Runs under the lake lock, so it waits for ' +
        'imports, consumers\' landings and compactions instead of racing them. Exit 0 done, 2 bad options or lake, 3 the lake stayed locked.',
    );
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const result = await applyRetention(args.lake as string, {
    keepDays: args['keep-days'] as number,
    quarantineKeepDays: args['quarantine-keep-days'] as number | undefined,
    reportsDir: args.reports as string | undefined,
    dryRun: Boolean(args['dry-run']),
    lockWaitMs: (args['wait-minutes'] as number) * 60_000,
    onLockWait: (pid) => note(`Waiting for process ${pid} to finish writing the lake…`),
  });
  if (args.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
    return;
  }
  process.stdout.write(describeRetention(result));
}

/** The human summary: one line per kind, then each deleted item (an audit trail in cron mail or the journal). */
export function describeRetention(r: RetentionResult): string {
  const verb = r.dry_run ? 'Would delete' : 'Deleted';
  const lines = [`${verb} what is older than ${r.cutoff} (keep ${r.keep_days} days${r.quarantine_keep_days !== r.keep_days ? `, quarantine ${r.quarantine_keep_days} days: older than ${r.quarantine_cutoff}` : ''}; today is ${r.today} UTC):`];
  for (const k of RETENTION_KINDS) {
    if (k === 'reports' && r.reports === null) continue;
    const t = r.totals[k];
    lines.push(`  ${k.padEnd(11)} ${String(t.deleted).padStart(5)} ${(k === 'sign_ins' || k === 'reports' ? 'day(s)' : 'item(s)').padEnd(7)}  ${String(t.files).padStart(6)} file(s)  ${formatBytes(t.bytes).padStart(9)}   oldest kept ${t.oldest_kept ?? '-'}`);
  }
  for (const i of r.deleted) lines.push(`  ${r.dry_run ? 'would delete' : 'deleted'} ${i.path}  (${i.date}, ${i.files} file(s), ${formatBytes(i.bytes)})`);
  // A name someone else put in the lake may hold escape sequences.
  for (const s of r.skipped) lines.push(`  left alone ${sanitizeForTerminal(s.path)}: ${s.reason}`);
  return lines.join('\n') + '\n';
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
