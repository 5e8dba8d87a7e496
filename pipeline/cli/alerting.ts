import type { Argv } from 'yargs';
import { CliError } from '../errors';
import type { LiveEvent, LiveOptions } from '../detect/live';
import { loadSinksConfig, type SinksConfig } from '../sink/config';
import { redact } from '../secrets';
import { sanitizeForTerminal } from './output';
import { thresholdValues } from './shared';

/** Options shared by `consume --sinks` and `watch`: where alerts go and how continuous detection runs. */
export function alertingOptions(y: Argv, group: string): Argv {
  return y
    .option('sinks', { type: 'string', describe: 'Sinks config file (JSON, schemas/sinks-config.schema.json): where alerts go', group })
    .option('state-dir', { type: 'string', describe: 'Alert state and outboxes [default: <lake>/_alerts]', group })
    .option('detect-seconds', { type: 'number', default: 5, describe: 'Run detection this often (and after each commit)', group })
    .option('lookback-minutes', { type: 'number', default: 120, describe: 'Detection window before the newest sign-in (open loops extend it)', group })
    .option('update-seconds', { type: 'number', default: 60, describe: 'At most one "updated" alert per growing loop this often (severity changes go at once)', group })
    .option('idle-close-minutes', { type: 'number', default: 15, describe: 'Close a loop that has not grown for this long even when no newer sign-ins arrive', group })
    .option('late-minutes', { type: 'number', default: 30, describe: 'Sign-ins may arrive this late: a stopped loop is closed once the newest sign-in is this far past its end', group });
}

export async function liveOptions(args: Record<string, unknown>, sinks: SinksConfig, log: (e: LiveEvent) => void): Promise<LiveOptions> {
  for (const k of ['detect-seconds', 'lookback-minutes', 'update-seconds', 'idle-close-minutes'] as const) {
    if (!((args[k] as number) > 0)) throw new CliError(`--${k} must be a positive number.`, 2);
  }
  if (!((args['late-minutes'] as number) >= 0)) throw new CliError('--late-minutes must be 0 or more.', 2);
  return {
    sinks,
    intervalSeconds: args['detect-seconds'] as number,
    log,
    watch: {
      stateDir: args['state-dir'] as string | undefined,
      params: thresholdValues(args),
      lookbackMinutes: args['lookback-minutes'] as number,
      updateEverySeconds: args['update-seconds'] as number,
      idleCloseSeconds: (args['idle-close-minutes'] as number) * 60,
      lateSeconds: (args['late-minutes'] as number) * 60,
      memoryLimit: args['memory-limit'] as string | undefined,
    },
  };
}

/** The sinks file, or alerts as NDJSON on stdout when none is given. */
export async function sinksOrStdout(path: string | undefined): Promise<SinksConfig> {
  return path ? loadSinksConfig(path) : { sinks: [{ name: 'stdout', type: 'stdout', format: 'json' }] };
}

/** One line per detection-side event for people; the same objects as JSON for services. */
export function liveLogLine(e: LiveEvent): string | null {
  switch (e.event) {
    case 'detect':
      return e.alerts ? `detection: ${e.flagged} flagged, ${e.clusters} cluster(s) in the window; ${e.alerts} alert(s); ${e.open.loops} loop(s) and ${e.open.clusters} cluster(s) open (${e.seconds.toFixed(2)} s)` : null;
    case 'alert':
      return `alert ${e.action} ${e.event_id} [${e.severity}] ${e.title}`;
    case 'detect_error':
      return `detection failed this round (the next one retries): ${e.message}`;
    case 'sink_delivered':
      return null;
    case 'sink_error':
      return `sink ${e.sink}: ${e.message}; ${e.depth} alert(s) waiting, retry in ${(e.retry_in_ms / 1000).toFixed(1)} s (attempt ${e.attempt})`;
    case 'sink_dropped':
      return `sink ${e.sink}: outbox full, ${e.dropped} alert(s) dropped (${e.policy}): ${e.event_ids.join(', ')}`;
    case 'sink_rejected':
      return `sink ${e.sink}: refused ${e.event_ids.join(', ')}: ${e.reason} (kept in its outbox's rejected.ndjson)`;
    case 'sink_warning':
      return `sink ${e.sink}: warning: ${e.message}`;
    case 'sink_truncated':
      return `sink ${e.sink}: ${e.event_id} cut to fit (${e.fields.join(', ')})`;
  }
}

export function humanLiveLog(e: LiveEvent): void {
  const line = liveLogLine(e);
  if (line) process.stderr.write(sanitizeForTerminal(redact(line)) + '\n');
}

export function jsonLiveLog(out: NodeJS.WritableStream): (e: LiveEvent) => void {
  return (e) => out.write(redact(JSON.stringify({ time: new Date().toISOString(), ...e })) + '\n');
}
