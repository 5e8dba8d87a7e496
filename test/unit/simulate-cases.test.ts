// The simulator's newer planted cases (paused, slow, silent, LoopDetected, revoked loops, the false chain and the
// multi-part incident), checked against their ground truth from the records alone, without the detector.

import { EhRecord, SimulateOptions, TruthEntry, simulate } from '../../pipeline/simulate/simulate';

const SEC = 1000;
const MIN = 60 * SEC;
const OUTLOOK_MOBILE = '27922004-5251-4030-b22d-91ecd9a37ea4';
const OUTLOOK_DESKTOP = '5d661950-3475-41cd-a2c3-d671a3162bc1';

const BASE: SimulateOptions = { users: 200, days: 1, seed: 21, incident: { users: 12 }, loops: 3, denialBursts: 1, failureBursts: 1 };
const OFF: SimulateOptions = { ...BASE, pausedLoops: 0, slowLoops: 0, silentLoops: 0, loopDetected: 0, revokedLoops: 0, falseChain: false, multiPartIncident: null };
const ALL: SimulateOptions = { ...BASE, pausedLoops: 2, slowLoops: 2, silentLoops: 2, loopDetected: 2, revokedLoops: 2, falseChain: true, multiPartIncident: { usersPerPart: 12 } };

type Sim = { recs: EhRecord[]; truth: TruthEntry[]; byUser: Map<string, EhRecord[]> };
const ms = (r: EhRecord): number => Date.parse(r.properties.createdDateTime);
const run = (o: SimulateOptions): Sim => {
  const s = simulate(o);
  const recs = s.records as EhRecord[];
  const byUser = new Map<string, EhRecord[]>();
  for (const r of recs) {
    const u = r.properties.userId;
    if (!u) continue;
    const list = byUser.get(u) ?? [];
    list.push(r);
    byUser.set(u, list);
  }
  for (const list of byUser.values()) list.sort((a, b) => ms(a) - ms(b));
  return { recs, truth: s.truth, byUser };
};
/** The records' bytes (the 'records' shape is one JSON record per line). */
const bytes = (records: object[]): string => records.map((r) => JSON.stringify(r)).join('\n');
/** One option at a time, on a smaller tenant with one ordinary loop. */
const SMALL: SimulateOptions = { users: 120, days: 1, seed: 21, incident: null, loops: 1, denialBursts: 0, failureBursts: 0 };
const sims = {
  paused: run({ ...SMALL, pausedLoops: 3 }),
  slow: run({ ...SMALL, slowLoops: 3 }),
  silent: run({ ...SMALL, silentLoops: 3 }),
  loop_detected: run({ ...SMALL, loopDetected: 3 }),
  revoked: run({ ...SMALL, revokedLoops: 3 }),
  chain: run({ ...SMALL, falseChain: true }),
  multi_incident: run({ ...SMALL, incident: { users: 12 }, multiPartIncident: { usersPerPart: 12 } }),
  all: run(ALL),
};

const dev = (r: EhRecord): string | null => r.properties.deviceDetail?.deviceId || null;
const methods = (r: EhRecord): string[] => (r.properties.authenticationDetails ?? []).map((a) => a.authenticationMethod);
const code = (r: EhRecord): number => r.properties.status.errorCode;

function userRows(s: Sim, t: TruthEntry): EhRecord[] {
  return s.byUser.get(t.user_id) ?? [];
}
/** Interactive rows of the entry's user in [start, end]. */
function spanRows(s: Sim, t: TruthEntry): EhRecord[] {
  const from = Date.parse(t.start);
  const to = Date.parse(t.end);
  return userRows(s, t).filter((r) => r.properties.isInteractive && ms(r) >= from && ms(r) <= to + 1);
}
/** Prompt flows of a reauth loop: each 50074 with the success of the same correlation id. */
function flowsOf(rows: EhRecord[]): Array<{ start: number; end: number }> {
  const out: Array<{ start: number; end: number }> = [];
  const successes = new Map(rows.filter((x) => code(x) === 0).map((x) => [x.properties.correlationId, x]));
  const unmatched: string[] = [];
  for (const r of rows.filter((x) => code(x) === 50074)) {
    const ok = successes.get(r.properties.correlationId);
    if (!ok || !methods(ok).includes('Mobile app notification')) unmatched.push(r.properties.id);
    else out.push({ start: ms(r), end: ms(ok) });
  }
  expect(unmatched).toEqual([]);
  return out.sort((a, b) => a.start - b.start);
}
/** Gaps from each flow's end to the next flow's start. */
const gaps = (flows: Array<{ start: number; end: number }>): number[] => flows.slice(1).map((f, i) => f.start - flows[i].end);
const of = (s: Sim, c: string): TruthEntry[] => s.truth.filter((t) => t.case === c);

/** The case is the only thing near itself: no interactive row, and no row of its app, within 15 min outside it. */
function expectClear(s: Sim, t: TruthEntry): void {
  const from = Date.parse(t.start);
  const to = Date.parse(t.end);
  const near = userRows(s, t).filter((r) => ms(r) >= from - 15 * MIN && ms(r) <= to + 15 * MIN && (r.properties.isInteractive || r.properties.appId === t.app_id));
  const stray = near.filter((r) => r.properties.appId !== t.app_id || dev(r) !== t.device_id || ms(r) < from || ms(r) > to + 1);
  expect(stray.map((r) => `${t.case} ${t.user_id}: ${r.properties.createdDateTime} ${r.properties.appDisplayName} ${code(r)}`)).toEqual([]);
}

/** reauth_loop definition: >= 3 prompts, each < 300 s after the previous one ended, runs joined by pauses <= 900 s. */
function expectReauthLoop(s: Sim, t: TruthEntry): Array<{ start: number; end: number }> {
  expect(t.kind).toBe('reauth_loop');
  const rows = spanRows(s, t);
  expect(rows.filter((r) => code(r) !== 0 && code(r) !== 50074)).toEqual([]);
  const flows = flowsOf(rows);
  expect(flows).toHaveLength(t.prompts);
  expect(flows.length).toBeGreaterThanOrEqual(3);
  expect(flows[0].start).toBe(Date.parse(t.start));
  expect(flows[flows.length - 1].end).toBe(Date.parse(t.end));
  expect(Math.max(...gaps(flows))).toBeLessThanOrEqual(900 * SEC);
  expectClear(s, t);
  return flows;
}

describe('simulate cases: off by default', () => {
  const base = simulate(BASE);
  const allAgain = simulate(ALL);
  it('zero counts give the same bytes and truth as leaving the options out', () => {
    const b = simulate(OFF);
    expect(bytes(b.records)).toBe(bytes(base.records));
    expect(b.truth).toEqual(base.truth);
    expect(b.traps).toEqual(base.traps);
  });
  it('turning the cases on leaves the older planted cases and traps where they were', () => {
    const older = new Set(['loop', 'incident', 'denial', 'failure']);
    expect(sims.all.truth.filter((t) => older.has(t.case ?? ''))).toEqual(base.truth);
    expect(allAgain.traps).toEqual(base.traps);
  });
  it('same seed, same bytes with every case on; another seed differs', () => {
    expect(bytes(allAgain.records)).toBe(bytes(sims.all.recs));
    expect(allAgain.truth).toEqual(sims.all.truth);
    const other = simulate({ ...SMALL, seed: 22, pausedLoops: 1, silentLoops: 1 });
    expect(bytes(other.records)).not.toBe(bytes(simulate({ ...SMALL, pausedLoops: 1, silentLoops: 1 }).records));
  });
  it('every case gets its own users, a case name, and loops an outcome', () => {
    const t = sims.all.truth;
    expect(new Set(t.map((x) => x.user_id)).size).toBe(t.length);
    for (const x of t) {
      expect(x.case).toBeDefined();
      if (x.kind === 'reauth_loop' || x.kind === 'silent_loop') expect(x.outcome).toBe(x.case === 'revoked' ? 'stopped_after_revocation' : 'stopped');
    }
    const counts = Object.fromEntries(['paused', 'slow', 'silent', 'loop_detected', 'revoked', 'chain', 'multi_incident'].map((c) => [c, of(sims.all, c).length]));
    expect(counts).toEqual({ paused: 2, slow: 2, silent: 2, loop_detected: 2, revoked: 2, chain: 11, multi_incident: 36 });
    for (const x of of(sims.all, 'incident')) expect(x.incident_id).toBe('main');
  });
  it('rejects a multi-part incident below the cluster size', () => {
    expect(() => simulate({ ...BASE, multiPartIncident: { usersPerPart: 5 } })).toThrow(RangeError);
  });
});

describe('simulate cases: loop variants', () => {
  it('paused loops: 2-4 bursts of 5-10 prompts 20-60 s apart, 5-12 min pauses, one truth entry', () => {
    const list = of(sims.paused, 'paused');
    expect(list).toHaveLength(3);
    for (const t of list) {
      const flows = expectReauthLoop(sims.paused, t);
      const g = gaps(flows);
      const pauses = g.filter((x) => x > 60 * SEC);
      for (const x of g) expect((x >= 20 * SEC && x <= 60 * SEC) || (x >= 5 * MIN && x <= 12 * MIN)).toBe(true);
      expect(pauses.length).toBeGreaterThanOrEqual(1);
      expect(pauses.length).toBeLessThanOrEqual(3);
      // burst sizes
      const sizes: number[] = [1];
      for (const x of g) {
        if (x > 60 * SEC) sizes.push(1);
        else sizes[sizes.length - 1]++;
      }
      for (const n of sizes) expect(n >= 5 && n <= 10).toBe(true);
    }
  });

  it('slow loops: a prompt every 120-240 s (start to start) for about an hour', () => {
    const list = of(sims.slow, 'slow');
    expect(list).toHaveLength(3);
    for (const t of list) {
      const flows = expectReauthLoop(sims.slow, t);
      for (let i = 1; i < flows.length; i++) {
        const step = flows[i].start - flows[i - 1].start;
        expect(step).toBeGreaterThanOrEqual(120 * SEC);
        expect(step).toBeLessThanOrEqual(240 * SEC);
      }
      for (const x of gaps(flows)) expect(x).toBeLessThan(300 * SEC);
      const span = flows[flows.length - 1].start - flows[0].start;
      expect(span).toBeGreaterThanOrEqual(56 * MIN);
      expect(span).toBeLessThanOrEqual(60 * MIN);
    }
  });

  it('revoked loops: 8-12 prompts, a non-interactive 50173/50133, exactly one prompt after it, then two quiet hours', () => {
    const list = of(sims.revoked, 'revoked');
    expect(list).toHaveLength(3);
    for (const t of list) {
      expect(t.outcome).toBe('stopped_after_revocation');
      const flows = expectReauthLoop(sims.revoked, t);
      const all = userRows(sims.revoked, t);
      const revokes = all.filter((r) => r.properties.appId === t.app_id && [50173, 50133].includes(code(r)) && ms(r) >= Date.parse(t.start) && ms(r) <= Date.parse(t.end));
      expect(revokes).toHaveLength(1);
      const rv = revokes[0];
      expect(rv.properties.isInteractive).toBe(false);
      expect(rv.category).toBe('NonInteractiveUserSignInLogs');
      expect(dev(rv)).toBe(t.device_id);
      const after = flows.filter((f) => f.start > ms(rv));
      expect(after).toHaveLength(1);
      const before = flows.filter((f) => f.start < ms(rv));
      expect(before.length).toBeGreaterThanOrEqual(8);
      expect(before.length).toBeLessThanOrEqual(12);
      for (const x of gaps(before)) expect(x >= 30 * SEC && x <= 90 * SEC).toBe(true);
      expect(ms(rv) - before[before.length - 1].end).toBeGreaterThanOrEqual(20 * SEC);
      expect(ms(rv) - before[before.length - 1].end).toBeLessThanOrEqual(60 * SEC + 1);
      expect(after[0].start - ms(rv)).toBeGreaterThanOrEqual(20 * SEC - 1);
      expect(after[0].start - ms(rv)).toBeLessThanOrEqual(60 * SEC + 1);
      // nothing on that user + app + device for two hours after the last sign-in
      const end = Date.parse(t.end);
      const later = all.filter((r) => r.properties.appId === t.app_id && dev(r) === t.device_id && ms(r) > end + 1 && ms(r) <= end + 120 * MIN);
      expect(later).toEqual([]);
    }
  });
});

describe('simulate cases: silent loops', () => {
  const expectSilent = (s: Sim, t: TruthEntry): { silent: EhRecord[]; signals: EhRecord[] } => {
    expect(t.kind).toBe('silent_loop');
    const rows = spanRows(s, t);
    expect(rows).toHaveLength(t.prompts);
    expect(new Set(rows.map((r) => r.properties.id)).size).toBe(rows.length);
    expect(new Set(rows.map((r) => r.properties.correlationId)).size).toBe(rows.length);
    for (const r of rows) {
      expect(r.category).toBe('SignInLogs');
      expect(methods(r)).toEqual(['Previously satisfied']);
      expect(r.properties.appId).toBe(t.app_id);
      expect(dev(r)).toBe(t.device_id);
    }
    for (let i = 1; i < rows.length; i++) {
      const g = ms(rows[i]) - ms(rows[i - 1]);
      expect(g >= 3 * SEC - 1 && g <= 20 * SEC + 1).toBe(true);
    }
    expectClear(s, t);
    return { silent: rows.filter((r) => code(r) === 0), signals: rows.filter((r) => code(r) === 50196) };
  };

  it('silent loops: 15-30 interactive "Previously satisfied" successes 3-20 s apart, each its own sign-in', () => {
    const list = of(sims.silent, 'silent');
    expect(list).toHaveLength(3);
    for (const t of list) {
      const { silent, signals } = expectSilent(sims.silent, t);
      expect(signals).toEqual([]);
      expect(silent.length).toBeGreaterThanOrEqual(15);
      expect(silent.length).toBeLessThanOrEqual(30);
      expect(t.loop_signal).toBeUndefined();
    }
  });

  it('LoopDetected: 10-20 silent sign-ins and 2-3 interleaved 50196 rows at the end, loop_signal set', () => {
    const list = of(sims.loop_detected, 'loop_detected');
    expect(list).toHaveLength(3);
    for (const t of list) {
      const { silent, signals } = expectSilent(sims.loop_detected, t);
      expect(t.loop_signal).toBe(true);
      expect(silent.length).toBeGreaterThanOrEqual(10);
      expect(silent.length).toBeLessThanOrEqual(20);
      expect(signals.length).toBeGreaterThanOrEqual(2);
      expect(signals.length).toBeLessThanOrEqual(3);
      const rows = spanRows(sims.loop_detected, t);
      const codes = rows.map(code);
      // ... 0, 50196, 0, 50196 (, 0, 50196): alternating, ending with a 50196
      const tail = codes.slice(-2 * signals.length);
      expect(tail).toEqual(tail.map((_, i) => (i % 2 === 1 ? 50196 : 0)));
      expect(codes.slice(0, -2 * signals.length).every((c) => c === 0)).toBe(true);
    }
  });
});

describe('simulate cases: false chain and multi-part incident', () => {
  it('false chain: 11 short real loops on Outlook Mobile / iOS, 8 min apart, never more than 2 users in one minute', () => {
    const list = of(sims.chain, 'chain').sort((a, b) => a.start.localeCompare(b.start));
    expect(list).toHaveLength(11);
    for (const t of list) {
      expect(t.chain).toBe(true);
      expect(t.incident).toBe(false);
      expect(t.app_id).toBe(OUTLOOK_MOBILE);
      expect(t.prompts >= 3 && t.prompts <= 5).toBe(true);
      const flows = expectReauthLoop(sims.chain, t);
      for (const g of gaps(flows)) expect(g).toBeLessThan(300 * SEC);
      expect(Date.parse(t.end) - Date.parse(t.start)).toBeLessThanOrEqual(5 * MIN);
      for (const r of spanRows(sims.chain, t)) expect(r.properties.deviceDetail?.operatingSystem).toBe('Ios');
    }
    for (let i = 1; i < list.length; i++) {
      const step = Date.parse(list[i].start) - Date.parse(list[i - 1].start);
      expect(step >= 7.5 * MIN && step <= 8.5 * MIN).toBe(true);
    }
    // Every planted loop on that app + OS, per minute, over the chain's span.
    const loops = sims.chain.truth.filter((t) => t.kind === 'reauth_loop' && t.app_id === OUTLOOK_MOBILE);
    const perMinute = new Map<number, number>();
    for (const t of loops) {
      for (let m = Math.floor(Date.parse(t.start) / MIN); m <= Math.floor(Date.parse(t.end) / MIN); m++) perMinute.set(m, (perMinute.get(m) ?? 0) + 1);
    }
    const from = Math.floor(Date.parse(list[0].start) / MIN);
    const to = Math.floor(Date.parse(list[list.length - 1].end) / MIN);
    for (let m = from; m <= to; m++) expect(perMinute.get(m) ?? 0).toBeLessThanOrEqual(2);
  });

  it('multi-part incident: >= 12 users on each of three parts, all looping at once for 20-40 min', () => {
    const list = of(sims.multi_incident, 'multi_incident');
    const parts = { 'outlook-mobile/ios': [OUTLOOK_MOBILE, 'Ios'], 'outlook-mobile/android': [OUTLOOK_MOBILE, 'Android'], 'outlook-desktop/mac': [OUTLOOK_DESKTOP, 'MacOs'] };
    expect(new Set(list.map((t) => t.incident_part))).toEqual(new Set(Object.keys(parts)));
    let latestStart = 0;
    let earliestEnd = Infinity;
    for (const [label, [appId, os]] of Object.entries(parts)) {
      const mine = list.filter((t) => t.incident_part === label);
      expect(mine.length).toBeGreaterThanOrEqual(12);
      for (const t of mine) {
        expect(t.incident).toBe(true);
        expect(t.incident_id).toBe('multi');
        expect(t.app_id).toBe(appId);
        const flows = expectReauthLoop(sims.multi_incident, t);
        expect(Math.max(...gaps(flows))).toBeLessThanOrEqual(60 * SEC);
        const minutes = (Date.parse(t.end) - Date.parse(t.start)) / MIN;
        expect(minutes >= 20 && minutes <= 41).toBe(true);
        expect(new Set(spanRows(sims.multi_incident, t).map((r) => r.properties.deviceDetail?.operatingSystem))).toEqual(new Set([os]));
        latestStart = Math.max(latestStart, Date.parse(t.start));
        earliestEnd = Math.min(earliestEnd, Date.parse(t.end));
      }
    }
    // everyone loops at once for at least a quarter of an hour
    expect(earliestEnd - latestStart).toBeGreaterThanOrEqual(15 * MIN);
    // and it is kept apart from the single-app incident
    const main = of(sims.multi_incident, 'incident');
    expect(main.length).toBe(12);
    const mainEnd = Math.max(...main.map((t) => Date.parse(t.end)));
    expect(Math.min(...list.map((t) => Date.parse(t.start))) - mainEnd).toBeGreaterThanOrEqual(60 * MIN);
  });

  it('with every case on, each still holds and stays clear of the others', () => {
    for (const t of sims.all.truth) {
      if (t.kind === 'reauth_loop') expectReauthLoop(sims.all, t);
      if (t.kind === 'silent_loop') expect(spanRows(sims.all, t)).toHaveLength(t.prompts);
    }
  });
});
