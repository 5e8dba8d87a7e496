/**
 * The domain's contracts: what detection finds (a flagged session, a tenant-wide incident) and the alerts
 * made of them. Detection writes them, the findings store keeps them, sinks, reports and the workbench read
 * them. This folder imports nothing, so every stage can depend on it and on nothing else for these shapes.
 * The JSON Schemas in schemas/ describe the same shapes for everyone outside (a test keeps them in step).
 */

/** One row of `flagged_sessions` (schemas/flagged-session.schema.json). */
export interface FlaggedSession {
  loop_id: string;
  kind: 'reauth_loop' | 'mfa_denial_burst' | 'failure_burst' | 'silent_loop';
  severity: 'medium' | 'high' | 'critical';
  tenant_id: string | null;
  user_id: string | null;
  user_principal_name: string | null;
  user_display_name: string | null;
  app_id: string | null;
  app_display_name: string | null;
  device_id: string | null;
  device_os: string | null;
  client_app_used: string | null;
  start: string;
  end: string;
  duration_seconds: number;
  prompt_count: number;
  success_count: number;
  interrupt_count: number;
  failure_count: number;
  denial_count: number;
  reauth_signal_count: number;
  loop_signal_count: number;
  error_codes: number[];
  median_gap_seconds: number | null;
  median_reprompt_seconds: number | null;
  ip_addresses: string[];
  sign_in_ids: string[];
  cluster_id: string | null;
  /** As of the newest sign-in detection saw (detect/episodes.sql). */
  status: LoopStatus;
  pause_count: number;
  /** Ids this loop was found under before episodes merged into it (the oldest id stays). */
  aliases: string[];
  reason: string;
}

export type LoopStatus = 'looping' | 'stopped' | 'stopped_after_revocation';

/** One app / OS family / client an incident hit (`loop_clusters.parts`). */
export interface IncidentPart {
  app_id: string | null;
  app_display_name: string | null;
  os_family: string | null;
  device_os: string | null;
  client_app_used: string | null;
  start: string;
  core_start: string;
  core_end: string;
  end: string;
  peak_at: string;
  peak_users: number;
  user_count: number;
  loop_count: number;
  prompt_count: number;
}

/** One row of `loop_clusters` (schemas/loop-cluster.schema.json). */
export interface LoopCluster {
  cluster_id: string;
  start: string;
  end: string;
  core_start: string;
  core_end: string;
  peak_at: string;
  peak_users: number;
  user_count: number;
  loop_count: number;
  prompt_count: number;
  tenant_id: string | null;
  app_id: string | null;
  app_display_name: string | null;
  device_os: string | null;
  os_family: string | null;
  client_app_used: string | null;
  error_codes: number[];
  loop_ids: string[];
  users_still_looping: string[];
  users_stopped_after_revocation: string[];
  parts: IncidentPart[];
  /** Ids this incident was found under before incidents merged into it. */
  aliases: string[];
}

export type AlertAction = 'opened' | 'updated' | 'closed';
export type AlertSeverity = 'medium' | 'high' | 'critical';

/**
 * One version of one loop's or cluster's alert: the native format (schemas/alert.schema.json).
 * `event_id` is `<subject_id>.v<version>`: the same on every retry of this version, so a SIEM can dedupe
 * redeliveries; `subject_id` is the same on every version, so a SIEM can correlate updates into one case.
 */
export interface Alert {
  schema: 'reauth-loops.alert/1';
  event_id: string;
  /** `test` alerts come from `sinks test NAME` and describe no real loop. */
  kind: 'loop' | 'cluster' | 'test';
  subject_id: string;
  version: number;
  action: AlertAction;
  severity: AlertSeverity;
  /** One short line, e.g. "Reauthentication loop: alice@contoso.com, Outlook Mobile on iOS (14 prompts)". */
  title: string;
  /** The detector's sentence (flagged_sessions.reason), or a cluster's summary. */
  reason: string;
  /** When this version was produced (wall clock, ISO 8601 UTC). */
  emitted_at: string;
  /** When version 1 was produced. */
  first_emitted_at: string;
  tenant_id: string | null;
  loop?: FlaggedSession;
  cluster?: LoopCluster;
  /** On the `closed` alert of a subject that merged into another: the id it lives on under (its alerts continue there). */
  merged_into?: string;
  /** Set when the alert was cut to fit a sink's size limit: the paths of the fields that were shortened. */
  truncated?: string[];
}
