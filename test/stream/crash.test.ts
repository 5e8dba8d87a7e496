import { EventHubProducerClient } from '@azure/event-hubs';
import { Lake, readLakeSql } from '../../pipeline/lake/lake';
import { withDuckDB } from '../../pipeline/sql/duckdb';
import { lines, mfaFlow } from '../support/records';
import { owners, spawnCli, startServices, until, type Services } from '../support/services';
import { tempDir } from '../support/tmp';

/**
 * Crashes and hand-overs with real processes: the built CLI consuming from the local hub, checkpoints in
 * Azurite, killed with SIGKILL at seeded random moments while the stream is being published.
 * Oracle (reliability.md §2): every sign-in sent is in the lake exactly once; after every kill, every
 * event up to each checkpoint is in the lake; checkpoints never go back.
 */
const tmp = tempDir();
let svc: Services;
beforeAll(async () => {
  svc = await startServices({ partitions: 4, hubName: 'crash', moreHubs: ['shared'] });
});
afterAll(async () => {
  await svc?.stop();
  if (!process.env.KEEP_TMP) tmp.cleanup(); else console.log(tmp.path);
});

/** n bodies of one prompt flow (two sign-ins) each; returns the sign-in ids. */
function bodies(prefix: string, n: number): { bodies: Buffer[]; ids: string[] } {
  const out = { bodies: [] as Buffer[], ids: [] as string[] };
  for (let i = 0; i < n; i++) {
    const recs = lines(mfaFlow(i * 11, { user: `${prefix}-${i % 53}` })).trim().split('\n').map((l) => JSON.parse(l) as { properties: { id: string } });
    out.ids.push(...recs.map((r) => r.properties.id));
    out.bodies.push(Buffer.from(JSON.stringify({ records: recs })));
  }
  return out;
}

async function send(hub: string, list: Buffer[], perBatch: number, pauseMs: number): Promise<void> {
  const producer = new EventHubProducerClient(svc.hub.connectionString(hub));
  try {
    for (let i = 0; i < list.length; i += perBatch) {
      await producer.sendBatch(list.slice(i, i + perBatch).map((body) => ({ body })));
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    }
  } finally {
    await producer.close();
  }
}

async function lakeIds(lake: string): Promise<{ rows: number; distinctKeys: number; ids: string[]; seqs: Map<string, Set<number>> }> {
  const { files } = await new Lake(lake).files();
  if (!files.length) return { rows: 0, distinctKeys: 0, ids: [], seqs: new Map() };
  return withDuckDB({}, async (conn) => {
    const all = (await conn.runAndReadAll(`select sign_in_id, record_key, eh_partition, eh_sequence_number from ${readLakeSql(files)}`)).getRowObjects();
    const seqs = new Map<string, Set<number>>();
    for (const r of all) {
      const p = String(r.eh_partition);
      if (!seqs.has(p)) seqs.set(p, new Set());
      seqs.get(p)!.add(Number(r.eh_sequence_number));
    }
    return { rows: all.length, distinctKeys: new Set(all.map((r) => String(r.record_key))).size, ids: all.map((r) => String(r.sign_in_id)), seqs };
  });
}

const consumeArgs = (lake: string, container: string, hub: string, extra: string[] = []) => [
  'consume', '--lake', lake, '--json', '--event-hub', hub, '--checkpoint-container', container,
  '--roll-seconds', '0.3', '--roll-mb', '0.02', '--max-batch', '25', '--workers', '1', '--status-seconds', '0.5',
  '--balance-interval-seconds', '0.5', '--ownership-expiry-seconds', '3', ...extra,
];

test('SIGKILL at random moments while a stream is replayed: after restarts, 0 lost, 0 duplicates, no checkpoint ahead of the lake', async () => {
  const SEED = 20261129;
  let seed = SEED;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const lake = tmp.sub('crash-lake');
  const container = 'crash-ckpt';
  const env = { ...svc.env, REAUTH_EVENTHUB_CONNECTION_STRING: svc.hub.connectionString('crash') };
  const sent = bodies('crash', 1200);
  const publishing = send('crash', sent.bodies, 40, 150); // about 4.5 s of stream
  const ckpt = { eventHubName: 'crash', consumerGroup: '$Default' };
  await svc.container(container).createIfNotExists();

  // Checkpoints are watched from outside the whole time: they must never go back.
  const highest = new Map<string, number>();
  const backwards: string[] = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      for (const [p, c] of await checkpointsOf(container, ckpt)) {
        if (c < (highest.get(p) ?? -1)) backwards.push(`partition ${p}: ${highest.get(p)} -> ${c}`);
        highest.set(p, Math.max(c, highest.get(p) ?? -1));
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const kills: number[] = [];
  for (let k = 0; k < 8; k++) {
    // The same owner id after a restart, as a restarted service has: it takes its partitions back at once.
    const child = spawnCli(consumeArgs(lake, container, 'crash', ['--owner-id', 'crash-consumer']), env);
    await child.waitFor((e) => e.event === 'started');
    const wait = 300 + Math.floor(rand() * 1500);
    await new Promise((r) => setTimeout(r, wait));
    child.proc.kill('SIGKILL');
    await child.exited;
    kills.push(wait);
    // Nothing is in flight now: every event at or below each checkpoint must be in the lake.
    const { seqs } = await lakeIds(lake);
    for (const [p, c] of await checkpointsOf(container, ckpt)) {
      for (let s = 0; s <= c; s++) if (!seqs.get(p)?.has(s)) throw new Error(`after kill ${k + 1} (seed ${SEED}): partition ${p} checkpointed at ${c} but event ${s} is not in the lake`);
    }
  }
  await publishing;
  const last = spawnCli(consumeArgs(lake, container, 'crash', ['--owner-id', 'crash-consumer', '--stop-when-idle', '1']), env);
  expect(await last.exited).toEqual({ code: 0, signal: null });
  watching = false;
  await watcher;

  const got = await lakeIds(lake);
  expect(backwards).toEqual([]);
  expect(got.rows).toBe(sent.ids.length); // 0 duplicates ...
  expect(got.distinctKeys).toBe(sent.ids.length);
  expect([...got.ids].sort()).toEqual([...sent.ids].sort()); // ... and 0 lost
  const stats = svc.hub.stats().filter((p) => p.hub === 'crash');
  const final = await checkpointsOf(container, ckpt);
  for (const p of stats) expect(final.get(p.partition)).toBe(p.lastSequenceNumber);
  expect(kills).toHaveLength(8);
});

async function checkpointsOf(container: string, scope: { eventHubName: string; consumerGroup: string }): Promise<Map<string, number>> {
  // The namespace part of the blob name is the emulator's host; match on hub and group below it.
  const out = new Map<string, number>();
  for await (const b of svc.container(container).listBlobsFlat({ includeMetadata: true })) {
    const m = b.name.match(/^[^/]+\/([^/]+)\/([^/]+)\/checkpoint\/(.+)$/);
    if (m && m[1] === scope.eventHubName && m[2] === scope.consumerGroup.toLowerCase()) out.set(m[3], Number(b.metadata?.sequencenumber));
  }
  return out;
}

test('two consumers share 4 partitions and one lake; when one is killed the other takes over and nothing is lost', async () => {
  const lake = tmp.sub('shared-lake');
  const container = 'shared-ckpt';
  const env = { ...svc.env, REAUTH_EVENTHUB_CONNECTION_STRING: svc.hub.connectionString('shared') };
  const a = spawnCli(consumeArgs(lake, container, 'shared', ['--owner-id', 'consumer-a']), env);
  const b = spawnCli(consumeArgs(lake, container, 'shared', ['--owner-id', 'consumer-b']), env);
  const c = svc.container(container);
  await c.createIfNotExists();
  const split = await until('both consumers to own 2 partitions each', async () => {
    const o = await owners(c, 'shared');
    const count = (id: string) => [...o.values()].filter((v) => v === id).length;
    return o.size === 4 && count('consumer-a') === 2 && count('consumer-b') === 2 && o;
  });
  expect(split.size).toBe(4);

  const first = bodies('first', 200);
  await send('shared', first.bodies, 50, 0);
  await until('the first 200 bodies to land', async () => (await lakeIds(lake)).rows === first.ids.length);

  a.proc.kill('SIGKILL');
  await a.exited;
  const second = bodies('second', 200);
  await send('shared', second.bodies, 50, 0);
  await until('consumer-b to own all 4 partitions', async () => {
    const o = await owners(c, 'shared');
    return o.size === 4 && [...o.values()].every((v) => v === 'consumer-b');
  });
  const all = [...first.ids, ...second.ids];
  const got = await until('every sign-in to land', async () => {
    const g = await lakeIds(lake);
    return g.rows >= all.length && g;
  });
  expect(got.rows).toBe(all.length);
  expect(got.distinctKeys).toBe(all.length);
  expect([...got.ids].sort()).toEqual([...all].sort());

  b.proc.kill('SIGTERM');
  expect(await b.exited).toEqual({ code: 0, signal: null });
  const final = await checkpointsOf(container, { eventHubName: 'shared', consumerGroup: '$Default' });
  for (const p of svc.hub.stats().filter((x) => x.hub === 'shared')) expect(final.get(p.partition)).toBe(p.lastSequenceNumber);
});
