import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fsp, statSync } from 'node:fs';
import { join } from 'node:path';
import { Outbox, type OutboxEntry, type OutboxLimits } from '../../pipeline/sink/outbox';
import type { Alert } from '../../pipeline/domain/findings';
import { REPO, tempDir } from '../support/tmp';

/**
 * The sink outbox on real files (reliability.md §1.6, R11/R12): order, dedupe, bounds and drop counting,
 * rejection, the lock, and crash safety under real SIGKILLs of a child process using the built dist/.
 */
const tmp = tempDir('outbox-');
afterAll(() => {
  if (!process.env.KEEP_TMP) tmp.cleanup(); else console.log(tmp.path);
});

const BIG: OutboxLimits = { maxAlerts: 1_000_000, maxBytes: 1e9, full: 'drop-oldest' };
const DIST = join(REPO, 'dist', 'pipeline', 'sink', 'outbox.js');
let dirs = 0;
const newDir = () => tmp.sub(`ob-${++dirs}`);
const quiet = { onWarn: () => undefined };

function alert(i: number, pad = 0): Alert {
  return {
    schema: 'reauth-loops.alert/1',
    event_id: `loop-${i}.v1`,
    kind: 'test',
    subject_id: `loop-${i}`,
    version: 1,
    action: 'opened',
    severity: 'high',
    title: `Reauthentication loop ${i}${'x'.repeat(pad)}`,
    reason: 'test',
    emitted_at: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    first_emitted_at: new Date(Date.UTC(2026, 0, 1)).toISOString(),
    tenant_id: null,
  };
}
const range = (from: number, n: number) => Array.from({ length: n }, (_, k) => from + k);
const ids = (entries: OutboxEntry[]) => entries.map((e) => e.eventId);
const idsOf = (ns: number[]) => ns.map((i) => `loop-${i}.v1`);

/** Every pending entry, oldest first. */
const all = (ob: Outbox) => ob.peek(Infinity);

/** The built module for child processes; `npm test` builds dist/ first, a bare `npx jest` may not have. */
beforeAll(() => {
  const src = join(REPO, 'pipeline', 'sink', 'outbox.ts');
  if (!existsSync(DIST) || statSync(DIST).mtimeMs < statSync(src).mtimeMs) execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: REPO, stdio: 'inherit' });
}, 120_000);

/** A child script in the temp dir, run with node and the given args; stdout collected by line. */
async function child(name: string, body: string, args: string[]): Promise<{ proc: ChildProcess; lines: string[]; exited: Promise<void>; next: (re: RegExp) => Promise<string> }> {
  const path = tmp.sub(`${name}.js`);
  await fsp.writeFile(path, `const { Outbox } = require(${JSON.stringify(DIST)});\n${body}`);
  const proc = spawn(process.execPath, [path, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let waiting: (() => void) | null = null;
  let rest = '';
  proc.stdout!.on('data', (d: Buffer) => {
    const parts = (rest + d.toString()).split('\n');
    rest = parts.pop()!;
    lines.push(...parts);
    waiting?.();
  });
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  const next = async (re: RegExp): Promise<string> => {
    for (;;) {
      const hit = lines.find((l) => re.test(l));
      if (hit) return hit;
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`child ${name} exited before printing ${re}`);
      await new Promise<void>((r) => {
        waiting = r;
        setTimeout(r, 200);
      });
    }
  };
  return { proc, lines, exited, next };
}

test('append, peek and ack keep order; reopen keeps pending entries, counters and acks', async () => {
  const dir = newDir();
  const ob = await Outbox.open(dir, BIG);
  expect(await ob.append(range(0, 5).map((i) => alert(i)))).toEqual({ added: 5, skipped: 0, dropped: 0 });
  expect(ids(ob.peek(3))).toEqual(idsOf([0, 1, 2]));
  expect(ob.peek(10, 1).length).toBe(1); // at least one, whatever the byte budget
  await ob.ack(ob.peek(2));
  expect(ids(all(ob))).toEqual(idsOf([2, 3, 4]));
  expect(ob.depth()).toMatchObject({ alerts: 3, oldest: alert(2).emitted_at });
  await ob.close();

  const again = await Outbox.open(dir, BIG);
  expect(ids(all(again))).toEqual(idsOf([2, 3, 4]));
  expect(again.depth().bytes).toBe(range(2, 3).reduce((n, i) => n + Buffer.byteLength(JSON.stringify(alert(i))), 0));
  expect(again.counters()).toEqual({ appended: 5, acked: 2, dropped: 0, rejected: 0, skipped: 0 });
  // Out of order, then the rest: every ack lands once, a repeated ack is a no-op.
  const [a, b, c] = all(again);
  await again.ack([c]);
  await again.ack([c, a]);
  expect(ids(all(again))).toEqual(idsOf([3]));
  await again.append([alert(5)]);
  await again.close();

  const third = await Outbox.open(dir, BIG);
  expect(ids(all(third))).toEqual(idsOf([3, 5]));
  await third.ack([b]);
  expect(third.counters()).toEqual({ appended: 6, acked: 5, dropped: 0, rejected: 0, skipped: 0 });
  await third.close();
});

test('re-appended event_ids are skipped, also after a reopen', async () => {
  const dir = newDir();
  const ob = await Outbox.open(dir, BIG);
  await ob.append([alert(1), alert(2)]);
  expect(await ob.append([alert(2), alert(3), alert(3)])).toEqual({ added: 1, skipped: 2, dropped: 0 });
  await ob.ack(ob.peek(1)); // loop-1 acked: remembered, not re-sent
  expect(await ob.append([alert(1)])).toEqual({ added: 0, skipped: 1, dropped: 0 });
  await ob.close();

  const again = await Outbox.open(dir, BIG);
  expect(await again.append([alert(1), alert(2), alert(3), alert(4)])).toEqual({ added: 1, skipped: 3, dropped: 0 });
  expect(ids(all(again))).toEqual(idsOf([2, 3, 4]));
  expect(again.counters()).toMatchObject({ appended: 4, acked: 1, skipped: 6 });
  await again.close();
});

describe.each(['drop-oldest', 'drop-newest'] as const)('bounded by maxAlerts, %s', (full) => {
  test('10,000 alerts into 1,000: never above the cap after any append, every drop counted and reported', async () => {
    const dir = newDir();
    const reported: string[] = [];
    const ob = await Outbox.open(dir, { maxAlerts: 1000, maxBytes: 1e9, full }, { onDrop: (d) => reported.push(...ids(d)) });
    let peak = 0;
    // Calls of 1 to 19 alerts (1,000 calls, each two fsyncs): single drops and drops inside one call.
    for (let i = 0, n = 1; i < 10_000; i += n, n = (n % 19) + 1) {
      await ob.append(range(i, Math.min(n, 10_000 - i)).map((k) => alert(k)));
      peak = Math.max(peak, ob.depth().alerts);
    }
    expect(peak).toBe(1000);
    const kept = full === 'drop-oldest' ? range(9000, 1000) : range(0, 1000);
    const lost = full === 'drop-oldest' ? range(0, 9000) : range(1000, 9000);
    expect(ids(all(ob))).toEqual(idsOf(kept));
    expect(reported).toEqual(idsOf(lost));
    expect(ob.counters()).toEqual({ appended: 10_000, acked: 0, dropped: 9000, rejected: 0, skipped: 0 });
    await ob.close();
    const again = await Outbox.open(dir, { maxAlerts: 1000, maxBytes: 1e9, full });
    expect(ids(all(again))).toEqual(idsOf(kept));
    expect(again.counters().dropped).toBe(9000);
    // Dropped ids are remembered too: a redo does not bring them back.
    expect(await again.append([alert(lost[lost.length - 1])])).toMatchObject({ added: 0, skipped: 1 });
    await again.close();
  });
});

test('bounded by maxBytes; a batch bigger than the cap; an alert bigger than the cap alone', async () => {
  const size = Buffer.byteLength(JSON.stringify(alert(100)));
  const maxBytes = size * 50 + 10;
  const reported: OutboxEntry[] = [];
  const ob = await Outbox.open(newDir(), { maxAlerts: 1_000_000, maxBytes, full: 'drop-oldest' }, { onDrop: (d) => reported.push(...d) });
  for (let i = 100; i < 400; i++) {
    await ob.append([alert(i)]);
    expect(ob.depth().bytes).toBeLessThanOrEqual(maxBytes);
  }
  expect(ids(all(ob))).toEqual(idsOf(range(350, 50)));
  // One call bigger than the whole outbox keeps its newest 50.
  expect(await ob.append(range(400, 120).map((i) => alert(i)))).toEqual({ added: 50, skipped: 0, dropped: 120 });
  expect(ids(all(ob))).toEqual(idsOf(range(470, 50)));
  expect(await ob.append([alert(999, maxBytes)])).toEqual({ added: 0, skipped: 0, dropped: 1 });
  expect(ids(all(ob))).toEqual(idsOf(range(470, 50)));
  expect(reported.length).toBe(250 + 120 + 1);
  expect(ob.counters()).toEqual({ appended: 421, acked: 0, dropped: 371, rejected: 0, skipped: 0 });
  await ob.close();
});

test('an in-flight entry dropped by drop-oldest: its later ack is a no-op, counted once', async () => {
  const ob = await Outbox.open(newDir(), { maxAlerts: 2, maxBytes: 1e9, full: 'drop-oldest' });
  await ob.append([alert(1), alert(2)]);
  const inFlight = ob.peek(2);
  await ob.append([alert(3)]);
  await ob.ack(inFlight);
  expect(ids(all(ob))).toEqual(idsOf([3]));
  expect(ob.counters()).toEqual({ appended: 3, acked: 1, dropped: 1, rejected: 0, skipped: 0 });
  await ob.close();
});

test('reject sets entries aside in rejected.ndjson with the reason', async () => {
  const dir = newDir();
  const ob = await Outbox.open(dir, BIG);
  await ob.append([alert(1), alert(2), alert(3)]);
  await ob.reject([ob.peek(2)[1]], 'HTTP 400: field too long');
  expect(ids(all(ob))).toEqual(idsOf([1, 3]));
  expect(ob.counters()).toMatchObject({ rejected: 1, dropped: 0 });
  await ob.close();
  const lines = (await fsp.readFile(join(dir, 'rejected.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  expect(lines).toEqual([expect.objectContaining({ reason: 'HTTP 400: field too long', alert: alert(2) })]);
  const status = await Outbox.inspect(dir);
  expect(status).toMatchObject({ alerts: 2, counters: { appended: 3, rejected: 1 } });
  expect(status.rejectedTail).toHaveLength(1);
});

test('a torn segment line and a torn journal line are cut off on open, reported, and appends go on', async () => {
  const dir = newDir();
  const ob = await Outbox.open(dir, BIG);
  await ob.append([alert(1), alert(2)]);
  await ob.ack(ob.peek(1));
  await ob.close();
  const seg = (await fsp.readdir(dir)).find((n) => n.startsWith('seg-'))!;
  const journal = (await fsp.readdir(dir)).find((n) => n.startsWith('journal-'))!;
  const half = `{"seq":3,"alert":${JSON.stringify(alert(3))}}`.slice(0, 40);
  await fsp.appendFile(join(dir, seg), half);
  await fsp.appendFile(join(dir, journal), '{"op":"ack","seqs":[2],"id');

  const warnings: string[] = [];
  const again = await Outbox.open(dir, BIG, { onWarn: (m) => warnings.push(m) });
  expect(warnings).toEqual([expect.stringContaining(`cut off ${half.length} bytes`), expect.stringContaining('torn journal line')]);
  expect(ids(all(again))).toEqual(idsOf([2]));
  await again.append([alert(3)]);
  await again.close();
  const third = await Outbox.open(dir, BIG, { onWarn: (m) => warnings.push(m) });
  expect(ids(all(third))).toEqual(idsOf([2, 3]));
  expect(warnings).toHaveLength(2);
  await third.close();
});

test('segments roll and are deleted once finished; close folds the journal into state.json', async () => {
  const dir = newDir();
  const ob = await Outbox.open(dir, BIG);
  // ~3 KB alerts: appends of 1,200 (~4 MB) until the 8 MB roll; every ack writes journal ids.
  const segs = async () => (await fsp.readdir(dir)).filter((n) => n.startsWith('seg-'));
  let total = 0;
  for (; (await segs()).length < 2; total += 1200) await ob.append(range(total, 1200).map((i) => alert(i, 3000)));
  while (ob.depth().alerts > 10) await ob.ack(ob.peek(7));
  expect(await segs()).toHaveLength(1);
  const before = ids(all(ob));
  await ob.close();
  // close folds the journal (as 1 MB of journal does): a checkpoint and one empty journal.
  const journals = (await fsp.readdir(dir)).filter((n) => n.startsWith('journal-'));
  expect(journals).toEqual(['journal-1.ndjson']);
  expect((await fsp.stat(join(dir, journals[0]))).size).toBe(0);
  expect(JSON.parse(await fsp.readFile(join(dir, 'state.json'), 'utf8'))).toMatchObject({ journal: 1, lastSeq: total });
  const again = await Outbox.open(dir, BIG);
  expect(ids(all(again))).toEqual(before);
  expect(again.counters()).toMatchObject({ appended: total, acked: total - before.length });
  await again.close();
});

test('whenNonEmpty resolves on append, and on close', async () => {
  const ob = await Outbox.open(newDir(), BIG);
  let woke = false;
  const waiting = ob.whenNonEmpty().then(() => (woke = true));
  await new Promise((r) => setTimeout(r, 20));
  expect(woke).toBe(false);
  await ob.append([alert(1)]);
  await waiting;
  await ob.ack(ob.peek(1));
  const onClose = ob.whenNonEmpty();
  await ob.close();
  await onClose;
});

test('one process per outbox: a live holder is named, inspect still reads, a dead holder is taken over', async () => {
  const dir = newDir();
  const seed = await Outbox.open(dir, BIG);
  await seed.append([alert(1), alert(2)]);
  await expect(Outbox.open(dir, BIG)).rejects.toThrow(`another reauth-loops process (pid ${process.pid})`); // same process too
  await seed.close();

  const holder = await child('holder', `
    Outbox.open(process.argv[2], { maxAlerts: 100, maxBytes: 1e9, full: 'drop-oldest' }).then(async (ob) => {
      await ob.ack(ob.peek(1));
      console.log('ready');
      setInterval(() => undefined, 1000);
    });`, [dir]);
  await holder.next(/^ready$/);
  await expect(Outbox.open(dir, BIG)).rejects.toThrow(
    `another reauth-loops process (pid ${holder.proc.pid}) is delivering to this sink (${dir}); stop it or use another outbox dir`,
  );
  expect(await Outbox.inspect(dir)).toMatchObject({ alerts: 1, oldest: alert(2).emitted_at, counters: { appended: 2, acked: 1 } });
  holder.proc.kill('SIGKILL');
  await holder.exited;
  const taken = await Outbox.open(dir, BIG);
  expect(ids(all(taken))).toEqual(idsOf([2]));
  await taken.close();

  // A lock file naming a pid that no longer runs.
  const gone = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim();
  await fsp.writeFile(join(dir, 'lock'), gone);
  await (await Outbox.open(dir, BIG)).close();
});

test('crash safety: SIGKILL at random moments loses no resolved append and resends no resolved ack', async () => {
  const dir = newDir();
  const body = `
    const [dir, start] = [process.argv[2], Number(process.argv[3])];
    const out = (s) => process.stdout.write(s + '\\n');
    const alert = (i) => ({ schema: 'reauth-loops.alert/1', event_id: 'loop-' + i + '.v1', kind: 'test', subject_id: 'loop-' + i,
      version: 1, action: 'opened', severity: 'high', title: 'x'.repeat(i % 700), reason: 'r', emitted_at: new Date(i).toISOString(),
      first_emitted_at: new Date(0).toISOString(), tenant_id: null });
    (async () => {
      const ob = await Outbox.open(dir, { maxAlerts: 1e6, maxBytes: 1e9, full: 'drop-oldest' }, { onWarn: () => undefined });
      out('open');
      for (let i = start; ; ) {
        const batch = [];
        for (let n = 1 + (i % 4); n > 0; n--) batch.push(alert(i++));
        const names = batch.map((a) => a.event_id).join(',');
        out('appending ' + names);
        await ob.append(batch);
        out('appended ' + names);
        // Mostly in order; every third round acks one out of order.
        const peeked = ob.peek(3);
        const some = i % 3 ? peeked : peeked.slice(-1);
        out('acking ' + some.map((e) => e.eventId).join(','));
        await ob.ack(some);
        out('acked ' + some.map((e) => e.eventId).join(','));
      }
    })();`;
  const appended = new Set<string>();
  const acked = new Set<string>();
  const order = (id: string) => Number(id.split('-')[1].split('.')[0]);
  let rng = 42;
  const random = () => ((rng = (rng * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let run = 0; run < 8; run++) {
    const c = await child(`crash-${run}`, body, [dir, String(run * 1_000_000)]);
    await c.next(/^open$/);
    await new Promise((r) => setTimeout(r, 150 + random() * 300));
    c.proc.kill('SIGKILL');
    await c.exited;
    let lastAppend: string[] = [];
    let lastAck: string[] = [];
    for (const line of c.lines) {
      const [what, list = ''] = line.split(' ');
      const names = list.split(',').filter(Boolean);
      if (what === 'appending') lastAppend = names;
      if (what === 'appended') names.forEach((n) => appended.add(n)), (lastAppend = []);
      if (what === 'acking') lastAck = names;
      if (what === 'acked') names.forEach((n) => acked.add(n)), (lastAck = []);
    }
    expect(c.lines.filter((l) => l.startsWith('acked')).length).toBeGreaterThan(3);

    const ob = await Outbox.open(dir, BIG, quiet);
    const pending = ids(all(ob));
    const pendingSet = new Set(pending);
    // The ack the kill interrupted may or may not have landed; whatever it did land never comes back.
    const lost = [...appended].filter((n) => !acked.has(n) && !pendingSet.has(n) && !lastAck.includes(n));
    expect(lost).toEqual([]);
    lastAck.filter((n) => !pendingSet.has(n)).forEach((n) => acked.add(n));
    expect(pending.filter((n) => acked.has(n))).toEqual([]);
    // Anything pending that no resolved append covers is from the append the kill interrupted.
    expect(pending.filter((n) => !appended.has(n) && !lastAppend.includes(n))).toEqual([]);
    expect(pending.map(order)).toEqual([...pending.map(order)].sort((a, b) => a - b));
    const k = ob.counters();
    expect(k.appended).toBe(pending.length + k.acked + k.dropped + k.rejected);
    // The interrupted append's redo lands once.
    await ob.append(lastAppend.map((n) => alert(order(n))));
    expect(new Set(ids(all(ob))).size).toBe(ob.depth().alerts);
    for (const n of lastAppend) appended.add(n);
    await ob.close();
  }
  expect(acked.size).toBeGreaterThan(50);
});
