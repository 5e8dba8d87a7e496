// Deterministic, seeded simulator of Entra ID sign-in logs with planted reauth loops,
// MFA-denial and failure bursts, an optional tenant-wide incident, and benign traps.
// Same seed + options => byte-identical output; no Math.random, no clock.

import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { APPS, App, HOSTILE_NAMES, Platform } from './catalog';
import { DAY_MS, Env, MIN_MS, Row, RowSink, sortRows } from './records';
import { Rng, guidFromKey, hash32 } from './rng';
import { BurstPlan, LoopPlan, Plan, TRAP_KINDS, TrapEntry, TruthEntry, UserGen, background, makeUser, plantBurst, plantLoop, plantTrap, servicePrincipals } from './scenarios';
import { Shape, ShapeEncoder } from './shapes';

export { toShape, toLogAnalytics, toGraph, ShapeEncoder, SHAPES } from './shapes';
export type { Shape } from './shapes';
export type { TruthEntry, TrapEntry } from './scenarios';
export type { EhRecord } from './records';

export interface SimulateOptions {
  users: number;
  days: number;
  start?: string; // 'YYYY-MM-DD', default '2026-04-14'
  seed?: number; // default 42
  incident?: { appName?: string; users?: number; startUtc?: string; durationMinutes?: number } | null;
  loops?: number; // planted individual reauth loops, default max(1, users/50)
  denialBursts?: number; // default max(1, users/200)
  failureBursts?: number; // default max(1, users/200)
  traps?: boolean; // default true
}

export interface Simulation {
  records: object[];
  truth: TruthEntry[];
  traps: TrapEntry[];
}

/** Users generated and time-sorted together; keeps memory flat while mixing users within batches. */
const CHUNK_USERS = 250;

interface Setup {
  env: Env;
  users: number;
  width: number;
  plans: Map<number, Plan>;
  hostile: Map<number, string>;
  spCount: number;
}

function findApp(name: string | undefined, seed: number): App {
  if (name === undefined) return APPS.outlookMobile;
  const known = Object.values(APPS).find((a) => a.name.toLowerCase() === name.toLowerCase());
  // An unknown app name still gets a stable id so the incident is reproducible.
  return known ?? { id: guidFromKey(seed, 'app', name), name, resourceId: APPS.exchange.resourceId, resourceName: APPS.exchange.resourceName, client: 'mobile' };
}

function platformFor(app: App): Platform {
  if (app.client === 'mobile') return 'ios';
  return app.id === APPS.teams.id ? 'mac' : 'windows';
}

function setup(opts: SimulateOptions): Setup {
  const users = Math.floor(opts.users);
  const days = Math.floor(opts.days);
  if (!(users >= 1) || !(days >= 1)) throw new RangeError('simulate: users and days must be >= 1');
  const start = opts.start ?? '2026-04-14';
  if (!/^\d{4}-\d{2}-\d{2}$/.test(start) || Number.isNaN(Date.parse(`${start}T00:00:00Z`))) throw new RangeError(`simulate: bad start date ${start}`);
  const seed = (opts.seed ?? 42) >>> 0;
  const startMs = Date.parse(`${start}T00:00:00Z`);
  const env: Env = { seed, tenantId: guidFromKey(seed, 'tenant'), startMs, days };
  const rng = new Rng(hash32(seed, 'plans'));
  const order = rng.shuffle(Array.from({ length: users }, (_, i) => i));
  const plans = new Map<number, Plan>();
  let next = 0;
  const take = (): number => {
    if (next >= users) throw new RangeError(`simulate: ${users} users are too few for the planted cases requested`);
    return order[next++];
  };
  const dayTime = (fromHour: number, toHour: number): number => startMs + rng.int(0, days - 1) * DAY_MS + rng.int(fromHour * 60 * MIN_MS, toHour * 60 * MIN_MS);

  // Incident: many users on one app loop at once; ~10% straggle on for 20-40 min more.
  let quiet: [number, number] | null = null;
  const hostileTargets: number[] = [];
  if (opts.incident) {
    const inc = opts.incident;
    const n = Math.max(1, Math.floor(inc.users ?? Math.max(12, Math.floor(users / 10))));
    const app = findApp(inc.appName, seed);
    const t0 = inc.startUtc !== undefined ? Date.parse(inc.startUtc) : startMs + 9 * 60 * MIN_MS;
    if (Number.isNaN(t0)) throw new RangeError(`simulate: bad incident.startUtc ${inc.startUtc}`);
    const duration = Math.max(10, inc.durationMinutes ?? 45) * MIN_MS;
    const othersStop = t0 + duration;
    const stragglers = n >= 5 ? Math.max(1, Math.round(n * 0.1)) : 0;
    for (let i = 0; i < n; i++) {
      const straggler = i < stragglers;
      const begin = t0 + rng.int(0, 10 * MIN_MS - 1);
      const stopAt = straggler ? othersStop + rng.int(20 * MIN_MS, 40 * MIN_MS) : othersStop - rng.int(0, Math.floor(duration * 0.12));
      const plan: LoopPlan = { kind: 'reauth_loop', app, platform: platformFor(app), start: begin, stopAt, noDevice: false, incident: true, straggler };
      plans.set(take(), plan);
    }
    quiet = [t0 - 60 * MIN_MS, othersStop + 100 * MIN_MS];
  }

  const loops = Math.floor(opts.loops ?? Math.max(1, Math.floor(users / 50)));
  for (let i = 0; i < loops; i++) {
    const r = rng.next();
    const app = r < 0.7 ? APPS.outlookMobile : r < 0.85 ? APPS.teams : APPS.exchange;
    let begin = dayTime(10, 16);
    // Individual loops stay clear of the incident so clusters are unambiguous.
    for (let tries = 0; quiet && begin >= quiet[0] && begin <= quiet[1] && tries < 50; tries++) begin = dayTime(10, 16);
    const idx = take();
    if (i === 0) hostileTargets.push(idx);
    plans.set(idx, { kind: 'reauth_loop', app, platform: platformFor(app), start: begin, prompts: rng.int(6, 20), noDevice: rng.chance(0.15), incident: false, straggler: false });
  }
  const bursts = (kind: BurstPlan['kind'], count: number, lo: number, hi: number): void => {
    for (let i = 0; i < count; i++) {
      const idx = take();
      if (i === 0) hostileTargets.push(idx);
      plans.set(idx, { kind, start: dayTime(9, 17), flows: rng.int(lo, hi), finalSuccess: kind === 'mfa_denial_burst' && i % 2 === 0 });
    }
  };
  bursts('mfa_denial_burst', Math.floor(opts.denialBursts ?? Math.max(1, Math.floor(users / 200))), 5, 9);
  bursts('failure_burst', Math.floor(opts.failureBursts ?? Math.max(1, Math.floor(users / 200))), 6, 12);

  if (opts.traps !== false) {
    const count = Math.min(users - next, Math.max(TRAP_KINDS.length, Math.round(users / 100)));
    for (let i = 0; i < count; i++) {
      const trap = TRAP_KINDS[i % TRAP_KINDS.length];
      const begin = trap === 'hourly_sif_prompts' ? dayTime(8, 9) : trap === 'morning_sso_burst' ? dayTime(7, 9) : dayTime(8, 16);
      const idx = take();
      if (i === 0) hostileTargets.push(idx);
      plans.set(idx, { kind: 'trap', trap, start: begin });
    }
  }
  // Hostile names go to planted users (so they reach reports) and to some background users.
  while (hostileTargets.length < HOSTILE_NAMES.length && next < users) hostileTargets.push(order[next++]);
  const hostile = new Map<number, string>();
  hostileTargets.slice(0, HOSTILE_NAMES.length).forEach((idx, i) => hostile.set(idx, HOSTILE_NAMES[i]));

  return { env, users, width: Math.max(4, String(users).length), plans, hostile, spCount: Math.max(3, Math.min(50, Math.ceil(users / 1000))) };
}

interface Chunk {
  records: object[];
  truth: TruthEntry[];
  traps: TrapEntry[];
}

function* generate(s: Setup): Generator<Chunk> {
  for (let from = 0; from < s.users; from += CHUNK_USERS) {
    const rows: Row[] = [];
    const truth: TruthEntry[] = [];
    const traps: TrapEntry[] = [];
    for (let idx = from; idx < Math.min(s.users, from + CHUNK_USERS); idx++) {
      // One generator per user: output does not depend on chunking.
      const sink = new RowSink(s.env, new Rng(hash32(s.env.seed, 'user', idx)));
      const plan = s.plans.get(idx);
      const g = new UserGen(sink, makeUser(s.env, sink.rng, idx, s.width, plan, s.hostile.get(idx)));
      if (plan?.kind === 'reauth_loop') truth.push(plantLoop(g, plan));
      else if (plan?.kind === 'trap') traps.push(plantTrap(g, plan));
      else if (plan) truth.push(plantBurst(g, plan));
      for (let day = 0; day < s.env.days; day++) background(g, s.env, day);
      for (const r of sink.rows) rows.push(r);
    }
    yield { records: sortRows(rows).map((r) => r.rec), truth, traps };
  }
  const sp = new RowSink(s.env, new Rng(hash32(s.env.seed, 'service-principals')));
  servicePrincipals(s.env, sp, s.spCount);
  yield { records: sortRows(sp.rows).map((r) => r.rec), truth: [], traps: [] };
}

function byStart<T extends { start: string; user_id: string }>(a: T, b: T): number {
  return a.start < b.start ? -1 : a.start > b.start ? 1 : a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0;
}

export function simulate(opts: SimulateOptions): Simulation {
  const records: object[] = [];
  const truth: TruthEntry[] = [];
  const traps: TrapEntry[] = [];
  for (const chunk of generate(setup(opts))) {
    for (const r of chunk.records) records.push(r);
    truth.push(...chunk.truth);
    traps.push(...chunk.traps);
  }
  return { records, truth: truth.sort(byStart), traps: traps.sort(byStart) };
}

/** Streams the simulation to `out` in the requested shape; the truth file is small and written whole. */
export async function writeSimulation(opts: SimulateOptions & { shape: Shape; out: string; truthOut?: string }): Promise<{ records: number; bytes: number }> {
  const s = setup(opts);
  const enc = new ShapeEncoder(opts.shape);
  const ws = createWriteStream(opts.out);
  let records = 0;
  let bytes = 0;
  const truth: TruthEntry[] = [];
  const traps: TrapEntry[] = [];
  const write = async (lines: string[]): Promise<void> => {
    if (lines.length === 0) return;
    const text = lines.join('\n') + '\n';
    bytes += Buffer.byteLength(text);
    // Backpressure: wait for the file to drain rather than buffer gigabytes.
    if (!ws.write(text)) await once(ws, 'drain');
  };
  try {
    for (const chunk of generate(s)) {
      const lines: string[] = [];
      for (const rec of chunk.records) enc.push(rec as Parameters<ShapeEncoder['push']>[0], lines);
      records += chunk.records.length;
      truth.push(...chunk.truth);
      traps.push(...chunk.traps);
      await write(lines);
    }
    const tail: string[] = [];
    enc.flush(tail);
    await write(tail);
    ws.end();
    await finished(ws);
  } catch (err) {
    ws.destroy();
    throw err;
  }
  if (opts.truthOut !== undefined) {
    const options: SimulateOptions = {
      users: opts.users, days: opts.days, start: opts.start, seed: opts.seed, incident: opts.incident,
      loops: opts.loops, denialBursts: opts.denialBursts, failureBursts: opts.failureBursts, traps: opts.traps,
    };
    const doc = { tenant_id: s.env.tenantId, options, shape: opts.shape, records, truth: truth.sort(byStart), traps: traps.sort(byStart) };
    await writeFile(opts.truthOut, JSON.stringify(doc, null, 2) + '\n');
  }
  return { records, bytes };
}
