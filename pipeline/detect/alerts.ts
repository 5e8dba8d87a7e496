import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { atomicWrite } from '../lake/lake';
import type { Alert, AlertAction, AlertSeverity, FlaggedSession, LoopCluster } from '../sink/types';

/**
 * Turns successive detection results into alerts: a loop (or cluster) is `opened` when first flagged,
 * `updated` when it grows or changes severity, and `closed` when it has ended. Every alert about one loop
 * carries the same subject_id and a version that only grows, so a SIEM can correlate and dedupe.
 *
 * The SQL names a loop by its user, app, device and first prompt. When late events move a loop's start,
 * the SQL's id changes; the tracker keeps the first id as the subject and matches the loop by its key and
 * overlapping time, so it is not alerted twice.
 */
export interface TrackerOptions {
  /** Growth alone produces at most one `updated` per loop this often (default 60 s); severity changes go at once. */
  updateEverySeconds: number;
  /**
   * How far apart in time two detection rows of one user + app + device may be and still be the same loop
   * (late sign-ins that move an episode's start change the SQL's id): the episode pause, pause_secs.
   */
  matchSlackSeconds: number;
  /** ... or when it has not grown for this long by the wall clock (a tenant that went quiet). */
  idleCloseSeconds: number;
}

interface Tracked {
  subject: 'loop' | 'cluster';
  subject_id: string;
  /** Detection ids this subject has had (the SQL's loop_id/cluster_id). */
  ids: string[];
  key: string;
  version: number;
  action: AlertAction;
  severity: AlertSeverity;
  /** What the last emitted version said, to tell growth from noise. */
  emitted: { size: number; end: string; severity: AlertSeverity; context: string };
  first_emitted_at: string;
  last_emitted_at: string;
  /** Wall clock of the last round in which the loop grew. */
  last_growth_at: string;
  row: FlaggedSession | LoopCluster;
}

export interface TrackerState {
  format: 1;
  /** Newest sign-in time seen in the lake: event time, so replays of old data close loops as the data does. */
  watermark: string | null;
  tracked: Record<string, Tracked>;
  /** Alerts produced but not yet in every sink's outbox: handed out again after a crash. */
  pending: Alert[];
}

export interface RoundInput {
  loops: FlaggedSession[];
  clusters: LoopCluster[];
  watermark: string | null;
  /** Loops ending before this cannot be seen again by the window: forget them once closed. */
  windowStart: string;
}

const STATE_FILE = 'alert-state.json';

export class AlertTracker {
  private constructor(
    private readonly path: string,
    private state: TrackerState,
    private readonly opts: TrackerOptions,
  ) {}

  static async open(stateDir: string, opts: TrackerOptions): Promise<AlertTracker> {
    const path = join(stateDir, STATE_FILE);
    let state: TrackerState = { format: 1, watermark: null, tracked: {}, pending: [] };
    try {
      state = JSON.parse(await fsp.readFile(path, 'utf8')) as TrackerState;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new Error(`cannot read the alert state ${path}: ${(e as Error).message}. Restore it from a backup, or move it away to start afresh (open loops would then be alerted again).`);
      }
    }
    return new AlertTracker(path, state, opts);
  }

  get watermark(): string | null {
    return this.state.watermark;
  }

  /** Alerts a crash left between the state file and the outboxes. */
  get pending(): Alert[] {
    return this.state.pending;
  }

  /** Earliest start of a loop or cluster still open: the detection window must reach back to it. */
  earliestOpenStart(): string | null {
    let min: string | null = null;
    for (const t of Object.values(this.state.tracked)) if (t.action !== 'closed' && (min === null || t.row.start < min)) min = t.row.start;
    return min;
  }

  openCount(): { loops: number; clusters: number } {
    const open = Object.values(this.state.tracked).filter((t) => t.action !== 'closed');
    return { loops: open.filter((t) => t.subject === 'loop').length, clusters: open.filter((t) => t.subject === 'cluster').length };
  }

  /**
   * Compares a detection round with what was alerted, returns the new alerts and saves the state with
   * them as pending (durable before anyone sends them). Call delivered() once every outbox holds them.
   */
  async round(input: RoundInput, now: Date): Promise<Alert[]> {
    // All or nothing: a round that fails half-way (a bad row, a full disk) must not leave loops marked as
    // alerted in memory whose alerts were never saved, or they would never be sent.
    const before = structuredClone(this.state);
    try {
      return await this.apply(input, now);
    } catch (e) {
      this.state = before;
      throw e;
    }
  }

  private async apply(input: RoundInput, now: Date): Promise<Alert[]> {
    const out: Alert[] = [];
    const nowIso = now.toISOString();
    if (input.watermark && (!this.state.watermark || input.watermark > this.state.watermark)) this.state.watermark = input.watermark;
    for (const row of input.loops) this.observe('loop', row.loop_id, loopKey(row), row, nowIso, out);
    for (const row of input.clusters) this.observe('cluster', row.cluster_id, clusterKey(row), row, nowIso, out);
    this.closeEnded(now, out);
    this.forget(input.windowStart);
    this.state.pending.push(...out);
    if (out.length || input.watermark) await this.save();
    return out;
  }

  async delivered(): Promise<void> {
    if (!this.state.pending.length) return;
    this.state.pending = [];
    await this.save();
  }

  private observe(subject: 'loop' | 'cluster', id: string, key: string, row: FlaggedSession | LoopCluster, nowIso: string, out: Alert[]): void {
    const t = this.find(subject, id, key, row);
    const size = sizeOf(row);
    if (!t) {
      const fresh: Tracked = {
        subject,
        subject_id: id,
        ids: [id],
        key,
        version: 0,
        action: 'opened',
        severity: severityOf(row),
        emitted: { size, end: row.end, severity: severityOf(row), context: contextOf(row) },
        first_emitted_at: nowIso,
        last_emitted_at: nowIso,
        last_growth_at: nowIso,
        row,
      };
      this.state.tracked[id] = fresh;
      out.push(this.emit(fresh, 'opened', nowIso));
      return;
    }
    if (!t.ids.includes(id)) t.ids.push(id);
    const grew = size > sizeOf(t.row) || row.end > t.row.end;
    if (grew) t.last_growth_at = nowIso;
    t.row = row;
    const sharp = severityOf(row) !== t.emitted.severity || contextOf(row) !== t.emitted.context;
    const grownSinceEmit = size > t.emitted.size || row.end > t.emitted.end;
    // Closed is final: a SIEM closes the case on it. Prompts after the episode stopped form a new episode
    // (a new subject); late sign-ins that extend a closed one only refresh what the state remembers.
    if (t.action === 'closed') return;
    const due = Date.parse(nowIso) - Date.parse(t.last_emitted_at) >= this.opts.updateEverySeconds * 1000;
    if (sharp || (grownSinceEmit && due)) out.push(this.emit(t, 'updated', nowIso));
  }

  /**
   * A loop closes when detection says it stopped (its status as of the newest sign-in: the definition in
   * detect/loops.sql), a cluster when none of its members is still looping; either also when it has not
   * grown for idleCloseSeconds on the wall clock (a tenant whose logs stopped arriving).
   */
  private closeEnded(now: Date, out: Alert[]): void {
    for (const t of Object.values(this.state.tracked)) {
      if (t.action === 'closed') continue;
      const quietInData = isLoop(t.row) ? t.row.status !== 'looping' : t.row.users_still_looping.length === 0;
      const quietOnClock = now.getTime() - Date.parse(t.last_growth_at) >= this.opts.idleCloseSeconds * 1000;
      if (quietInData || quietOnClock) out.push(this.emit(t, 'closed', now.toISOString()));
    }
  }

  /** Closed subjects the window has moved past cannot come back: keep the state small. */
  private forget(windowStart: string): void {
    for (const [id, t] of Object.entries(this.state.tracked)) {
      if (t.action === 'closed' && t.row.end < windowStart) delete this.state.tracked[id];
    }
  }

  private find(subject: 'loop' | 'cluster', id: string, key: string, row: FlaggedSession | LoopCluster): Tracked | undefined {
    const direct = this.state.tracked[id];
    if (direct) return direct;
    const slack = this.opts.matchSlackSeconds * 1000;
    const [s, e] = [Date.parse(row.start), Date.parse(row.end)];
    for (const t of Object.values(this.state.tracked)) {
      if (t.subject !== subject) continue;
      if (t.ids.includes(id)) return t;
      if (t.key === key && Date.parse(t.row.start) - slack <= e && s <= Date.parse(t.row.end) + slack) return t;
    }
    return undefined;
  }

  private emit(t: Tracked, action: AlertAction, nowIso: string): Alert {
    t.version += 1;
    t.action = action;
    t.severity = severityOf(t.row);
    t.emitted = { size: sizeOf(t.row), end: t.row.end, severity: t.severity, context: contextOf(t.row) };
    t.last_emitted_at = nowIso;
    if (t.version === 1) t.first_emitted_at = nowIso;
    return buildAlert(t, nowIso);
  }

  private async save(): Promise<void> {
    await atomicWrite(this.path, JSON.stringify(this.state));
  }
}

function isLoop(row: FlaggedSession | LoopCluster): row is FlaggedSession {
  return 'loop_id' in row;
}

/** Same user, app and device: the SQL's session key, spelled in the ids the alert carries. */
function loopKey(r: FlaggedSession): string {
  return JSON.stringify([r.tenant_id, r.user_id ?? r.user_principal_name, r.app_id ?? r.app_display_name, r.device_id ?? r.device_os]);
}

function clusterKey(r: LoopCluster): string {
  return JSON.stringify([r.tenant_id, r.app_id ?? r.app_display_name, r.os_family, r.client_app_used]);
}

function sizeOf(r: FlaggedSession | LoopCluster): number {
  return isLoop(r) ? r.prompt_count : r.user_count;
}

function severityOf(r: FlaggedSession | LoopCluster): AlertSeverity {
  return isLoop(r) ? r.severity : 'high';
}

/** Changes worth an immediate update besides severity: a loop joining a cluster; a cluster's stragglers. */
function contextOf(r: FlaggedSession | LoopCluster): string {
  return isLoop(r) ? `${r.kind}|${r.cluster_id ?? ''}` : `${r.core_end}|${r.users_still_looping.length}`;
}

const KIND_LABEL: Record<FlaggedSession['kind'], string> = {
  reauth_loop: 'Reauthentication loop',
  mfa_denial_burst: 'MFA denial burst',
  failure_burst: 'Failed sign-in burst',
  silent_loop: 'Silent sign-in loop',
};

function buildAlert(t: Tracked, nowIso: string): Alert {
  const base = {
    schema: 'reauth-loops.alert/1' as const,
    event_id: `${t.subject_id}.v${t.version}`,
    subject_id: t.subject_id,
    version: t.version,
    action: t.action,
    severity: t.severity,
    emitted_at: nowIso,
    first_emitted_at: t.first_emitted_at,
    tenant_id: t.row.tenant_id,
  };
  const ended = t.action === 'closed' ? ' ended' : '';
  if (isLoop(t.row)) {
    const r = t.row;
    const who = r.user_principal_name ?? r.user_id ?? 'unknown user';
    const where = `${r.app_display_name ?? r.app_id ?? 'unknown app'}${r.device_os ? ` on ${r.device_os}` : ''}`;
    return { ...base, kind: 'loop', title: `${KIND_LABEL[r.kind]}${ended}: ${who}, ${where} (${r.prompt_count} prompts)`, reason: r.reason, loop: r };
  }
  const c = t.row;
  const app = c.app_display_name ?? c.app_id ?? 'unknown app';
  const stragglers = c.users_still_looping.length ? `; ${c.users_still_looping.length} user(s) still looping after it subsided` : '';
  return {
    ...base,
    kind: 'cluster',
    title: `Tenant-wide reauthentication loop${ended}: ${c.user_count} users, ${app} on ${c.os_family ?? c.device_os ?? 'unknown OS'}`,
    reason: `${c.user_count} users looping at once on ${app} (${c.os_family ?? 'unknown OS'}, ${c.client_app_used ?? 'unknown client'}) from ${c.start}; peak ${c.peak_users} users at ${c.peak_at}; ${c.prompt_count} prompts; codes ${c.error_codes.slice(0, 6).join(', ') || 'none'}${stragglers}.`,
    cluster: c,
  };
}
