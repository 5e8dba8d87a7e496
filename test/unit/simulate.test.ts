import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EhRecord, SHAPES, Shape, SimulateOptions, simulate, toShape, writeSimulation } from '../../pipeline/simulate/simulate';

type Json = Record<string, unknown>;

const OPTS: SimulateOptions = { users: 400, days: 2, seed: 7, incident: { users: 15 }, loops: 5, denialBursts: 2, failureBursts: 2 };
const sim = simulate(OPTS);
const recs = sim.records as EhRecord[];

/** Minimal per-shape reader: the fields a normalizer must get identically from every shape. */
function signature(item: Json, shape: Shape): string {
  const parse = (v: unknown): Json => (typeof v === 'string' ? (JSON.parse(v) as Json) : ((v ?? {}) as Json));
  if (shape === 'log-analytics') {
    const dev = parse(item.DeviceDetail);
    return [item.Id, item.CreatedDateTime, Number(item.ResultType), item.UserId || null, item.AppId, dev.deviceId ?? null, item.IPAddress, String(item.UserPrincipalName ?? '').toLowerCase()].join('|');
  }
  const p = (shape === 'graph' ? item : item.properties) as Json;
  const created = String(p.createdDateTime).replace(/\+00:00$/, 'Z');
  const dev = (p.deviceDetail ?? {}) as Json;
  const status = p.status as Json;
  return [p.id, created, Number(status.errorCode), p.userId ?? null, p.appId, dev.deviceId ?? null, p.ipAddress, String(p.userPrincipalName ?? '').toLowerCase()].join('|');
}

function itemsOf(lines: string[], shape: Shape): Json[] {
  const out: Json[] = [];
  for (const line of lines) {
    const doc = JSON.parse(line) as Json;
    if (shape === 'eventhub') out.push(...(doc.records as Json[]));
    else if (shape === 'graph') out.push(...(doc.value as Json[]));
    else out.push(doc);
  }
  return out;
}

const isPromptSuccess = (r: EhRecord): boolean =>
  r.category === 'SignInLogs' &&
  r.properties.isInteractive &&
  r.properties.status.errorCode === 0 &&
  (r.properties.authenticationDetails ?? []).some((a) => a.succeeded && a.authenticationMethod !== 'Previously satisfied');

const ms = (r: EhRecord): number => Date.parse(r.properties.createdDateTime);

/** Runs of prompt successes per user+app+device with gaps <= 90 s, from the records alone. */
function promptRuns(records: EhRecord[]): Map<string, number[][]> {
  const byKey = new Map<string, number[]>();
  for (const r of records) {
    if (!isPromptSuccess(r)) continue;
    const key = `${r.properties.userId}|${r.properties.appId}|${r.properties.deviceDetail?.deviceId ?? ''}`;
    const list = byKey.get(key) ?? [];
    list.push(ms(r));
    byKey.set(key, list);
  }
  const runs = new Map<string, number[][]>();
  for (const [key, times] of byKey) {
    times.sort((a, b) => a - b);
    const out: number[][] = [[times[0]]];
    for (let i = 1; i < times.length; i++) {
      if (times[i] - times[i - 1] <= 90_000) out[out.length - 1].push(times[i]);
      else out.push([times[i]]);
    }
    runs.set(key, out);
  }
  return runs;
}

describe('simulate: determinism', () => {
  const small: SimulateOptions = { users: 120, days: 1, incident: { users: 12 } };
  it('same seed gives identical output in every shape', () => {
    const a = simulate({ ...small, seed: 11 });
    const b = simulate({ ...small, seed: 11 });
    for (const shape of SHAPES) expect(toShape(b.records, shape)).toEqual(toShape(a.records, shape));
    expect(b.truth).toEqual(a.truth);
    expect(b.traps).toEqual(a.traps);
  });
  it('different seed gives different output', () => {
    const a = toShape(simulate({ ...small, seed: 11 }).records, 'records');
    const b = toShape(simulate({ ...small, seed: 12 }).records, 'records');
    expect(b.join('\n')).not.toEqual(a.join('\n'));
  });
});

describe('simulate: shapes', () => {
  const lines = Object.fromEntries(SHAPES.map((s) => [s, toShape(sim.records, s)])) as Record<Shape, string[]>;

  it('eventhub lines are {"records":[...]} bodies of 1-50 records', () => {
    const sizes = lines.eventhub.map((l) => (JSON.parse(l) as { records: unknown[] }).records.length);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(50);
    expect(new Set(sizes).size).toBeGreaterThan(10);
  });
  it('records lines are diagnostic records with time, category and properties', () => {
    for (const l of lines.records.slice(0, 2000)) {
      const r = JSON.parse(l) as Json;
      expect(typeof r.time).toBe('string');
      expect(r.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);
      expect(['SignInLogs', 'NonInteractiveUserSignInLogs', 'ServicePrincipalSignInLogs']).toContain(r.category);
      expect(typeof r.properties).toBe('object');
    }
  });
  it('log-analytics lines are PascalCase rows with a workspace TenantId distinct from AADTenantId', () => {
    const rows = lines['log-analytics'].map((l) => JSON.parse(l) as Json);
    const types = new Set(rows.map((r) => r.Type));
    expect(types).toEqual(new Set(['SigninLogs', 'AADNonInteractiveUserSignInLogs', 'AADServicePrincipalSignInLogs']));
    for (const r of rows.slice(0, 2000)) {
      expect(typeof r.ResultType).toBe('string');
      expect(r.TenantId).not.toEqual(r.AADTenantId);
      expect(typeof r.AuthenticationDetails).toBe('string');
      if (r.Type === 'SigninLogs') expect(typeof r.Status).toBe('object');
      if (r.Type === 'AADNonInteractiveUserSignInLogs') {
        expect(typeof r.Status).toBe('string');
        expect(typeof r.DeviceDetail).toBe('string');
        expect(typeof r.ProcessingTimeInMs).toBe('string');
      }
    }
  });
  it('graph lines are signIn pages of <= 1000 items with lower-case UPNs', () => {
    const bad: string[] = [];
    for (const l of lines.graph) {
      const page = JSON.parse(l) as { '@odata.context': string; value: Json[] };
      if (!page['@odata.context'].includes('auditLogs/signIns') || page.value.length > 1000) bad.push('page');
      for (const it of page.value) {
        if (!Array.isArray(it.signInEventTypes) || !String(it.createdDateTime).endsWith('Z')) bad.push(String(it.id));
        if (it.userPrincipalName !== undefined && it.userPrincipalName !== String(it.userPrincipalName).toLowerCase()) bad.push(String(it.id));
      }
    }
    expect(bad).toEqual([]);
  });
  it('all four shapes carry the same sign-ins', () => {
    const expected = recs.map((r) => signature(r as unknown as Json, 'records')).sort();
    expect(new Set(expected.map((s) => s.split('|')[0])).size).toBeGreaterThan(recs.length * 0.99);
    for (const shape of SHAPES) {
      const got = itemsOf(lines[shape], shape).map((it) => signature(it, shape)).sort();
      expect(got).toEqual(expected);
    }
  });
  it('quirks appear only as representation drift in the diagnostic records', () => {
    const raw = recs as unknown as Json[];
    expect(raw.some((r) => 'level' in r && !('Level' in r))).toBe(true);
    expect(raw.some((r) => typeof r.resultType === 'number')).toBe(true);
    expect(raw.some((r) => r.durationMs === '0')).toBe(true);
    expect(recs.filter((r) => Number(r.resultType) !== r.properties.status.errorCode)).toEqual([]);
  });
});

describe('simulate: planted cases', () => {
  const loops = sim.truth.filter((t) => t.kind === 'reauth_loop');
  const runs = promptRuns(recs);

  it('has the requested numbers of loops, bursts and incident users', () => {
    expect(loops.filter((t) => !t.incident)).toHaveLength(5);
    expect(loops.filter((t) => t.incident)).toHaveLength(15);
    expect(loops.filter((t) => t.straggler).length).toBeGreaterThanOrEqual(1);
    expect(sim.truth.filter((t) => t.kind === 'mfa_denial_burst')).toHaveLength(2);
    expect(sim.truth.filter((t) => t.kind === 'failure_burst')).toHaveLength(2);
    expect(new Set(sim.truth.map((t) => t.user_id)).size).toBe(sim.truth.length);
  });

  it('every planted loop has >= 6 prompt flows with gaps <= 90 s, computed from the records', () => {
    for (const t of loops) {
      const from = Date.parse(t.start);
      const to = Date.parse(t.end);
      const times = recs
        .filter((r) => r.properties.userId === t.user_id && r.properties.appId === t.app_id && isPromptSuccess(r))
        .map(ms)
        .filter((x) => x >= from && x <= to + 1)
        .sort((a, b) => a - b);
      expect(times.length).toBe(t.prompts);
      expect(times.length).toBeGreaterThanOrEqual(6);
      for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeLessThanOrEqual(90_000);
      // Each flow starts with a 50074 and the loop has some 7004x non-interactive rows.
      const mine = recs.filter((r) => r.properties.userId === t.user_id && r.properties.appId === t.app_id && ms(r) >= from - 1 && ms(r) <= to + 1);
      expect(mine.filter((r) => r.properties.status.errorCode === 50074)).toHaveLength(t.prompts);
      expect(mine.some((r) => r.category === 'NonInteractiveUserSignInLogs' && [70043, 70044].includes(r.properties.status.errorCode))).toBe(true);
    }
  });

  it('incident stragglers keep looping 20+ minutes after the others stop', () => {
    const inc = loops.filter((t) => t.incident);
    const lastOther = Math.max(...inc.filter((t) => !t.straggler).map((t) => Date.parse(t.end)));
    for (const t of inc.filter((x) => x.straggler)) expect(Date.parse(t.end) - lastOther).toBeGreaterThanOrEqual(15 * 60_000);
  });

  it('bursts match their definitions', () => {
    for (const t of sim.truth.filter((x) => x.kind !== 'reauth_loop')) {
      const mine = recs.filter((r) => r.properties.userId === t.user_id && r.category === 'SignInLogs' && ms(r) >= Date.parse(t.start) && ms(r) <= Date.parse(t.end) + 1);
      const code = t.kind === 'mfa_denial_burst' ? 500121 : 50126;
      expect(mine.filter((r) => r.properties.status.errorCode === code).length).toBeGreaterThanOrEqual(t.kind === 'mfa_denial_burst' ? 5 : 6);
    }
    const denials = sim.truth.filter((x) => x.kind === 'mfa_denial_burst');
    expect(denials.some((t) => recs.some((r) => r.properties.userId === t.user_id && isPromptSuccess(r) && ms(r) === Date.parse(t.end)))).toBe(true);
  });

  it('no run of >= 6 prompts exists outside the planted loops (traps and background stay quiet)', () => {
    const planted = new Set(loops.map((t) => `${t.user_id}|${t.app_id}`));
    for (const [key, list] of runs) {
      const [user, app] = key.split('|');
      for (const run of list) if (run.length >= 6) expect(planted.has(`${user}|${app}`)).toBe(true);
    }
  });

  it('has all trap kinds on users without planted cases', () => {
    expect(new Set(sim.traps.map((t) => t.trap)).size).toBe(7);
    const truthUsers = new Set(sim.truth.map((t) => t.user_id));
    for (const t of sim.traps) expect(truthUsers.has(t.user_id)).toBe(false);
  });

  it('includes hostile display names', () => {
    const names = new Set(recs.map((r) => r.properties.userDisplayName));
    expect([...names].some((n) => n?.includes('<script>'))).toBe(true);
    expect([...names].some((n) => n?.includes('\n'))).toBe(true);
  });
});

describe('writeSimulation', () => {
  it('streams the same lines as toShape and reports the file length', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-'));
    try {
      const opts: SimulateOptions = { users: 600, days: 1, seed: 3, incident: { users: 12 } };
      const out = join(dir, 'signins.ndjson');
      const truthOut = join(dir, 'truth.json');
      const res = await writeSimulation({ ...opts, shape: 'eventhub', out, truthOut });
      expect(statSync(out).size).toBe(res.bytes);
      const direct = simulate(opts);
      expect(res.records).toBe(direct.records.length);
      expect(readFileSync(out, 'utf8')).toBe(toShape(direct.records, 'eventhub').join('\n') + '\n');
      const truth = JSON.parse(readFileSync(truthOut, 'utf8')) as { truth: unknown[]; traps: unknown[] };
      expect(truth.truth).toEqual(direct.truth);
      expect(truth.traps).toEqual(direct.traps);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
