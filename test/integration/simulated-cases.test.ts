import { writeFileSync } from 'node:fs';
import { importFiles } from '../../pipeline/lake/ingest';
import { detect } from '../../pipeline/detect/detect';
import { simulate, toShape } from '../../pipeline/simulate/simulate';
import type { TruthEntry } from '../../pipeline/simulate/scenarios';
import { tempDir } from '../support/tmp';

/**
 * The harder cases the simulator plants with their truth (paused, slow, silent and LoopDetected loops,
 * loops stopped by a revocation, a false chain, a multi-part incident), through import and detection:
 * recall, fragmentation (findings per planted loop) and traps. The README quotes the figures this prints.
 */
const sim = simulate({
  users: 400, days: 2, seed: 23, incident: { users: 14 }, loops: 4, denialBursts: 2, failureBursts: 2,
  pausedLoops: 4, slowLoops: 4, silentLoops: 3, loopDetected: 3, revokedLoops: 3, falseChain: true, multiPartIncident: { usersPerPart: 12 },
});
const tmp = tempDir();
afterAll(() => tmp.cleanup());

let flagged: Record<string, unknown>[] = [];
let clusters: Record<string, unknown>[] = [];

beforeAll(async () => {
  const file = tmp.sub('day.ndjson');
  writeFileSync(file, toShape(sim.records, 'eventhub').join('\n') + '\n');
  await importFiles([file], tmp.sub('lake'));
  const r = await detect(tmp.sub('lake'));
  flagged = r.flagged.rows;
  clusters = r.clusters.rows;
}, 300_000);

/** Findings of the truth entry's user and app that overlap its time. */
function matches(t: TruthEntry): Record<string, unknown>[] {
  return flagged.filter((f) => f.user_id === t.user_id && f.app_id === t.app_id && (f.start as string) <= t.end && (f.end as string) >= t.start);
}

describe('simulated hard cases', () => {
  const cases = ['paused', 'slow', 'silent', 'loop_detected', 'revoked', 'chain'] as const;

  test('recall and fragmentation per case: every planted loop is found once, with its kind', () => {
    const figures: Record<string, string> = {};
    for (const c of cases) {
      const planted = sim.truth.filter((t) => t.case === c);
      expect(planted.length).toBeGreaterThan(0);
      const found = planted.filter((t) => matches(t).some((f) => f.kind === t.kind));
      const findings = planted.reduce((n, t) => n + matches(t).length, 0);
      figures[c] = `${found.length}/${planted.length} found, ${(findings / planted.length).toFixed(2)} findings per loop`;
      expect({ c, found: found.length }).toEqual({ c, found: planted.length });
      expect({ c, findings }).toEqual({ c, findings: planted.length });
    }
    // Every planted entry, the older cases included: one finding each and nothing else flagged.
    const all = sim.truth.reduce((n, t) => n + matches(t).length, 0);
    figures.all = `${sim.truth.filter((t) => matches(t).length > 0).length}/${sim.truth.length} found, ${(all / sim.truth.length).toFixed(2)} findings per loop, ${flagged.length} findings in all`;
    console.log(`simulated hard cases (400 users, 2 days, seed 23):\n${Object.entries(figures).map(([k, v]) => `  ${k}: ${v}`).join('\n')}`);
    expect(all).toBe(sim.truth.length);
    expect(flagged).toHaveLength(sim.truth.length);
  });

  test('paused loops are one episode from the first burst to the last, with their pauses', () => {
    for (const t of sim.truth.filter((x) => x.case === 'paused')) {
      const [f] = matches(t);
      expect({ start: f.start, prompts: f.prompt_count }).toEqual({ start: t.start, prompts: t.prompts });
      expect(f.pause_count as number).toBeGreaterThan(0);
    }
  });

  test('LoopDetected loops carry the signal and are high severity', () => {
    for (const t of sim.truth.filter((x) => x.case === 'loop_detected')) {
      const [f] = matches(t);
      expect(f).toMatchObject({ kind: 'silent_loop', severity: 'high' });
      expect(f.loop_signal_count as number).toBeGreaterThan(0);
    }
  });

  test('revoked loops are stopped after revocation; the others have the outcome they were planted with', () => {
    const status = { stopped: 'stopped', stopped_after_revocation: 'stopped_after_revocation', still_looping: 'looping' } as const;
    for (const t of sim.truth.filter((x) => x.outcome)) expect({ user: t.user_id, status: matches(t)[0]?.status }).toEqual({ user: t.user_id, status: status[t.outcome!] });
    expect(sim.truth.filter((t) => t.outcome === 'stopped_after_revocation').length).toBeGreaterThan(0);
  });

  test('the false chain is no incident; the multi-part incident is one incident with three parts', () => {
    const chainUsers = new Set(sim.truth.filter((t) => t.chain).map((t) => t.user_id));
    expect(flagged.filter((f) => chainUsers.has(f.user_id as string) && f.cluster_id !== null)).toEqual([]);
    const multi = sim.truth.filter((t) => t.incident_id === 'multi');
    const ids = new Set(multi.flatMap((t) => matches(t).map((f) => f.cluster_id)));
    expect(ids.size).toBe(1);
    const c = clusters.find((x) => x.cluster_id === [...ids][0])!;
    expect(c.user_count).toBe(multi.length);
    expect((c.parts as unknown[]).length).toBe(3);
    expect(clusters).toHaveLength(2);
  });

  test('no trap user is flagged', () => {
    const users = new Set(flagged.map((f) => f.user_id));
    expect(sim.traps.filter((t) => users.has(t.user_id))).toEqual([]);
  });
});
