import type { Argv } from 'yargs';
import { CliError } from '../errors';
import { coerceParam, type ParamValues } from '../sql/queries';

/**
 * The workbench's filters (`loops`, `clusters`): options here, matching in queries/workbench/*.sql, where each
 * value is bound as a parameter, never pasted. Names match case-insensitively as a substring; codes,
 * kinds and severities exactly. Checked at the edge so a typo fails before detection runs.
 */
export type FilterName = 'app' | 'os' | 'client' | 'user' | 'code' | 'kind' | 'severity' | 'since' | 'until';

export const KINDS = ['reauth_loop', 'mfa_denial_burst', 'failure_burst'] as const;
export const SEVERITIES = ['medium', 'high', 'critical'] as const;

const OPTIONS: Record<FilterName, { describe: string; choices?: readonly string[] }> = {
  app: { describe: 'App whose name contains this (any case), or whose app id is this, e.g. outlook' },
  os: { describe: 'Device OS containing this (any case), e.g. ios, android, windows' },
  client: { describe: 'Client app used containing this (any case), e.g. "mobile apps", browser' },
  user: { describe: 'User whose UPN or display name contains this (any case), or whose object id is this' },
  code: { describe: 'Only where this Entra error code was seen, exactly, e.g. 70044' },
  kind: { describe: 'Only this kind', choices: KINDS },
  severity: { describe: 'Only this severity', choices: SEVERITIES },
  since: { describe: 'Only what was still running at or after this time (UTC), e.g. 2026-04-14T09:00:00Z' },
  until: { describe: 'Only what started before this time (UTC), e.g. 2026-04-15' },
};

export function filterOptions(y: Argv, names: readonly FilterName[]): Argv {
  let out = y;
  for (const n of names) out = out.option(n, { type: 'string', ...OPTIONS[n], group: 'Filters:' });
  return out;
}

/** Validated filter values, named as the SQL files' @params (`--user` is `$who`); absent filters are left out. */
export function filterValues(args: Record<string, unknown>, names: readonly FilterName[]): ParamValues {
  const out: ParamValues = {};
  for (const n of names) {
    const raw = args[n];
    if (raw === undefined || raw === null) continue;
    if (Array.isArray(raw)) throw new CliError(`--${n} was given more than once; give it once.`, 2);
    const v = String(raw).trim();
    if (v === '') continue;
    if (n === 'code' && !/^\d{1,9}$/.test(v)) throw new CliError(`--code must be an Entra error code, digits only, e.g. 70044 (got ${JSON.stringify(v)}).`, 2);
    if (n === 'since' || n === 'until') out[n] = timeParam(n, v);
    else out[n === 'user' ? 'who' : n] = v;
  }
  if (typeof out.since === 'number' && typeof out.until === 'number' && out.since >= out.until) {
    throw new CliError('--since must be before --until.', 2);
  }
  return out;
}

/** A --since/--until value as microseconds (what the TIMESTAMP params bind), with the loader's own error. */
export function timeParam(name: 'since' | 'until', value: string): number {
  return coerceParam({ name, type: 'TIMESTAMP', default: '', doc: '' }, value) as number;
}
