import { readFileSync, writeFileSync } from 'node:fs';
import { detect } from '../../pipeline/detect/detect';
import type { Alert } from '../../pipeline/domain/findings';
import { spawnCli, startServices, type Services } from '../support/services';
import { tempDir } from '../support/tmp';

/**
 * One truth, live and batch: a simulated day replayed into the local hub at 2,880x real time (a day in 30 s),
 * over 4 partitions, `consume --sinks` alerting as it lands; then `detect` on the same lake (which reads the
 * id registry the consumer's rounds wrote), and `loops` and `clusters` (which read what detect stored). The alert feed must name exactly
 * the loops and clusters detect finds, by the same ids, with versions that only grow, every stopped one
 * closed with its final figures, and nothing after a `closed`.
 */
const tmp = tempDir();
let svc: Services;

beforeAll(async () => {
  svc = await startServices({ partitions: 4 });
});
afterAll(async () => {
  await svc?.stop();
  tmp.cleanup();
});

test('the alert feed of a replayed day equals detect on the same lake', async () => {
  const day = tmp.sub('day.ndjson');
  const sim = spawnCli(['simulate', '--users', '200', '--seed', '5', '--incident-users', '14', '--loops', '6', '--paused-loops', '2', '--revoked-loops', '2', '--out', day], {});
  expect((await sim.exited).code).toBe(0);

  const lake = tmp.sub('lake');
  const file = tmp.sub('alerts.ndjson');
  const sinksFile = tmp.sub('sinks.json');
  writeFileSync(sinksFile, JSON.stringify({ sinks: [{ name: 'archive', type: 'file', path: file }] }));
  const consume = spawnCli(['consume', '--lake', lake, '--sinks', sinksFile, '--json', '--checkpoint-container', 'live-batch', '--detect-seconds', '1', '--stop-when-idle', '8', '--balance-interval-seconds', '1'], svc.env);
  await consume.waitFor((e) => e.event === 'started');
  const publish = spawnCli(['publish', day, '--speed', '2880'], svc.env);
  expect((await publish.exited).code).toBe(0);
  expect((await consume.exited).code).toBe(0);

  const batch = await detect(lake);
  const alerts = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Alert);
  const loops = new Map(batch.flagged.rows.map((f) => [f.loop_id as string, f]));
  const clusters = new Map(batch.clusters.rows.map((c) => [c.cluster_id as string, c]));
  expect(loops.size).toBeGreaterThan(8);
  // the workbench (reading the findings store detect just left) names the same loops and clusters
  const workbench = async (cmd: string) => {
    const c = spawnCli([cmd, '--lake', lake, '--format', 'json'], {});
    expect((await c.exited).code).toBe(0);
    return (JSON.parse(c.lines.join('\n')) as Record<string, unknown>[]).map((r) => r[cmd === 'loops' ? 'loop_id' : 'cluster_id'] as string).sort();
  };
  expect(await workbench('loops')).toEqual([...loops.keys()].sort());
  expect(await workbench('clusters')).toEqual([...clusters.keys()].sort());
  expect(clusters.size).toBe(1);

  const bySubject = new Map<string, Alert[]>();
  for (const a of alerts) bySubject.set(a.subject_id, [...(bySubject.get(a.subject_id) ?? []), a]);
  const subjects = (kind: 'loop' | 'cluster') => [...bySubject.keys()].filter((k) => bySubject.get(k)![0].kind === kind).sort();
  // the same ids, both ways: every subject is a finding of detect, or one that merged into it (an alias),
  // whose last alert says so
  const mergedInto = new Map<string, string>();
  for (const f of [...batch.flagged.rows, ...batch.clusters.rows]) for (const a of f.aliases as string[]) mergedInto.set(a, (f.loop_id ?? f.cluster_id) as string);
  expect(subjects('loop').filter((s) => !mergedInto.has(s))).toEqual([...loops.keys()].sort());
  expect(subjects('cluster').filter((s) => !mergedInto.has(s))).toEqual([...clusters.keys()].sort());
  for (const [alias, into] of mergedInto) {
    const last = bySubject.get(alias)?.at(-1);
    if (last) expect({ alias, action: last.action, into: last.merged_into }).toEqual({ alias, action: 'closed', into });
  }

  // alerted while the day streamed in, not all at the end
  expect(new Set(alerts.map((a) => a.emitted_at)).size).toBeGreaterThanOrEqual(3);
  for (const [id, seq] of bySubject) {
    expect({ id, first: seq[0].action, v: seq[0].version }).toEqual({ id, first: 'opened', v: 1 });
    // versions only grow; nothing follows a closed
    for (let i = 1; i < seq.length; i++) expect(seq[i].version).toBeGreaterThan(seq[i - 1].version);
    const closedAt = seq.findIndex((a) => a.action === 'closed');
    if (closedAt >= 0) expect({ id, after: seq.length - 1 - closedAt }).toEqual({ id, after: 0 });
  }
  // every loop detect says has stopped is closed, with detect's final figures
  for (const [id, f] of loops) {
    const last = bySubject.get(id)!.at(-1)!;
    if (f.status === 'looping') continue;
    expect({ id, action: last.action }).toEqual({ id, action: 'closed' });
    expect({ id, start: last.loop!.start, end: last.loop!.end, prompts: last.loop!.prompt_count, status: last.loop!.status }).toEqual({ id, start: f.start, end: f.end, prompts: f.prompt_count, status: f.status });
  }
  for (const [id, c] of clusters) {
    const last = bySubject.get(id)!.at(-1)!;
    expect({ id, users: last.cluster!.user_count, loops: [...last.cluster!.loop_ids].sort() }).toEqual({ id, users: c.user_count, loops: [...(c.loop_ids as string[])].sort() });
  }
}, 240_000);
