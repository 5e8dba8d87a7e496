/**
 * `npm run bench:alerts`: how fast an alert leaves, measured, beside baselines from the same run.
 *
 *   1. latency: background sign-ins stream into the local hub in real time while planted users start
 *      looping (a prompt every few seconds). The consumer runs as `consume --sinks` does, with default
 *      settings (roll 5 s, quiet commit 2 s, detection every 5 s). For each loop: the time from its
 *      qualifying prompt (the min_prompts-th) being accepted by the hub to its `opened` alert reaching a
 *      local webhook receiver; p50/p95/max. Baseline: the same run's enqueue → committed latency per event.
 *   2. throughput: N alerts through each sink's outbox and delivery loop into a real local receiver,
 *      alerts/s; baseline: the same transport's send() alone, no outbox (what the outbox costs).
 *   3. rounds: one detection round over an hour written as 300 small files (what `consume --sinks` writes
 *      in 25 minutes at 5-second rolls), beside the same round once minor compaction merged them.
 */
import type { ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { EventHubProducerClient } from '@azure/event-hubs';
import yargs from 'yargs';
import { LiveDetection } from '../detect/live';
import { LoopWatcher } from '../detect/watch';
import { compactLake, minorCompaction, partitionKeyOf } from '../lake/compact';
import { importFiles } from '../lake/ingest';
import { Lake } from '../lake/lake';
import { startAzurite } from '../devhub/azurite';
import { StreamIngest } from '../lake/stream';
import { ehRecord, type Rec } from '../simulate/timeline';
import type { SinksConfig } from '../sink/config';
import { consume, openHub, sourceOf } from '../sources/eventhub';
import type { Alert } from '../domain/findings';
import { int, pct, REPO, startHubProcess, table } from './common';
import { throughput } from './sinks';

interface Arrival {
  at: number;
  alert: Alert;
}

/** A webhook receiver that notes when each alert arrived. */
async function receiver(): Promise<{ url: string; arrivals: Arrival[]; close: () => Promise<void> }> {
  const arrivals: Arrival[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      for (const a of JSON.parse(Buffer.concat(chunks).toString('utf8')) as Alert[]) arrivals.push({ at, alert: a });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/alerts`, arrivals, close: () => new Promise((r) => server.close(() => r())) };
}

async function latency(argv: { dir: string; seconds: number; loops: number; rate: number; every: number; partitions: number }): Promise<string[][]> {
  const azurite = await startAzurite({ inMemory: true });
  let hub: ChildProcess | undefined;
  const rx = await receiver();
  try {
    const h = await startHubProcess(argv.partitions);
    hub = h.proc;
    const lake = join(argv.dir, 'alerts-live-lake');
    await fsp.rm(lake, { recursive: true, force: true });
    const settings = { eventHubConnectionString: h.connectionString, storageConnectionString: azurite.connectionString, consumerGroup: '$Default', checkpointContainer: 'bench-alerts' };
    const clients = await openHub(settings, { balance: { strategy: 'greedy', updateIntervalInMs: 1000 } });
    // consume --sinks defaults: roll 5 s; detection every 5 s and after each commit.
    const ingest = await StreamIngest.open(lake, { sourceOf: sourceOf(clients.scope), rollSeconds: 5 });
    const sinks: SinksConfig = { sinks: [{ name: 'bench-webhook', type: 'webhook', url: rx.url }] };
    const live = await LiveDetection.start(lake, { sinks, intervalSeconds: 5, log: (e) => (e.event === 'detect_error' || e.event === 'sink_error' || e.event === 'sink_warning') && process.stderr.write(JSON.stringify(e) + '\n'), watch: {} });
    const landing: number[] = [];
    const stop = new AbortController();
    const consuming = consume(clients, ingest, { start: 'earliest', signal: stop.signal, onCommit: (r) => (landing.push(...r.latenciesMs), live.trigger()) });

    const producer = new EventHubProducerClient(h.connectionString);
    const t0 = Date.now();
    // Loop users start at spread-out times; each prompt is one interactive sign-in the user had to complete.
    const plan = Array.from({ length: argv.loops }, (_, i) => ({ user: `looper${i}`, start: 5 + ((argv.seconds - 30) * i) / Math.max(1, argv.loops), prompts: 0 }));
    const qualifiedAt = new Map<string, number>();
    const minPrompts = 3;
    let sent = 0;
    let n = 0;
    for (let tick = 0; Date.now() - t0 < argv.seconds * 1000; tick++) {
      const now = Date.now();
      const elapsed = (now - t0) / 1000;
      const recs: Rec[] = [];
      for (let k = 0; k < argv.rate / 10; k++) {
        // Background: silent single sign-ins of other users; never prompts.
        recs.push({ at: 0, user: `user${n++ % 5000}`, methods: ['Previously satisfied'], corr: `bg-${n}` });
      }
      const due = plan.filter((p) => elapsed >= p.start + p.prompts * argv.every);
      for (const p of due) {
        p.prompts++;
        recs.push({ at: 0, user: p.user, corr: `${p.user}-${p.prompts}` });
      }
      const batch = await producer.createBatch();
      for (const r of recs) {
        if (!batch.tryAdd({ body: { records: [ehRecord(r, now)] } })) throw new Error('bench batch too small');
      }
      await producer.sendBatch(batch);
      sent += recs.length;
      const accepted = Date.now();
      for (const p of due) if (p.prompts === minPrompts) qualifiedAt.set(`${p.user}@contoso.example`, accepted);
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + (tick + 1) * 100 - Date.now())));
    }
    await producer.close();
    // Let the last loops be alerted, then stop as SIGTERM would.
    const until = Date.now() + 30_000;
    while (Date.now() < until && qualifiedAt.size > new Set(rx.arrivals.filter((a) => a.alert.action === 'opened').map((a) => a.alert.loop?.user_principal_name)).size) {
      await new Promise((r) => setTimeout(r, 200));
    }
    stop.abort();
    await consuming;
    await live.stop(5000);
    await ingest.close();

    const firstOpened = new Map<string, number>();
    for (const a of rx.arrivals) {
      const u = a.alert.loop?.user_principal_name;
      if (a.alert.action === 'opened' && u && !firstOpened.has(u)) firstOpened.set(u, a.at);
    }
    const lat = [...qualifiedAt].filter(([u]) => firstOpened.has(u)).map(([u, at]) => firstOpened.get(u)! - at).sort((a, b) => a - b);
    const missed = [...qualifiedAt.keys()].filter((u) => !firstOpened.has(u));
    const stray = [...firstOpened.keys()].filter((u) => !qualifiedAt.has(u));
    landing.sort((a, b) => a - b);
    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    return [
      ['live traffic', `${int(sent)} sign-ins over ${argv.seconds} s (${argv.rate}/s background, ${argv.loops} users looping, a prompt every ${argv.every} s), ${argv.partitions} partitions`],
      ['alert latency (hub → webhook)', lat.length ? `p50 ${s(pct(lat, 50))}, p95 ${s(pct(lat, 95))}, max ${s(lat[lat.length - 1])} over ${lat.length} loops (aim: p95 < 10 s)` : 'no alert arrived'],
      ['  loops not alerted / alerts for no loop', `${missed.length} / ${stray.length}${missed.length ? ` (not alerted: ${missed.join(', ')})` : ''}`],
      ['baseline: hub → committed Parquet', landing.length ? `p50 ${s(pct(landing, 50))}, p95 ${s(pct(landing, 95))} per event (same run)` : '-'],
    ];
  } finally {
    hub?.kill();
    await rx.close();
    await azurite.close();
  }
}

async function rounds(dir: string, files: number): Promise<string[][]> {
  const lake = join(dir, 'alerts-rounds-lake');
  await fsp.rm(lake, { recursive: true, force: true });
  const input = join(dir, 'alerts-rounds.ndjson');
  for (let i = 0; i < files; i++) {
    // 100 silent sign-ins and one prompt of five looping users per file: a busy tenant's 5 seconds.
    const recs: Rec[] = Array.from({ length: 100 }, (_, k) => ({ at: i * 5 + k * 0.05, user: `u${(i * 100 + k) % 3000}`, methods: ['Previously satisfied'], corr: `c${i}-${k}` }));
    recs.push({ at: i * 5, user: `looper${i % 5}`, corr: `l${i}` });
    await fsp.writeFile(input, recs.map((r) => JSON.stringify(ehRecord(r))).join('\n') + '\n');
    await importFiles([input], lake, { workers: 0 });
  }
  const time = async (state: string) => {
    const w = await LoopWatcher.open(lake, { stateDir: join(dir, state) });
    const secs: number[] = [];
    try {
      for (let r = 0; r < 5; r++) secs.push((await w.round()).seconds);
    } finally {
      w.close();
    }
    return secs.sort((a, b) => a - b)[2];
  };
  await fsp.rm(join(dir, 'alerts-rounds-state-1'), { recursive: true, force: true });
  await fsp.rm(join(dir, 'alerts-rounds-state-2'), { recursive: true, force: true });
  const before = await time('alerts-rounds-state-1');
  const keys = (await new Lake(lake).files()).files.map((f) => partitionKeyOf(f)!);
  const merged = await compactLake(lake, minorCompaction(new Set(keys)));
  const after = await time('alerts-rounds-state-2');
  return [['detection round, one hour in small files', `${before.toFixed(2)} s over ${files} files (${int(files * 101)} sign-ins); ${after.toFixed(2)} s after minor compaction merged ${merged[0]?.files_before ?? 0} of them into one (median of 5 rounds each)`]];
}

async function main(): Promise<void> {
  const argv = yargs(process.argv.slice(2))
    .scriptName('npm run bench:alerts --')
    .usage('$0 [options]\n\nAlert latency from the local hub to a sink, and alerts/s per sink, with baselines from the same run.')
    .option('dir', { type: 'string', default: join(REPO, '.bench'), describe: 'Work folder (git-ignored by default)' })
    .option('seconds', { type: 'number', default: 90, describe: 'Length of the live step' })
    .option('loops', { type: 'number', default: 20, describe: 'Users who start looping during the live step' })
    .option('rate', { type: 'number', default: 100, describe: 'Background sign-ins per second' })
    .option('every', { type: 'number', default: 4, describe: 'Seconds between a looping user\'s prompts' })
    .option('partitions', { type: 'number', default: 4, describe: 'Partitions of the local hub' })
    .option('alerts', { type: 'number', default: 5000, describe: 'Alerts per sink in the throughput step' })
    .option('round-files', { type: 'number', default: 300, describe: 'Small files in the detection-round step' })
    .option('only', { choices: ['latency', 'throughput', 'rounds'] as const, describe: 'Run one step' })
    .example('npm run bench:alerts', 'both steps, defaults')
    .example('npm run bench:alerts -- --only throughput --alerts 20000', 'sinks only, more alerts')
    .version(false)
    .strict()
    .help()
    .parseSync();
  await fsp.mkdir(argv.dir, { recursive: true });
  const rows: string[][] = [];
  if (!argv.only || argv.only === 'latency') rows.push(...(await latency(argv)));
  if (!argv.only || argv.only === 'throughput') rows.push(...(await throughput({ dir: argv.dir, alerts: argv.alerts })));
  if (!argv.only || argv.only === 'rounds') rows.push(...(await rounds(argv.dir, argv['round-files'])));
  rows.push(['machine', `${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}`]);
  process.stdout.write(table(rows));
}

main().catch((e) => {
  process.stderr.write(`bench:alerts failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
