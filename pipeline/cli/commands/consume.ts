import type { Argv } from 'yargs';
import { CliError } from '../../errors';
import { StreamIngest } from '../../lake/stream';
import { join } from 'node:path';
import { BlobMirror, isBlobUrl, parseBlobLake } from '../../lake/remote';
import { consume, credentialFor, sourceOf, CREDENTIAL_KINDS, ENV, loadSettings, openHub, type ConsumeEvent, type CredentialKind, type HubSettings, type PartitionStatus } from '../../sources/eventhub';
import { redact } from '../../secrets';
import { sanitizeForTerminal } from '../output';
import { LiveDetection } from '../../detect/live';
import { loadSinksConfig } from '../../sink/config';
import { alertingOptions, humanLiveLog, jsonLiveLog, liveOptions } from '../alerting';
import { namedThresholdOptions } from '../shared';
import { compactLake, minorCompaction, partitionKeyOf } from '../../lake/compact';

export function builder(y: Argv): Argv {
  return alertingOptions(namedThresholdOptions(y), 'Alerts (with --sinks):')
    .option('lake', { type: 'string', demandOption: true, describe: 'Lake folder, or a Blob/ADLS URL https://<account>.blob.core.windows.net/<container>/<prefix>' })
    .option('spool', { type: 'string', describe: 'With a Blob lake: the local folder files are written in before upload [default: .reauth-spool/<account>-<container>-<prefix>]' })
    .option('config', { type: 'string', describe: 'JSON file with settings (eventHubConnectionString, storageConnectionString, namespace, eventHub, ...)' })
    .option('event-hub', { type: 'string', describe: 'Event hub name (when the connection string has no EntityPath, or with --namespace)' })
    .option('namespace', { type: 'string', describe: 'Event Hubs namespace, e.g. contoso.servicebus.windows.net: sign in with Microsoft Entra instead of a connection string' })
    .option('storage-account-url', { type: 'string', describe: 'Checkpoint storage, e.g. https://contoso.blob.core.windows.net: sign in with Microsoft Entra' })
    .option('credential', { choices: CREDENTIAL_KINDS, describe: 'Entra credential to use with --namespace/--storage-account-url [default: managed-identity]' })
    .option('managed-identity-client-id', { type: 'string', describe: 'Client id of a user-assigned managed identity' })
    .option('consumer-group', { type: 'string', describe: 'Consumer group [default: $Default]; give reauth-loops its own' })
    .option('checkpoint-container', { type: 'string', describe: 'Blob container for checkpoints and partition ownership [default: reauth-loops-checkpoints]' })
    .option('start', { choices: ['earliest', 'latest'], default: 'earliest', describe: 'Where a partition with no checkpoint starts' })
    .option('roll-mb', { type: 'number', default: 32, describe: 'Commit a file once this many MB of bodies are buffered' })
    .option('roll-seconds', { type: 'number', describe: '... or once the oldest buffered event is this old [default: 60; 5 with --sinks, so alerts leave within seconds]' })
    .option('quiet-commit-seconds', { type: 'number', default: 2, describe: '... or once nothing has arrived for this long (Entra sends bursts)' })
    .option('compact-minutes', { type: 'number', describe: 'Merge the small files of the hours being written every N minutes (0: never; run `compact` yourself) [default: 2 with --sinks on a local lake, else 0]' })
    .option('max-batch', { type: 'number', default: 1000, describe: 'Events per read from a partition' })
    .option('workers', { type: 'number', describe: 'Threads that parse and normalize (default: one per core)' })
    .option('owner-id', { type: 'string', describe: 'Name of this consumer in partition ownership [default: host-pid]' })
    .option('balance-interval-seconds', { type: 'number', default: 10, describe: 'How often consumers re-balance partitions' })
    .option('ownership-expiry-seconds', { type: 'number', default: 60, describe: 'A dead consumer\'s partitions are taken over after this long' })
    .option('stop-when-idle', { type: 'number', describe: 'Exit 0 once caught up and nothing arrived for this many seconds' })
    .option('json', { type: 'boolean', describe: 'Structured logs: one JSON object per line on stdout' })
    .option('status-seconds', { type: 'number', describe: 'Status every N seconds [default: 1 on a terminal, 10 with --json]' })
    .example(`${ENV.eventHubConnectionString}=... ${ENV.storageConnectionString}=... $0 consume --lake ./lake`, 'connection strings from the environment')
    .example('$0 consume --lake /data/lake --namespace contoso.servicebus.windows.net --event-hub signins --storage-account-url https://contosockpt.blob.core.windows.net --consumer-group reauth-loops', 'managed identity (production)')
    .example('$0 consume --lake ./lake --config hub.json --json', 'settings in a file, JSON logs for a service')
    .example('$0 consume --lake /data/lake --config hub.json --sinks sinks.json', 'also detect loops as they land and alert the SIEMs in sinks.json')
    .example('$0 consume --lake https://contosolake.blob.core.windows.net/signins --spool /var/lib/reauth-loops/spool --namespace ... --event-hub signins --storage-account-url https://contosolake.blob.core.windows.net', 'a lake in Blob Storage (read it with `pull`)')
    .epilog(
      'Runs until SIGINT/SIGTERM: then it stops reading, commits what it holds, moves the checkpoints and exits 0. ' +
        'Several consumers (same consumer group and checkpoint container, on one or several machines) share the partitions and take over ' +
        'from one that dies. A checkpoint moves only after its events are in a committed Parquet file or in quarantine; after a crash, ' +
        'the restart re-reads from the checkpoint and dedupe drops what had already landed. ' +
        'Roles: Azure Event Hubs Data Receiver on the hub; Storage Blob Data Contributor on the checkpoint container. ' +
        'Secrets come only from the environment or --config, and are never printed.',
    );
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const settings = await loadSettings({
    config: args.config as string | undefined,
    eventHub: args['event-hub'] as string | undefined,
    namespace: args.namespace as string | undefined,
    storageAccountUrl: args['storage-account-url'] as string | undefined,
    credential: args.credential as CredentialKind | undefined,
    managedIdentityClientId: args['managed-identity-client-id'] as string | undefined,
    consumerGroup: args['consumer-group'] as string,
    checkpointContainer: args['checkpoint-container'] as string | undefined,
  } as Parameters<typeof loadSettings>[0]);
  const sinks = args.sinks ? await loadSinksConfig(args.sinks as string) : null;
  args['roll-seconds'] ??= sinks ? 5 : 60;
  for (const k of ['roll-mb', 'roll-seconds', 'max-batch'] as const) {
    if (!((args[k] as number) > 0)) throw new CliError(`--${k} must be a positive number.`, 2);
  }
  const json = Boolean(args.json);
  if (json && sinks?.sinks.some((s) => s.type === 'stdout' && s.enabled !== false)) {
    throw new CliError('A stdout sink would mix alerts into the --json logs on stdout: use a file sink, or drop --json.', 2);
  }
  const log = json ? jsonLog : humanLog(Boolean(process.stderr.isTTY));
  const liveOpts = sinks ? await liveOptions(args, sinks, json ? jsonLiveLog(process.stdout) : humanLiveLog) : null;
  const hub = await openHub(settings, {
    ownerId: args['owner-id'] as string | undefined,
    balance: { updateIntervalInMs: (args['balance-interval-seconds'] as number) * 1000, partitionOwnershipExpirationIntervalInMs: (args['ownership-expiry-seconds'] as number) * 1000 },
  });
  const { dir, mirror } = await lakeTarget(args.lake as string, args.spool as string | undefined, settings);
  // With 5-second files, detection would read hundreds of them every round: merge the hours being written.
  const compactMinutes = (args['compact-minutes'] as number | undefined) ?? (sinks && !mirror ? 2 : 0);
  if (compactMinutes > 0 && mirror) throw new CliError('--compact-minutes works on a local lake only; a Blob lake is compacted after `pull`.', 2);
  const compactor = compactMinutes > 0 ? new RecentHoursCompactor(dir, compactMinutes * 60_000, log) : null;
  const ingest = await StreamIngest.open(dir, {
    mirror,
    sourceOf: sourceOf(hub.scope),
    rollBytes: (args['roll-mb'] as number) * 1024 * 1024,
    rollSeconds: args['roll-seconds'] as number,
    workers: args.workers as number | undefined,
    onLockWait: (pid) => log({ event: 'warning', message: `waiting for process ${pid} to finish landing in this lake` }),
  });
  let live: LiveDetection | null = null;
  try {
    if (liveOpts) live = await LiveDetection.start(dir, liveOpts);
  } catch (e) {
    await ingest.close();
    throw e;
  }
  const stop = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      log({ event: 'warning', message: `${sig}: stopping (committing what is buffered, then checkpoints; ${sig} again to quit at once)` });
      stop.abort();
    } else {
      process.stderr.write(`reauth-loops: quit without a last commit; events after the last checkpoint will be read again on restart.\n`);
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let reason = '';
  try {
    ({ reason } = await consume(hub, ingest, {
      start: args.start as 'earliest' | 'latest',
      maxBatchSize: args['max-batch'] as number,
      quietCommitSeconds: args['quiet-commit-seconds'] as number,
      stopWhenIdleSeconds: args['stop-when-idle'] as number | undefined,
      signal: stop.signal,
      onEvent: log,
      statusEveryMs: ((args['status-seconds'] as number | undefined) ?? (json ? 10 : 1)) * 1000,
      onCommit: (r, behind) => {
        live?.trigger(behind);
        compactor?.committed(r.files);
      },
    }));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // A last detection round over the last commit, and a few seconds for the sinks; the rest waits in the outboxes.
    try {
      await live?.stop(5000, reason === 'idle');
      await compactor?.idle();
    } finally {
      await ingest.close();
    }
  }
}

function jsonLog(e: ConsumeEvent): void {
  process.stdout.write(redact(JSON.stringify({ time: new Date().toISOString(), ...e })) + '\n');
}

/** A status line redrawn in place on a terminal; plain lines otherwise (status lines only on a terminal). */
function humanLog(tty: boolean): (e: ConsumeEvent) => void {
  let statusShown = false;
  const line = (text: string) => {
    if (statusShown) process.stderr.write('\r\x1b[K');
    statusShown = false;
    process.stderr.write(sanitizeForTerminal(redact(text)) + '\n');
  };
  return (e) => {
    switch (e.event) {
      case 'status':
        if (!tty) return;
        process.stderr.write(`\r\x1b[K${statusText(e)}`.slice(0, (process.stderr.columns ?? 200) + 4));
        statusShown = true;
        return;
      case 'started':
        return line(`Consuming ${e.namespace}/${e.eventHub} (group ${e.consumerGroup}) into ${e.lake} as ${e.owner}`);
      case 'partition_claimed':
        return line(`partition ${e.partition}: claimed`);
      case 'partition_released':
        return line(`partition ${e.partition}: released (${e.reason})`);
      case 'commit':
        return line(
          `committed ${e.events} event(s): ${e.landed} landed, ${e.duplicates} duplicate(s), ${e.quarantined} quarantined, ${e.files} file(s) in ${e.seconds.toFixed(2)} s; checkpoints ${Object.entries(e.checkpoints).map(([p, s]) => `${p}@${s}`).join(' ') || 'unchanged'}`,
        );
      case 'warning':
      case 'error':
        return line(`${e.event}${e.partition ? ` (partition ${e.partition})` : ''}: ${e.message}`);
      case 'compacted':
        return line(`compacted ${e.partitions.map((p) => `${p.partition} (${p.files_before} files → 1)`).join(', ')}`);
      case 'stopped':
        return line(`Stopped (${e.reason}): ${e.totals.events} event(s), ${e.totals.landed} landed, ${e.totals.duplicates} duplicate(s), ${e.totals.quarantined} quarantined, ${e.totals.files} file(s).`);
    }
  };
}

function statusText(e: Extract<ConsumeEvent, { event: 'status' }>): string {
  const lag = Object.entries(e.partitions)
    .filter(([, p]) => p.owned)
    .map(([id, p]) => `${id}:${lagOf(p)}`)
    .join(' ');
  return `${e.events_per_second.toLocaleString('en-US')} ev/s  lag ${lag || '-'}  files ${e.totals.files}  landed ${e.totals.landed.toLocaleString('en-US')}  quarantined ${e.totals.quarantined}  buffered ${e.buffered}`;
}

function lagOf(p: PartitionStatus): string {
  if (p.lastEnqueuedSequenceNumber === null) return '?';
  return String(Math.max(0, p.lastEnqueuedSequenceNumber - (p.lastSequenceNumber ?? -1)));
}

/** A folder is the lake; a Blob URL is mirrored from a local spool folder (lake/remote.ts). */
async function lakeTarget(lake: string, spool: string | undefined, s: HubSettings): Promise<{ dir: string; mirror?: BlobMirror }> {
  if (!isBlobUrl(lake)) return { dir: lake };
  const loc = parseBlobLake(lake);
  const auth = s.storageConnectionString ? { connectionString: s.storageConnectionString } : { credential: await credentialFor(s) };
  const safe = `${new URL(loc.accountUrl).host}${new URL(loc.accountUrl).pathname}-${loc.container}-${loc.prefix}`.replace(/[^A-Za-z0-9.-]+/g, '_');
  return { dir: spool ?? join('.reauth-spool', safe), mirror: BlobMirror.open(loc, auth) };
}

/** Minor compaction of the hours the consumer wrote into, at most every `everyMs`, one run at a time. */
class RecentHoursCompactor {
  private readonly touched = new Set<string>();
  private last = Date.now();
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly lake: string,
    private readonly everyMs: number,
    private readonly log: (e: ConsumeEvent) => void,
  ) {}

  committed(files: string[]): void {
    for (const f of files) {
      const key = partitionKeyOf(f);
      if (key) this.touched.add(key);
    }
    if (Date.now() - this.last < this.everyMs || this.touched.size === 0) return;
    this.last = Date.now();
    const keys = [...this.touched];
    this.touched.clear();
    this.running = this.running.then(async () => {
      try {
        const merged = await compactLake(this.lake, minorCompaction(keys));
        if (merged.length) this.log({ event: 'compacted', partitions: merged.map((m) => ({ partition: m.partition, files_before: m.files_before, rows: m.rows })) });
      } catch (e) {
        this.log({ event: 'warning', message: `compaction failed; the small files stay as they are and nothing is lost: ${redact((e as Error).message)}` });
      }
    });
  }

  idle(): Promise<void> {
    return this.running;
  }
}
