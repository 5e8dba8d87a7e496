import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { atomicWrite } from '../lake/lake';
import type { Alert, AlertAction, AlertSeverity, FlaggedSession, LoopCluster } from '../domain/findings';

/**
 * Turns successive detection results into alerts: a loop (or cluster) is `opened` when first flagged,
 * `updated` when it grows or changes severity, and `closed` when it has ended. Every alert about one loop
 * carries the same subject_id and a version that only grows, so a SIEM can correlate and dedupe.
 *
 * The subject is the id detection gives (stable: the lake's registry keeps the id a loop was first found
 * with, queries/detect/loops.sql), so subject_id is the id `detect`, `loops` and `explain` show. A subject
 * that merged into another (its id is now an alias of an older one) is closed with `merged_into`.
 */
export interface TrackerOptions {
  /** Growth alone produces at most one `updated` per loop this often (default 60 s); severity changes go at once. */
  updateEverySeconds: number;
  /** ... or when it has not grown for this long by the wall clock (a tenant that went quiet). */
  idleCloseSeconds: number;
  /** Sign-ins may arrive this late: a stopped subject closes once the data is this far past its end. */
  lateSeconds: number;
}

interface Tracked {
  subject: 'loop' | 'cluster';
  subject_id: string;
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
  /**
   * Closed subjects dropped from `tracked` to keep the state small, by id with their end: late sign-ins can
   * bring one back into the window, and closed is final, so it is not alerted again. Kept for two days.
   */
  closed?: Record<string, string>;
  /** Alerts produced but not yet in every sink's outbox: handed out again after a crash. */
  pending: Alert[];
}

export interface RoundInput {
  loops: FlaggedSession[];
  clusters: LoopCluster[];
  watermark: string | null;
  /**
   * How far the data the round judged reaches (the newest sign-in, or less while a partition catches up);
   * null when the source has delivered everything, so a stopped subject closes without waiting for late data.
   */
  asOf: string | null;
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

  /** Whether this loop or cluster id has been alerted. */
  knows(id: string): boolean {
    return id in this.state.tracked || this.state.closed?.[id] !== undefined;
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
    for (const row of input.loops) this.observe('loop', row.loop_id, row, nowIso, out);
    for (const row of input.clusters) this.observe('cluster', row.cluster_id, row, nowIso, out);
    this.closeEnded(now, input.asOf, out);
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

  private observe(subject: 'loop' | 'cluster', id: string, row: FlaggedSession | LoopCluster, nowIso: string, out: Alert[]): void {
    // Subjects merged into this one end here; their story goes on under this id.
    for (const alias of row.aliases) {
      const merged = this.state.tracked[alias];
      if (merged && merged.action !== 'closed') out.push(this.emit(merged, 'closed', nowIso, id));
    }
    // Closed and forgotten: late sign-ins brought it back into the window; closed is final.
    if (this.state.closed?.[id] !== undefined) return;
    const t = this.state.tracked[id];
    const size = sizeOf(row);
    if (!t) {
      const fresh: Tracked = {
        subject,
        subject_id: id,
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
   * detect/episodes.sql), a cluster when none of its members is still looping, once the data reaches
   * lateSeconds past its end (late sign-ins could still extend it); either also when it has not grown for
   * idleCloseSeconds on the wall clock (a tenant whose logs stopped arriving).
   */
  private closeEnded(now: Date, asOf: string | null, out: Alert[]): void {
    for (const t of Object.values(this.state.tracked)) {
      if (t.action === 'closed') continue;
      const stopped = isLoop(t.row) ? t.row.status !== 'looping' : t.row.users_still_looping.length === 0;
      const settled = asOf === null || Date.parse(asOf) - Date.parse(t.row.end) >= this.opts.lateSeconds * 1000;
      const quietInData = stopped && settled;
      const quietOnClock = now.getTime() - Date.parse(t.last_growth_at) >= this.opts.idleCloseSeconds * 1000;
      if (quietInData || quietOnClock) out.push(this.emit(t, 'closed', now.toISOString()));
    }
  }

  /** Closed subjects the window has moved past leave the state, as an id and end kept for two days of data. */
  private forget(windowStart: string): void {
    const closed = (this.state.closed ??= {});
    for (const [id, t] of Object.entries(this.state.tracked)) {
      if (t.action === 'closed' && t.row.end < windowStart) {
        closed[id] = t.row.end;
        delete this.state.tracked[id];
      }
    }
    const keepFrom = this.state.watermark ? new Date(Date.parse(this.state.watermark) - 2 * 86_400_000).toISOString() : null;
    if (keepFrom) for (const [id, end] of Object.entries(closed)) if (end < keepFrom) delete closed[id];
  }

  private emit(t: Tracked, action: AlertAction, nowIso: string, mergedInto?: string): Alert {
    t.version += 1;
    t.action = action;
    t.severity = severityOf(t.row);
    t.emitted = { size: sizeOf(t.row), end: t.row.end, severity: t.severity, context: contextOf(t.row) };
    t.last_emitted_at = nowIso;
    if (t.version === 1) t.first_emitted_at = nowIso;
    return buildAlert(t, nowIso, mergedInto);
  }

  private async save(): Promise<void> {
    await atomicWrite(this.path, JSON.stringify(this.state));
  }
}

function isLoop(row: FlaggedSession | LoopCluster): row is FlaggedSession {
  return 'loop_id' in row;
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

function buildAlert(t: Tracked, nowIso: string, mergedInto?: string): Alert {
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
    ...(mergedInto ? { merged_into: mergedInto } : {}),
  };
  const ended = mergedInto ? ` merged into ${mergedInto}` : t.action === 'closed' ? ' ended' : '';
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
