import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importFiles } from '../../pipeline/lake/ingest';
import { detect } from '../../pipeline/detect/detect';
import { REPO, tempDir } from '../support/tmp';

/**
 * End-to-end golden tests: each data-samples/<case>/input is imported into a fresh lake and detected with
 * default thresholds; the NDJSON must equal test/golden/<case>/{flagged,clusters}.ndjson byte for byte.
 * A missing expected file is written locally (review and commit it) but fails in CI; a mismatch writes
 * <name>-changed.ndjson beside it to diff.
 */
const SAMPLES = join(REPO, 'data-samples');
const cases = readdirSync(SAMPLES, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
const tmp = tempDir();
afterAll(() => tmp.cleanup());

function compare(caseName: string, name: string, rows: Record<string, unknown>[]): void {
  const actual = rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
  const expectedPath = join(REPO, 'test', 'golden', caseName, `${name}.ndjson`);
  if (!existsSync(expectedPath)) {
    if (process.env.CI) throw new Error(`${expectedPath} is missing; run the tests locally to create it, review it, and commit it.`);
    writeFileSync(expectedPath, actual);
    return;
  }
  const expected = readFileSync(expectedPath, 'utf8');
  if (actual !== expected) writeFileSync(expectedPath.replace(/\.ndjson$/, '-changed.ndjson'), actual);
  expect(actual).toBe(expected);
}

test('there are golden cases, including a tenant-wide incident', () => {
  expect(cases).toEqual(expect.arrayContaining(['outlook-ios-loop', 'mfa-fatigue', 'traps-only', 'tenant-incident', 'mixed-shapes']));
});

describe.each(cases)('data-samples/%s', (name) => {
  test('detect and clusters match the golden files', async () => {
    const lake = tmp.sub(name);
    const s = await importFiles([join(SAMPLES, name, 'input')], lake);
    expect(s.quarantined).toBe(0);
    const r = await detect(lake);
    require('node:fs').mkdirSync(join(REPO, 'test', 'golden', name), { recursive: true });
    compare(name, 'flagged', r.flagged.rows);
    compare(name, 'clusters', r.clusters.rows);
    if (name === 'traps-only') expect(r.flagged.rows).toEqual([]);
    if (name === 'tenant-incident') {
      expect(r.clusters.rows).toHaveLength(1);
      const c = r.clusters.rows[0];
      // the straggler kept looping well after the core, and had stopped by the sample's last sign-in
      const members = r.flagged.rows.filter((f) => f.cluster_id === c.cluster_id);
      expect(members.filter((f) => Date.parse(f.end as string) > Date.parse(c.core_end as string) + 600_000).length).toBeGreaterThan(0);
      expect(members.every((f) => f.status === 'stopped')).toBe(true);
      expect(c.users_still_looping).toEqual([]);
    }
  });
});
