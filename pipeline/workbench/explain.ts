import { CliError } from '../errors';
import { allParams, type ResultSet } from '../detect/detect';
import { formatRows, sanitizeForTerminal, type Column } from '../cli/output';
import { coerceParam, type ParamValues } from '../sql/queries';
import type { DuckDBOptions } from '../sql/duckdb';
import type { FlaggedSession, LoopCluster } from '../domain/findings';
import { withDetection, workbenchQuery } from './run';

/**
 * `reauth-loops explain LOOP_ID`: why one loop was flagged, in plain words. Detection runs as `detect` runs
 * (same thresholds, optionally a narrower window), so the loop is found by its id exactly as `loops` listed it;
 * queries/workbench/explain_*.sql then fetch its prompts, refusals, codes, cluster and evidence rows.
 * The rule text mirrors detect/episodes.sql; the numbers all come from the SQL.
 */
export interface ExplainOptions {
  /** The detection window (detect's --from/--to), UTC; default: the whole lake. */
  from?: number;
  to?: number;
  thresholds?: ParamValues;
  db?: DuckDBOptions;
}

export interface LoopFacts extends FlaggedSession {
  success_prompts: number;
  denied_prompts: number;
  failed_prompts: number;
  last_success_at: string | null;
  first_denial_at: string | null;
  max_reprompt_seconds: number | null;
  severity_before_cluster: FlaggedSession['severity'];
}

export interface Step {
  step: 'prompt' | 'refusal';
  prompt_no: number | null;
  start: string;
  end: string | null;
  row_count: number;
  outcome: string | null;
  /** Seconds from the previous prompt's last row to this prompt's first: what loop_gap_secs bounds. */
  gap_secs: number | null;
  error_codes: number[];
  ip_addresses: string[];
  sign_in_id: string | null;
}

export interface CodeRow {
  error_code: number;
  outcome: string;
  meaning: string;
  evidence_rows: number;
}

export interface Explanation {
  /** The id asked for, when it was merged into `loop` (an alias). */
  mergedFrom: string | null;
  loop: LoopFacts;
  /** Every threshold in effect (given or default), by @param name. */
  thresholds: Record<string, number>;
  steps: Step[];
  codes: CodeRow[];
  cluster: LoopCluster | null;
  evidence: ResultSet;
}

export const LOOP_ID = /^loop-[0-9a-f]{16}$/;
const HOUR_MS = 3_600_000;

export async function explainLoop(lakeDir: string, loopId: string, opts: ExplainOptions = {}): Promise<Explanation> {
  const id = loopId.trim().toLowerCase();
  if (!LOOP_ID.test(id)) throw new CliError(`${JSON.stringify(loopId)} is not a loop id: they look like loop-27d85e047c402219. \`reauth-loops loops --lake DIR\` lists them.`, 2);
  const thresholds: ParamValues = { ...(opts.thresholds ?? {}) };
  if (opts.from !== undefined) thresholds.from = opts.from;
  if (opts.to !== undefined) thresholds.to = opts.to;
  return withDetection(lakeDir, thresholds, opts.db ?? {}, async (conn, info) => {
    // An id merged into an older loop (an alias an alert may carry) means that loop.
    const merged = (await conn.runAndReadAll('select alias_of from loop_registry where loop_id = $id and alias_of is not null', { id })).getRows()[0]?.[0];
    const given = { loop_id: merged === undefined ? id : String(merged) };
    const found = await workbenchQuery(conn, 'explain_loop', given);
    if (!found.rows.length) {
      const window = opts.from !== undefined || opts.to !== undefined ? ' in the window given' : '';
      throw new CliError(
        `No loop ${id} in this lake${window}. \`reauth-loops loops --lake DIR\` lists the loops there are; give explain the same thresholds ` +
          `as the command that printed the id (other thresholds, or a window that cuts the loop, find other loops).`,
        2,
      );
    }
    // The loop's attempts, with an hour either side so no flow at its edges is cut.
    const l = found.rows[0] as unknown as LoopFacts;
    const userKey = String((await conn.runAndReadAll('select user_key from loops where loop_id = $id', { id: given.loop_id })).getRows()[0][0]);
    await info.prompts({ from: (Date.parse(l.start) - HOUR_MS) * 1000, to: (Date.parse(l.end) + HOUR_MS) * 1000, userKey });
    const steps = await workbenchQuery(conn, 'explain_steps', given);
    const codes = await workbenchQuery(conn, 'explain_codes', given);
    const cluster = await workbenchQuery(conn, 'explain_cluster', given);
    const evidence = await workbenchQuery(conn, 'explain_evidence', given);
    return {
      mergedFrom: merged === undefined ? null : id,
      loop: found.rows[0] as unknown as LoopFacts,
      thresholds: effectiveThresholds(opts.thresholds ?? {}),
      steps: steps.rows as unknown as Step[],
      codes: codes.rows as unknown as CodeRow[],
      cluster: (cluster.rows[0] as unknown as LoopCluster | undefined) ?? null,
      evidence,
    };
  });
}

function effectiveThresholds(given: ParamValues): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of allParams()) {
    if (p.type !== 'INTEGER' && p.type !== 'DOUBLE') continue;
    out[p.name] = Number(given[p.name] ?? coerceParam(p, p.default));
  }
  return out;
}

const EVIDENCE_COLUMNS = ['created_at', 'sign_in_id', 'is_interactive', 'error_code', 'outcome', 'device_os', 'ip_address', 'auth_methods', 'user_agent'];

/** The explanation as text for a terminal or a ticket; every line escaped by the output module. */
export function renderExplanation(e: Explanation, opts: { allColumns?: boolean } = {}): string {
  const l = e.loop;
  const t = e.thresholds;
  const prompts = e.steps.filter((s) => s.step === 'prompt');
  const refusals = e.steps.filter((s) => s.step === 'refusal');
  const gaps = prompts.map((p) => p.gap_secs).filter((g): g is number => g !== null);
  const out: string[] = [];
  const say = (s = ''): void => void out.push(sanitizeForTerminal(s));

  if (e.mergedFrom) say(`${e.mergedFrom} was merged into ${l.loop_id} (late sign-ins joined the two; the older id stays):`);
  say(`Loop ${l.loop_id}: ${l.kind}, ${l.severity} severity`);
  say(`  user    ${l.user_principal_name ?? '(no UPN)'}${l.user_display_name ? ` (${JSON.stringify(l.user_display_name)})` : ''}, object id ${l.user_id ?? '(none)'}`);
  say(`  app     ${l.app_display_name ?? l.app_id ?? '(unknown app)'} on ${l.device_os ?? 'an unknown OS'}, client ${l.client_app_used ?? '(unknown)'}, device ${l.device_id ?? '(no device id)'}`);
  say(`  when    ${l.start} to ${l.end} (${duration(l.duration_seconds)})`);
  say(`  from    ${l.ip_addresses.length ? l.ip_addresses.join(', ') : '(no IP address)'}`);
  say();
  say(`In one sentence: ${l.reason}`);
  say();
  say('Why it was flagged (detect/episodes.sql)');
  if (l.kind === 'silent_loop') {
    say(`  A silent loop is at least silent_min_signins = ${t.silent_min_signins} interactive sign-ins that asked nothing of the user, each within silent_gap_secs = ${t.silent_gap_secs} s of the previous one, or any LoopDetected (50196).`);
    say(`  ${mark(l.prompt_count >= t.silent_min_signins || l.loop_signal_count > 0)} ${l.prompt_count} silent sign-ins${l.loop_signal_count ? `, ${l.loop_signal_count} LoopDetected` : ''}`);
  } else {
    say(`  An episode is runs of at least min_prompts prompts for one user + app + device, each starting within loop_gap_secs of the previous prompt's end; runs less than pause_secs apart are one episode.`);
    say(`  ${mark(l.prompt_count >= t.min_prompts)} ${l.prompt_count} prompts, at least min_prompts = ${t.min_prompts}`);
  }
  if (gaps.length) {
    const gap = l.kind === 'silent_loop' ? t.silent_gap_secs : t.loop_gap_secs;
    const within = gaps.filter((g) => g <= gap);
    const range = within.length ? `${secs(Math.min(...within))} to ${secs(Math.max(...within))} (median ${secs(median(within))})` : 'none';
    say(`  ${mark(within.length > 0)} gaps between ${l.kind === 'silent_loop' ? 'sign-ins' : 'prompts'} ${range}, each within ${l.kind === 'silent_loop' ? 'silent_gap_secs' : 'loop_gap_secs'} = ${gap} s`);
    const pauses = gaps.filter((g) => g > gap);
    if (pauses.length) say(`  ${mark(Math.max(...pauses) <= t.pause_secs)} ${pauses.length} pause(s) of ${secs(Math.min(...pauses))} to ${secs(Math.max(...pauses))} inside the episode, each within pause_secs = ${t.pause_secs} s: the same loop, resumed`);
  }
  say(`  status ${l.status}, as of the newest sign-in detection saw: ${
    l.status === 'looping' ? `its last prompt is less than pause_secs = ${t.pause_secs} s before it, so it may go on` : l.status === 'stopped_after_revocation' ? 'a revoked-grant refusal (50173/50133), then at most one more prompt, then nothing' : 'nothing since'
  }`);
  for (const s of kindLines(l, t)) say(`  ${s}`);
  for (const s of severityLines(l, t)) say(`  ${s}`);
  say(
    refusals.length
      ? `  ${refusals.length} background token refresh(es) were refused with a reauthentication code while the run lasted (from loop_gap_secs before its first prompt): reauth signals, counted as evidence, not as prompts.`
      : '  No background token refresh was refused during the run.',
  );
  say();
  say(`Prompts one by one, with the background refusals between them (${prompts.length} prompts, ${refusals.length} refusals)`);
  const stepRows = e.steps.map((s) => ({
    step: s.step === 'prompt' ? `prompt ${s.prompt_no}` : '  refused in background',
    at: s.start,
    gap_after_previous: s.step === 'prompt' ? (s.gap_secs === null ? 'first' : `${secs(s.gap_secs)} after #${(s.prompt_no ?? 1) - 1} ended`) : '',
    outcome: s.step === 'prompt' ? (s.outcome === 'success' ? 'succeeded' : `did not succeed (${s.outcome})`) : 'refused',
    rows: s.row_count,
    codes: s.error_codes.join(', '),
  }));
  const stepColumns: Column[] = [
    { name: 'step', kind: 'string' },
    { name: 'at', kind: 'string' },
    { name: 'gap_after_previous', kind: 'string' },
    { name: 'outcome', kind: 'string' },
    { name: 'rows', kind: 'integer' },
    { name: 'codes', kind: 'string' },
  ];
  out.push(indent(formatRows(stepRows, stepColumns, 'table', { maxCellWidth: 60 }) as string));
  say();
  say('Error codes (queries/reference/error_codes.csv)');
  if (e.codes.length) {
    for (const c of e.codes) say(`  ${String(c.error_code).padEnd(7)} ${c.outcome.padEnd(14)}  ${c.meaning} (${c.evidence_rows} evidence row${c.evidence_rows === 1 ? '' : 's'})`);
  } else {
    say('  none: every row of the run succeeded');
  }
  say();
  if (e.cluster) {
    const c = e.cluster;
    const still = l.user_principal_name !== null && c.users_still_looping.includes(l.user_principal_name);
    say(`Cluster ${c.cluster_id}: ${c.user_count} users (${c.loop_count} loops) looping on ${c.app_display_name ?? c.app_id ?? 'an unknown app'}, ${c.device_os ?? c.os_family ?? 'unknown OS'}, ${c.client_app_used ?? 'unknown client'}`);
    say(`  from ${c.start}; peak ${c.peak_users} users at ${c.peak_at}; core ended ${c.core_end}; last loop ended ${c.end}`);
    say(
      still
        ? '  This user is still looping as of the newest sign-in: revoke their sessions or re-register the device.'
        : `  ${c.users_still_looping.length} user(s) are still looping as of the newest sign-in; this user is not one of them.`,
    );
    if (c.parts.length > 1) say(`  The incident hit ${c.parts.length} apps / OS families at once: ${c.parts.map((p) => `${p.app_display_name ?? p.app_id ?? 'an unknown app'} on ${p.os_family || 'unknown OS'} (${p.user_count} users)`).join(', ')}.`);
  } else {
    say(l.kind === 'reauth_loop' ? `Cluster: none (fewer than min_cluster_users = ${t.min_cluster_users} users looped on this app, OS and client at once).` : 'Cluster: none (only reauth loops form clusters; bursts are triaged per user).');
  }
  say();
  const ids = new Set(e.evidence.rows.map((r) => String(r.sign_in_id)));
  say(`Evidence: ${l.sign_in_ids.length} sign-in id(s), ${e.evidence.rows.length} row(s) in the lake${ids.size < l.sign_in_ids.length ? ` (${l.sign_in_ids.length - ids.size} id(s) no longer in the lake)` : ''}`);
  const cols = opts.allColumns ? e.evidence.columns : e.evidence.columns.filter((c) => EVIDENCE_COLUMNS.includes(c.name));
  out.push(indent(formatRows(e.evidence.rows, cols, 'table', { maxCellWidth: 60 }) as string));
  return out.join('\n') + '\n';
}

function kindLines(l: LoopFacts, t: Record<string, number>): string[] {
  const denials = `${l.denied_prompts} of ${l.prompt_count} prompts were MFA denied or not answered (500121)`;
  switch (l.kind) {
    case 'mfa_denial_burst':
      return [
        `${mark(true)} kind mfa_denial_burst: ${denials}: at least min_denials = ${t.min_denials}, and at least half of the prompts.`,
        '    This is what MFA fatigue looks like: someone with the password pushing prompts until the user approves one.',
      ];
    case 'failure_burst':
      return [
        `${mark(true)} kind failure_burst: ${l.failed_prompts} of ${l.prompt_count} prompts failed (bad password, block), more than half, and none succeeded.`,
        `    Not an MFA-denial burst: ${l.denied_prompts} denied prompts (needs at least min_denials = ${t.min_denials} and half of the prompts). Password guessing or a client with a stale password.`,
      ];
    default: {
      const lines = [
        l.success_prompts > 0
          ? `${mark(true)} kind reauth_loop: ${l.success_prompts} of ${l.prompt_count} prompts succeeded, and the user was asked again anyway.`
          : `${mark(true)} kind reauth_loop: none of the ${l.prompt_count} prompts completed, and the user was asked again and again.`,
        `    Not an MFA-denial burst (${l.denied_prompts} denied; needs at least min_denials = ${t.min_denials} and half of the prompts), not a failure burst (needs most prompts failed and none succeeded).`,
      ];
      if (l.max_reprompt_seconds !== null) lines.push(`    After a success the next prompt came within ${secs(l.max_reprompt_seconds)} (median ${l.median_reprompt_seconds === null ? '?' : secs(l.median_reprompt_seconds)}); Entra's strictest sign-in frequency allows 5 min.`);
      return lines;
    }
  }
}

function severityLines(l: LoopFacts, t: Record<string, number>): string[] {
  if (l.severity === 'critical') {
    return [`${mark(true)} severity critical: a prompt succeeded at ${l.last_success_at} after the first denial at ${l.first_denial_at}: check whether the user approved an attacker's prompt.`];
  }
  const why: string[] = [];
  if (l.prompt_count >= t.severe_prompts) why.push(`${l.prompt_count} prompts, at least severe_prompts = ${t.severe_prompts}`);
  if (l.loop_signal_count > 0) why.push(`Entra itself reported LoopDetected (50196) ${l.loop_signal_count} time(s)`);
  if (l.cluster_id && l.severity_before_cluster === 'medium') why.push(`part of tenant-wide cluster ${l.cluster_id}, which raises medium to high`);
  else if (l.cluster_id) why.push(`part of tenant-wide cluster ${l.cluster_id}`);
  if (l.severity === 'high') return [`${mark(true)} severity high: ${why.join('; ')}.`];
  return [`${mark(true)} severity medium: ${l.prompt_count} prompts, under severe_prompts = ${t.severe_prompts}; no LoopDetected (50196); not part of a cluster.`];
}

function mark(ok: boolean): string {
  return ok ? '[x]' : '[ ]';
}

function secs(s: number): string {
  return `${(Math.round(s * 10) / 10).toFixed(1)} s`;
}

function duration(s: number): string {
  return s < 120 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`;
}

function median(xs: number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function indent(table: string): string {
  return table.replace(/\n$/, '').replace(/^/gm, '  ');
}
