// Deterministic, seeded simulator of Entra ID sign-in logs with planted reauth loops,
// MFA-denial and failure bursts, an optional tenant-wide incident, and benign traps.
// On request also loop variants (paused, slow, silent, LoopDetected, stopped by revocation), a false chain of
// short loops that must not cluster, and a multi-part incident. Those are off by default and are planned with
// their own generator after everything else, so existing option sets keep their bytes.
// Same seed + options => byte-identical output; no Math.random, no clock.

import { createReadStream, createWriteStream } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { APPS, App, HOSTILE_NAMES, Platform } from './catalog';
import { DAY_MS, Env, MIN_MS, Row, RowSink, sortRows } from './records';
import { Rng, guidFromKey, hash32 } from './rng';
import { AFTER_REVOCATION_MS, BurstPlan, CasePlan, LoopPlan, Plan, QUIET_MS, TRAP_KINDS, TrapEntry, TruthEntry, UserGen, background, makeUser, plantBurst, plantCase, plantLoop, plantTrap, servicePrincipals } from './scenarios';
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
  // Loop variants, all off by default (0 / undefined):
  pausedLoops?: number; // 2-4 bursts of 5-10 prompts, 5-12 min pauses between them; one reauth_loop each
  slowLoops?: number; // a prompt every 120-240 s for about 60 min; one reauth_loop each
  silentLoops?: number; // 15-30 silent interactive SSO successes 3-20 s apart; one silent_loop each
  loopDetected?: number; // 10-20 silent sign-ins then 2-3 interleaved 50196 rows; one silent_loop (loop_signal) each
  revokedLoops?: number; // 8-12 prompts, a 50173/50133 revocation, one last prompt, then quiet; one reauth_loop each
  falseChain?: boolean; // 11 users with short real loops 8 min apart on Outlook Mobile / iOS: loops, never a cluster
  multiPartIncident?: { usersPerPart: number; startUtc?: string } | null; // Outlook Mobile iOS + Android + Outlook for Mac at once
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
  const known: App | undefined = Object.values(APPS).find((a) => a.name.toLowerCase() === name.toLowerCase());
  // An unknown app name still gets a stable id so the incident is reproducible.
  // Apps added for the newer cases are not matched by name, so an old incident.appName keeps its bytes.
  return known !== undefined && known !== APPS.outlookDesktop ? known : { id: guidFromKey(seed, 'app', name), name, resourceId: APPS.exchange.resourceId, resourceName: APPS.exchange.resourceName, client: 'mobile' };
}

function platformFor(app: App): Platform {
  if (app.client === 'mobile') return 'ios';
  return app.id === APPS.teams.id ? 'mac' : 'windows';
}

/** The three parts of the multi-part incident. */
const MULTI_PARTS: ReadonlyArray<{ app: App; platform: Platform; label: string }> = [
  { app: APPS.outlookMobile, platform: 'ios', label: 'outlook-mobile/ios' },
  { app: APPS.outlookMobile, platform: 'android', label: 'outlook-mobile/android' },
  { app: APPS.outlookDesktop, platform: 'mac', label: 'outlook-desktop/mac' },
];
const FALSE_CHAIN_USERS = 11;
const FALSE_CHAIN_STEP_MS = 8 * MIN_MS;
/** Upper bound of one prompt flow plus the longest gap after it in a plantLoop run. */
const LOOP_FLOW_MS = 70_000;

/** What a cluster is keyed on: app + OS + client. */
function clusterKey(app: App, platform: Platform): string {
  return `${app.id}|${platform}|${app.client}`;
}

interface Busy {
  from: number;
  to: number;
  key: string;
  /** A reserved window (the false chain): no other case on this key may overlap it. */
  reserved?: boolean;
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
  // Spans of planted loops (no generator state used), so the newer cases can keep clear of them.
  const busy: Busy[] = [];
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
      const plan: LoopPlan = { kind: 'reauth_loop', app, platform: platformFor(app), start: begin, stopAt, noDevice: false, incident: true, straggler, case: 'incident', incidentId: 'main' };
      plans.set(take(), plan);
      busy.push({ from: begin, to: stopAt + LOOP_FLOW_MS, key: clusterKey(app, plan.platform) });
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
    const plan: LoopPlan = { kind: 'reauth_loop', app, platform: platformFor(app), start: begin, prompts: rng.int(6, 20), noDevice: rng.chance(0.15), incident: false, straggler: false, case: 'loop' };
    plans.set(idx, plan);
    busy.push({ from: begin, to: begin + (plan.prompts ?? 0) * LOOP_FLOW_MS, key: clusterKey(app, plan.platform) });
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

  planCases(opts, { startMs, days, seed, take, plans, busy, incidents: quiet ? [quiet] : [] });

  return { env, users, width: Math.max(4, String(users).length), plans, hostile, spCount: Math.max(3, Math.min(50, Math.ceil(users / 1000))) };
}

interface CaseContext {
  startMs: number;
  days: number;
  seed: number;
  take: () => number;
  plans: Map<number, Plan>;
  busy: Busy[];
  /** Windows of incidents; no other case may overlap them. */
  incidents: Array<[number, number]>;
}

/**
 * The newer cases. They draw from their own generator and take users after every older plan, so leaving them
 * off (the default) changes nothing, and turning them on leaves the older cases where they were.
 */
function planCases(opts: SimulateOptions, c: CaseContext): void {
  const count = (v: number | undefined, name: string): number => {
    const n = Math.floor(v ?? 0);
    if (!(n >= 0)) throw new RangeError(`simulate: ${name} must be >= 0`);
    return n;
  };
  const paused = count(opts.pausedLoops, 'pausedLoops');
  const slow = count(opts.slowLoops, 'slowLoops');
  const silent = count(opts.silentLoops, 'silentLoops');
  const loopDetected = count(opts.loopDetected, 'loopDetected');
  const revoked = count(opts.revokedLoops, 'revokedLoops');
  const multi = opts.multiPartIncident ?? null;
  if (paused + slow + silent + loopDetected + revoked === 0 && !opts.falseChain && !multi) return;

  const rng = new Rng(hash32(c.seed, 'plans', 'cases'));
  const dataEnd = c.startMs + c.days * DAY_MS;
  const dayTime = (fromHour: number, toHour: number): number => c.startMs + rng.int(0, c.days - 1) * DAY_MS + rng.int(fromHour * 60 * MIN_MS, toHour * 60 * MIN_MS);
  const overlaps = (a: number, b: number, x: number, y: number): boolean => a <= y && x <= b;
  /** At most this many other planted loops on one app + OS + client at once, far below a cluster's 10 users. */
  const MAX_SHARED = 3;
  const tryPlace = (draw: () => number, span: number, keys: string[], maxShared: number): number | null => {
    for (let tries = 0; tries < 500; tries++) {
      const begin = draw();
      const end = begin + span;
      if (c.incidents.some(([a, b]) => overlaps(begin - QUIET_MS, end + QUIET_MS, a, b))) continue;
      const sharing = (k: string): Busy[] => c.busy.filter((x) => x.key === k && overlaps(begin, end, x.from, x.to));
      if (keys.some((k) => sharing(k).length >= maxShared || sharing(k).some((x) => x.reserved))) continue;
      return begin;
    }
    return null;
  };
  const noRoom = (what: string): RangeError => new RangeError(`simulate: no room for the ${what} clear of the incidents and other loops; plant fewer cases or simulate more days`);
  const place = (what: string, draw: () => number, span: number, keys: string[]): number => {
    const begin = tryPlace(draw, span, keys, MAX_SHARED);
    if (begin === null) throw noRoom(what);
    return begin;
  };
  const loopApp = (): App => {
    const r = rng.next();
    return r < 0.7 ? APPS.outlookMobile : r < 0.85 ? APPS.teams : APPS.exchange;
  };
  const silentApp = (): App => {
    const r = rng.next();
    return r < 0.4 ? APPS.officeHome : r < 0.7 ? APPS.sharepoint : APPS.teams;
  };
  const addCase = (plan: CasePlan, span: number): void => {
    c.plans.set(c.take(), plan);
    c.busy.push({ from: plan.start, to: plan.start + span, key: clusterKey(plan.app, plan.platform) });
  };

  // Multi-part incident first: every other case then keeps out of its window.
  if (multi) {
    const per = Math.floor(multi.usersPerPart);
    if (!(per >= 12)) throw new RangeError('simulate: multiPartIncident.usersPerPart must be >= 12');
    const SPREAD = 5 * MIN_MS; // everyone starts within 5 min
    const LONGEST = 40 * MIN_MS;
    const window = (t0: number): [number, number] => [t0 - 60 * MIN_MS, t0 + SPREAD + LONGEST + 60 * MIN_MS];
    let t0: number;
    if (multi.startUtc !== undefined) {
      t0 = Date.parse(multi.startUtc);
      if (Number.isNaN(t0)) throw new RangeError(`simulate: bad multiPartIncident.startUtc ${multi.startUtc}`);
    } else {
      // 18:00 UTC on the first day, moved on by half hours until clear of the other incident and of planted loops.
      const keys = MULTI_PARTS.map((p) => clusterKey(p.app, p.platform));
      const clear = (t: number): boolean => {
        const [a, b] = window(t);
        return !c.incidents.some(([x, y]) => overlaps(a, b, x, y)) && !c.busy.some((x) => keys.includes(x.key) && overlaps(a, b, x.from, x.to));
      };
      t0 = c.startMs + 18 * 60 * MIN_MS;
      while (!clear(t0) && window(t0)[1] < dataEnd) t0 += 30 * MIN_MS;
      if (window(t0)[1] >= dataEnd) throw new RangeError('simulate: no room for the multi-part incident; simulate more days');
    }
    for (const part of MULTI_PARTS) {
      for (let i = 0; i < per; i++) {
        const begin = t0 + rng.int(0, SPREAD - 1);
        const stopAt = begin + rng.int(20 * MIN_MS, LONGEST);
        const plan: LoopPlan = {
          kind: 'reauth_loop', app: part.app, platform: part.platform, start: begin, stopAt, noDevice: false, incident: true, straggler: false,
          case: 'multi_incident', incidentId: 'multi', incidentPart: part.label,
        };
        c.plans.set(c.take(), plan);
      }
    }
    c.incidents.push(window(t0));
  }

  if (opts.falseChain) {
    // One short real loop after another on one app + OS + client: a long line of users, never 10 at once.
    const app = APPS.outlookMobile;
    const key = clusterKey(app, 'ios');
    const span = FALSE_CHAIN_USERS * FALSE_CHAIN_STEP_MS;
    // Prefer a window no other planted loop on this key touches; in a crowded tenant allow one, then two.
    let t0: number | null = null;
    for (let shared = 1; t0 === null && shared <= MAX_SHARED; shared++) t0 = tryPlace(() => dayTime(8, 15), span, [key], shared);
    if (t0 === null) throw noRoom('false chain');
    c.busy.push({ from: t0, to: t0 + span, key, reserved: true });
    for (let i = 0; i < FALSE_CHAIN_USERS; i++) {
      const begin = t0 + i * FALSE_CHAIN_STEP_MS + rng.int(0, 30_000);
      const prompts = rng.int(3, 5);
      c.plans.set(c.take(), { kind: 'reauth_loop', app, platform: 'ios', start: begin, prompts, noDevice: false, incident: false, straggler: false, case: 'chain' });
      c.busy.push({ from: begin, to: begin + prompts * LOOP_FLOW_MS, key });
    }
  }

  for (let i = 0; i < paused; i++) {
    const app = loopApp();
    const bursts = Array.from({ length: rng.int(2, 4) }, () => rng.int(5, 10));
    const span = bursts.reduce((a, b) => a + b, 0) * LOOP_FLOW_MS + (bursts.length - 1) * 12 * MIN_MS;
    const start = place('paused loops', () => dayTime(10, 15), span, [clusterKey(app, platformFor(app))]);
    addCase({ kind: 'case', case: 'paused', app, platform: platformFor(app), start, bursts }, span);
  }
  for (let i = 0; i < slow; i++) {
    const app = loopApp();
    const span = 61 * MIN_MS;
    const start = place('slow loops', () => dayTime(10, 15), span, [clusterKey(app, platformFor(app))]);
    addCase({ kind: 'case', case: 'slow', app, platform: platformFor(app), start }, span);
  }
  for (let i = 0; i < revoked; i++) {
    const app = loopApp();
    const n = rng.int(8, 12);
    const revokeCode = rng.chance(0.5) ? 50173 : 50133;
    const span = n * 100_000 + 2 * MIN_MS;
    // Late enough in the day that the two quiet hours after it stay inside the data.
    const start = place('revoked loops', () => dayTime(10, 15), span, [clusterKey(app, platformFor(app))]);
    if (start + span + AFTER_REVOCATION_MS > dataEnd) throw new RangeError('simulate: a revoked loop would run past the data');
    addCase({ kind: 'case', case: 'revoked', app, platform: platformFor(app), start, count: n, revokeCode }, span);
  }
  for (let i = 0; i < silent; i++) {
    const app = silentApp();
    const n = rng.int(15, 30);
    const span = n * 20_000;
    const start = place('silent loops', () => dayTime(9, 17), span, [clusterKey(app, platformFor(app))]);
    addCase({ kind: 'case', case: 'silent', app, platform: platformFor(app), start, count: n }, span);
  }
  for (let i = 0; i < loopDetected; i++) {
    const app = silentApp();
    const n = rng.int(10, 20);
    const loopRows = rng.int(2, 3);
    const span = (n + loopRows) * 20_000;
    const start = place('LoopDetected loops', () => dayTime(9, 17), span, [clusterKey(app, platformFor(app))]);
    addCase({ kind: 'case', case: 'loop_detected', app, platform: platformFor(app), start, count: n, loopRows }, span);
  }
}

interface Chunk {
  /** Time-sorted. Chunks overlap in time: writers merge them, so the output is in time order as Entra sends it. */
  rows: Row[];
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
      else if (plan?.kind === 'case') truth.push(plantCase(g, plan));
      else if (plan?.kind === 'trap') traps.push(plantTrap(g, plan));
      else if (plan) truth.push(plantBurst(g, plan));
      for (let day = 0; day < s.env.days; day++) background(g, s.env, day);
      for (const r of sink.rows) rows.push(r);
    }
    yield { rows: sortRows(rows), truth, traps };
  }
  const sp = new RowSink(s.env, new Rng(hash32(s.env.seed, 'service-principals')));
  servicePrincipals(s.env, sp, s.spCount);
  yield { rows: sortRows(sp.rows), truth: [], traps: [] };
}

/** Rows of time-sorted sources in one time order (ties: the earlier source first). */
function byTime(a: { t: number; ticks: number; src: number }, b: { t: number; ticks: number; src: number }): number {
  return a.t - b.t || a.ticks - b.ticks || a.src - b.src;
}

function byStart<T extends { start: string; user_id: string }>(a: T, b: T): number {
  return a.start < b.start ? -1 : a.start > b.start ? 1 : a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0;
}

export function simulate(opts: SimulateOptions): Simulation {
  const rows: Array<Row & { src: number }> = [];
  const truth: TruthEntry[] = [];
  const traps: TrapEntry[] = [];
  let src = 0;
  for (const chunk of generate(setup(opts))) {
    for (const r of chunk.rows) rows.push({ ...r, src });
    src++;
    truth.push(...chunk.truth);
    traps.push(...chunk.traps);
  }
  return { records: rows.sort(byTime).map((r) => r.rec), truth: truth.sort(byStart), traps: traps.sort(byStart) };
}

/**
 * The chunks merged into one time order with flat memory: each chunk is spilled to a temp file as it is
 * made (`t`, `ticks`, record JSON per line), then the files are read back together, the earliest line first.
 */
async function* mergedRecords(chunks: Iterable<Chunk>, tmpBase: string, onChunk: (c: Chunk) => void): AsyncGenerator<object> {
  const files: string[] = [];
  try {
    for (const chunk of chunks) {
      onChunk(chunk);
      const f = `${tmpBase}.chunk-${files.length}`;
      files.push(f);
      const ws = createWriteStream(f);
      for (let i = 0; i < chunk.rows.length; i += 1000) {
        const text = chunk.rows.slice(i, i + 1000).map((r) => `${r.t}\t${r.ticks}\t${JSON.stringify(r.rec)}`).join('\n') + '\n';
        if (!ws.write(text)) await once(ws, 'drain');
      }
      ws.end();
      await finished(ws);
    }
    const readers = files.map((f) => createInterface({ input: createReadStream(f), crlfDelay: Infinity })[Symbol.asyncIterator]());
    const head = async (src: number) => {
      const n = await readers[src].next();
      if (n.done) return null;
      const a = n.value.indexOf('\t');
      const b = n.value.indexOf('\t', a + 1);
      return { t: Number(n.value.slice(0, a)), ticks: Number(n.value.slice(a + 1, b)), src, json: n.value.slice(b + 1) };
    };
    const heads = (await Promise.all(readers.map((_, i) => head(i)))).filter((h) => h !== null);
    while (heads.length) {
      let min = 0;
      for (let i = 1; i < heads.length; i++) if (byTime(heads[i], heads[min]) < 0) min = i;
      const h = heads[min];
      yield JSON.parse(h.json) as object;
      const next = await head(h.src);
      if (next) heads[min] = next;
      else heads.splice(min, 1);
    }
  } finally {
    for (const f of files) await rm(f, { force: true });
  }
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
    let lines: string[] = [];
    const merged = mergedRecords(generate(s), opts.out, (chunk) => {
      truth.push(...chunk.truth);
      traps.push(...chunk.traps);
    });
    for await (const rec of merged) {
      enc.push(rec as Parameters<ShapeEncoder['push']>[0], lines);
      records++;
      if (lines.length >= 1000) {
        await write(lines);
        lines = [];
      }
    }
    await write(lines);
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
      pausedLoops: opts.pausedLoops, slowLoops: opts.slowLoops, silentLoops: opts.silentLoops, loopDetected: opts.loopDetected,
      revokedLoops: opts.revokedLoops, falseChain: opts.falseChain, multiPartIncident: opts.multiPartIncident,
    };
    const doc = { tenant_id: s.env.tenantId, options, shape: opts.shape, records, truth: truth.sort(byStart), traps: traps.sort(byStart) };
    await writeFile(opts.truthOut, JSON.stringify(doc, null, 2) + '\n');
  }
  return { records, bytes };
}
