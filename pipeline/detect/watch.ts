import type { DuckDBConnection } from '@duckdb/node-api';
import { Lake, partitionStartOfFile } from '../lake/lake';
import { isoOfMicros } from '../normalize/time';
import { openDuckDB, stringList } from '../sql/duckdb';
import type { ParamValues } from '../sql/queries';
import type { Alert, FlaggedSession, LoopCluster } from '../domain/findings';
import { AlertTracker } from './alerts';
import { allParams, attachLake, resultSet, runLayers } from './detect';
import { saveRegistry, withRegistryLock } from './registry';

/**
 * Continuous detection: every few seconds (or right after the consumer commits), the same SQL layers as
 * `detect` run over a recent window of the lake, and AlertTracker turns the result into alerts.
 *
 * The window reaches back `lookbackMinutes` from the newest sign-in, and further when a loop still open
 * started earlier, so an open loop is always seen whole and keeps the id the SQL gave it.
 */
export interface WatchOptions {
  stateDir: string;
  params?: ParamValues;
  lookbackMinutes?: number;
  updateEverySeconds?: number;
  /** A loop or cluster ends when detection's status says so, or when it has not grown for this long by the wall clock [default 15 min]. */
  idleCloseSeconds?: number;
  /** Sign-ins may arrive this late (event time): a stopped loop closes once the data is this far past its end [default 30 min]. */
  lateSeconds?: number;
  memoryLimit?: string;
  now?: () => Date;
}

export interface RoundResult {
  alerts: Alert[];
  flagged: number;
  clusters: number;
  open: { loops: number; clusters: number };
  watermark: string | null;
  windowStart: string;
  files: number;
  seconds: number;
}

export class LoopWatcher {
  private constructor(
    private readonly lakeDir: string,
    /** One Lake for every round, so each file's footer is checked once, not every round. */
    private readonly lake: Lake,
    private readonly tracker: AlertTracker,
    private readonly db: { conn: DuckDBConnection; close: () => void },
    private readonly params: ParamValues,
    private readonly lookbackMs: number,
    private readonly marginMs: number,
    private readonly now: () => Date,
  ) {}

  /** The lake's files at the last round (null before the first): files new since then say which hours changed. */
  private seen: Set<string> | null = null;

  static async open(lakeDir: string, o: WatchOptions): Promise<LoopWatcher> {
    const params = o.params ?? {};
    const param = (name: string) => Number(params[name] ?? allParams().find((p) => p.name === name)!.default);
    const tracker = await AlertTracker.open(o.stateDir, {
      updateEverySeconds: o.updateEverySeconds ?? 60,
      idleCloseSeconds: o.idleCloseSeconds ?? 900,
      lateSeconds: o.lateSeconds ?? 1800,
    });
    const db = await openDuckDB({ memoryLimit: o.memoryLimit ?? '1GB' });
    // Rows just before an open loop's start decide whether it started there: give the SQL its gaps' worth.
    const marginMs = (param('pause_secs') + param('loop_gap_secs') + param('flow_gap_secs') + param('cluster_gap_secs')) * 1000;
    return new LoopWatcher(lakeDir, new Lake(lakeDir), tracker, db, params, (o.lookbackMinutes ?? 120) * 60_000, marginMs, o.now ?? (() => new Date()));
  }

  /** Alerts produced before a crash that may not have reached every outbox. */
  get pending(): Alert[] {
    return this.tracker.pending;
  }

  /** Call once every outbox holds the alerts of the last round (and the pending ones). */
  delivered(): Promise<void> {
    return this.tracker.delivered();
  }

  /**
   * One detection round. `behind`: Event Hubs partitions that still hold events not committed (from the
   * consumer): the round judges the data only up to the newest sign-in each of them has landed, so a loop
   * whose rest is still in a partition's backlog is not closed early. `final`: the source has delivered
   * everything (a consumer stopping), so nothing is held back.
   */
  async round(o: { final?: boolean; behind?: readonly string[] } = {}): Promise<RoundResult> {
    const t0 = performance.now();
    const conn = this.db.conn;
    // Load, detect and save the lake's id registry as one step, so ids found here are the ids `detect` shows.
    const found = await withRegistryLock(this.lakeDir, async () => {
      // A first round on a lake with history alerts only on its recent window, not on last month's loops.
      if (!this.tracker.watermark) await attachLake(conn, this.lakeDir, undefined, this.lake);
      let windowStart = this.windowStart(this.tracker.watermark ?? (await newestSignIn(conn, 0)));
      // Sign-ins that landed late, for hours before the window: reach back to the earliest such hour.
      const late = await this.earliestNewHour();
      if (late !== null && late - this.marginMs < windowStart.getTime()) windowStart = new Date(late - this.marginMs);
      let files = 0;
      let from = 0;
      let low: number | null = null;
      // A loop that begins near the window's start may have begun before it: reach back another lookback and
      // detect again, so a loop is seen whole (and the same as `detect` sees it), up to a day back.
      for (let widen = 0; ; widen++) {
        ({ files } = await attachLake(conn, this.lakeDir, windowStart, this.lake));
        from = windowStart.getTime() * 1000;
        // Judge only what every partition has delivered: with one partition ahead of another, the newest
        // sign-in overall would make the slower partition's open loops look stopped.
        low = o.final || !o.behind?.length ? null : await deliveredUpTo(conn, from, o.behind);
        await runLayers(conn, { ...this.params, from, ...(low !== null ? { to: low + 1 } : {}) });
        // (Loops already alerted are known whole: the window reaches back to the open ones.)
        const near = (await startingBefore(conn, from + this.marginMs * 1000)).filter((id) => !this.tracker.knows(id));
        if (from <= 0 || widen * this.lookbackMs >= DAY_MS || near.length === 0) break;
        windowStart = new Date(windowStart.getTime() - this.lookbackMs);
      }
      if (files) await saveRegistry(conn, this.lakeDir);
      return {
        windowStart,
        files,
        flagged: (await resultSet(conn, 'select * from flagged_sessions')).rows as unknown as FlaggedSession[],
        clusters: (await resultSet(conn, 'select * from loop_clusters')).rows as unknown as LoopCluster[],
        // How far this round judged the data: the newest sign-in, or less while a partition catches up. The
        // next window is placed from here, so data landed ahead of a slow partition is judged once it caught up.
        watermark: (low !== null ? isoOfMicros(low - 1) : await newestSignIn(conn, from)) ?? this.tracker.watermark,
      };
    });
    const { windowStart, files, flagged, clusters, watermark } = found;
    const asOf = o.final ? null : watermark;
    const alerts = await this.tracker.round({ loops: flagged, clusters, watermark, asOf, windowStart: windowStart.toISOString() }, this.now());
    return {
      alerts,
      flagged: flagged.length,
      clusters: clusters.length,
      open: this.tracker.openCount(),
      watermark,
      windowStart: windowStart.toISOString(),
      files,
      seconds: (performance.now() - t0) / 1000,
    };
  }

  close(): void {
    this.db.close();
  }

  /** The start (ms) of the earliest hour whose files are new since the last round; null on the first round or when none are. */
  private async earliestNewHour(): Promise<number | null> {
    const { files } = await this.lake.files();
    const before = this.seen;
    this.seen = new Set(files);
    if (before === null) return null;
    const starts = files.filter((f) => !before.has(f)).map(partitionStartOfFile).filter((t): t is number => t !== null);
    return starts.length ? Math.min(...starts) : null;
  }

  private windowStart(wm: string | null): Date {
    if (!wm) return new Date(0);
    let start = Date.parse(wm) - this.lookbackMs;
    const open = this.tracker.earliestOpenStart();
    if (open) start = Math.min(start, Date.parse(open) - this.marginMs);
    return new Date(start);
  }
}

/**
 * The newest sign-in time (microseconds) that every partition in `behind` has landed: the data is complete
 * up to there. A partition that has landed nothing in the window holds the round at the window's start.
 */
async function deliveredUpTo(conn: DuckDBConnection, fromMicros: number, behind: readonly string[]): Promise<number> {
  const v = (await conn.runAndReadAll(`
    select epoch_us(max(created_at)) as newest from lake_sign_ins
    where created_at >= make_timestamp(${Math.trunc(fromMicros)}::BIGINT) and list_contains(${stringList(behind)}, eh_partition)
    group by eh_partition`)).getRows();
  if (v.length < behind.length) return fromMicros;
  return Math.min(...v.map((r) => Number(r[0])));
}

/** The loops that start before `micros` (the window's start plus the margin the SQL needs). */
async function startingBefore(conn: DuckDBConnection, micros: number): Promise<string[]> {
  const rows = (await conn.runAndReadAll(`select loop_id from loops where start < make_timestamp(${Math.trunc(micros)}::BIGINT)`)).getRows();
  return rows.map((r) => String(r[0]));
}

const DAY_MS = 86_400_000;



/** The lake's newest sign-in time (the event-time watermark), from the Parquet statistics. */
async function newestSignIn(conn: DuckDBConnection, fromMicros: number): Promise<string | null> {
  const v = (await conn.runAndReadAll(`select strftime(max(created_at), '%Y-%m-%dT%H:%M:%S.%gZ') from lake_sign_ins where created_at >= make_timestamp(${Math.trunc(fromMicros)}::BIGINT)`)).getRows()[0]?.[0];
  return typeof v === 'string' ? v : null;
}
