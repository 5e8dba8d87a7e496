import type { DuckDBConnection } from '@duckdb/node-api';
import { runLayer, runLayers } from '../../pipeline/detect/detect';
import { paramRegistry, queryNames, loadQuery } from '../../pipeline/sql/queries';
import type { ParamValues } from '../../pipeline/sql/queries';
import { prompts, rows, signIns, silent, table, withLayers, type Row } from '../support/layers';

/**
 * Given/expect per layer, on tables written by hand (no import): flows -> loops (episodes, slow and silent
 * loops, 50196, status) -> clusters (concurrency, parts). Each case states the definition it pins down.
 */
const MIN = 60;

async function loopsOf(given: Row[], params: ParamValues = {}) {
  return withLayers(async (conn) => {
    await signIns(conn, given);
    await runLayers(conn, params, 'detect/loops');
    return rows(conn, `select kind, status, prompt_count, pause_count, loop_signal_count, epoch(start) - epoch(timestamp '2026-04-14 09:00:00') as start_s, epoch("end") - epoch(timestamp '2026-04-14 09:00:00') as end_s from loops order by start, kind`);
  });
}

describe('queries: each threshold declared once', () => {
  test('every @param has one home file, and every file that uses it resolves it there', () => {
    const reg = paramRegistry();
    for (const name of queryNames()) for (const p of loadQuery(name).params) expect(reg.get(p.name)?.type).toBe(p.type);
    expect(reg.get('loop_gap_secs')?.path).toMatch(/detect[\\/]episodes\.sql$/);
    expect(reg.get('straggler_grace_secs')?.path).toMatch(/detect[\\/]incidents\.sql$/);
    // the report and remediation use the loop's thresholds without declaring them
    expect(loadQuery('report/remediation').declares).toEqual([]);
    expect(loadQuery('report/period_sign_ins').declares).toEqual([]);
  });

  test('the loader refuses a second declaration', () => {
    const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = jest.requireActual<typeof import('node:fs')>('node:fs');
    const { join } = jest.requireActual<typeof import('node:path')>('node:path');
    const { tmpdir } = jest.requireActual<typeof import('node:os')>('node:os');
    const root = mkdtempSync(join(tmpdir(), 'queries-'));
    try {
      mkdirSync(join(root, 'a'));
      writeFileSync(join(root, 'a', 'one.sql'), '-- @param gap INTEGER = 1 : a gap\nselect $gap\n');
      writeFileSync(join(root, 'a', 'two.sql'), '-- @param gap INTEGER = 2 : the same gap again\nselect $gap\n');
      expect(() => paramRegistry(root)).toThrow(/@param gap is already declared in .*one\.sql/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('flows layer', () => {
  test('a prompt needs the user; silent SSO and 50196 do not', async () => {
    const out = await withLayers(async (conn) => {
      await signIns(conn, [...prompts(1, 0), ...silent(1, 0, 100), { at: 200, code: 50196, methods: null }]);
      await runLayer(conn, 'staging/sign_ins');
      await runLayer(conn, 'detect/flows');
      return rows(conn, 'select row_count, final_outcome, needs_user from flows order by start');
    });
    expect(out).toEqual([
      { row_count: 2, final_outcome: 'success', needs_user: true },
      { row_count: 1, final_outcome: 'success', needs_user: false },
      { row_count: 1, final_outcome: 'loop_signal', needs_user: false },
    ]);
  });
});

describe('loops layer: episodes', () => {
  test('three bursts with pauses of 8 and 12 minutes are one episode', async () => {
    const given = [...prompts(5, 30), ...prompts(5, 30, 2 * MIN + 8 * MIN), ...prompts(5, 30, 2 * MIN + 8 * MIN + 2 * MIN + 12 * MIN)];
    const out = await loopsOf(given);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ kind: 'reauth_loop', prompt_count: 15, pause_count: 2, start_s: 0 });
  });

  test('a pause longer than pause_secs starts a new episode', async () => {
    const out = await loopsOf([...prompts(5, 30), ...prompts(5, 30, 2 * MIN + 20 * MIN)]);
    expect(out.map((l) => l.prompt_count)).toEqual([5, 5]);
    expect(out.map((l) => l.pause_count)).toEqual([0, 0]);
  });

  test('a slow loop: a prompt every 3 minutes for an hour is one reauth loop', async () => {
    const out = await loopsOf(prompts(20, 3 * MIN));
    expect(out).toEqual([expect.objectContaining({ kind: 'reauth_loop', prompt_count: 20, pause_count: 0 })]);
  });

  test('prompts 6 minutes apart are what a sign-in frequency policy does: no loop', async () => {
    expect(await loopsOf(prompts(10, 6 * MIN))).toEqual([]);
  });

  test('short runs inside the pauses belong to the episode', async () => {
    // the counting runs are 12 min apart; the lone prompt at 7 min does not count alone, but is inside
    const given = [...prompts(4, 30), ...prompts(1, 0, 7 * MIN), ...prompts(4, 30, 14 * MIN)];
    expect(await loopsOf(given)).toEqual([expect.objectContaining({ prompt_count: 9, pause_count: 2 })]);
  });
});

describe('loops layer: silent loops and LoopDetected', () => {
  test('interactive silent sign-ins seconds apart are a silent loop', async () => {
    const out = await loopsOf(silent(12, 5));
    expect(out).toEqual([expect.objectContaining({ kind: 'silent_loop', prompt_count: 12, loop_signal_count: 0 })]);
  });

  test('four silent sign-ins, or silent sign-ins half a minute apart, are not', async () => {
    expect(await loopsOf(silent(4, 5))).toEqual([]);
    expect(await loopsOf(silent(10, 30))).toEqual([]);
  });

  test('a 50196 on its own is a silent loop, and high severity', async () => {
    const out = await withLayers(async (conn) => {
      await signIns(conn, [...silent(2, 5), { at: 12, code: 50196, methods: null }]);
      await runLayers(conn, {}, 'detect/loops');
      return rows(conn, 'select kind, severity, loop_signal_count from loops');
    });
    expect(out).toEqual([{ kind: 'silent_loop', severity: 'high', loop_signal_count: 1 }]);
  });

  test('a 50196 inside a prompt loop is that loop signal, not a second finding', async () => {
    const out = await loopsOf([...prompts(4, 30), { at: 100, code: 50196, methods: null }]);
    expect(out).toEqual([expect.objectContaining({ kind: 'reauth_loop', loop_signal_count: 1 })]);
  });
});

describe('loops layer: status as of the newest sign-in', () => {
  test('looping while the newest sign-in is within pause_secs of its last prompt; stopped after', async () => {
    const loop = prompts(6, 30);
    const other = (at: number): Row => ({ at, user: 'bob', interactive: false });
    expect((await loopsOf([...loop, other(10 * MIN)]))[0].status).toBe('looping');
    expect((await loopsOf([...loop, other(30 * MIN)]))[0].status).toBe('stopped');
  });

  test('a revoked grant (50173), then one sign-in, then quiet: stopped after revocation', async () => {
    const revoked = [...prompts(8, 30), { at: 4 * MIN + 10, code: 50173, interactive: false }, ...prompts(1, 0, 4 * MIN + 40)];
    const out = await loopsOf([...revoked, { at: 6 * MIN, user: 'bob', interactive: false }]);
    expect(out).toEqual([expect.objectContaining({ status: 'stopped_after_revocation', prompt_count: 9 })]);
  });

  test('a revocation the loop goes on after is not a stop', async () => {
    const given = [...prompts(8, 30), { at: 4 * MIN + 10, code: 50133, interactive: false }, ...prompts(5, 30, 4 * MIN + 40)];
    expect((await loopsOf(given))[0].status).toBe('looping');
  });
});

/**
 * Two detection runs over one session's sign-ins, the second after `later` arrived: the registry the first
 * run writes (loop_registry) is what the second reads (known_loops), as the lake's findings/ carries it.
 */
async function twoRuns(first: Row[], later: Row[]) {
  return withLayers(async (conn) => {
    await signIns(conn, first);
    await runLayers(conn, {}, 'detect/flagged_sessions');
    const before = await rows(conn, 'select loop_id, natural_id from loops order by start');
    await conn.run('create or replace temp table known_loops as select * from loop_registry');
    await signIns(conn, later);
    await runLayers(conn, {}, 'detect/flagged_sessions');
    const after = await rows(conn, 'select loop_id, natural_id, prompt_count, aliases from flagged_sessions join (select loop_id, natural_id from loops) using (loop_id) order by start');
    const registry = await rows(conn, 'select loop_id, alias_of from loop_registry order by loop_id');
    return { before, after, registry };
  });
}

describe('loops layer: stable ids', () => {
  test('an episode keeps the id it was first found with when late sign-ins move its start', async () => {
    const { before, after } = await twoRuns(prompts(4, 30, 20 * MIN), prompts(4, 30, 17 * MIN));
    expect(before).toHaveLength(1);
    expect(after).toEqual([expect.objectContaining({ loop_id: before[0].loop_id, prompt_count: 8, aliases: [] })]);
    // the natural id (user, app, device, first prompt) moved with the start; the loop's id did not
    expect(after[0].natural_id).not.toBe(before[0].natural_id);
  });

  test('two episodes that late sign-ins join: the older id stays, the other becomes its alias', async () => {
    const { before, after, registry } = await twoRuns([...prompts(4, 30, 0), ...prompts(4, 30, 24 * MIN)], prompts(4, 30, 12 * MIN));
    expect(before).toHaveLength(2);
    const [older, younger] = before.map((b) => b.loop_id);
    expect(after).toEqual([expect.objectContaining({ loop_id: older, prompt_count: 12, aliases: [younger] })]);
    expect(registry).toEqual(expect.arrayContaining([{ loop_id: older, alias_of: null }, { loop_id: younger, alias_of: older }]));
  });

  test('a new episode of the same session after a long quiet gets a new id', async () => {
    const { before, after } = await twoRuns(prompts(4, 30, 0), prompts(4, 30, 60 * MIN));
    expect(after.map((a) => a.loop_id)).toEqual([before[0].loop_id, after[1].natural_id]);
    expect(after[1].loop_id).not.toBe(before[0].loop_id);
  });
});

/** A loops row as loops.sql writes it, with only what incidents.sql and clusters.sql read. */
function episode(user: string, startMin: number, endMin: number, over: Record<string, string> = {}): string {
  const t = (m: number) => `timestamp '2026-04-14 09:00:00' + to_seconds(${m * 60})`;
  const app = over.app ?? 'Outlook Mobile';
  const os = over.os ?? 'ios';
  return `select 'loop-${user}-${startMin}-${app}-${os}' as loop_id, '${over.kind ?? 'reauth_loop'}' as kind, '${over.status ?? 'stopped'}' as status,
    'user-${user}' as user_key, '${user}@contoso.example' as user_principal_name, 'app-${app}' as app_key, 'app-${app}' as app_id,
    '${app}' as app_display_name, '${os}' as os_family, '${os}' as device_os, 'Mobile Apps and Desktop clients' as client_app_used,
    'tenant-1' as tenant_id, ${t(startMin)} as start, ${t(endMin)} as "end", 6 as prompt_count, [50074] as error_codes,
    timestamp '2026-04-14 12:00:00' as as_of`;
}

async function clustersOf(episodes: string[], params: ParamValues = {}) {
  return withLayers(async (conn: DuckDBConnection) => {
    await table(conn, 'loops', episodes);
    await conn.run('create temp table loop_registry as select * from known_loops');
    await runLayer(conn, 'detect/incidents', params);
    await runLayer(conn, 'detect/clusters');
    await runLayer(conn, 'detect/cluster_registry');
    await runLayer(conn, 'detect/loop_clusters');
    return rows(conn, 'select * from loop_clusters');
  });
}

const users = (n: number, prefix = 'u') => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);

describe('clusters layer: incidents by concurrency', () => {
  test('ten users looping in the same minutes are an incident; nine are not', async () => {
    expect(await clustersOf(users(9).map((u) => episode(u, 0, 20)))).toEqual([]);
    const [c, ...rest] = await clustersOf(users(10).map((u, i) => episode(u, i, 20 + i)));
    expect(rest).toEqual([]);
    expect(c).toMatchObject({ user_count: 10, loop_count: 10, peak_users: 10, core_start: '2026-04-14T09:09:00.000Z', core_end: '2026-04-14T09:21:00.000Z' });
  });

  test('eleven short loops one after another never make an incident (at most 2 users at once)', async () => {
    expect(await clustersOf(users(11).map((u, i) => episode(u, i * 8, i * 8 + 5)))).toEqual([]);
  });

  test('a loop that ended before the core started is not a member', async () => {
    const out = await clustersOf([episode('early', 0, 5), ...users(10).map((u) => episode(u, 30, 50))]);
    expect(out).toHaveLength(1);
    expect(out[0].user_count).toBe(10);
    expect(out[0].loop_ids).not.toContain('loop-early-0-Outlook Mobile-ios');
  });

  test('Outlook Mobile on iOS and Android and Outlook for Mac at once: one incident, three parts', async () => {
    const given = [
      ...users(14, 'i').map((u) => episode(u, 0, 30)),
      ...users(12, 'a').map((u) => episode(u, 5, 30, { os: 'android' })),
      ...users(10, 'm').map((u) => episode(u, 10, 40, { app: 'Outlook for Mac', os: 'macos' })),
    ];
    const out = await clustersOf(given);
    expect(out).toHaveLength(1);
    const c = out[0];
    expect(c).toMatchObject({ user_count: 36, loop_count: 36, os_family: 'ios', app_display_name: 'Outlook Mobile', peak_users: 36 });
    expect((c.parts as Array<Record<string, unknown>>).map((p) => [p.app_display_name, p.os_family, p.user_count])).toEqual([
      ['Outlook Mobile', 'ios', 14],
      ['Outlook Mobile', 'android', 12],
      ['Outlook for Mac', 'macos', 10],
    ]);
  });

  test('two waves an hour apart on one app are two incidents', async () => {
    const out = await clustersOf([...users(10).map((u) => episode(u, 0, 10)), ...users(10).map((u) => episode(u, 70, 80))]);
    expect(out).toHaveLength(2);
  });

  test('still looping and stopped after revocation are the members statuses', async () => {
    const given = users(12).map((u, i) => episode(u, 0, 20, { status: i === 0 ? 'looping' : i === 1 ? 'stopped_after_revocation' : 'stopped' }));
    const [c] = await clustersOf(given);
    expect(c.users_still_looping).toEqual(['u00@contoso.example']);
    expect(c.users_stopped_after_revocation).toEqual(['u01@contoso.example']);
  });

  test('MFA-denial bursts do not form incidents', async () => {
    expect(await clustersOf(users(12).map((u) => episode(u, 0, 20, { kind: 'mfa_denial_burst' })))).toEqual([]);
  });
});

describe('clusters layer: stable ids', () => {
  test('an incident keeps its id as it grows and its core moves earlier, and a merged one becomes an alias', async () => {
    const out = await withLayers(async (conn: DuckDBConnection) => {
      const run = async (episodes: string[]) => {
        await table(conn, 'loops', episodes);
        await conn.run('create or replace temp table loop_registry as select * from known_loops');
        await runLayer(conn, 'detect/incidents');
        await runLayer(conn, 'detect/clusters');
        await runLayer(conn, 'detect/cluster_registry');
        await runLayer(conn, 'detect/loop_clusters');
        const found = await rows(conn, 'select cluster_id, user_count, core_start, aliases from loop_clusters order by start');
        await conn.run('create or replace temp table known_clusters as select * from cluster_registry');
        return found;
      };
      // two waves, then the users between them arrive late and make one incident of both
      const wave = (prefix: string, at: number) => users(10, prefix).map((u) => episode(u, at, at + 20));
      const first = await run([...wave('a', 60), ...wave('b', 120)]);
      const joined = await run([...wave('a', 60), ...wave('b', 120), ...wave('c', 30), ...users(10, 'd').map((u) => episode(u, 75, 130))]);
      return { first, joined };
    });
    expect(out.first).toHaveLength(2);
    expect(out.joined).toEqual([
      expect.objectContaining({ cluster_id: out.first[0].cluster_id, user_count: 40, core_start: '2026-04-14T09:30:00.000Z', aliases: [out.first[1].cluster_id] }),
    ]);
  });
});
