import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { EventHubProducerClient } from '@azure/event-hubs';
import { detect } from '../../detect/detect';
import { startAzurite } from '../../devhub/azurite';
import { startDevHub } from '../../devhub/server';
import { StreamIngest } from '../../lake/stream';
import { publish } from '../../publish/publish';
import { consume, ENV, loadSettings, openHub, sourceOf, type HubSettings } from '../../sources/eventhub';
import { LiveDetection } from '../../detect/live';
import { TABLE_COLUMNS } from './detect';
import { CLUSTER_TABLE_COLUMNS } from './clusters';
import { emit, note } from '../shared';

export function builder(y: Argv): Argv {
  return y
    .option('samples', { type: 'string', default: 'data-samples', describe: 'Folder of sample cases, each with an input/ folder' })
    .option('lake', { type: 'string', default: '.demo-lake', describe: 'Lake folder to (re)create for the demo' })
    .example('$0 demo', 'local hub + Azurite, publish the bundled cases, consume them into a lake, detect')
    .example(`${ENV.eventHubConnectionString}=... ${ENV.storageConnectionString}=... $0 demo`, 'consume a real hub until caught up, then detect')
    .epilog(
      'What `npm start` runs. With no hub settings in the environment it starts a local Event Hubs and Azurite on loopback, ' +
        'replays data-samples/ into the hub line by line (a simulated day with a tenant-wide Outlook incident among them), ' +
        'consumes it into the lake with checkpoints while continuous detection writes alerts to <lake>/alerts.ndjson, prints the flagged sessions and clusters, and stops everything. ' +
        'The lake is recreated on every run.',
    );
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const lake = resolve(args.lake as string);
  await fsp.rm(lake, { recursive: true, force: true });
  const real = Boolean(process.env[ENV.eventHubConnectionString]);
  const cleanup: Array<() => Promise<void>> = [];
  try {
    let settings: HubSettings;
    if (real) {
      settings = await loadSettings({});
      note('Hub settings found in the environment: consuming that hub until it is caught up.');
    } else {
      const hub = await startDevHub({ port: 0, hubs: [{ name: 'signins', partitions: 4 }] });
      cleanup.push(() => hub.close());
      const azurite = await startAzurite({ inMemory: true });
      cleanup.push(() => azurite.close());
      note(`Started a local Event Hubs (127.0.0.1:${hub.port}, 4 partitions) and Azurite (port ${azurite.port}).`);
      settings = { eventHubConnectionString: hub.connectionString('signins'), storageConnectionString: azurite.connectionString, consumerGroup: '$Default', checkpointContainer: 'reauth-loops-checkpoints' };
      const samples = resolve(args.samples as string);
      const cases = (await fsp.readdir(samples, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => join(samples, d.name, 'input'));
      const producer = new EventHubProducerClient(settings.eventHubConnectionString!);
      try {
        const p = await publish(cases, producer, { asIs: true });
        note(`Published ${cases.length} sample case(s) line by line: ${p.events.toLocaleString('en-US')} events, ${(p.bytes / 1e6).toFixed(1)} MB.`);
      } finally {
        await producer.close();
      }
    }
    const clients = await openHub(settings, { balance: { strategy: 'greedy', updateIntervalInMs: 1000 } });
    const ingest = await StreamIngest.open(lake, { sourceOf: sourceOf(clients.scope), rollSeconds: 2 });
    // Alerts as `consume --sinks` sends them, here into a file sink.
    const alertsFile = join(lake, 'alerts.ndjson');
    const alerts = { opened: 0, updated: 0, closed: 0 };
    const live = await LiveDetection.start(lake, {
      sinks: { sinks: [{ name: 'demo-file', type: 'file', path: alertsFile }] },
      // The samples span days and arrive in seconds: look back over all of them, not the last two hours.
      watch: { lookbackMinutes: 14 * 24 * 60 },
      log: (e) => {
        if (e.event === 'alert') alerts[e.action]++;
      },
    });
    let reason = '';
    try {
      ({ reason } = await consume(clients, ingest, { start: 'earliest', stopWhenIdleSeconds: real ? 30 : 2, onCommit: (_r, behind) => live.trigger(behind) }));
    } finally {
      // Caught up: nothing more can arrive, so the last round closes what has stopped.
      await live.stop(5000, reason === 'idle');
      await ingest.close();
    }
    const t = ingest.totals;
    note(`Consumed ${t.events.toLocaleString('en-US')} events: ${t.read.toLocaleString('en-US')} items, ${t.landed.toLocaleString('en-US')} landed, ${t.duplicates} duplicates, ${t.quarantined} quarantined (see ${join(lake, 'quarantine')}), ${t.files} Parquet file(s).`);
    note(`Alerts sent while consuming: ${alerts.opened} opened, ${alerts.updated} updated, ${alerts.closed} closed, into ${alertsFile} (send them to a SIEM with consume --sinks; see the README's "Alert feeds").`);
    const r = await detect(lake);
    note(`\nFlagged sessions (${r.flagged.rows.length}):`);
    await emit({}, r.flagged.columns, r.flagged.rows, TABLE_COLUMNS);
    note(`\nLoop clusters (${r.clusters.rows.length}):`);
    await emit({}, r.clusters.columns, r.clusters.rows, CLUSTER_TABLE_COLUMNS);
    note(`\nLake: ${lake}. Try: npx reauth-loops query --lake ${args.lake} "select * from loops"`);
  } finally {
    for (const c of cleanup.reverse()) await c();
  }
}
