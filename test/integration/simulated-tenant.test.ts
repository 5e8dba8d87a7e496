import { writeFileSync } from 'node:fs';
import { importFiles } from '../../pipeline/lake/ingest';
import { detect } from '../../pipeline/detect/detect';
import { simulate, toShape, SHAPES, type Shape } from '../../pipeline/simulate/simulate';
import { tempDir } from '../support/tmp';

/**
 * A simulated tenant with planted loops, bursts, a tenant-wide incident with stragglers, and every trap:
 * detection must find exactly what was planted, and the same sign-ins must give the same findings
 * whichever of the four input shapes they arrive in.
 */
const sim = simulate({ users: 300, days: 1, seed: 11, incident: { users: 14 }, loops: 6, denialBursts: 2, failureBursts: 2 });
const tmp = tempDir();
afterAll(() => tmp.cleanup());

const results = new Map<Shape, Awaited<ReturnType<typeof detect>>>();

beforeAll(async () => {
  for (const shape of SHAPES) {
    const file = tmp.sub(`${shape}.json`);
    writeFileSync(file, toShape(sim.records, shape).join('\n') + '\n');
    const s = await importFiles([file], tmp.sub(`lake-${shape}`));
    expect(s.quarantined).toBe(0);
    results.set(shape, await detect(tmp.sub(`lake-${shape}`)));
  }
}, 300_000);

describe('simulated tenant', () => {
  test('every planted loop and burst is found with its kind, start and prompt count; nothing else is flagged', () => {
    const flagged = results.get('eventhub')!.flagged.rows;
    const key = (u: unknown, a: unknown, k: unknown, s: unknown) => `${u}|${a}|${k}|${s}`;
    const found = new Map(flagged.map((f) => [key(f.user_id, f.app_id, f.kind, f.start), f]));
    const missing = sim.truth.filter((t) => !found.has(key(t.user_id, t.app_id, t.kind, t.start)));
    expect(missing).toEqual([]);
    for (const t of sim.truth) expect(found.get(key(t.user_id, t.app_id, t.kind, t.start))!.prompt_count).toBe(t.prompts);
    expect(flagged).toHaveLength(sim.truth.length);
    expect(new Set(sim.truth.map((t) => t.kind))).toEqual(new Set(['reauth_loop', 'mfa_denial_burst', 'failure_burst']));
  });

  test('no trap user is flagged', () => {
    const flaggedUsers = new Set(results.get('eventhub')!.flagged.rows.map((f) => f.user_id));
    expect(sim.traps.length).toBeGreaterThanOrEqual(7);
    expect(sim.traps.filter((t) => flaggedUsers.has(t.user_id))).toEqual([]);
  });

  test('the incident is one cluster with every incident user; the stragglers looped well past its core and have stopped by the day end', () => {
    const clusters = results.get('eventhub')!.clusters.rows;
    expect(clusters).toHaveLength(1);
    const incident = sim.truth.filter((t) => t.incident);
    expect(clusters[0].user_count).toBe(incident.length);
    const stragglers = incident.filter((t) => t.straggler).map((t) => t.user_principal_name.toLowerCase()).sort();
    expect(stragglers.length).toBeGreaterThan(0);
    const inCluster = results.get('eventhub')!.flagged.rows.filter((f) => f.cluster_id === clusters[0].cluster_id);
    const pastCore = Date.parse(clusters[0].core_end as string) + 600_000;
    expect(inCluster.filter((f) => Date.parse(f.end as string) > pastCore).map((f) => f.user_principal_name).sort()).toEqual(stragglers);
    expect(clusters[0].users_still_looping).toEqual([]);
    expect(inCluster.map((f) => f.user_id).sort()).toEqual(incident.map((t) => t.user_id).sort());
  });

  // Graph signIn items carry no tenant id (signin-logs.md §7), so that one field is compared apart.
  const differences = (a: Record<string, unknown>[], b: Record<string, unknown>[], skip: string[]) => {
    const out: string[] = [];
    if (a.length !== b.length) out.push(`${a.length} rows vs ${b.length}`);
    a.forEach((row, i) => {
      for (const k of Object.keys(row)) if (!skip.includes(k) && JSON.stringify(row[k]) !== JSON.stringify(b[i]?.[k])) out.push(`row ${i} ${k}: ${JSON.stringify(row[k]).slice(0, 80)} vs ${JSON.stringify(b[i]?.[k]).slice(0, 80)}`);
    });
    return out.slice(0, 10);
  };

  test.each(SHAPES.filter((s) => s !== 'eventhub'))('%s input gives identical findings', (shape) => {
    const a = results.get('eventhub')!;
    const b = results.get(shape)!;
    const skip = shape === 'graph' ? ['tenant_id'] : [];
    expect(b.signIns).toBe(a.signIns);
    expect(differences(a.flagged.rows, b.flagged.rows, skip)).toEqual([]);
    expect(differences(a.clusters.rows, b.clusters.rows, skip)).toEqual([]);
    if (shape === 'graph') expect(b.flagged.rows.every((f) => f.tenant_id === null)).toBe(true);
  });
});
