import { CliError } from '../errors';
import type { Column } from '../cli/output';
import type { DuckDBOptions } from '../sql/duckdb';
import type { ParamValues } from '../sql/queries';
import type { FlaggedSession } from '../domain/findings';
import { timeParam } from '../cli/filters';
import { isoOfMicros } from '../normalize/time';
import { tableRows, withDetection, workbenchQuery, workbenchTable } from '../workbench/run';
import type { TimelineEvent, UserTimeline } from './types';

/**
 * One user's timeline (`reauth-loops user`): every sign-in row in the period, the loops they were in, their
 * devices and IPs. Detection runs on the whole lake (a loop is judged whole, and cluster membership needs
 * every user), then queries/workbench/user_*.sql pick the user. Strings are raw: each renderer escapes.
 */
export interface UserTimelineOptions {
  /** UTC, inclusive; e.g. 2026-04-14 or 2026-04-14T09:00:00Z. Default: the user's first sign-in. */
  from?: string;
  /** UTC, exclusive. Default: everything after `from`. */
  to?: string;
  /** detect's thresholds (loop_gap_secs, ...), validated. */
  thresholds?: ParamValues;
  db?: DuckDBOptions;
}

export async function buildUserTimeline(lakeDir: string, who: string, period: UserTimelineOptions = {}): Promise<UserTimeline> {
  return (await userTimelineResults(lakeDir, who, period)).timeline;
}

/** The timeline and, for table output, the column kinds of each part. */
export interface UserTimelineResults {
  timeline: UserTimeline;
  columns: { events: Column[]; loops: Column[]; devices: Column[]; ips: Column[] };
  /** How `who` was matched: by object id or UPN, or by a display name that only one user has. */
  matchedBy: 'key' | 'display_name';
}

export async function userTimelineResults(lakeDir: string, who: string, opts: UserTimelineOptions = {}): Promise<UserTimelineResults> {
  const name = who.trim();
  if (!name) throw new CliError('Name a user: their UPN (ana@contoso.com) or object id.', 2);
  const range: ParamValues = {};
  if (opts.from) range.since = timeParam('since', opts.from);
  if (opts.to) range.until = timeParam('until', opts.to);
  if (typeof range.since === 'number' && typeof range.until === 'number' && range.since >= range.until) throw new CliError('--since must be before --until.', 2);

  return withDetection(lakeDir, opts.thresholds ?? {}, opts.db ?? {}, async (conn, info) => {
    const candidates = (await workbenchQuery(conn, 'user_candidates', { who: name })).rows as unknown as Candidate[];
    const { user, matchedBy } = pickUser(name, candidates);
    const given = { user_key: user.user_key, ...range };
    // The user's attempts over the period (an hour either side, so no flow at its edges is cut).
    const from = typeof range.since === 'number' ? range.since : Date.parse(user.first_seen) * 1000;
    const to = typeof range.until === 'number' ? range.until : Date.parse(user.last_seen) * 1000 + 1000;
    await info.prompts({ from: from - HOUR_US, to: to + HOUR_US, userKey: user.user_key });
    await workbenchTable(conn, 'user_events', given);
    const events = await tableRows(conn, 'user_events');
    const loops = await workbenchQuery(conn, 'user_loops', given);
    const devices = await workbenchQuery(conn, 'user_devices');
    const ips = await workbenchQuery(conn, 'user_ips');
    const timeline: UserTimeline = {
      schema: 'reauth-loops.user-timeline/1',
      user: { user_id: user.user_id, user_principal_name: user.user_principal_name, user_display_name: user.user_display_name },
      // Without a bound the period is what the lake holds for this user.
      period: {
        from: typeof range.since === 'number' ? isoOfMicros(range.since) : user.first_seen,
        to: typeof range.until === 'number' ? isoOfMicros(range.until) : user.last_seen,
      },
      events: events.rows as unknown as TimelineEvent[],
      loops: loops.rows as unknown as FlaggedSession[],
      devices: devices.rows as unknown as UserTimeline['devices'],
      ips: ips.rows as unknown as UserTimeline['ips'],
    };
    return { timeline, matchedBy, columns: { events: events.columns, loops: loops.columns, devices: devices.columns, ips: ips.columns } };
  });
}

interface Candidate {
  user_key: string;
  user_id: string | null;
  user_principal_name: string | null;
  user_display_name: string | null;
  tenant_id: string | null;
  sign_ins: number;
  first_seen: string;
  last_seen: string;
  matched_by: 'key' | 'display_name' | 'partial';
}

/**
 * An object id or UPN is a key; a display name is not (many people share one), so it is taken only when one
 * user has it. A UPN can still name several objects (an account deleted and re-created, or several tenants in
 * one lake): then nothing is guessed and the choices are listed.
 */
function pickUser(who: string, candidates: Candidate[]): { user: Candidate; matchedBy: 'key' | 'display_name' } {
  for (const by of ['key', 'display_name'] as const) {
    const hits = candidates.filter((c) => c.matched_by === by);
    if (hits.length === 1) return { user: hits[0], matchedBy: by };
    if (hits.length > 1) {
      throw new CliError(
        `${JSON.stringify(who)} matches ${hits.length} users${by === 'display_name' ? ' by display name, which is not unique' : ''}; name one by its object id:\n${listUsers(hits)}`,
        2,
      );
    }
  }
  const partial = candidates.filter((c) => c.matched_by === 'partial');
  if (partial.length) {
    throw new CliError(`No user is exactly ${JSON.stringify(who)}; ${partial.length} contain it. Name one by its UPN or object id:\n${listUsers(partial)}`, 2);
  }
  throw new CliError(`No sign-ins for a user ${JSON.stringify(who)} in this lake. Give their UPN or object id as the logs have it; \`reauth-loops loops --lake DIR --user PART\` lists looping users by part of a name.`, 2);
}

const MAX_LISTED = 20;
const HOUR_US = 3_600_000_000;

function listUsers(users: Candidate[]): string {
  const lines = users.slice(0, MAX_LISTED).map(
    (c) =>
      `  ${c.user_id ?? '(no object id)'}  ${c.user_principal_name ?? '(no UPN)'}  ${JSON.stringify(c.user_display_name ?? '')}` +
      `  tenant ${c.tenant_id ?? '?'}  ${c.sign_ins} sign-in(s) ${c.first_seen} to ${c.last_seen}`,
  );
  if (users.length > MAX_LISTED) lines.push(`  … and ${users.length - MAX_LISTED} more`);
  return lines.join('\n');
}

