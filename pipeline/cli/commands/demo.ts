import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { importFiles } from '../../lake/ingest';
import { detect } from '../../detect/detect';
import { TABLE_COLUMNS } from './detect';
import { CLUSTER_TABLE_COLUMNS } from './clusters';
import { emit, note } from '../shared';

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
  note(`\nFlagged sessions (${r.flagged.rows.length}):`);
  await emit({}, r.flagged.columns, r.flagged.rows, TABLE_COLUMNS);
  note(`\nLoop clusters (${r.clusters.rows.length}):`);
  await emit({}, r.clusters.columns, r.clusters.rows, CLUSTER_TABLE_COLUMNS);
  note(`\nLake: ${lake}. Try: npx reauth-loops query --lake ${args.lake} "select * from loops"`);
}
