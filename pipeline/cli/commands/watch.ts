import type { Argv } from 'yargs';
import { LiveDetection } from '../../detect/live';
import { alertingOptions, humanLiveLog, jsonLiveLog, liveOptions, sinksOrStdout } from '../alerting';
import { lakeOption, namedThresholdOptions } from '../shared';

export function builder(y: Argv): Argv {
  return alertingOptions(namedThresholdOptions(lakeOption(y)), 'Alerts:')
    .option('memory-limit', { type: 'string', default: '1GB', describe: 'DuckDB memory limit for each detection round' })
    .option('once', { type: 'boolean', describe: 'One detection round, wait up to --drain-seconds for the sinks, exit (cron)' })
    .option('drain-seconds', { type: 'number', default: 10, describe: 'On exit, how long to wait for the sinks to take what is queued' })
    .option('json', { type: 'boolean', describe: 'Structured logs: one JSON object per line on stderr' })
    .example('$0 watch --lake ./lake', 'alerts as NDJSON on stdout while another process fills the lake')
    .example('$0 watch --lake /data/lake --sinks sinks.json --json', 'alerts to the SIEMs in sinks.json, logs as JSON')
    .example('$0 watch --lake ./lake --sinks sinks.json --once', 'one round from cron; what a sink did not take waits in its outbox')
    .epilog(
      'Runs the same SQL as `detect` over the recent window of a lake that `consume` or `import` fills, every --detect-seconds. ' +
        'Each loop is alerted when first flagged (opened), when it grows or changes severity (updated) and when it ends (closed), ' +
        'with the same subject_id and a growing version; clusters likewise. Alert state survives restarts. ' +
        'Run one alerting process per lake: `consume --sinks` or `watch`, not both. Stop with SIGINT/SIGTERM.',
    );
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const log = args.json ? jsonLiveLog(process.stderr) : humanLiveLog;
  const sinks = await sinksOrStdout(args.sinks as string | undefined);
  const opts = await liveOptions(args, sinks, log);
  const drainMs = (args['drain-seconds'] as number) * 1000;
  const live = await LiveDetection.start(args.lake as string, opts);
  if (args.once) {
    const { drained } = await live.stop(drainMs);
    if (!drained) process.stderr.write('reauth-loops: some alerts are still in outboxes (see `sinks status`); the next run sends them.\n');
    return;
  }
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  await live.stop(drainMs);
}
