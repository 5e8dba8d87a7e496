import type { FlaggedSession, LoopCluster } from '../domain/findings';

/**
 * What a nightly report says, computed once (report/data.ts, SQL in queries/report/) and rendered many ways
 * (report/html.ts with charts, report/markdown.ts, CSV and JSON). Deterministic: the same lake and period give
 * the same ReportData, byte for byte, so a re-run for the same day differs only where late data arrived.
 * Every string that came from a sign-in log is raw here; each renderer escapes it for its own format.
 */
export interface ReportData {
  schema: 'reauth-loops.report/1';
  /** [from, to) in UTC; `label` is e.g. "2026-04-14" or "2026-04-14 to 2026-04-16". */
  period: { from: string; to: string; label: string };
  /** The newest sign-in in the lake when the report was built: tells a reader how complete the day is. */
  data_through: string | null;
  /**
   * Set when UPNs, display names, object ids, IPs, device, sign-in and loop ids were replaced by keyed HMAC
   * tokens (--pseudonymize-key-file; see report/pseudonymize.ts).
   */
  pseudonymized: boolean;
  /** The detection thresholds the report was built with (every @param of queries/detect, defaults filled in). */
  thresholds?: Record<string, number | string>;
  totals: Totals;
  /** The same totals for the period just before (same length), for day-over-day change; null without data. */
  previous: Totals | null;
  /** One row per hour of the period. */
  hourly: HourRow[];
  clusters: ClusterRow[];
  top: {
    apps: TopRow[];
    os: TopRow[];
    clients: TopRow[];
    error_codes: ErrorCodeRow[];
  };
  /** The longest and worst loops (reauth_loop), most prompts first, at most 25. */
  worst_loops: FlaggedSession[];
  /** MFA-denial bursts, kept apart: they are an attack signal, not a broken client. */
  denial_bursts: FlaggedSession[];
  failure_bursts: FlaggedSession[];
  /** Per cluster, the users an admin may want to revoke sessions for, and whether they stopped looping. */
  remediation: RemediationRow[];
}

export interface Totals {
  sign_ins: number;
  interactive_sign_ins: number;
  prompts: number;
  users_prompted: number;
  loops: number;
  looping_users: number;
  loop_prompts: number;
  clusters: number;
  denial_bursts: number;
  failure_bursts: number;
}

export interface HourRow {
  /** ISO start of the hour. */
  hour: string;
  sign_ins: number;
  prompts: number;
  /** Users with a loop running at any time in that hour. */
  looping_users: number;
}

export interface ClusterRow extends LoopCluster {
  /** Users of the cluster who were still looping after it subsided and are now quiet / still looping at data_through. */
  stragglers_stopped: number;
  stragglers_still_looping: number;
}

export interface TopRow {
  name: string;
  loops: number;
  users: number;
  prompts: number;
}

export interface ErrorCodeRow {
  code: number;
  /** From queries/reference/error_codes.csv; null for a code it does not know. */
  outcome: string | null;
  meaning: string | null;
  /** Sign-ins with this code in the period. */
  sign_ins: number;
  /** Of them, in loops or bursts. */
  in_loops: number;
}

/**
 * One row of the remediation CSV: ready for Microsoft Graph `POST /users/{id}/revokeSignInSessions` or
 * `Revoke-MgUserSignInSession -UserId <user_id>`.
 */
export interface RemediationRow {
  cluster_id: string;
  user_id: string | null;
  user_principal_name: string | null;
  app_display_name: string | null;
  device_os: string | null;
  loops: number;
  prompts: number;
  first_prompt: string;
  last_prompt: string;
  /** Prompts after the cluster's core ended (the user kept looping after the service recovered). */
  prompts_after_core_end: number;
  /** A loop of this user's ended more than straggler_grace_secs after the core ended. */
  straggler: boolean;
  /** The user's latest loop is not `looping` as of data_through (detect/episodes.sql's status). */
  stopped: boolean;
  /** That loop's status: looping, stopped, or stopped_after_revocation (no need to revoke again). */
  status: 'looping' | 'stopped' | 'stopped_after_revocation';
}

/** One user's timeline for `reauth-loops user` (table, NDJSON, or an HTML page with a chart). */
export interface UserTimeline {
  schema: 'reauth-loops.user-timeline/1';
  user: { user_id: string | null; user_principal_name: string | null; user_display_name: string | null };
  period: { from: string; to: string };
  /** Every sign-in row of the user in the period, oldest first. */
  events: TimelineEvent[];
  loops: FlaggedSession[];
  devices: Array<{ device_id: string | null; device_os: string | null; sign_ins: number; first: string; last: string }>;
  ips: Array<{ ip_address: string; sign_ins: number; first: string; last: string }>;
}

export interface TimelineEvent {
  created_at: string;
  /** prompt: an interactive flow the user had to act on; silent: interactive SSO; background: non-interactive. */
  kind: 'prompt' | 'silent' | 'background';
  outcome: string | null;
  error_code: number | null;
  app_display_name: string | null;
  device_os: string | null;
  device_id: string | null;
  ip_address: string | null;
  user_agent: string | null;
  sign_in_id: string;
  /** The loop this row is evidence of, if any. */
  loop_id: string | null;
}
