import { readFileSync, writeFileSync } from 'node:fs';
import { importFiles } from '../../pipeline/lake/ingest';
import { LoopWatcher } from '../../pipeline/detect/watch';
import { AlertTracker } from '../../pipeline/detect/alerts';
import { LiveDetection } from '../../pipeline/detect/live';
import { detect } from '../../pipeline/detect/detect';
import { explainLoop } from '../../pipeline/workbench/explain';
import type { Alert, LoopCluster } from '../../pipeline/domain/findings';
import { sampleLoop } from '../support/alert-samples';
import { BASE, lines, mfaFlow, type Rec } from '../support/records';
import { schemaErrors } from '../support/schemas';
import { tempDir } from '../support/tmp';

/**
 * Continuous detection on a lake that grows: the real import, the real SQL, a real DuckDB. The wall clock
 * is injected so "60 s later" is exact; event time comes from the records.
 */
const tmp = tempDir();
afterAll(() => tmp.cleanup());
let n = 0;

/** `count` MFA flows for one user, `every` seconds apart. */
function loop(count: number, every: number, r: Omit<Rec, 'at' | 'code'> = {}, start = 0): Rec[] {
  return Array.from({ length: count }, (_, i) => mfaFlow(start + i * every, r)).flat();
}

function lakeWith() {
  const lake = tmp.sub(`lake-${++n}`);
  let clock = BASE + 3_600_000;
  return {
    lake,
    state: `${lake}-state`,
    now: () => new Date(clock),
    advance: (secs: number) => (clock += secs * 1000),
    add: async (recs: Rec[]) => {
      const f = tmp.sub(`batch-${++n}.ndjson`);
      writeFileSync(f, lines(recs));
      await importFiles([f], lake);
    },
  };
}

async function watcher(t: ReturnType<typeof lakeWith>) {
  return LoopWatcher.open(t.lake, { stateDir: t.state, now: t.now });
}

test('a loop is opened once, updated as it grows, escalated at once, closed when the data moves past it; every alert valid', async () => {
  const t = lakeWith();
  const all: Alert[] = [];
  await t.add([...loop(3, 30), ...mfaFlow(0, { user: 'bob' })]);
  let w = await watcher(t);
  let r = await w.round();
  all.push(...r.alerts);
  expect(r.alerts).toHaveLength(1);
  const opened = r.alerts[0];
  expect(opened).toMatchObject({ kind: 'loop', action: 'opened', version: 1, severity: 'medium', event_id: `${opened.subject_id}.v1` });
  expect(opened.loop).toMatchObject({ user_principal_name: 'ana@contoso.example', prompt_count: 3 });
  expect(opened.title).toBe('Reauthentication loop: ana@contoso.example, Outlook Mobile on Ios (3 prompts)');

  // Nothing new: nothing sent.
  expect((await w.round()).alerts).toEqual([]);

  // Two more prompts, but within a minute of the last alert: held back, then sent once the minute is up.
  await t.add(loop(2, 30, {}, 90));
  t.advance(20);
  expect((await w.round()).alerts).toEqual([]);
  t.advance(45);
  r = await w.round();
  all.push(...r.alerts);
  expect(r.alerts).toMatchObject([{ action: 'updated', version: 2, subject_id: opened.subject_id, loop: { prompt_count: 5 } }]);

  // Ten prompts make it high severity: sent at once, without waiting for the minute.
  await t.add(loop(5, 30, {}, 150));
  t.advance(1);
  r = await w.round();
  all.push(...r.alerts);
  expect(r.alerts).toMatchObject([{ action: 'updated', version: 3, severity: 'high', loop: { prompt_count: 10 } }]);

  // A restart keeps the state: no alert again.
  w.close();
  w = await watcher(t);
  expect((await w.round()).alerts).toEqual([]);

  // Sign-ins from other users an hour later: the data has moved past ana's loop, which is closed.
  await t.add(mfaFlow(3600, { user: 'cem' }));
  r = await w.round();
  all.push(...r.alerts);
  expect(r.alerts).toMatchObject([{ action: 'closed', version: 4, subject_id: opened.subject_id, title: expect.stringMatching(/^Reauthentication loop ended: /) }]);
  expect(r.open).toEqual({ loops: 0, clusters: 0 });
  w.close();

  for (const a of all) expect(schemaErrors('alert.schema.json', a)).toEqual([]);
  expect(all.map((a) => a.event_id)).toEqual([1, 2, 3, 4].map((v) => `${opened.subject_id}.v${v}`));
});

test('late sign-ins that move a loop\'s start keep its subject; a quiet tenant closes loops by the wall clock', async () => {
  const t = lakeWith();
  await t.add(loop(4, 30, {}, 300));
  const w = await watcher(t);
  const first = await w.round();
  expect(first.alerts).toHaveLength(1);
  const subject = first.alerts[0].subject_id;
  // Two earlier prompts arrive late: the loop now starts earlier, under the id it was first found with.
  await t.add(loop(2, 30, {}, 220));
  t.advance(61);
  const r = await w.round();
  expect(r.alerts).toMatchObject([{ action: 'updated', subject_id: subject, version: 2, loop: { prompt_count: 6 } }]);
  expect(r.alerts[0].loop!.loop_id).toBe(subject);
  expect(r.alerts[0].loop!.start < first.alerts[0].loop!.start).toBe(true);
  // No newer sign-ins at all; 15 minutes pass on the clock.
  t.advance(15 * 60);
  expect((await w.round()).alerts).toMatchObject([{ action: 'closed', subject_id: subject, version: 3 }]);
  w.close();
});

test('a tenant-wide cluster is one cluster alert beside its users\' loop alerts', async () => {
  const t = lakeWith();
  const users = Array.from({ length: 12 }, (_, i) => `user${i}`);
  await t.add(users.flatMap((u, i) => loop(4, 40, { user: u }, i * 5)));
  const w = await watcher(t);
  const r = await w.round();
  const clusters = r.alerts.filter((a) => a.kind === 'cluster');
  expect(clusters).toHaveLength(1);
  expect(clusters[0]).toMatchObject({ action: 'opened', severity: 'high', cluster: { user_count: 12 }, title: expect.stringContaining('12 users') });
  const loops = r.alerts.filter((a) => a.kind === 'loop');
  expect(loops).toHaveLength(12);
  // Members of a tenant-wide cluster are high severity and name the cluster.
  for (const a of loops) expect(a).toMatchObject({ severity: 'high', loop: { cluster_id: clusters[0].subject_id } });
  // Two more users join while it lasts: one update of the cluster (after the minute), none of the others.
  await t.add(['late0', 'late1'].flatMap((u) => loop(4, 40, { user: u }, 100)));
  t.advance(61);
  const grown = await w.round();
  expect(grown.alerts.filter((a) => a.kind === 'cluster')).toMatchObject([{ action: 'updated', version: 2, subject_id: clusters[0].subject_id, cluster: { user_count: 14 } }]);
  expect(grown.alerts.filter((a) => a.kind === 'loop' && a.action === 'opened')).toHaveLength(2);
  // Sign-ins an hour later: every loop and the cluster are closed, once.
  await t.add(mfaFlow(3600, { user: 'cem' }));
  const ended = await w.round();
  expect(ended.alerts.filter((a) => a.action === 'closed').map((a) => a.kind).sort()).toEqual(['cluster', ...Array(14).fill('loop')]);
  expect(ended.open).toEqual({ loops: 0, clusters: 0 });
  w.close();
});

test('a first round on a lake with history alerts only on its recent window', async () => {
  const t = lakeWith();
  // A loop a day before the newest sign-in, and one in the last hour.
  await t.add([...loop(4, 30, { user: 'old' }, -86_400), ...loop(4, 30, { user: 'new' })]);
  const w = await watcher(t);
  const r = await w.round();
  expect(r.alerts.map((a) => a.loop?.user_principal_name)).toEqual(['new@contoso.example']);
  w.close();
});

test('a cluster of loops with no error codes (every prompt succeeded) is alerted, with an empty code list', async () => {
  const t = lakeWith();
  const users = Array.from({ length: 10 }, (_, i) => `ok${i}`);
  // Single-row prompts: each a completed interactive sign-in with password and MFA, no error code at all.
  await t.add(users.flatMap((u, i) => Array.from({ length: 4 }, (_, k) => ({ at: i * 3 + k * 20, user: u, corr: `${u}-${k}` }))));
  const w = await watcher(t);
  const r = await w.round();
  const cluster = r.alerts.find((a) => a.kind === 'cluster');
  expect(cluster?.cluster).toMatchObject({ user_count: 10, error_codes: [] });
  expect(cluster?.reason).toContain('codes none');
  expect(r.alerts.filter((a) => a.kind === 'loop')).toHaveLength(10);
  w.close();
});

test('a round that fails half-way changes nothing: the loops it saw are alerted by the next round', async () => {
  const dir = tmp.sub(`tracker-${++n}`);
  const tracker = await AlertTracker.open(dir, { updateEverySeconds: 60, idleCloseSeconds: 900, lateSeconds: 1800 });
  const loop = sampleLoop(1);
  const broken = { cluster_id: 'cluster-x', start: loop.start, end: loop.end, users_still_looping: null } as unknown as LoopCluster;
  const input = { loops: [loop], clusters: [broken], watermark: loop.end, windowStart: '2026-04-14T07:00:00.000Z' };
  await expect(tracker.round(input, new Date(BASE))).rejects.toThrow();
  expect(tracker.pending).toEqual([]);
  const r = await tracker.round({ ...input, clusters: [] }, new Date(BASE));
  expect(r).toMatchObject([{ action: 'opened', version: 1, subject_id: loop.loop_id }]);
});

test('alerts saved as pending by a process that died before its outboxes took them are sent by the next one, once', async () => {
  const t = lakeWith();
  await t.add(loop(4, 30));
  // The crash: a round saved its alerts as pending, and nothing handed them to a sink.
  const w = await watcher(t);
  const lost = (await w.round()).alerts;
  expect(lost).toHaveLength(1);
  w.close();
  const file = tmp.sub(`alerts-${++n}.ndjson`);
  const live = await LiveDetection.start(t.lake, { sinks: { sinks: [{ name: 'file', type: 'file', path: file }] }, watch: { stateDir: t.state, now: t.now }, log: () => undefined, intervalSeconds: 3600 });
  await live.stop(5000);
  const sent = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Alert);
  expect(sent.map((a) => a.event_id)).toEqual([lost[0].event_id]);
});

test('two loops that late sign-ins join: one alert subject closes merged into the older, and explain resolves the alias', async () => {
  const t = lakeWith();
  await t.add([...loop(4, 30, {}, 0), ...loop(4, 30, {}, 24 * 60)]);
  const w = await watcher(t);
  const first = await w.round();
  const opened = first.alerts.filter((a) => a.action === 'opened').map((a) => a.subject_id);
  expect(opened).toHaveLength(2);
  // the prompts between them arrive late: within pause_secs of both, they make one episode
  await t.add(loop(4, 30, {}, 12 * 60));
  const r = await w.round();
  const [older, younger] = opened;
  expect(r.alerts).toEqual(expect.arrayContaining([
    expect.objectContaining({ subject_id: younger, action: 'closed', merged_into: older }),
  ]));
  w.close();
  const batch = await detect(t.lake);
  expect(batch.flagged.rows).toEqual([expect.objectContaining({ loop_id: older, aliases: [younger], prompt_count: 12 })]);
  const e = await explainLoop(t.lake, younger);
  expect({ asked: e.mergedFrom, loop: e.loop.loop_id }).toEqual({ asked: younger, loop: older });
  for (const a of r.alerts) expect(schemaErrors('alert.schema.json', a)).toEqual([]);
});

test('a loop whose sign-ins land hours late, before the window, is alerted: the hour they land in is judged again', async () => {
  const t = lakeWith();
  // history: ana's loop at 09:00, then bob's at 14:00; the first round's window (120 min) holds only bob's
  await t.add([...loop(4, 30, {}, 0), ...loop(4, 30, { user: 'bob' }, 5 * 3600)]);
  const w = await watcher(t);
  const first = await w.round();
  expect(first.alerts.map((a) => a.loop!.user_principal_name)).toEqual(['bob@contoso.example']);
  // cem's loop at 09:30 lands now, five hours late: the window reaches back to its hour
  await t.add(loop(4, 30, { user: 'cem' }, 1800));
  const late = await w.round();
  // (ana's loop, in the hour judged again and never alerted, is alerted with it)
  expect(late.alerts.map((a) => [a.loop!.user_principal_name, a.action]).sort()).toEqual([
    ['ana@contoso.example', 'closed'], ['ana@contoso.example', 'opened'], ['cem@contoso.example', 'closed'], ['cem@contoso.example', 'opened'],
  ]);
  // nothing new: nothing alerted again
  expect((await w.round()).alerts).toEqual([]);
  w.close();
});

test('a closed loop the window has left stays closed when late sign-ins extend it', async () => {
  const t = lakeWith();
  await t.add(loop(4, 30));
  const w = await watcher(t);
  expect((await w.round()).alerts.map((a) => a.action)).toEqual(['opened']);
  // the data moves five hours on: ana's loop closes, and the window leaves it
  await t.add(mfaFlow(5 * 3600, { user: 'bob' }));
  expect((await w.round()).alerts.map((a) => a.action)).toEqual(['closed']);
  // two more of ana's prompts land late, inside her closed loop's hour: judged again, but closed is final
  await t.add(loop(2, 30, {}, 150));
  expect((await w.round()).alerts).toEqual([]);
  w.close();
});
