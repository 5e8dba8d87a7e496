import type { Argv } from 'yargs';
import { importFiles, type ImportProgress, type ImportSummary } from '../../lake/ingest';
import { CliError } from '../../errors';
import { note } from '../shared';

export function builder(y: Argv): Argv {
  return y
    .positional('inputs', { type: 'string', array: true, describe: 'Files or folders of sign-in logs (.gz is read too)' })
    .option('lake', { type: 'string', demandOption: true, describe: 'Lake folder to land Parquet in (created if missing)' })
    .option('batch-rows', { type: 'number', default: 100_000, describe: 'Rows per Parquet landing; larger is faster, uses more memory' })
    .option('workers', { type: 'number', describe: 'Threads that parse and normalize (default: one per core; 0: this thread only)' })
    .option('json', { type: 'boolean', describe: 'Print the summary as JSON' })
    .example('$0 import signins.json.gz --lake ./lake', 'one export')
    .example('$0 import ./eventhub-capture/ ./la-export.json --lake ./lake', 'folders and several shapes at once')
    .epilog(
      'Reads Event Hub bodies ({"records":[...]}), one diagnostic record per line, Log Analytics rows (SigninLogs, ' +
        'AADNonInteractiveUserSignInLogs, query API tables), Microsoft Graph signIn pages, JSON arrays, pretty-printed documents, ' +
        'and .gz of any of these. Re-importing the same data adds nothing. Bad input goes to <lake>/quarantine with a reason.',
    );
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const inputs = args.inputs as string[];
  const tty = Boolean(process.stderr.isTTY) && !args.json;
  const started = Date.now();
  const progress = tty ? (p: ImportProgress) => drawProgress(p, started) : undefined;
  let summary: ImportSummary;
  try {
    summary = await importFiles(inputs, args.lake as string, { batchRows: args['batch-rows'] as number, workers: args.workers as number | undefined, onProgress: progress });
  } catch (e) {
    if (/does not exist/.test((e as Error).message)) throw new CliError((e as Error).message, 2);
    throw e;
  } finally {
    if (tty) process.stderr.write('\r\x1b[K');
  }
  if (args.json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
    return;
  }
  const reasons = Object.entries(summary.quarantined_by_reason).map(([r, n]) => `${r} ${n}`).join(', ');
  note(
    [
      `Imported ${summary.inputs.length} file(s) into ${summary.lake} in ${summary.seconds.toFixed(1)} s (${summary.records_per_second.toLocaleString('en-US')} items/s)`,
      `  read         ${summary.read.toLocaleString('en-US')}`,
      `  landed       ${summary.landed.toLocaleString('en-US')}  in ${summary.parquet_files} Parquet file(s)`,
      `  duplicates   ${summary.duplicates.toLocaleString('en-US')}`,
      `  quarantined  ${summary.quarantined.toLocaleString('en-US')}${reasons ? `  (${reasons})` : ''}`,
      ...(summary.quarantine_file ? [`  see ${summary.quarantine_file}`] : []),
      ...(summary.torn_files_quarantined.length ? [`  ${summary.torn_files_quarantined.length} torn Parquet file(s) found in the lake were moved to quarantine/torn/`] : []),
    ].join('\n'),
  );
}

function drawProgress(p: ImportProgress, started: number): void {
  const width = 24;
  const filled = p.filesTotal ? Math.round((p.filesDone / p.filesTotal) * width) : 0;
  const secs = (Date.now() - started) / 1000;
  const rate = secs > 0 ? Math.round(p.read / secs) : 0;
  process.stderr.write(`\r\x1b[K[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${p.filesDone}/${p.filesTotal} files  ${p.read.toLocaleString('en-US')} items  ${rate.toLocaleString('en-US')}/s`);
}
