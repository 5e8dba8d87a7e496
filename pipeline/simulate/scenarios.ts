// Users, background traffic, planted cases (loops, bursts, incident) and traps.

import { APPS, App, FIRST_NAMES, FOREIGN, LAST_NAMES, LAPTOP_APPS, Net, OFFICES, PHONE_APPS, Platform, SERVICE_PRINCIPAL_NAMES } from './catalog';
import { AuthSpec, DAY_MS, Device, Env, MIN_MS, Row, RowSink, SimUser, isoMs } from './records';
import { Rng, guidFromKey } from './rng';

/** Which plan made a truth entry. */
export type CaseName = 'loop' | 'paused' | 'slow' | 'silent' | 'loop_detected' | 'revoked' | 'chain' | 'incident' | 'multi_incident' | 'denial' | 'failure';

export interface TruthEntry {
  kind: 'reauth_loop' | 'silent_loop' | 'mfa_denial_burst' | 'failure_burst';
  user_id: string;
  user_principal_name: string;
  app_id: string;
  device_id: string | null;
  /** First and last interactive row of the case. */
  start: string;
  end: string;
  /** Flows: prompt flows for reauth_loop and bursts; silent sign-ins plus 50196 rows for silent_loop. */
  prompts: number;
  incident: boolean;
  straggler: boolean;
  case?: CaseName;
  /** Loops only: did it stop inside the simulated data, and why. */
  outcome?: 'stopped' | 'stopped_after_revocation' | 'still_looping';
  /** silent_loop with 50196 (LoopDetected) rows. */
  loop_signal?: true;
  /** One of the false-chain users: a real loop that must not form a cluster. */
  chain?: true;
  /** Incident entries: 'main' (the single-app incident) or 'multi' (the multi-part incident). */
  incident_id?: string;
  /** Multi-part incident: 'outlook-mobile/ios', 'outlook-mobile/android' or 'outlook-desktop/mac'. */
  incident_part?: string;
}

export interface TrapEntry {
  trap: string;
  user_id: string;
  app_id: string;
  start: string;
}

export const TRAP_KINDS = [
  'mfa_kmsi_interrupt', // 50074 -> 50140 -> 0 in one flow
  'password_retry', // 50126, 50126, 0 in one flow
  'morning_sso_burst', // one prompt then silent SSO on 4 apps
  'hourly_sif_prompts', // sign-in frequency of 1 h, 8 h long
  'two_prompts_spaced', // two prompt flows 6-10 min apart
  'dense_noninteractive_refresh', // 40 NI rows in 10 min
  'multi_row_success', // one success logged as 3 rows with one id
] as const;
export type TrapKind = (typeof TRAP_KINDS)[number];

export interface LoopPlan {
  kind: 'reauth_loop';
  app: App;
  platform: Platform;
  start: number;
  prompts?: number; // fixed number of flows, or
  stopAt?: number; // loop until this time (incident)
  noDevice: boolean;
  incident: boolean;
  straggler: boolean;
  case: 'loop' | 'incident' | 'chain' | 'multi_incident';
  incidentId?: string;
  incidentPart?: string;
}
/** The loop variants planted on request (all off by default). */
export interface CasePlan {
  kind: 'case';
  case: 'paused' | 'slow' | 'silent' | 'loop_detected' | 'revoked';
  app: App;
  platform: Platform;
  start: number;
  /** paused: prompt flows per burst. */
  bursts?: number[];
  /** revoked: loop prompts before the revocation; silent, loop_detected: silent sign-ins. */
  count?: number;
  /** loop_detected: 50196 rows. */
  loopRows?: number;
  /** revoked: 50173 or 50133 on the non-interactive row. */
  revokeCode?: number;
}
export interface BurstPlan {
  kind: 'mfa_denial_burst' | 'failure_burst';
  start: number;
  flows: number;
  finalSuccess: boolean;
}
export interface TrapPlan {
  kind: 'trap';
  trap: TrapKind;
  start: number;
}
export type Plan = LoopPlan | CasePlan | BurstPlan | TrapPlan;

const SEC = 1000;
/** Background rows this close to a planted case are dropped so they cannot blur it. */
export const QUIET_MS = 15 * MIN_MS;
/** After a revocation-stopped loop nothing happens on that user + app + device for this long. */
export const AFTER_REVOCATION_MS = 120 * MIN_MS;

function makeDevice(rng: Rng, platform: Platform, name: string, registered: boolean): Device {
  if (!registered) return { platform, deviceId: '', displayName: '', isCompliant: false, isManaged: false, trustType: '' };
  const corporate = platform === 'windows' || platform === 'mac';
  return {
    platform,
    deviceId: rng.guid(),
    displayName: name,
    isCompliant: corporate ? rng.chance(0.9) : rng.chance(0.6),
    isManaged: corporate,
    trustType: corporate ? (rng.chance(0.7) ? 'Azure AD joined' : 'Hybrid Azure AD joined') : 'Azure AD registered',
  };
}

/** Platforms a plan needs, so the user's devices can be made to match it. */
function forcedPlatforms(plan: Plan | undefined): { laptop?: Platform; phone?: Platform; phoneRegistered?: boolean; laptopRegistered?: boolean } {
  if (!plan || (plan.kind !== 'reauth_loop' && plan.kind !== 'case')) return {};
  const noDevice = plan.kind === 'reauth_loop' && plan.noDevice;
  if (plan.app.client === 'mobile') return { phone: plan.platform, phoneRegistered: !noDevice };
  return { laptop: plan.platform, laptopRegistered: !noDevice };
}

export function makeUser(env: Env, rng: Rng, idx: number, width: number, plan: Plan | undefined, hostileName: string | undefined): SimUser {
  const n = String(idx + 1).padStart(width, '0');
  const upn = `user${n}@contoso.example`;
  const force = forcedPlatforms(plan);
  const laptopPlatform = force.laptop ?? (rng.chance(0.8) ? 'windows' : 'mac');
  const phonePlatform = force.phone ?? (rng.chance(0.6) ? 'ios' : 'android');
  const laptopReg = force.laptopRegistered ?? rng.chance(0.9);
  const phoneReg = force.phoneRegistered ?? rng.chance(0.8);
  const office = rng.pick(OFFICES);
  const mobile: Net = {
    // Carrier addresses: some IPv6, as in real mobile traffic. Documentation ranges only.
    ip: rng.chance(0.3) ? `2001:db8:${rng.int(1, 0xffff).toString(16)}::${rng.int(1, 0xffff).toString(16)}` : `198.51.100.${rng.int(1, 254)}`,
    city: office.city,
    state: office.state,
    country: office.country,
  };
  const displayName = hostileName ?? `${rng.pick(FIRST_NAMES)} ${rng.pick(LAST_NAMES)}`;
  return {
    idx,
    id: guidFromKey(env.seed, 'user-id', idx),
    upn,
    // ~1% of users are logged with a mixed-case UPN outside Graph; Graph lower-cases.
    upnAsLogged: rng.chance(0.01) ? `User${n}@Contoso.example` : upn,
    displayName,
    laptop: makeDevice(rng, laptopPlatform, `LT-${n}`, laptopReg),
    phone: makeDevice(rng, phonePlatform, phonePlatform === 'ios' ? `iPhone-${n}` : `Android-${n}`, phoneReg),
    office,
    mobile,
  };
}

interface Window {
  from: number;
  to: number;
  appId: string;
}

/** Emits rows for one user; knows which device/network an app runs on. */
export class UserGen {
  readonly windows: Window[] = [];

  constructor(
    readonly sink: RowSink,
    readonly user: SimUser,
  ) {}

  get rng(): Rng {
    return this.sink.rng;
  }

  deviceFor(app: App): Device {
    return app.client === 'mobile' ? this.user.phone : this.user.laptop;
  }

  netFor(app: App): Net {
    return app.client === 'mobile' ? this.user.mobile : this.user.office;
  }

  /** 50074 then 0 a few seconds later, one correlationId. Returns the success row. */
  promptFlow(t: number, app: App, opts: { device?: Device; net?: Net; minDt?: number; maxDt?: number } = {}): Row {
    const rng = this.rng;
    const device = opts.device ?? this.deviceFor(app);
    const net = opts.net ?? this.netFor(app);
    const corr = rng.guid();
    const first: AuthSpec['method'] = rng.chance(0.5) ? 'Password' : 'Previously satisfied';
    this.sink.userRow(this.user, { t, app, device, net, code: 50074, corr, interactive: true, mfa: true, auth: [{ method: first, ok: true }] });
    const dt = rng.int(opts.minDt ?? 3 * SEC, opts.maxDt ?? 10 * SEC);
    return this.sink.userRow(this.user, {
      t: t + dt,
      app,
      device,
      net,
      code: 0,
      corr,
      interactive: true,
      mfa: true,
      auth: [
        { method: first, ok: true, dt: -dt },
        { method: 'Mobile app notification', ok: true, dt: -rng.int(0, 1500) },
      ],
    });
  }

  /** Interactive success satisfied by the existing session: not a prompt. */
  sso(t: number, app: App, corr?: string, id?: string): Row {
    return this.sink.userRow(this.user, {
      t,
      app,
      device: this.deviceFor(app),
      net: this.netFor(app),
      code: 0,
      corr: corr ?? this.rng.guid(),
      id,
      interactive: true,
      auth: [{ method: 'Previously satisfied', ok: true }],
    });
  }

  refresh(t: number, app: App, code = 0): Row {
    const rng = this.rng;
    return this.sink.userRow(this.user, {
      t,
      app,
      device: this.deviceFor(app),
      net: this.netFor(app),
      code,
      corr: rng.guid(),
      interactive: false,
      incomingTokenType: rng.chance(0.3) ? 'primaryRefreshToken' : 'refreshToken',
      auth: code === 0 && rng.chance(0.3) ? [{ method: 'Previously satisfied', ok: true }] : [],
    });
  }

  /** Runs fn; drops everything it emitted if it comes near a planted case or trap. */
  group(fn: () => void): void {
    const rows = this.sink.rows;
    const mark = rows.length;
    fn();
    for (let i = mark; i < rows.length; i++) {
      const p = rows[i].rec.properties;
      for (const w of this.windows) {
        if (rows[i].t >= w.from - QUIET_MS && rows[i].t <= w.to + QUIET_MS && (p.isInteractive || p.appId === w.appId)) {
          rows.length = mark;
          return;
        }
      }
    }
  }

  /** Record the span of rows emitted since mark as a quiet window for background traffic. */
  markWindow(mark: number): { first: number; last: number } {
    const rows = this.sink.rows.slice(mark);
    const inter = rows.filter((r) => r.rec.properties.isInteractive);
    const all = rows.map((r) => r.t);
    for (const appId of new Set(rows.map((r) => r.rec.properties.appId))) {
      this.windows.push({ from: Math.min(...all), to: Math.max(...all), appId });
    }
    const src = inter.length > 0 ? inter : rows;
    return { first: Math.min(...src.map((r) => r.t)), last: Math.max(...src.map((r) => r.t)) };
  }
}

function truthOf(g: UserGen, kind: TruthEntry['kind'], app: App, device: Device, span: { first: number; last: number }, prompts: number, incident = false, straggler = false): TruthEntry {
  return {
    kind,
    user_id: g.user.id,
    user_principal_name: g.user.upn,
    app_id: app.id,
    device_id: device.deviceId === '' ? null : device.deviceId,
    start: isoMs(span.first),
    end: isoMs(span.last),
    prompts,
    incident,
    straggler,
  };
}

/** A loop that ends within this long of the end of the data may still be going on. */
function outcomeOf(g: UserGen, span: { last: number }): 'stopped' | 'still_looping' {
  const dataEnd = g.sink.env.startMs + g.sink.env.days * DAY_MS;
  return dataEnd - span.last < QUIET_MS ? 'still_looping' : 'stopped';
}

/**
 * Prompt flows (50074 -> 0) from t until done(flows, lastSuccess); gapLo-gapHi from each success to the next
 * prompt, with a 7004x refresh failure after the first flow and after about half of the others.
 */
function promptRun(g: UserGen, app: App, t: number, done: (flows: number, ok: Row) => boolean, gapLo = 15 * SEC, gapHi = 60 * SEC): Row {
  const rng = g.rng;
  let flows = 0;
  for (;;) {
    const ok = g.promptFlow(t, app);
    flows++;
    if (done(flows, ok)) return ok;
    const gap = rng.int(gapLo, gapHi);
    // The app's token refresh fails on sign-in frequency, which is what sends the user back to the prompt.
    if (flows === 1 || rng.chance(0.5)) g.refresh(ok.t + rng.int(SEC, gap - SEC), app, rng.chance(0.7) ? 70044 : 70043);
    t = ok.t + gap;
  }
}

/** Reauth loop: >= 6 (50074 -> 0) flows, 15-60 s between success and next prompt, 7004x refreshes in between. */
export function plantLoop(g: UserGen, plan: LoopPlan): TruthEntry {
  const mark = g.sink.rows.length;
  const app = plan.app;
  const device = g.deviceFor(app);
  let flows = 0;
  promptRun(g, app, plan.start, (n, ok) => {
    flows = n;
    return plan.prompts !== undefined ? n >= plan.prompts : ok.t >= (plan.stopAt ?? 0) && n >= 8;
  });
  const span = g.markWindow(mark);
  const truth = truthOf(g, 'reauth_loop', app, device, span, flows, plan.incident, plan.straggler);
  truth.case = plan.case;
  truth.outcome = outcomeOf(g, span);
  if (plan.case === 'chain') truth.chain = true;
  if (plan.incidentId !== undefined) truth.incident_id = plan.incidentId;
  if (plan.incidentPart !== undefined) truth.incident_part = plan.incidentPart;
  return truth;
}

/** A 50196 (LoopDetected) row: interactive, nothing asked of the user, its own id and correlation id. */
function loopDetectedRow(g: UserGen, t: number, app: App): Row {
  return g.sink.userRow(g.user, {
    t,
    app,
    device: g.deviceFor(app),
    net: g.netFor(app),
    code: 50196,
    corr: g.rng.guid(),
    interactive: true,
    auth: [{ method: 'Previously satisfied', ok: true }],
  });
}

/**
 * The loop variants:
 * - paused: 2-4 bursts of 5-10 prompt flows (20-60 s from a success to the next prompt), 5-12 min pauses between bursts.
 * - slow: a prompt flow every 120-240 s (start to start) for about an hour.
 * - silent: 15-30 interactive silent SSO successes ("Previously satisfied" only), 3-20 s apart, each its own sign-in.
 * - loop_detected: 10-20 such silent sign-ins and 2-3 50196 rows alternating with the last of them, 3-20 s apart.
 * - revoked: 8-12 prompt flows (30-90 s apart), a non-interactive 50173/50133 20-60 s later, one more prompt flow
 *   20-60 s after that, then nothing on that user + app + device for two hours.
 */
export function plantCase(g: UserGen, plan: CasePlan): TruthEntry {
  const rng = g.rng;
  const mark = g.sink.rows.length;
  const app = plan.app;
  const device = g.deviceFor(app);
  const refreshFail = (): number => (rng.chance(0.7) ? 70044 : 70043);
  let flows = 0;
  let t = plan.start;
  switch (plan.case) {
    case 'paused': {
      const bursts = plan.bursts ?? [];
      bursts.forEach((n, b) => {
        const last = promptRun(g, app, t, (k) => k >= n, 20 * SEC, 60 * SEC);
        flows += n;
        if (b === bursts.length - 1) return;
        // The user puts the phone down; the app keeps failing its refresh meanwhile.
        const pause = rng.int(5 * MIN_MS, 12 * MIN_MS);
        if (rng.chance(0.5)) g.refresh(last.t + rng.int(SEC, pause - SEC), app, refreshFail());
        t = last.t + pause;
      });
      break;
    }
    case 'slow': {
      const until = plan.start + 60 * MIN_MS;
      for (;;) {
        const ok = g.promptFlow(t, app);
        flows++;
        const step = rng.int(120 * SEC, 240 * SEC);
        if (t + step > until) break;
        if (flows === 1 || rng.chance(0.5)) g.refresh(ok.t + rng.int(SEC, t + step - ok.t - SEC), app, refreshFail());
        t += step;
      }
      break;
    }
    case 'silent':
    case 'loop_detected': {
      const silent = plan.count ?? 0;
      const signals = plan.case === 'loop_detected' ? (plan.loopRows ?? 0) : 0;
      const total = silent + signals;
      // 50196 rows alternate with silent successes at the end; the last row is a 50196.
      const isSignal = (i: number): boolean => i >= total - 2 * signals && (total - 1 - i) % 2 === 0;
      for (let i = 0; i < total; i++) {
        if (i > 0) t += rng.int(3 * SEC, 20 * SEC);
        if (isSignal(i)) loopDetectedRow(g, t, app);
        else g.sso(t, app);
        flows++;
      }
      const span = g.markWindow(mark);
      const truth = truthOf(g, 'silent_loop', app, device, span, flows);
      truth.case = plan.case;
      truth.outcome = outcomeOf(g, span);
      if (signals > 0) truth.loop_signal = true;
      return truth;
    }
    case 'revoked': {
      const n = plan.count ?? 8;
      const last = promptRun(g, app, t, (k) => k >= n, 30 * SEC, 90 * SEC);
      // The admin revokes the user's sessions: the app's next refresh is refused, then one clean sign-in ends the loop.
      const revokedAt = last.t + rng.int(20 * SEC, 60 * SEC);
      g.refresh(revokedAt, app, plan.revokeCode ?? 50173);
      const final = g.promptFlow(revokedAt + rng.int(20 * SEC, 60 * SEC), app);
      flows = n + 1;
      const span = g.markWindow(mark);
      g.windows.push({ from: final.t, to: final.t + AFTER_REVOCATION_MS, appId: app.id });
      const truth = truthOf(g, 'reauth_loop', app, device, span, flows);
      truth.case = 'revoked';
      truth.outcome = 'stopped_after_revocation';
      return truth;
    }
  }
  const span = g.markWindow(mark);
  const truth = truthOf(g, 'reauth_loop', app, device, span, flows);
  truth.case = plan.case;
  truth.outcome = outcomeOf(g, span);
  return truth;
}

/** MFA fatigue from a foreign IP, or a run of wrong passwords. */
export function plantBurst(g: UserGen, plan: BurstPlan): TruthEntry {
  const rng = g.rng;
  const mark = g.sink.rows.length;
  const app = APPS.officeHome;
  let prompts = 0;
  let t = plan.start;
  if (plan.kind === 'mfa_denial_burst') {
    const device: Device = { platform: 'windows', deviceId: '', displayName: '', isCompliant: false, isManaged: false, trustType: '' };
    const place = rng.pick(FOREIGN);
    const net: Net = { ip: `192.0.2.${rng.int(1, 254)}`, ...place };
    for (let i = 0; i < plan.flows; i++) {
      const corr = rng.guid();
      const u = g.user;
      g.sink.userRow(u, { t, app, device, net, code: 50074, corr, interactive: true, mfa: true, auth: [{ method: 'Password', ok: true }] });
      const dt = rng.int(5 * SEC, 15 * SEC);
      g.sink.userRow(u, {
        t: t + dt, app, device, net, code: 500121, corr, interactive: true, mfa: true,
        auth: [{ method: 'Password', ok: true, dt: -dt }, { method: 'Mobile app notification', ok: false }],
      });
      prompts++;
      t += rng.int(20 * SEC, 60 * SEC);
    }
    if (plan.finalSuccess) {
      g.promptFlow(t, app, { device, net, minDt: 4 * SEC, maxDt: 12 * SEC });
      prompts++;
    }
    const truth = truthOf(g, 'mfa_denial_burst', app, device, g.markWindow(mark), prompts);
    truth.case = 'denial';
    return truth;
  }
  const device = g.user.laptop;
  for (let i = 0; i < plan.flows; i++) {
    g.sink.userRow(g.user, { t, app, device, net: g.user.office, code: 50126, corr: rng.guid(), interactive: true, auth: [{ method: 'Password', ok: false }] });
    prompts++;
    t += rng.int(10 * SEC, 40 * SEC);
  }
  const truth = truthOf(g, 'failure_burst', app, device, g.markWindow(mark), prompts);
  truth.case = 'failure';
  return truth;
}

/** Benign patterns that a naive detector would flag. */
export function plantTrap(g: UserGen, plan: TrapPlan): TrapEntry {
  const rng = g.rng;
  const u = g.user;
  const mark = g.sink.rows.length;
  const t0 = plan.start;
  let app: App = APPS.office;
  switch (plan.trap) {
    case 'mfa_kmsi_interrupt': {
      app = APPS.officeHome;
      const device = g.deviceFor(app);
      const net = g.netFor(app);
      const corr = rng.guid();
      const t1 = t0 + rng.int(3 * SEC, 8 * SEC);
      const t2 = t1 + rng.int(4 * SEC, 10 * SEC);
      g.sink.userRow(u, { t: t0, app, device, net, code: 50074, corr, interactive: true, mfa: true, auth: [{ method: 'Password', ok: true }] });
      g.sink.userRow(u, { t: t1, app, device, net, code: 50140, corr, interactive: true, mfa: true, auth: [{ method: 'Password', ok: true, dt: t0 - t1 }, { method: 'Mobile app notification', ok: true }] });
      g.sink.userRow(u, { t: t2, app, device, net, code: 0, corr, interactive: true, mfa: true, auth: [{ method: 'Password', ok: true, dt: t0 - t2 }, { method: 'Mobile app notification', ok: true, dt: t1 - t2 }] });
      break;
    }
    case 'password_retry': {
      app = APPS.officeHome;
      const device = g.deviceFor(app);
      const net = g.netFor(app);
      const corr = rng.guid();
      const t1 = t0 + rng.int(5 * SEC, 15 * SEC);
      const t2 = t1 + rng.int(10 * SEC, 23 * SEC);
      g.sink.userRow(u, { t: t0, app, device, net, code: 50126, corr, interactive: true, auth: [{ method: 'Password', ok: false }] });
      g.sink.userRow(u, { t: t1, app, device, net, code: 50126, corr, interactive: true, auth: [{ method: 'Password', ok: false }] });
      g.sink.userRow(u, { t: t2, app, device, net, code: 0, corr, interactive: true, auth: [{ method: 'Password', ok: true }] });
      break;
    }
    case 'morning_sso_burst': {
      app = APPS.office;
      const ok = g.promptFlow(t0, app);
      const others = rng.shuffle(LAPTOP_APPS.filter((a) => a.id !== app.id).slice()).slice(0, 4);
      let t = ok.t;
      for (const other of others) {
        t += rng.int(5 * SEC, 25 * SEC);
        g.sso(t, other);
      }
      break;
    }
    case 'hourly_sif_prompts': {
      app = APPS.teams;
      for (let h = 0; h < 8; h++) g.promptFlow(t0 + h * 60 * MIN_MS + rng.int(0, 30 * SEC), app);
      break;
    }
    case 'two_prompts_spaced': {
      app = APPS.outlookMobile;
      const ok = g.promptFlow(t0, app);
      g.promptFlow(ok.t + rng.int(6 * MIN_MS, 10 * MIN_MS - 15 * SEC), app);
      break;
    }
    case 'dense_noninteractive_refresh': {
      app = APPS.teams;
      const times = Array.from({ length: 40 }, () => t0 + rng.int(0, 10 * MIN_MS - SEC)).sort((a, b) => a - b);
      for (const t of times) g.refresh(t, app, rng.chance(0.15) ? 70044 : 0);
      break;
    }
    case 'multi_row_success': {
      app = APPS.officeHome;
      const device = g.deviceFor(app);
      const net = g.netFor(app);
      const corr = rng.guid();
      const id = rng.guid();
      g.sink.userRow(u, { t: t0, app, device, net, code: 0, corr, id, interactive: true, auth: [{ method: 'Password', ok: true }] });
      const t1 = t0 + rng.int(1 * SEC, 2 * SEC);
      g.sso(t1, app, corr, id);
      g.sso(t1 + rng.int(1 * SEC, 2 * SEC), app, corr, id);
      break;
    }
  }
  const span = g.markWindow(mark);
  return { trap: plan.trap, user_id: u.id, app_id: app.id, start: isoMs(Math.min(span.first, t0)) };
}

/** Ordinary day: morning login, SSO fan-out, refreshes every 30-90 min, a few silent SSOs. */
export function background(g: UserGen, env: Env, day: number): void {
  const rng = g.rng;
  const dayStart = env.startMs + day * DAY_MS;
  const weekday = new Date(dayStart).getUTCDay();
  if ((weekday === 0 || weekday === 6) && !rng.chance(0.2)) return;
  const login = dayStart + 7 * 60 * MIN_MS + rng.int(0, 150 * MIN_MS);
  const first = rng.pick([APPS.windowsSignIn, APPS.office, APPS.officeHome, APPS.teams]);
  let t = login;
  g.group(() => {
    // Most mornings need MFA; some ride a PRT that already carries the MFA claim.
    if (rng.chance(0.75)) t = g.promptFlow(login, first).t;
    else g.sso(login, first);
  });
  const userApps = [...LAPTOP_APPS, ...PHONE_APPS].filter((a) => a.id !== first.id || a.client !== first.client);
  for (const app of rng.shuffle(userApps.slice()).slice(0, rng.int(3, 5))) {
    t += rng.int(10 * SEC, 150 * SEC);
    const at = t;
    g.group(() => g.sso(at, app));
  }
  const refreshApps = rng.shuffle(userApps.slice()).slice(0, rng.int(2, 4));
  const endOfDay = login + rng.int(510, 600) * MIN_MS;
  for (let tick = login + rng.int(20, 60) * MIN_MS; tick < endOfDay; tick += rng.int(30, 90) * MIN_MS) {
    for (const app of refreshApps) {
      const at = tick + rng.int(0, 120 * SEC);
      const r = rng.next();
      // Rare refresh-token failures happen in healthy tenants too.
      const code = r < 0.008 ? 70008 : r < 0.015 ? 50173 : 0;
      g.group(() => g.refresh(at, app, code));
    }
  }
  const extra = rng.int(2, 5);
  for (let i = 0; i < extra; i++) {
    const app = rng.pick(userApps);
    const at = login + rng.int(30 * MIN_MS, endOfDay - login);
    g.group(() => g.sso(at, app));
  }
}

/** Service principals: a few token requests per hour each. */
export function servicePrincipals(env: Env, sink: RowSink, count: number): void {
  const rng = sink.rng;
  const sps = Array.from({ length: count }, (_, i) => ({
    id: guidFromKey(env.seed, 'sp-id', i),
    appId: guidFromKey(env.seed, 'sp-app', i),
    name: i < SERVICE_PRINCIPAL_NAMES.length ? SERVICE_PRINCIPAL_NAMES[i] : `automation-${i}`,
    net: { ip: `192.0.2.${200 + (i % 50)}`, city: 'Amsterdam', state: 'Noord-Holland', country: 'NL' } as Net,
  }));
  for (let hour = 0; hour < env.days * 24; hour++) {
    for (const sp of sps) {
      const n = rng.int(0, 2);
      for (let k = 0; k < n; k++) {
        const t = env.startMs + hour * 60 * MIN_MS + rng.int(0, 60 * MIN_MS - 1);
        sink.spRow(t, sp, sp.net, rng.chance(0.01) ? 7000215 : 0);
      }
    }
  }
}
