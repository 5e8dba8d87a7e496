import { copyFileSync, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importFiles } from '../../pipeline/lake/ingest';
import { Lake } from '../../pipeline/lake/lake';
import { compactLake, minorCompaction, partitionKeyOf } from '../../pipeline/lake/compact';
import { detect } from '../../pipeline/detect/detect';
import { REPO, lakeRows, tempDir } from '../support/tmp';
import { lines, mfaFlow } from '../support/records';

/** Compaction: an hour's small files become one, same rows, same findings, and readers never see both. */
const tmp = tempDir();
afterAll(() => tmp.cleanup());
const CASE = join(REPO, 'data-samples', 'tenant-incident', 'input');

const keys = async (lake: string) => (await lakeRows(lake)).map((r) => String(r.record_key)).sort();
const filesPerHour = async (lake: string) => {
  const per = new Map<string, number>();
  for (const f of (await new Lake(lake).files()).files) {
    const hour = f.split('/sign_ins/')[1].split('/').slice(0, 2).join('/');
    per.set(hour, (per.get(hour) ?? 0) + 1);
  }
  return per;
};

test('many small files per hour become one per hour, with the same rows and the same findings', async () => {
  const lake = tmp.sub('small');
  await importFiles([CASE], lake, { batchRows: 400 });
  const before = { keys: await keys(lake), found: await detect(lake), per: await filesPerHour(lake) };
  expect(Math.max(...before.per.values())).toBeGreaterThan(3);

  const merged = await compactLake(lake, { settledMinutes: 0 });
  expect(merged.length).toBe([...before.per.values()].filter((n) => n >= 2).length);
  const after = await filesPerHour(lake);
  expect([...after.keys()]).toEqual([...before.per.keys()]);
  expect(Math.max(...after.values())).toBe(1);
  expect(await keys(lake)).toEqual(before.keys);
  const found = await detect(lake);
  expect(found.flagged.rows).toEqual(before.found.flagged.rows);
  expect(found.clusters.rows).toEqual(before.found.clusters.rows);
  expect(readdirSync(join(lake, '_staging'))).toEqual([]);

  // Nothing left to do the second time.
  expect(await compactLake(lake, { settledMinutes: 0 })).toEqual([]);
});

test('hours that have not settled are left alone', async () => {
  const lake = tmp.sub('settling');
  await importFiles([CASE], lake, { batchRows: 400 });
  const per = await filesPerHour(lake);
  // The sample day is 2026-04-14: "now" 30 minutes after its last hour ended leaves that hour alone at 60.
  const merged = await compactLake(lake, { settledMinutes: 60, now: () => new Date('2026-04-15T00:30:00Z') });
  expect(merged.map((m) => m.partition)).not.toContain('2026-04-14/23');
  expect(merged.length).toBeGreaterThan(0);
  const after = await filesPerHour(lake);
  if (per.has('date=2026-04-14/hour=23')) expect(after.get('date=2026-04-14/hour=23')).toBe(per.get('date=2026-04-14/hour=23'));
});

test('a compaction interrupted after its switch is honoured by readers and finished by the next run', async () => {
  const lake = tmp.sub('interrupted');
  await importFiles([CASE], lake, { batchRows: 400 });
  const all = await keys(lake);
  const l = new Lake(lake);
  const dir = [...(await filesPerHour(lake)).entries()].sort((a, b) => b[1] - a[1])[0][0]; // the busiest hour
  const hourDir = join(l.signIns, dir);
  const [first, ...rest] = readdirSync(hourDir).filter((f) => f.endsWith('.parquet')).sort();
  expect(rest.length).toBeGreaterThan(0);
  // A crash between "rename the merged file in" and "delete the replaced ones": here the merged file is a
  // copy of the first, so readers must skip the first (replaced) and read its copy exactly once.
  copyFileSync(join(hourDir, first), join(hourDir, 'compact-crash.parquet'));
  writeFileSync(join(hourDir, '_compact-crash.json'), JSON.stringify({ file: 'compact-crash.parquet', replaces: [first], rows: 0 }));
  // And a manifest whose merged file never arrived (a crash before the switch) means nothing.
  writeFileSync(join(hourDir, '_compact-early.json'), JSON.stringify({ file: 'compact-early.parquet', replaces: rest, rows: 0 }));
  expect(await keys(lake)).toEqual(all);

  await compactLake(lake, { settledMinutes: 0, only: [dir.replace('date=', '').replace('/hour=', '/')] });
  expect(existsSync(join(hourDir, first))).toBe(false);
  expect(readdirSync(hourDir).filter((f) => f.startsWith('_compact-'))).toEqual([]);
  expect(readdirSync(hourDir).filter((f) => f.endsWith('.parquet'))).toHaveLength(1);
  expect(await keys(lake)).toEqual(all);
});

test('a minor compaction merges only the small files of the hours named, the hour still filling included', async () => {
  // Fifteen small files in 2026-04-14 09:00-10:00, as a 5-second consumer writes them.
  const lake = tmp.sub('minor');
  for (let i = 0; i < 15; i++) {
    const f = tmp.sub(`minor-${i}.ndjson`);
    writeFileSync(f, lines(mfaFlow(i * 60, { user: `u${i}` })));
    await importFiles([f], lake);
  }
  const key = '2026-04-14/09';
  expect((await filesPerHour(lake)).get('date=2026-04-14/hour=09')).toBe(15);
  const before = await keys(lake);
  // "now" is inside that hour: a normal compaction leaves the hour alone, a minor one does not.
  const now = () => new Date('2026-04-14T09:30:00Z');
  expect(await compactLake(lake, { settledMinutes: 0, now })).toEqual([]);
  const merged = await compactLake(lake, { ...minorCompaction([key]), now });
  expect(merged).toMatchObject([{ partition: key, files_before: 15 }]);
  expect((await filesPerHour(lake)).get('date=2026-04-14/hour=09')).toBe(1);
  expect(await keys(lake)).toEqual(before);
  // More small files beside the merged one: only they are merged next time; the merged file is not rewritten.
  const first = (await new Lake(lake).files()).files;
  for (let i = 15; i < 27; i++) {
    const f = tmp.sub(`minor-${i}.ndjson`);
    writeFileSync(f, lines(mfaFlow(i * 60, { user: `u${i}` })));
    await importFiles([f], lake);
  }
  // (In a real hour the merged file is megabytes; here the limit sits just under its size.)
  const second = await compactLake(lake, { ...minorCompaction([key]), now, maxFileBytes: statSync(first[0]).size });
  expect(second).toMatchObject([{ partition: key, files_before: 12 }]);
  const files = (await new Lake(lake).files()).files;
  expect(files).toHaveLength(2);
  expect(files).toContain(first[0]);
  expect(partitionKeyOf(files[0])).toBe(key);
});
