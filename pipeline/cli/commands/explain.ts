import type { Argv } from 'yargs';
import { atomicWrite } from '../../lake/lake';
import { explainLoop, renderExplanation } from '../../workbench/explain';
import { jsonDocument } from '../document';
import { timeParam } from '../filters';
import { lakeOption, namedThresholdOptions, thresholdValues } from '../shared';

export function builder(y: Argv): Argv {
  return namedThresholdOptions(lakeOption(y))
    .positional('loop-id', { type: 'string', describe: 'A loop id as `loops` or `detect` print it: loop-<16 hex>' })
    .option('since', { type: 'string', describe: 'Run detection only on sign-ins from this time (UTC): faster on a big lake; keep the whole loop inside' })
    .option('until', { type: 'string', describe: 'Run detection only on sign-ins before this time (UTC)' })
    .option('format', { choices: ['text', 'json'], default: 'text', describe: 'text: the explanation in words, then the evidence rows; json: the same facts as one object' })
    .option('out', { type: 'string', describe: 'Write to this file (atomically) instead of stdout' })
    .option('all-columns', { type: 'boolean', describe: 'Show every column of the evidence rows' })
    .option('memory-limit', { type: 'string', default: '1GB', describe: 'DuckDB memory limit' })
    .example('$0 explain loop-27d85e047c402219 --lake ./lake', 'why this loop was flagged, and the sign-ins behind it')
    .example('$0 explain loop-27d85e047c402219 --lake ./lake --since 2026-04-14 --until 2026-04-15', 'detection on one day only (faster)')
    .example('$0 explain loop-9622675b53715174 --lake ./lake --min-denials 5', 'with the thresholds the id was found with')
    .example('$0 explain loop-27d85e047c402219 --lake ./lake --format json > loop.json', 'the facts, for a ticket or a script')
    .epilog('Loop ids come from `reauth-loops loops`, `detect` or an alert: a loop keeps the id it was first found with, and an id merged into an older loop (an alias) is explained as that loop. Give the same thresholds as the command that printed it. Reads the findings `detect` stored in the lake (<lake>/findings/), detecting once first when sign-ins landed since.');
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const e = await explainLoop(args.lake as string, String(args['loop-id'] ?? ''), {
    from: args.since ? timeParam('since', String(args.since)) : undefined,
    to: args.until ? timeParam('until', String(args.until)) : undefined,
    thresholds: thresholdValues(args),
    db: { memoryLimit: args['memory-limit'] as string },
  });
  const text = args.format === 'json' ? jsonDocument({ ...e, evidence: e.evidence.rows }, true) : renderExplanation(e, { allColumns: Boolean(args['all-columns']) });
  if (args.out) await atomicWrite(args.out as string, text);
  else process.stdout.write(text);
}

