import type { Argv } from 'yargs';
import { CliError } from '../../errors';
import { writeSimulation, type Shape } from '../../simulate/simulate';
import { note } from '../shared';

const SHAPES: Shape[] = ['eventhub', 'records', 'log-analytics', 'graph'];

export function builder(y: Argv): Argv {
  return y
    .option('users', { type: 'number', default: 200, describe: 'Users in the tenant' })
    .option('days', { type: 'number', default: 1, describe: 'Days of sign-ins' })
    .option('start', { type: 'string', default: '2026-04-14', describe: 'First day (UTC), YYYY-MM-DD' })
    .option('seed', { type: 'number', default: 42, describe: 'Same seed, same bytes' })
    .option('incident', { type: 'boolean', default: true, describe: 'Plant a tenant-wide loop incident (use --no-incident to skip)' })
    .option('incident-users', { type: 'number', describe: 'Users caught in the incident (default max(12, users/10))' })
    .option('incident-app', { type: 'string', describe: 'App of the incident (default Outlook Mobile)' })
    .option('incident-start', { type: 'string', describe: 'Incident start, ISO UTC (default day 1 09:00Z)' })
    .option('loops', { type: 'number', describe: 'Individual reauth loops to plant (default users/50)' })
    .option('paused-loops', { type: 'number', default: 0, describe: 'Reauth loops with pauses: 2-4 bursts of 5-10 prompts, 5-12 min apart (one loop each)' })
    .option('slow-loops', { type: 'number', default: 0, describe: 'Slow reauth loops: a prompt every 2-4 min for about an hour' })
    .option('silent-loops', { type: 'number', default: 0, describe: 'Silent loops: 15-30 interactive sign-ins seconds apart that need no credential' })
    .option('loop-detected', { type: 'number', default: 0, describe: 'Silent loops that end in 50196 (LoopDetected) rows' })
    .option('revoked-loops', { type: 'number', default: 0, describe: 'Reauth loops stopped by an admin revoking sessions (50173/50133, one last prompt, then quiet)' })
    .option('false-chain', { type: 'boolean', default: false, describe: 'Trap: 11 users with short real loops one after another on Outlook Mobile / iOS, never a cluster' })
    .option('multi-part-incident', { type: 'number', describe: 'Plant a second incident on Outlook Mobile iOS + Android and Outlook for Mac, this many users (>= 12) per part' })
    .option('shape', { choices: SHAPES, default: 'eventhub' as Shape, describe: 'Input shape to write' })
    .option('out', { type: 'string', demandOption: true, describe: 'File to write' })
    .option('truth', { type: 'string', describe: 'Also write the planted loops and traps (ground truth) as JSON here' })
    .example('$0 simulate --users 500 --out day.ndjson --truth day.truth.json', 'a day with an incident, as Event Hub bodies')
    .example('$0 simulate --users 20000 --shape log-analytics --no-incident --out la.ndjson', 'a large quiet tenant, as Log Analytics rows')
    .example('$0 simulate --users 400 --paused-loops 2 --silent-loops 2 --loop-detected 1 --false-chain --multi-part-incident 12 --out hard.ndjson --truth hard.truth.json', 'the harder cases, with their ground truth');
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const users = args.users as number;
  if (!Number.isInteger(users) || users < 1) throw new CliError('--users must be a positive whole number.', 2);
  // 0 / off is passed as undefined, so the truth file's options stay as they were for older invocations.
  const count = (name: string): number | undefined => {
    const v = (args[name] as number | undefined) ?? 0;
    if (!Number.isInteger(v) || v < 0) throw new CliError(`--${name} must be a whole number >= 0.`, 2);
    return v === 0 ? undefined : v;
  };
  const perPart = args['multi-part-incident'] as number | undefined;
  if (perPart !== undefined && (!Number.isInteger(perPart) || perPart < 12)) throw new CliError('--multi-part-incident must be a whole number >= 12 (users per part).', 2);
  const r = await writeSimulation({
    users,
    days: args.days as number,
    start: args.start as string,
    seed: args.seed as number,
    incident: args.incident
      ? { users: args['incident-users'] as number | undefined, appName: args['incident-app'] as string | undefined, startUtc: args['incident-start'] as string | undefined }
      : null,
    loops: args.loops as number | undefined,
    pausedLoops: count('paused-loops'),
    slowLoops: count('slow-loops'),
    silentLoops: count('silent-loops'),
    loopDetected: count('loop-detected'),
    revokedLoops: count('revoked-loops'),
    falseChain: args['false-chain'] === true ? true : undefined,
    multiPartIncident: perPart !== undefined ? { usersPerPart: perPart } : undefined,
    shape: args.shape as Shape,
    out: args.out as string,
    truthOut: args.truth as string | undefined,
  });
  note(`Wrote ${r.records.toLocaleString('en-US')} sign-in records (${(r.bytes / 1e6).toFixed(1)} MB) to ${args.out}.`);
}
