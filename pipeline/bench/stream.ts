/**
 * `npm run bench:stream`: the streaming path's figures beside the batch import's, on the same data, in
 * the same run.
 *
 *   1. batch: importFiles on the simulated file (the figure the stream is held against);
 *   2. backlog: the file is published to the local hub first, then `consume` drains it from the earliest
 *      event: events/s and records/s from the hub into committed Parquet (checkpoints in Azurite);
 *   2b. the SDK alone reading the same bodies and dropping them: the hub's and the client's ceiling;
 *   3. live: `publish --speed` replays the day while `consume` runs: latency from enqueue to committed file
 *      per event (p50, p95), at --roll-seconds.
 *
 * The hub and the publisher are separate processes (the CLI's dev-hub and publish), as they are in real
 * life, so the consumer's figures are the consumer's alone. Azurite is a child process too.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { startAzurite } from '../devhub/azurite';
import { importFiles } from '../lake/ingest';
import { StreamIngest } from '../lake/stream';
import { EventHubConsumerClient, earliestEventPosition } from '@azure/event-hubs';
import { consume, openHub, sourceOf } from '../sources/eventhub';
import { writeSimulation } from '../simulate/simulate';
import { int, pct, REPO, runCli, startHubProcess, table } from './common';

async function main(): Promise<void> {
  const argv = yargs(process.argv.slice(2))
    .scriptName('npm run bench:stream --')
    .usage('$0 [options]\n\nStreaming figures (local hub → lake) beside the batch import on the same data.')
    .option('dir', { type: 'string', default: join(REPO, '.bench'), describe: 'Work folder (git-ignored by default)' })
    .option('users', { type: 'number', default: 3000, describe: 'Simulated tenant size (~51 sign-ins per user per day)' })
    .option('partitions', { type: 'number', default: 4, describe: 'Partitions of the local hub' })
    .option('roll-seconds', { type: 'number', default: 5, describe: 'Consumer roll time in the live step (the floor under latency)' })
    .option('live-seconds', { type: 'number', default: 60, describe: 'The live step replays the simulated day in about this long' })
    .example('npm run bench:stream', '3,000 users, 4 partitions')
    .example('npm run bench:stream -- --users 500 --live-seconds 20', 'smoke run')
    .version(false)
    .strict()
    .help()
    .parseSync();
  await fsp.mkdir(argv.dir, { recursive: true });
  const file = join(argv.dir, `stream-${argv.users}.ndjson`);
  if (!existsSync(file)) {
    process.stderr.write(`simulating ${argv.users} users → ${file}\n`);
    await writeSimulation({ users: argv.users, days: 1, start: '2026-04-14', seed: 42, incident: {}, shape: 'eventhub', out: file });
  }
  const size = (await fsp.stat(file)).size;
  const fresh = async (name: string) => {
    const d = join(argv.dir, name);
    await fsp.rm(d, { recursive: true, force: true });
    return d;
  };

  // 1. batch
  const batch = await importFiles([file], await fresh('stream-batch-lake'));
  process.stderr.write(`batch import: ${int(batch.records_per_second)} records/s\n`);

  const azurite = await startAzurite({ inMemory: true });
  const hubs: ChildProcess[] = [];
  try {
    // 2. backlog
    const h1 = await startHubProcess(argv.partitions);
    hubs.push(h1.proc);
    const t0 = Date.now();
    await runCli(['publish', file, '--as-is'], { REAUTH_EVENTHUB_CONNECTION_STRING: h1.connectionString });
    const publishSeconds = (Date.now() - t0) / 1000;
    const backlogLake = await fresh('stream-backlog-lake');
    const settings = { eventHubConnectionString: h1.connectionString, storageConnectionString: azurite.connectionString, consumerGroup: '$Default', checkpointContainer: 'bench-backlog' };
    const hub1 = await openHub(settings, { balance: { strategy: 'greedy', updateIntervalInMs: 1000 } });
    const ingest1 = await StreamIngest.open(backlogLake, { sourceOf: sourceOf(hub1.scope), rollSeconds: 60 });
    const c0 = Date.now();
    let lastCommit = c0;
    try {
      // The figure ends at the commit of the last event; quiet-commit 0.5 s bounds the idle wait before it.
      await consume(hub1, ingest1, { start: 'earliest', stopWhenIdleSeconds: 2, quietCommitSeconds: 0.5, onCommit: () => (lastCommit = Date.now()) });
    } finally {
      await ingest1.close();
    }
    const drainSeconds = (lastCommit - c0) / 1000;
    const backlog = { events: ingest1.totals.events, records: ingest1.totals.read, seconds: drainSeconds, files: ingest1.totals.files };
    if (backlog.records !== batch.read) throw new Error(`the stream read ${backlog.records} items, the batch import ${batch.read}: not the same data`);
    process.stderr.write(`backlog: ${int(backlog.records / drainSeconds)} records/s\n`);

    // 2b. the SDK alone: every body read from the same hub, nothing done with it (the hub's and SDK's ceiling)
    const raw = new EventHubConsumerClient('$Default', h1.connectionString);
    const r0 = Date.now();
    let rawEvents = 0;
    await new Promise<void>((done) => {
      const sub = raw.subscribe(
        {
          processEvents: async (events) => {
            rawEvents += events.length;
            if (rawEvents >= backlog.events) void sub.close().then(done);
          },
          processError: async () => undefined,
        },
        { startPosition: earliestEventPosition, maxBatchSize: 1000, maxWaitTimeInSeconds: 1, skipParsingBodyAsJson: true },
      );
    });
    const rawSeconds = (Date.now() - r0) / 1000;
    await raw.close();

    // 3. live
    const h2 = await startHubProcess(argv.partitions);
    hubs.push(h2.proc);
    const liveLake = await fresh('stream-live-lake');
    const hub2 = await openHub({ ...settings, eventHubConnectionString: h2.connectionString, checkpointContainer: 'bench-live' }, { balance: { strategy: 'greedy', updateIntervalInMs: 1000 } });
    const ingest2 = await StreamIngest.open(liveLake, { sourceOf: sourceOf(hub2.scope), rollSeconds: argv['roll-seconds'] });
    const latencies: number[] = [];
    const speed = 86_400 / argv['live-seconds'];
    const l0 = Date.now();
    const consuming = consume(hub2, ingest2, { start: 'earliest', onCommit: (r) => latencies.push(...r.latenciesMs), stopWhenIdleSeconds: 3 });
    await runCli(['publish', file, '--as-is', '--speed', String(speed)], { REAUTH_EVENTHUB_CONNECTION_STRING: h2.connectionString });
    const publishedIn = (Date.now() - l0) / 1000;
    try {
      await consuming;
    } finally {
      await ingest2.close();
    }
    latencies.sort((a, b) => a - b);

    const rows = [
      ['data', `${int(batch.read)} sign-ins as ${int(backlog.events)} Event Hub bodies (${(size / 2 ** 20).toFixed(0)} MiB), ${argv.partitions} partitions`],
      ['batch import (baseline)', `${int(batch.records_per_second)} records/s (${batch.seconds.toFixed(1)} s)`],
      ['stream, backlog drained', `${int(backlog.records / drainSeconds)} records/s = ${int(backlog.events / drainSeconds)} events/s (${drainSeconds.toFixed(1)} s, ${backlog.files} files) → ${((100 * backlog.records) / drainSeconds / batch.records_per_second).toFixed(0)}% of batch (aim ≥ 50%)`],
      ['stream, live', `${int(ingest2.totals.events)} events published over ${publishedIn.toFixed(1)} s (--speed ${int(speed)}); enqueue → committed p50 ${(pct(latencies, 50) / 1000).toFixed(2)} s, p95 ${(pct(latencies, 95) / 1000).toFixed(2)} s, max ${(latencies[latencies.length - 1] / 1000).toFixed(2)} s at --roll-seconds ${argv['roll-seconds']}`],
      ['SDK read alone (ceiling)', `${int(rawEvents / rawSeconds)} events/s (${rawSeconds.toFixed(1)} s): the same bodies read from the hub and dropped`],
      ['(publish, for scale)', `${int(backlog.events / publishSeconds)} events/s into the local hub`],
      ['machine', `${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}`],
    ];
    process.stdout.write(table(rows));
    await fsp.writeFile(join(argv.dir, 'bench-stream.json'), JSON.stringify({ batch, backlog, live: { events: ingest2.totals.events, p50_ms: pct(latencies, 50), p95_ms: pct(latencies, 95), roll_seconds: argv['roll-seconds'], speed } }, null, 2));
  } finally {
    for (const h of hubs) h.kill();
    await azurite.close();
  }
}

main().catch((e) => {
  process.stderr.write(`bench:stream failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
