import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventHubProducerClient } from '@azure/event-hubs';
import { importFiles } from '../../pipeline/lake/ingest';
import { StreamIngest, type Position } from '../../pipeline/lake/stream';
import { detect } from '../../pipeline/detect/detect';
import { publish } from '../../pipeline/publish/publish';
import { consume, openHub, sourceOf, type HubSettings } from '../../pipeline/sources/eventhub';
import { readCheckpoints } from '../../pipeline/sources/checkpoints';
import { Lake, readLakeSql } from '../../pipeline/lake/lake';
import { compactLake } from '../../pipeline/lake/compact';
import { withDuckDB } from '../../pipeline/sql/duckdb';
import { lines, mfaFlow } from '../support/records';
import { startServices, spawnCli, type Services } from '../support/services';
import { schemaErrors } from '../support/schemas';
import { REPO, lakeRows, tempDir } from '../support/tmp';

/** Event Hubs → lake with the real SDK clients, the local hub and Azurite: nothing mocked. */
const tmp = tempDir();
let svc: Services;
beforeAll(async () => {
  svc = await startServices({ partitions: 4, moreHubs: ['property', 'blob', 'repack', 'fail', 'late', 'faults', 'machines', 'malformed'] });
});
afterAll(async () => {
  await svc?.stop();
  tmp.cleanup();
});

const CASES = readdirSync(join(REPO, 'data-samples'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(REPO, 'data-samples', d.name, 'input'));
let groupNo = 0;
/** A fresh checkpoint container per test, so tests never share checkpoints. */
const settings = (hub = svc.hubName): HubSettings => ({ eventHubConnectionString: svc.hub.connectionString(hub), storageConnectionString: svc.storageConnectionString, consumerGroup: '$Default', checkpointContainer: `ckpt-${++groupNo}` });

async function publishFiles(paths: string[], asIs = true) {
  const producer = new EventHubProducerClient(svc.eventHubConnectionString);
  try {
    return await publish(paths, producer, { asIs });
  } finally {
    await producer.close();
  }
}

async function runConsumer(lake: string, s: HubSettings, extra: Partial<Parameters<typeof consume>[2]> = {}, ingestOpts: { rollBytes?: number; rollSeconds?: number } = {}) {
  const hub = await openHub(s, { balance: { strategy: 'greedy', updateIntervalInMs: 500 } });
  const ingest = await StreamIngest.open(lake, { sourceOf: sourceOf(hub.scope), rollSeconds: 0.5, workers: 0, ...ingestOpts });
  try {
    await consume(hub, ingest, { start: 'earliest', stopWhenIdleSeconds: 1, ...extra });
  } finally {
    await ingest.close();
  }
  return { totals: ingest.totals, checkpoints: await readCheckpoints(hub.container, hub.scope), scope: hub.scope };
}

/** Columns that say how a row arrived, not what the sign-in was. */
const ARRIVAL = ['source', 'ingested_at', 'eh_partition', 'eh_sequence_number', 'eh_enqueued_time'];
const strip = (rows: Record<string, unknown>[]) => rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !ARRIVAL.includes(k))));

test('the bundled cases, published to the hub and consumed, give the lake and the findings that import gives', async () => {
  const published = await publishFiles(CASES);
  expect(published.skipped).toEqual([]);
  const streamLake = tmp.sub('e2e-stream');
  const batchLake = tmp.sub('e2e-batch');
  const { totals, checkpoints } = await runConsumer(streamLake, settings());
  const imported = await importFiles(CASES, batchLake);

  expect(totals.events).toBe(published.events);
  expect({ read: totals.read, landed: totals.landed, duplicates: totals.duplicates, quarantined: totals.quarantined }).toEqual({
    read: imported.read,
    landed: imported.landed,
    duplicates: imported.duplicates,
    quarantined: imported.quarantined,
  });
  // Every partition is checkpointed at its last event.
  const stats = svc.hub.stats().filter((x) => x.hub === svc.hubName);
  for (const p of stats.filter((x) => x.events > 0)) expect(checkpoints.get(p.partition)?.sequenceNumber).toBe(p.lastSequenceNumber);

  const streamed = await lakeRows(streamLake);
  expect(strip(streamed)).toEqual(strip(await lakeRows(batchLake)));
  expect(streamed.every((r) => String(r.source).startsWith('eventhub://') && r.eh_partition !== null && r.eh_sequence_number !== null && r.eh_enqueued_time !== null)).toBe(true);

  const [s, b] = [await detect(streamLake), await detect(batchLake)];
  expect(s.flagged.rows.length).toBeGreaterThan(10);
  expect(s.clusters.rows.length).toBeGreaterThan(0);
  expect(s.flagged.rows).toEqual(b.flagged.rows);
  expect(s.clusters.rows).toEqual(b.clusters.rows);
});

test('broken bodies are quarantined with partition, sequence number and offset, and the partition keeps flowing', async () => {
  const before = svc.hub.stats().find((p) => p.hub === svc.hubName && p.partition === '1')!.lastSequenceNumber;
  const good = (i: number) => Buffer.from(JSON.stringify({ records: mfaFlow(i * 40, { user: `flow${i}` }).map((r) => JSON.parse(lines([r]))) }));
  const bodies = [good(0), Buffer.from('{"records":[{"time":'), good(1), Buffer.from([0xff, 0xfe, 0x00, 0x41]), Buffer.from('{"records":"nope"}'), Buffer.alloc(0), good(2)];
  const producer = new EventHubProducerClient(svc.eventHubConnectionString);
  await producer.sendBatch(bodies.map((body) => ({ body })), { partitionId: '1' });
  await producer.close();

  const lake = tmp.sub('broken');
  const { totals } = await runConsumer(lake, settings());
  const q = readdirSync(join(lake, 'quarantine')).filter((f) => f.endsWith('.ndjson'));
  const entries = q.flatMap((f) => readFileSync(join(lake, 'quarantine', f), 'utf8').trim().split('\n')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const mine = entries.filter((e) => e.eh_partition === '1' && Number(e.eh_sequence_number) > before);
  expect(mine.map((e) => [e.reason, Number(e.eh_sequence_number) - before])).toEqual([
    ['invalid_json', 2],
    ['invalid_json', 4],
    ['records_not_array', 5],
    ['invalid_json', 6],
  ]);
  // The bad bytes (0xff 0xfe 0x00 'A') are kept exactly, and the hash is of them.
  const bad = mine.find((e) => Number(e.eh_sequence_number) - before === 4)!;
  expect(Buffer.from(String(bad.raw_b64), 'base64')).toEqual(Buffer.from([0xff, 0xfe, 0x00, 0x41]));
  expect(bad.sha256).toBe(createHash('sha256').update(Buffer.from([0xff, 0xfe, 0x00, 0x41])).digest('hex'));
  for (const e of mine) {
    expect(typeof e.eh_offset).toBe('string');
    expect(e.source).toMatch(/^eventhub:\/\/.+\/signins\/1$/);
    expect(schemaErrors('quarantine-record.schema.json', e)).toEqual([]);
  }
  // The good bodies after the broken ones landed: three flows of two sign-ins each.
  const landed = await lakeRows(lake, `eh_partition = '1' and eh_sequence_number > ${before}`);
  expect(landed.map((r) => Number(r.eh_sequence_number) - before).sort()).toEqual([1, 1, 3, 3, 7, 7]);
  expect(totals.read).toBe(totals.landed + totals.duplicates + totals.quarantined);
});

test('no checkpoint is ever written ahead of committed data, whatever the roll size (property, 4 configurations)', async () => {
  // Random roll sizes and read sizes change where commits cut the stream; before every checkpoint write the
  // lake (real Parquet, read with DuckDB) must already hold every event of that partition up to it.
  const ids: string[] = [];
  const bodies: Buffer[] = [];
  for (let i = 0; i < 160; i++) {
    const recs = mfaFlow(i * 7, { user: `prop-${i % 37}` }).map((r) => JSON.parse(lines([r])) as { properties: { id: string } });
    ids.push(...recs.map((r) => r.properties.id));
    bodies.push(Buffer.from(JSON.stringify({ records: recs })));
  }
  const producer = new EventHubProducerClient(svc.hub.connectionString('property'));
  for (let i = 0; i < bodies.length; i += 40) await producer.sendBatch(bodies.slice(i, i + 40).map((body) => ({ body })));
  await producer.close();

  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let config = 0; config < 4; config++) {
    const lake = tmp.sub(`property-${config}`);
    const violations: string[] = [];
    const last = new Map<string, number>();
    let checked = 0;
    const beforeCheckpoint = async (pos: Position) => {
      checked++;
      if ((last.get(pos.partitionId) ?? -1) > pos.sequenceNumber) violations.push(`partition ${pos.partitionId} went back to ${pos.sequenceNumber}`);
      last.set(pos.partitionId, pos.sequenceNumber);
      const seqs = await committedSeqs(lake, pos.partitionId);
      for (let s = 0; s <= pos.sequenceNumber; s++) {
        if (!seqs.has(s)) violations.push(`checkpoint ${pos.partitionId}@${pos.sequenceNumber} written before event ${s} was committed`);
      }
    };
    const cfg = { maxBatchSize: 1 + Math.floor(rand() * 10), rollBytes: 300 + Math.floor(rand() * 8000), rollSeconds: 0.2 + rand() };
    const r = await runConsumer(lake, settings('property'), { beforeCheckpoint, maxBatchSize: cfg.maxBatchSize }, cfg);
    expect(violations).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(8);
    expect(r.totals.commits).toBeGreaterThan(3);
    const rows = await lakeRows(lake, `user_principal_name like 'prop-%'`);
    expect(rows.map((r) => String(r.sign_in_id)).sort()).toEqual([...ids].sort());
  }
});

/** Sequence numbers of a partition's events that have rows in the lake's Parquet files (read with DuckDB). */
async function committedSeqs(lake: string, partition: string): Promise<Set<number>> {
  const { files } = await new Lake(lake).files();
  if (!files.length) return new Set();
  return withDuckDB({}, async (conn) => {
    const r = await conn.runAndReadAll(`select distinct eh_sequence_number as s from ${readLakeSql(files)} where eh_partition = $p`, { p: partition });
    return new Set(r.getRowObjects().map((x) => Number(x.s)));
  });
}

test('consume (the command) stops on SIGINT: commits what it holds, checkpoints, exits 0; secrets never printed', async () => {
  const lake = tmp.sub('sigint');
  const container = `ckpt-${++groupNo}`;
  const child = spawnCli(['consume', '--lake', lake, '--json', '--checkpoint-container', container, '--roll-seconds', '3600', '--status-seconds', '0.2', '--balance-interval-seconds', '0.5'], svc.env);
  await child.waitFor((e) => e.event === 'partition_claimed');
  const f = tmp.sub('sigint.ndjson');
  writeFileSync(f, lines([...mfaFlow(0, { user: 'sig1' }), ...mfaFlow(50, { user: 'sig2' })]));
  const producer = new EventHubProducerClient(svc.eventHubConnectionString);
  await publish([f], producer, { asIs: true });
  await producer.close();
  const inHub = svc.hub.stats().filter((p) => p.hub === svc.hubName).reduce((n, p) => n + p.events, 0);
  // Nothing commits by size or time (an hour): every event is only buffered when the signal comes.
  await child.waitFor((e) => e.event === 'status' && e.buffered === inHub && (e.totals as { commits: number }).commits === 0);
  child.proc.kill('SIGINT');
  const exit = await child.exited;
  expect(exit).toEqual({ code: 0, signal: null });
  const stopped = await child.waitFor((e) => e.event === 'stopped');
  const t = stopped.totals as { read: number; landed: number; duplicates: number; quarantined: number; commits: number };
  expect(t.read).toBe(t.landed + t.duplicates + t.quarantined);
  expect(t.commits).toBe(1); // the one on the way out
  expect((await lakeRows(lake, `user_principal_name like 'sig%'`)).length).toBe(4);
  // Every log line is a documented object, and the run's summary in the lake is too.
  const logs = child.lines.filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  expect([...new Set(logs.map((l) => String(l.event)))]).toEqual(expect.arrayContaining(['started', 'partition_claimed', 'status', 'warning', 'commit', 'stopped']));
  for (const l of logs) expect(schemaErrors('consume-log.schema.json', l)).toEqual([]);
  const summaries = readdirSync(join(lake, '_imports')).map((f) => JSON.parse(readFileSync(join(lake, '_imports', f), 'utf8')) as Record<string, unknown>);
  expect(summaries).toHaveLength(1);
  expect(schemaErrors('stream-summary.schema.json', summaries[0])).toEqual([]);
  expect(summaries[0]).toMatchObject({ kind: 'stream', read: t.read, landed: t.landed, commits: 1 });
  // Secrets: neither the hub's key nor the storage account key appears in anything the command wrote.
  const out = child.lines.join('\n') + child.stderr.join('');
  for (const secret of ['devkey', svc.storageConnectionString.match(/AccountKey=([^;]+)/)![1]]) expect(out).not.toContain(secret);
});

test('a wrong storage key fails at start with what to do, and the key is in no output', async () => {
  const canary = Buffer.from('CANARY-storage-key-never-printed').toString('base64');
  const badStorage = svc.storageConnectionString.replace(/AccountKey=[^;]+/, `AccountKey=${canary}`);
  const child = spawnCli(['consume', '--lake', tmp.sub('canary'), '--json'], { ...svc.env, REAUTH_STORAGE_CONNECTION_STRING: badStorage });
  const exit = await child.exited;
  const stderr = child.stderr.join('');
  expect(exit.code).toBe(3);
  expect(stderr).toMatch(/Cannot use the checkpoint container "reauth-loops-checkpoints": .*403.* Storage Blob Data Contributor/);
  expect(stderr + child.lines.join('\n')).not.toContain(canary);
});

test('a lake in Blob Storage: consume uploads each committed file, pull brings the lake back, and files the spool had but the container lacked go up at start', async () => {
  const endpoint = svc.storageConnectionString.match(/BlobEndpoint=([^;]+)/)![1].replace(/\/+$/, '');
  const url = `${endpoint}/lake/tenant-a`;
  const spool = tmp.sub('blob-spool');
  // A spool file that never reached the container (a crash between landing and upload).
  const early = tmp.sub('early.ndjson');
  writeFileSync(early, lines(mfaFlow(0, { user: 'early' })));
  await importFiles([early], spool);

  const f = tmp.sub('blob.ndjson');
  writeFileSync(f, lines([...mfaFlow(0, { user: 'blob1' }), ...mfaFlow(30, { user: 'blob1' }), ...mfaFlow(60, { user: 'blob1' }), ...mfaFlow(0, { user: 'blob2' })]));
  const producer = new EventHubProducerClient(svc.hub.connectionString('blob'));
  await publish([f], producer, { asIs: true });
  await producer.close();
  const env = { ...svc.env, REAUTH_EVENTHUB_CONNECTION_STRING: svc.hub.connectionString('blob') };
  const child = spawnCli(['consume', '--lake', url, '--spool', spool, '--json', '--stop-when-idle', '1', '--balance-interval-seconds', '0.5', '--checkpoint-container', 'blob-ckpt'], env);
  expect(await child.exited).toEqual({ code: 0, signal: null });

  const blobs: string[] = [];
  for await (const b of svc.container('lake').listBlobsFlat({ prefix: 'tenant-a/' })) blobs.push(b.name);
  expect(blobs.filter((b) => /^tenant-a\/sign_ins\/date=2026-04-14\/hour=09\/part-.+\.parquet$/.test(b)).length).toBeGreaterThanOrEqual(2);
  expect(blobs.some((b) => /^tenant-a\/_imports\/str-.+\.json$/.test(b))).toBe(true);

  const pulled = tmp.sub('pulled');
  const pull = spawnCli(['pull', url, '--to', pulled], svc.env);
  expect(await pull.exited).toEqual({ code: 0, signal: null });
  expect(pull.stderr.join('')).toMatch(/Pulled \d+ file\(s\)/);
  const got = await lakeRows(pulled);
  expect(got.map((r) => r.user_principal_name).sort()).toEqual(await lakeRows(spool).then((rows) => rows.map((r) => r.user_principal_name).sort()));
  expect(new Set(got.map((r) => r.user_principal_name))).toEqual(new Set(['early@contoso.example', 'blob1@contoso.example', 'blob2@contoso.example']));
  expect((await detect(pulled)).flagged.rows.map((r) => r.user_principal_name)).toEqual(['blob1@contoso.example']);
  // Pulling again downloads no Parquet file twice.
  const again = spawnCli(['pull', url, '--to', pulled], svc.env);
  await again.exited;
  expect(again.stderr.join('')).toMatch(/\((\d+) already there\)/);
});

test('publish repacks any shape into diagnostic-settings bodies, and the consumer lands the same sign-ins import does', async () => {
  const inputs = ['mixed-shapes', 'mfa-fatigue'].map((c) => join(REPO, 'data-samples', c, 'input'));
  const producer = new EventHubProducerClient(svc.hub.connectionString('repack'));
  const sent = await publish(inputs, producer, { maxBodyBytes: 64 * 1024 });
  await producer.close();
  expect(sent.skipped).toEqual([]);
  expect(sent.events).toBeGreaterThan(10); // many records to a body, bodies kept under 64 KiB
  const lake = tmp.sub('repack');
  await runConsumer(lake, settings('repack'));
  const batchLake = tmp.sub('repack-batch');
  await importFiles(inputs, batchLake);
  // `raw` is the record re-serialized when repacked, so it is left out with the arrival columns.
  const noRaw = (rows: Record<string, unknown>[]) => strip(rows).map(({ raw: _raw, ...rest }) => rest);
  expect(noRaw(await lakeRows(lake))).toEqual(noRaw(await lakeRows(batchLake)));
  expect((await detect(lake)).flagged.rows).toEqual((await detect(batchLake)).flagged.rows);
});

test('a commit that cannot be written stops the consumer (exit 4) with no checkpoint past it; after the fix, a restart lands everything', async () => {
  const lake = tmp.sub('fail');
  // The lake cannot take this day's folder: a file stands where the partition folder must go.
  mkdirSync(join(lake, 'sign_ins'), { recursive: true });
  writeFileSync(join(lake, 'sign_ins', 'date=2026-04-14'), 'in the way');
  const f = tmp.sub('fail.ndjson');
  writeFileSync(f, lines([...mfaFlow(0, { user: 'fail1' }), ...mfaFlow(30, { user: 'fail2' })]));
  const producer = new EventHubProducerClient(svc.hub.connectionString('fail'));
  await publish([f], producer, { asIs: true });
  await producer.close();
  const env = { ...svc.env, REAUTH_EVENTHUB_CONNECTION_STRING: svc.hub.connectionString('fail') };
  const args = ['consume', '--lake', lake, '--stop-when-idle', '1', '--balance-interval-seconds', '0.5', '--checkpoint-container', 'fail-ckpt'];

  const first = spawnCli(args, env);
  expect((await first.exited).code).toBe(4);
  expect(first.stderr.join('')).toContain('A commit failed, so the consumer stopped without moving any checkpoint past it');
  expect(first.stderr.join('')).toContain('Nothing is lost');
  const checkpoints: number[] = [];
  for await (const b of svc.container('fail-ckpt').listBlobsFlat({ includeMetadata: true })) if (b.name.includes('/checkpoint/')) checkpoints.push(Number(b.metadata?.sequencenumber));
  expect(checkpoints).toEqual([]);

  rmSync(join(lake, 'sign_ins', 'date=2026-04-14'));
  const second = spawnCli(args, env);
  expect(await second.exited).toEqual({ code: 0, signal: null });
  expect((await lakeRows(lake)).map((r) => r.user_principal_name).sort()).toEqual(['fail1@contoso.example', 'fail1@contoso.example', 'fail2@contoso.example', 'fail2@contoso.example']);
});

test('a sign-in delivered hours late lands in the hour it happened, beside a compacted hour', async () => {
  const lake = tmp.sub('late');
  const send = async (recs: ReturnType<typeof mfaFlow>) => {
    const producer = new EventHubProducerClient(svc.hub.connectionString('late'));
    await producer.sendBatch([{ body: Buffer.from(JSON.stringify({ records: lines(recs).trim().split('\n').map((l) => JSON.parse(l)) })) }]);
    await producer.close();
  };
  await send([...mfaFlow(0, { user: 'ontime' }), ...mfaFlow(-5 * 3600, { user: 'late-a' })]);
  await runConsumer(lake, { ...settings('late'), checkpointContainer: 'late-ckpt' });
  await compactLake(lake, { settledMinutes: 0, minFiles: 1 });
  // Five hours later still, another sign-in of 04:00 arrives.
  await send(mfaFlow(-5 * 3600 + 60, { user: 'late-b' }));
  await runConsumer(lake, { ...settings('late'), checkpointContainer: 'late-ckpt' });
  const rows = await lakeRows(lake);
  const hourOf = (upn: string) => new Set(rows.filter((r) => r.user_principal_name === upn).map((r) => `${String(r.date).slice(0, 10)}/${r.hour}`));
  expect(hourOf('ontime@contoso.example')).toEqual(new Set(['2026-04-14/9']));
  expect(hourOf('late-a@contoso.example')).toEqual(new Set(['2026-04-14/4']));
  expect(hourOf('late-b@contoso.example')).toEqual(new Set(['2026-04-14/4']));
  expect(rows).toHaveLength(6);
});

test('links detached and connections dropped by the hub mid-stream cost nothing: every sign-in lands once', async () => {
  const ids: string[] = [];
  const bodies: Buffer[] = [];
  for (let i = 0; i < 300; i++) {
    const recs = lines(mfaFlow(i * 13, { user: `fault-${i % 29}` })).trim().split('\n').map((l) => JSON.parse(l) as { properties: { id: string } });
    ids.push(...recs.map((r) => r.properties.id));
    bodies.push(Buffer.from(JSON.stringify({ records: recs })));
  }
  const producer = new EventHubProducerClient(svc.hub.connectionString('faults'));
  for (let i = 0; i < bodies.length; i += 50) await producer.sendBatch(bodies.slice(i, i + 50).map((body) => ({ body })));
  await producer.close();
  // Faults fire on deliveries, so they land in the middle of the stream the consumer is reading.
  svc.hub.injectFault({ kind: 'detach-receivers', count: 3 });
  svc.hub.injectFault({ kind: 'close-connections', count: 2 });
  const lake = tmp.sub('faults');
  const logged = svc.hubLog.length;
  await runConsumer(lake, { ...settings('faults'), checkpointContainer: 'faults-ckpt' }, { maxBatchSize: 20, stopWhenIdleSeconds: 2 }, { rollBytes: 20_000 });
  const rows = await lakeRows(lake);
  expect(rows.map((r) => String(r.sign_in_id)).sort()).toEqual([...ids].sort());
  expect(new Set(rows.map((r) => r.record_key)).size).toBe(ids.length);
  // The faults did happen, in the middle of the stream.
  const faults = svc.hubLog.slice(logged).filter((l) => / fault: /.test(l));
  expect(faults.filter((l) => l.includes('detached consumer'))).toHaveLength(3);
  expect(faults.filter((l) => l.includes('closed connection'))).toHaveLength(2);
});

test('two machines on one Blob lake: the second deduplicates against what the first uploaded, even from its own empty spool', async () => {
  // Machine B re-reads the whole hub (as a new owner re-reads past a checkpoint the old owner never wrote)
  // into the same Blob lake, from a spool of its own: it must land nothing twice.
  const endpoint = svc.storageConnectionString.match(/BlobEndpoint=([^;]+)/)![1].replace(/\/+$/, '');
  const url = `${endpoint}/lake/two-machines`;
  const producer = new EventHubProducerClient(svc.hub.connectionString('machines'));
  await publish([join(REPO, 'data-samples', 'outlook-ios-loop', 'input')], producer, { maxBodyBytes: 16 * 1024 });
  await producer.close();
  const env = { ...svc.env, REAUTH_EVENTHUB_CONNECTION_STRING: svc.hub.connectionString('machines') };
  const run = async (spool: string, container: string) => {
    const child = spawnCli(['consume', '--lake', url, '--spool', spool, '--json', '--stop-when-idle', '1', '--balance-interval-seconds', '0.5', '--checkpoint-container', container], env);
    expect(await child.exited).toEqual({ code: 0, signal: null });
    return (await child.waitFor((e) => e.event === 'stopped')).totals as { read: number; landed: number; duplicates: number };
  };
  const a = await run(tmp.sub('spool-a'), 'machine-a');
  expect(a.landed).toBeGreaterThan(0);
  const b = await run(tmp.sub('spool-b'), 'machine-b');
  expect(b).toMatchObject({ read: a.read, landed: 0, duplicates: a.read });
  const pulled = tmp.sub('two-machines-pulled');
  const pull = spawnCli(['pull', url, '--to', pulled], svc.env);
  expect((await pull.exited).code).toBe(0);
  expect(await lakeRows(pulled)).toHaveLength(a.landed);
});

test('thousands of malformed bodies among good ones: every bad one quarantined with its coordinates, every good one landed, no stall', async () => {
  // Seeded mix of what a broken producer sends: cut JSON, random bytes, wrong containers, records that are
  // not records, records without a usable time; every fourth body is good.
  let seed = 99;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const bad = [
    () => Buffer.from('{"records":[{"time":"2026-04-14T09:00:00Z",'),
    () => Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 200) }, () => Math.floor(rand() * 256))),
    () => Buffer.from('{"records":{"not":"an array"}}'),
    () => Buffer.from('[1,"two",null]'),
    () => Buffer.from('{"records":[{"category":"SignInLogs","time":"not a time","properties":{"id":"x","createdDateTime":"nope"}}]}'),
    () => Buffer.from('"just a string"'),
  ];
  const bodies: Buffer[] = [];
  const goodIds: string[] = [];
  let expectedBad = 0;
  for (let i = 0; i < 2000; i++) {
    if (i % 4 === 0) {
      const recs = lines(mfaFlow(i, { user: `mal-${i % 17}` })).trim().split('\n').map((l) => JSON.parse(l) as { properties: { id: string } });
      goodIds.push(...recs.map((r) => r.properties.id));
      bodies.push(Buffer.from(JSON.stringify({ records: recs })));
    } else {
      const kind = Math.floor(rand() * bad.length);
      bodies.push(bad[kind]());
      expectedBad += kind === 3 ? 3 : 1; // an array of three non-records is three items
    }
  }
  const producer = new EventHubProducerClient(svc.hub.connectionString('malformed'));
  for (let i = 0; i < bodies.length; i += 200) await producer.sendBatch(bodies.slice(i, i + 200).map((body) => ({ body })));
  await producer.close();

  const lake = tmp.sub('malformed');
  const t0 = Date.now();
  const { totals } = await runConsumer(lake, { ...settings('malformed'), checkpointContainer: 'malformed-ckpt' }, { maxBatchSize: 500 });
  expect(Date.now() - t0).toBeLessThan(30_000);
  expect(totals).toMatchObject({ events: 2000, quarantined: expectedBad, landed: goodIds.length, duplicates: 0 });
  expect(totals.read).toBe(totals.landed + totals.duplicates + totals.quarantined);
  const entries = readdirSync(join(lake, 'quarantine')).filter((f) => f.endsWith('.ndjson')).flatMap((f) => readFileSync(join(lake, 'quarantine', f), 'utf8').trim().split('\n')).map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(entries).toHaveLength(expectedBad);
  for (const e of entries) {
    expect(typeof e.eh_partition).toBe('string');
    expect(Number.isInteger(e.eh_sequence_number)).toBe(true);
    expect(typeof e.eh_offset).toBe('string');
  }
  expect(new Set(entries.map((e) => e.reason))).toEqual(new Set(['invalid_json', 'records_not_array', 'not_an_object', 'no_usable_time']));
  expect((await lakeRows(lake)).map((r) => String(r.sign_in_id)).sort()).toEqual([...goodIds].sort());
});
