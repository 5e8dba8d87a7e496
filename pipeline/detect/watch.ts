import type { DuckDBConnection } from '@duckdb/node-api';
import { openDuckDB } from '../sql/duckdb';
import type { ParamValues } from '../sql/queries';
import type { Alert, FlaggedSession, LoopCluster } from '../sink/types';
import { AlertTracker } from './alerts';
import { allParams, attachLake, resultSet, runLayers } from './detect';

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
    private readonly tracker: AlertTracker,
    private readonly db: { conn: DuckDBConnection; close: () => void },
    private readonly params: ParamValues,
    private readonly lookbackMs: number,
    private readonly marginMs: number,
    private readonly now: () => Date,
  ) {}

  static async open(lakeDir: string, o: WatchOptions): Promise<LoopWatcher> {
    const params = o.params ?? {};
    const param = (name: string) => Number(params[name] ?? allParams().find((p) => p.name === name)!.default);
    const tracker = await AlertTracker.open(o.stateDir, {
      updateEverySeconds: o.updateEverySeconds ?? 60,
      matchSlackSeconds: param('pause_secs'),
      idleCloseSeconds: o.idleCloseSeconds ?? 900,
    });
    const db = await openDuckDB({ memoryLimit: o.memoryLimit ?? '1GB' });
    // Rows just before an open loop's start decide whether it started there: give the SQL its gaps' worth.
    const marginMs = (param('pause_secs') + param('loop_gap_secs') + param('flow_gap_secs') + param('cluster_gap_secs')) * 1000;
    return new LoopWatcher(lakeDir, tracker, db, params, (o.lookbackMinutes ?? 120) * 60_000, marginMs, o.now ?? (() => new Date()));
  }

  /** Alerts produced before a crash that may not have reached every outbox. */
  get pending(): Alert[] {
    return this.tracker.pending;
  }

  /** Call once every outbox holds the alerts of the last round (and the pending ones). */
  delivered(): Promise<void> {
    return this.tracker.delivered();
  }

  async round(): Promise<RoundResult> {
    const t0 = performance.now();
    const conn = this.db.conn;
    // A first round on a lake with history alerts only on its recent window, not on last month's loops.
    if (!this.tracker.watermark) await attachLake(conn, this.lakeDir);
    const windowStart = this.windowStart(this.tracker.watermark ?? (await newestSignIn(conn, 0)));
    const { files } = await attachLake(conn, this.lakeDir, windowStart);
    const from = windowStart.getTime() * 1000;
    await runLayers(conn, { ...this.params, from });
    const flagged = (await resultSet(conn, 'select * from flagged_sessions')).rows as unknown as FlaggedSession[];
    const clusters = (await resultSet(conn, 'select * from loop_clusters')).rows as unknown as LoopCluster[];
    const watermark = (await newestSignIn(conn, from)) ?? this.tracker.watermark;
    const alerts = await this.tracker.round({ loops: flagged, clusters, watermark, windowStart: windowStart.toISOString() }, this.now());
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

  private windowStart(wm: string | null): Date {
    if (!wm) return new Date(0);
    let start = Date.parse(wm) - this.lookbackMs;
    const open = this.tracker.earliestOpenStart();
    if (open) start = Math.min(start, Date.parse(open) - this.marginMs);
    return new Date(start);
  }
}

/** The lake's newest sign-in time (the event-time watermark), from the Parquet statistics. */
async function newestSignIn(conn: DuckDBConnection, fromMicros: number): Promise<string | null> {
  const v = (await conn.runAndReadAll(`select strftime(max(created_at), '%Y-%m-%dT%H:%M:%S.%gZ') from lake_sign_ins where created_at >= make_timestamp(${Math.trunc(fromMicros)}::BIGINT)`)).getRows()[0]?.[0];
  return typeof v === 'string' ? v : null;
}
