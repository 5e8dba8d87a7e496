import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { detect, resultSet } from '../../pipeline/detect/detect';
import { importFiles } from '../../pipeline/lake/ingest';
import { userTimelineResults } from '../../pipeline/report/user';
import { explainLoop } from '../../pipeline/workbench/explain';
import { withDetection, workbenchQuery } from '../../pipeline/workbench/run';
import { schemaErrors } from '../support/schemas';
import { REPO, tempDir } from '../support/tmp';

/**
 * The findings store: `detect` leaves its result in the lake, and the workbench reads it instead of
 * detecting again, with the same rows and ids; new sign-ins or other thresholds make it not answer, and
 * the next command with the default thresholds brings it up to date.
 */
const tmp = tempDir();
afterAll(() => tmp.cleanup());
const samples = join(REPO, 'data-samples');
const input = (name: string) => join(samples, name, 'input');

async function workbench(lake: string, thresholds = {}) {
  return withDetection(lake, thresholds, {}, async (conn, info) => ({
    fromStore: info.fromStore,
    signIns: info.signIns,
    loops: (await resultSet(conn, 'select * from flagged_sessions order by loop_id')).rows,
    columns: (await resultSet(conn, 'select * from flagged_sessions limit 0')).columns,
    clusters: (await workbenchQuery(conn, 'filtered_clusters')).rows,
  }));
}

test('the workbench reads what detect stored, and equals a fresh computation', async () => {
  const lake = tmp.sub('lake');
  await importFiles([input('tenant-incident'), input('outlook-ios-loop')], lake);
  const batch = await detect(lake);
  const manifest = JSON.parse(readFileSync(join(lake, 'findings', 'manifest.json'), 'utf8'));
  expect(manifest).toMatchObject({ format: 1, loops: batch.flagged.rows.length, clusters: 1, sign_ins: batch.signIns });
  expect(existsSync(join(lake, 'findings', manifest.generation, 'flagged_sessions.parquet'))).toBe(true);
  expect(schemaErrors('findings-manifest.schema.json', manifest)).toEqual([]);

  const stored = await workbench(lake);
  expect(stored.fromStore).toBe(true);
  const byId = (rows: Record<string, unknown>[]) => [...rows].sort((a, b) => String(a.loop_id).localeCompare(String(b.loop_id)));
  expect(stored.loops).toEqual(byId(batch.flagged.rows));
  // the same column kinds too (the store's Parquet keeps every type detection gives)
  expect(stored.columns).toEqual(batch.flagged.columns);
  expect(stored.clusters.map((c) => c.cluster_id)).toEqual(batch.clusters.rows.map((c) => c.cluster_id));

  // explain and user from the store equal the same commands computing everything themselves (a what-if
  // with the default value given explicitly does not use the store)
  const loopId = batch.flagged.rows.find((f) => f.cluster_id)!.loop_id as string;
  const upn = batch.flagged.rows.find((f) => f.loop_id === loopId)!.user_principal_name as string;
  const fromStore = await explainLoop(lake, loopId);
  const computed = await explainLoop(lake, loopId, { thresholds: { min_prompts: 3 } });
  expect(fromStore.steps.length).toBeGreaterThan(2);
  expect({ ...fromStore, thresholds: null }).toEqual({ ...computed, thresholds: null });
  expect(await userTimelineResults(lake, upn)).toEqual(await userTimelineResults(lake, upn, { thresholds: { min_prompts: 3 } }));
});

test('new sign-ins or other thresholds: the store does not answer; the next default command stores the new result', async () => {
  const lake = tmp.sub('lake-2');
  await importFiles([input('outlook-ios-loop')], lake);
  await detect(lake);
  expect((await workbench(lake)).fromStore).toBe(true);

  const what = await workbench(lake, { min_prompts: 20 });
  expect(what).toMatchObject({ fromStore: false, loops: [] });
  // a what-if is not recorded: the store still answers for the defaults
  expect((await workbench(lake)).fromStore).toBe(true);

  await importFiles([input('tenant-incident')], lake);
  const after = await workbench(lake);
  expect(after.fromStore).toBe(false);
  expect(after.clusters).toHaveLength(1);
  const again = await workbench(lake);
  expect(again).toEqual({ ...after, fromStore: true });
  // one generation current, the previous kept for readers that had it open, none older
  expect(readdirSync(join(lake, 'findings')).filter((e) => e.startsWith('gen-')).length).toBeLessThanOrEqual(2);
});
