import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { importFiles } from '../../lake/ingest';
import { detect } from '../../detect/detect';
import { writeRows } from '../output';
import { TABLE_COLUMNS } from './detect';
import { note } from '../shared';

export function builder(y: Argv): Argv {
  return y
    .option('samples', { type: 'string', default: 'data-samples', describe: 'Folder of sample cases, each with an input/ folder' })
    .option('lake', { type: 'string', default: '.demo-lake', describe: 'Lake folder to (re)create for the demo' })
    .example('$0 demo', 'import every bundled case and show the loops and clusters found')
    .epilog('What `npm start` runs. The lake is recreated on every run.');
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const samples = resolve(args.samples as string);
  const lake = resolve(args.lake as string);
  await fsp.rm(lake, { recursive: true, force: true });
  const cases = (await fsp.readdir(samples, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => join(samples, d.name, 'input'));
  const s = await importFiles(cases, lake);
  note(`Imported ${s.read.toLocaleString('en-US')} items from ${cases.length} sample case(s): ${s.landed} landed, ${s.duplicates} duplicates, ${s.quarantined} quarantined.`);
  const r = await detect(lake);
  const format = process.stdout.isTTY ? 'table' : 'ndjson';
  note(`\nFlagged sessions (${r.flagged.rows.length}):`);
  await writeRows(process.stdout, r.flagged.rows, format === 'table' ? r.flagged.columns.filter((c) => TABLE_COLUMNS.includes(c.name)) : r.flagged.columns, format);
  note(`\nLoop clusters (${r.clusters.rows.length}):`);
  await writeRows(process.stdout, r.clusters.rows, format === 'table' ? r.clusters.columns.filter((c) => ['cluster_id', 'start', 'core_end', 'peak_users', 'user_count', 'app_display_name', 'device_os', 'error_codes', 'users_still_looping'].includes(c.name)) : r.clusters.columns, format);
  note(`\nLake: ${lake}. Try: npx reauth-loops query --lake ${args.lake} "select * from loops"`);
}
