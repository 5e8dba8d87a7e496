import { writeFileSync } from 'node:fs';
import { detect } from '../../pipeline/detect/detect';
import { importFiles } from '../../pipeline/lake/ingest';
import { simulate, toShape } from '../../pipeline/simulate/simulate';
import { tempDir } from '../support/tmp';

/**
 * Updating the findings store equals rebuilding it: a simulated day arrives in batches, in random orders,
 * with late records (a share of each batch held back to a later one), a batch delivered twice, and each
 * update a fresh process's detect; after every batch the updated findings equal `detect --rebuild` on the
 * same lake, ids included.
 */
const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** A small deterministic generator (mulberry32), so a failing order can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The day's records in `n` batches by time, with `late` of each batch's records arriving a batch later. */
function arrivals(records: object[], n: number, late: number, rand: () => number): object[][] {
  const batches: object[][] = Array.from({ length: n }, () => []);
  records.forEach((r, i) => {
    let b = Math.min(n - 1, Math.floor((i / records.length) * n));
    if (b < n - 1 && rand() < late) b += 1;
    batches[b].push(r);
  });
  return batches;
}

const sim = simulate({ users: 150, days: 1, seed: 11, incident: { users: 12 }, loops: 5, pausedLoops: 2, revokedLoops: 2, slowLoops: 1, silentLoops: 1 });

test.each([1, 2, 3])('arrival order %i: every update equals a rebuild', async (seed) => {
  const rand = rng(seed);
  const lake = tmp.sub(`lake-${seed}`);
  const batches = arrivals(sim.records, 5 + 2 * seed, 0.15, rand);
  const modes: string[] = [];
  for (let i = 0; i < batches.length; i++) {
    const file = tmp.sub(`batch-${seed}-${i}.ndjson`);
    writeFileSync(file, toShape(batches[i], 'records').join('\n') + '\n');
    await importFiles([file], lake);
    // one batch is delivered twice: nothing lands, nothing changes
    if (i === 1) await importFiles([file], lake);
    const updated = await detect(lake);
    modes.push(updated.mode);
    const rebuilt = await detect(lake, {}, {}, { rebuild: true });
    expect({ batch: i, flagged: updated.flagged.rows }).toEqual({ batch: i, flagged: rebuilt.flagged.rows });
    expect({ batch: i, clusters: updated.clusters.rows }).toEqual({ batch: i, clusters: rebuilt.clusters.rows });
    // and a rebuild leaves the store as it was: the next run has nothing to do
    expect((await detect(lake)).mode).toBe('current');
  }
  // the first batch is a rebuild (no store yet); later ones update
  // (a batch whose late rows reach back to the day's first hours makes a rebuild: the update would start
  // before the first sign-in)
  expect(modes[0]).toBe('rebuilt');
  expect(modes.filter((m) => m === 'updated').length).toBeGreaterThanOrEqual(3);
}, 240_000);
