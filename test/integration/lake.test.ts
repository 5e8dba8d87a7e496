import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importFiles } from '../../pipeline/lake/ingest';
import { Lake } from '../../pipeline/lake/lake';
import { detect } from '../../pipeline/detect/detect';
import { lines, mfaFlow } from '../support/records';
import { lakeRows, tempDir } from '../support/tmp';

/** The lake's own guarantees: whole files only, one writer, leftovers cleaned, partitions from event time. */
const tmp = tempDir();
afterAll(() => tmp.cleanup());

const input = () => {
  const f = tmp.sub('in.ndjson');
  writeFileSync(f, lines([...mfaFlow(0), ...mfaFlow(30), ...mfaFlow(60)]));
  return f;
};

test('a torn Parquet file is moved to quarantine/torn and queries still work', async () => {
  const lake = tmp.sub('torn');
  await importFiles([input()], lake);
  const dir = new Lake(lake).partitionDir('2026-04-14', 9);
  writeFileSync(join(dir, 'part-crashed.parquet'), 'PAR1 half a file');
  const r = await detect(lake);
  expect(r.torn).toEqual([join(lake, 'quarantine', 'torn', 'date=2026-04-14', 'hour=09', 'part-crashed.parquet')]);
  expect(existsSync(join(dir, 'part-crashed.parquet'))).toBe(false);
  expect(r.flagged.rows).toHaveLength(1);
  expect(r.signIns).toBe(6);
});

test('a second writer is refused while the first lives; a dead writer\'s lock is taken over', async () => {
  const lake = tmp.sub('locked');
  mkdirSync(lake, { recursive: true });
  writeFileSync(join(lake, '_lock'), String(process.ppid)); // a live process that is not us
  await expect(importFiles([input()], lake)).rejects.toThrow(/is being written by process/);
  writeFileSync(join(lake, '_lock'), '999999999'); // no such process
  const s = await importFiles([input()], lake);
  expect(s.landed).toBe(6);
  expect(existsSync(join(lake, '_lock'))).toBe(false);
});

test('leftovers of a crashed import under _staging are removed, never read', async () => {
  const lake = tmp.sub('staging');
  mkdirSync(join(lake, '_staging', 'imp-dead-0', 'out'), { recursive: true });
  writeFileSync(join(lake, '_staging', 'imp-dead-0', 'rows.ndjson'), '{"half":');
  const s = await importFiles([input()], lake);
  expect(s.landed).toBe(6);
  expect(readdirSync(join(lake, '_staging'))).toEqual([]);
});

test('late events land in the partition of their event time, and a batch spanning hours splits', async () => {
  const lake = tmp.sub('hours');
  const f = tmp.sub('hours.ndjson');
  writeFileSync(f, lines([...mfaFlow(0), ...mfaFlow(3600 * 5), ...mfaFlow(-3600 * 30)]));
  await importFiles([f], lake, { batchRows: 2 });
  const parts = (await new Lake(lake).files()).files.map((p) => p.split('/sign_ins/')[1].split('/part-')[0]).sort();
  expect([...new Set(parts)]).toEqual(['date=2026-04-13/hour=03', 'date=2026-04-14/hour=09', 'date=2026-04-14/hour=14']);
  expect((await lakeRows(lake)).length).toBe(6);
});

test('with many small batches landing while the next fills, copies in later batches are still duplicates', async () => {
  const lake = tmp.sub('batches');
  const f = tmp.sub('twice.ndjson');
  const once = lines([...mfaFlow(0), ...mfaFlow(30), ...mfaFlow(60), ...mfaFlow(90)]);
  writeFileSync(f, once + once + once);
  const s = await importFiles([f], lake, { batchRows: 3 });
  expect(s).toMatchObject({ read: 24, landed: 8, duplicates: 16, quarantined: 0 });
  expect((await lakeRows(lake)).length).toBe(8);
  expect(readdirSync(join(lake, '_staging'))).toEqual([]);
});
