/**
 * What flows from detection to the SIEMs. Detection (detect/alerts.ts) turns each flagged loop and each
 * tenant-wide cluster into a stream of versioned alerts; every sink gets the same alerts through its own
 * disk outbox (sink/outbox.ts), formats them (sink/formats.ts) and hands them to a transport (sink/transports/*).
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

export type FormatName = 'json' | 'cef' | 'ecs' | 'ocsf' | 'sentinel';

/** An alert rendered for one sink. `text` is a JSON document (json, ecs, ocsf, sentinel) or a CEF line. */
export interface OutMessage {
  eventId: string;
  text: string;
  alert: Alert;
}

export interface TransportLimits {
  /** Largest single rendered message (`text`, UTF-8 bytes) the transport accepts. */
  maxMessageBytes: number;
  /** Most messages per send(). */
  maxBatchMessages: number;
  /** Most bytes of `text` per send(). */
  maxBatchBytes: number;
}

/**
 * A connection to one SIEM endpoint. send() resolves only once the receiver has acknowledged every message
 * of the batch (HTTP 2xx, HEC indexer ack, AMQP accept, written to a TCP/TLS socket...), and otherwise throws
 * a DeliveryError. The caller (sink/deliver.ts) owns retries, backoff and the outbox; a transport never retries
 * on its own for longer than one attempt's timeout and never drops a message silently.
 */
export interface Transport {
  readonly limits: TransportLimits;
  send(batch: OutMessage[]): Promise<void>;
  close(): Promise<void>;
}

export class DeliveryError extends Error {
  /** The receiver asked us to wait this long (Retry-After, HEC busy...). */
  retryAfterMs?: number;
  /** The batch was too big (HTTP 413 ...): split it; a single message this big must be truncated. */
  tooLarge?: boolean;
  /** Retrying the same bytes cannot succeed (HTTP 400 on this content): the message is set aside with this reason. */
  permanent?: boolean;
  constructor(message: string, opts: { retryAfterMs?: number; tooLarge?: boolean; permanent?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'DeliveryError';
    this.retryAfterMs = opts.retryAfterMs;
    this.tooLarge = opts.tooLarge;
    this.permanent = opts.permanent;
  }
}
