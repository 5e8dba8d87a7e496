// Users, background traffic, planted cases (loops, bursts, incident) and traps.

import { APPS, App, FIRST_NAMES, FOREIGN, LAST_NAMES, LAPTOP_APPS, Net, OFFICES, PHONE_APPS, Platform, SERVICE_PRINCIPAL_NAMES } from './catalog';
import { AuthSpec, DAY_MS, Device, Env, MIN_MS, Row, RowSink, SimUser, isoMs } from './records';
import { Rng, guidFromKey } from './rng';

export interface TruthEntry {
  kind: 'reauth_loop' | 'mfa_denial_burst' | 'failure_burst';
  user_id: string;
  user_principal_name: string;
  app_id: string;
  device_id: string | null;
  start: string;
  end: string;
  prompts: number;
  incident: boolean;
  straggler: boolean;
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
export type Plan = LoopPlan | BurstPlan | TrapPlan;

const SEC = 1000;
/** Background rows this close to a planted case are dropped so they cannot blur it. */
const QUIET_MS = 15 * MIN_MS;

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
  if (!plan || plan.kind !== 'reauth_loop') return {};
  if (plan.app.client === 'mobile') return { phone: plan.platform, phoneRegistered: !plan.noDevice };
  return { laptop: plan.platform, laptopRegistered: !plan.noDevice };
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

/** Reauth loop: >= 6 (50074 -> 0) flows, 15-60 s between success and next prompt, 7004x refreshes in between. */
export function plantLoop(g: UserGen, plan: LoopPlan): TruthEntry {
  const rng = g.rng;
  const mark = g.sink.rows.length;
  const app = plan.app;
  const device = g.deviceFor(app);
  let t = plan.start;
  let flows = 0;
  for (;;) {
    const ok = g.promptFlow(t, app);
    flows++;
    const done = plan.prompts !== undefined ? flows >= plan.prompts : ok.t >= (plan.stopAt ?? 0) && flows >= 8;
    if (done) break;
    const gap = rng.int(15 * SEC, 60 * SEC);
    // The app's token refresh fails on sign-in frequency, which is what sends the user back to the prompt.
    if (flows === 1 || rng.chance(0.5)) g.refresh(ok.t + rng.int(SEC, gap - SEC), app, rng.chance(0.7) ? 70044 : 70043);
    t = ok.t + gap;
  }
  return truthOf(g, 'reauth_loop', app, device, g.markWindow(mark), flows, plan.incident, plan.straggler);
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
    return truthOf(g, 'mfa_denial_burst', app, device, g.markWindow(mark), prompts);
  }
  const device = g.user.laptop;
  for (let i = 0; i < plan.flows; i++) {
    g.sink.userRow(g.user, { t, app, device, net: g.user.office, code: 50126, corr: rng.guid(), interactive: true, auth: [{ method: 'Password', ok: false }] });
    prompts++;
    t += rng.int(10 * SEC, 40 * SEC);
  }
  return truthOf(g, 'failure_burst', app, device, g.markWindow(mark), prompts);
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
