import { writeFileSync } from 'node:fs';
import { importFiles } from '../../pipeline/lake/ingest';
import { detect } from '../../pipeline/detect/detect';
import type { ParamValues } from '../../pipeline/sql/queries';
import { lines, mfaFlow, type Rec } from '../support/records';
import { tempDir } from '../support/tmp';

/**
 * Given rows, expect findings: each case is a short timeline of sign-ins run through the real import and
 * the real SQL in queries/ on a real DuckDB.
 */
const tmp = tempDir();
afterAll(() => tmp.cleanup());
let n = 0;

async function run(recs: Rec[], params: ParamValues = {}) {
  const dir = tmp.sub(`case-${++n}`);
  writeFileSync(`${dir}.ndjson`, lines(recs));
  await importFiles([`${dir}.ndjson`], dir);
  const r = await detect(dir, params);
  return { flagged: r.flagged.rows, clusters: r.clusters.rows, lake: dir };
}

/** `count` MFA flows for one user, `every` seconds apart. */
function loop(count: number, every: number, r: Omit<Rec, 'at' | 'code'> = {}, start = 0): Rec[] {
  return Array.from({ length: count }, (_, i) => mfaFlow(start + i * every, r)).flat();
}

describe('reauth loops', () => {
  test('six MFA prompts 30 s apart are one reauth loop, explained', async () => {
    const { flagged } = await run(loop(6, 30));
    expect(flagged).toHaveLength(1);
    const f = flagged[0];
    expect(f).toMatchObject({
      kind: 'reauth_loop',
      severity: 'medium',
      user_principal_name: 'ana@contoso.example',
      app_display_name: 'Outlook Mobile',
      device_os: 'Ios',
      prompt_count: 6,
      success_count: 6,
      interrupt_count: 6,
      failure_count: 0,
      error_codes: [50074],
      median_gap_seconds: 30,
      start: '2026-04-14T09:00:00.000Z',
      end: '2026-04-14T09:02:35.000Z',
      cluster_id: null,
    });
    expect(f.sign_in_ids).toHaveLength(12);
    expect(f.loop_id).toMatch(/^loop-[0-9a-f]{16}$/);
    expect(f.reason).toBe('6 prompts in 3 min for Outlook Mobile on Ios; each success was followed by a new prompt within 25 s; codes 50074.');
  });

  test('background token refusals between prompts are evidence, not prompts', async () => {
    const recs = [...loop(4, 40), { at: 20, code: 70044, interactive: false }, { at: 60, code: 70044, interactive: false }, { at: 61, code: 0, interactive: false }];
    const { flagged } = await run(recs);
    expect(flagged).toHaveLength(1);
    expect(flagged[0]).toMatchObject({ prompt_count: 4, reauth_signal_count: 2, error_codes: [50074, 70044] });
    expect(flagged[0].reason).toContain('2 background token refreshes were refused in between');
    expect(flagged[0].sign_in_ids).toHaveLength(10);
  });

  test('a client that reuses one correlation id for every retry still loops', async () => {
    const recs = loop(5, 30).map((r) => ({ ...r, corr: 'same-corr-for-all' }));
    const { flagged } = await run(recs);
    expect(flagged.map((f) => f.prompt_count)).toEqual([5]);
  });

  test('ten prompts is high severity; Entra LoopDetected (50196) is high too', async () => {
    const ten = await run(loop(10, 30));
    expect(ten.flagged[0]).toMatchObject({ prompt_count: 10, severity: 'high' });
    const signal = await run([...loop(3, 30), { at: 100, code: 50196, corr: 'x' }]);
    expect(signal.flagged[0]).toMatchObject({ severity: 'high', loop_signal_count: 1 });
    expect(signal.flagged[0].reason).toContain('LoopDetected (50196)');
  });

  test('loops on two devices of one user are two loops', async () => {
    const { flagged } = await run([...loop(3, 30, { device: 'phone' }), ...loop(3, 30, { device: 'tablet' }, 5)]);
    expect(flagged).toHaveLength(2);
  });

  test('the loop id is the same on every run and after a re-import', async () => {
    const recs = loop(4, 30);
    const a = await run(recs);
    const b = await run(recs);
    expect(a.flagged[0].loop_id).toBe(b.flagged[0].loop_id);
    await importFiles([`${a.lake}.ndjson`], a.lake);
    expect((await detect(a.lake)).flagged.rows.map((f) => f.loop_id)).toEqual([a.flagged[0].loop_id]);
  });

  test('thresholds are parameters: --min-prompts 7 drops a 6-prompt loop, --from cuts the window', async () => {
    expect((await run(loop(6, 30), { min_prompts: 7 })).flagged).toHaveLength(0);
    const late = await run([...loop(4, 30), ...loop(4, 30, {}, 7200)], { from: Date.UTC(2026, 3, 14, 10, 0, 0) * 1000 });
    expect(late.flagged.map((f) => f.start)).toEqual(['2026-04-14T11:00:00.000Z']);
  });
});

describe('traps that must not be flagged', () => {
  test('one MFA flow: 50074, 50140, 0', async () => {
    const corr = 'c1';
    expect((await run([{ at: 0, code: 50074, corr }, { at: 8, code: 50140, corr }, { at: 15, code: 0, corr }])).flagged).toEqual([]);
  });

  test('a password typed wrong twice in one flow', async () => {
    const corr = 'c2';
    expect((await run([{ at: 0, code: 50126, corr }, { at: 12, code: 50126, corr }, { at: 30, code: 0, corr }])).flagged).toEqual([]);
  });

  test('a morning SSO burst across several apps', async () => {
    const recs: Rec[] = [...mfaFlow(0, { app: 'Office Home' })];
    ['Teams', 'SharePoint', 'OneDrive', 'Outlook'].forEach((app, i) => recs.push({ at: 20 + i * 15, code: 0, app, methods: ['Previously satisfied'] }));
    expect((await run(recs)).flagged).toEqual([]);
  });

  test('hourly sign-in frequency prompts for eight hours', async () => {
    expect((await run(loop(8, 3600))).flagged).toEqual([]);
  });

  test('two prompts minutes apart', async () => {
    expect((await run(loop(2, 400))).flagged).toEqual([]);
    expect((await run(loop(3, 360))).flagged).toEqual([]);
  });

  test('dense non-interactive token refreshes, some refused', async () => {
    const recs: Rec[] = Array.from({ length: 40 }, (_, i) => ({ at: i * 15, code: i % 5 === 0 ? 70044 : 0, interactive: false }));
    expect((await run(recs)).flagged).toEqual([]);
  });

  test('one success logged as three rows (same id, seconds apart) inside a short sign-in', async () => {
    const recs: Rec[] = [
      { at: 0, code: 50074, corr: 'm' },
      { at: 5, code: 0, corr: 'm', id: 'multi' },
      { at: 6, code: 0, corr: 'm', id: 'multi', methods: ['Previously satisfied'] },
      { at: 7, code: 0, corr: 'm', id: 'multi', methods: ['Previously satisfied'] },
      ...mfaFlow(100),
    ];
    expect((await run(recs)).flagged).toEqual([]);
  });

  test('silent SSO successes every 30 s are not prompts', async () => {
    const recs: Rec[] = Array.from({ length: 10 }, (_, i) => ({ at: i * 30, code: 0, methods: ['Previously satisfied'] }));
    expect((await run(recs)).flagged).toEqual([]);
  });

  test('service principals are never users in a loop', async () => {
    const recs: Rec[] = Array.from({ length: 8 }, (_, i) => ({ at: i * 20, code: 7000215, interactive: false, category: 'ServicePrincipalSignInLogs' }));
    expect((await run(recs)).flagged).toEqual([]);
  });
});

describe('bursts that are not reauth loops', () => {
  const denial = (at: number, user = 'ana'): Rec[] => [
    { at, code: 50074, corr: `d${at}`, user, methods: ['Password'], ip: '198.51.100.9' },
    { at: at + 20, code: 500121, corr: `d${at}`, user, methods: ['Mobile app notification'], ip: '198.51.100.9' },
  ];

  test('five denied MFA prompts are an MFA-denial burst', async () => {
    const { flagged } = await run([0, 40, 80, 120, 160].flatMap((t) => denial(t)));
    expect(flagged).toHaveLength(1);
    expect(flagged[0]).toMatchObject({ kind: 'mfa_denial_burst', severity: 'medium', denial_count: 5 });
    expect(flagged[0].error_codes).toEqual([50074, 500121]);
    expect(flagged[0].reason).toMatch(/^5 MFA prompts denied or not answered in 3 min for Outlook Mobile on Ios from 1 IP address;/);
  });

  test('denials followed by a success are critical', async () => {
    const { flagged } = await run([...[0, 40, 80, 120].flatMap((t) => denial(t)), ...mfaFlow(200, { ip: '198.51.100.9' })]);
    expect(flagged[0]).toMatchObject({ kind: 'mfa_denial_burst', severity: 'critical' });
    expect(flagged[0].reason).toContain('then a sign-in succeeded');
  });

  test('repeated bad passwords with no success are a failure burst', async () => {
    const recs: Rec[] = Array.from({ length: 6 }, (_, i) => ({ at: i * 70, code: 50126, corr: `f${i}` }));
    const { flagged } = await run(recs);
    expect(flagged.map((f) => [f.kind, f.prompt_count])).toEqual([['failure_burst', 6]]);
  });
});

describe('loop clusters', () => {
  const users = Array.from({ length: 12 }, (_, i) => `u${String(i).padStart(2, '0')}`);

  test('twelve users looping on one app at once are one cluster; a straggler is listed', async () => {
    const recs: Rec[] = users.flatMap((u, i) => loop(u === 'u11' ? 90 : 30, 30, { user: u }, i * 20));
    const { flagged, clusters } = await run(recs);
    expect(clusters).toHaveLength(1);
    const c = clusters[0];
    expect(c).toMatchObject({ user_count: 12, loop_count: 12, peak_users: 12, app_display_name: 'Outlook Mobile', os_family: 'ios', device_os: 'Ios', error_codes: [50074], users_still_looping: ['u11@contoso.example'] });
    expect(c.cluster_id).toMatch(/^cluster-[0-9a-f]{16}$/);
    expect(c.loop_ids).toHaveLength(12);
    expect(Date.parse(c.core_end as string)).toBeLessThan(Date.parse(c.end as string));
    for (const f of flagged) {
      expect(f.cluster_id).toBe(c.cluster_id);
      expect(f.severity).toBe('high');
      expect(f.reason).toContain(`part of tenant-wide cluster ${c.cluster_id} (12 users)`);
    }
  });

  test('nine users are not an incident; six on iOS and six on Android at once are one incident with two parts', async () => {
    expect((await run(users.slice(0, 9).flatMap((u) => loop(5, 30, { user: u })))).clusters).toEqual([]);
    const split = users.flatMap((u, i) => loop(5, 30, { user: u, os: i % 2 ? 'Android' : 'Ios' }));
    expect((await run(split)).clusters).toEqual([]);
    const [one, ...more] = (await run(split, { min_cluster_users: 6 })).clusters;
    expect(more).toEqual([]);
    expect(one).toMatchObject({ user_count: 12, loop_count: 12 });
    const parts = one.parts as Array<{ os_family: string; user_count: number }>;
    expect(parts.map((p) => [p.os_family, p.user_count]).sort()).toEqual([['android', 6], ['ios', 6]]);
  });

  test('two waves an hour apart are two clusters', async () => {
    const recs = [...users.flatMap((u) => loop(5, 30, { user: u })), ...users.flatMap((u) => loop(5, 30, { user: u }, 3600))];
    expect((await run(recs)).clusters).toHaveLength(2);
  });
});
