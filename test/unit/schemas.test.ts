import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { signInSchema } from '../../pipeline/schemas/signInSchema';
import { importFiles } from '../../pipeline/lake/ingest';
import { ehRecord } from '../support/records';
import { schemaErrors } from '../support/schemas';
import { lakeRows, PUBLIC_SAMPLES, REPO, tempDir } from '../support/tmp';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

test('schemas/sign-in.schema.json is generated from pipeline/normalize/columns.ts (run: node dist/pipeline/schemas/signInSchema.js > schemas/sign-in.schema.json)', () => {
  expect(JSON.parse(readFileSync(join(REPO, 'schemas', 'sign-in.schema.json'), 'utf8'))).toEqual(signInSchema());
});

test('every schema is valid JSON Schema 2020-12 with a title', () => {
  for (const f of readdirSync(join(REPO, 'schemas')).filter((x) => x.endsWith('.schema.json'))) {
    const s = JSON.parse(readFileSync(join(REPO, 'schemas', f), 'utf8'));
    expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(typeof s.title).toBe('string');
    expect(() => schemaErrors(f, {})).not.toThrow();
  }
});

test('real lake rows, quarantine entries and import summaries match their schemas', async () => {
  const elastic = join(PUBLIC_SAMPLES, 'elastic-integrations');
  const bad = tmp.sub('bad.ndjson');
  writeFileSync(bad, `{"records": 5}\nnot json\n${JSON.stringify(ehRecord({ at: 1 }))}\n`);
  const s = await importFiles([...readdirSync(elastic).filter((f) => f.endsWith('.log')).map((f) => join(elastic, f)), bad], tmp.sub('lake'));
  expect(schemaErrors('import-summary.schema.json', s)).toEqual([]);
  const rows = await lakeRows(tmp.sub('lake'));
  expect(rows).toHaveLength(46);
  for (const r of rows) expect(schemaErrors('sign-in.schema.json', { ...r, date: String(r.date) })).toEqual([]);
  const q = readFileSync(s.quarantine_file!, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(q).toHaveLength(2);
  for (const e of q) expect(schemaErrors('quarantine-record.schema.json', e)).toEqual([]);
});

test('input samples match the input schema', () => {
  const elastic = join(PUBLIC_SAMPLES, 'elastic-integrations');
  for (const f of readdirSync(elastic).filter((x) => x.endsWith('.log'))) {
    for (const line of readFileSync(join(elastic, f), 'utf8').split('\n').filter((l) => l.trim())) {
      expect(schemaErrors('sign-in-input.schema.json', JSON.parse(line))).toEqual([]);
    }
  }
  expect(schemaErrors('sign-in-input.schema.json', { records: [ehRecord({ at: 0 })] })).toEqual([]);
});
