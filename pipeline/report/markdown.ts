import type { FlaggedSession } from '../domain/findings';
import type { ClusterRow, ErrorCodeRow, RemediationRow, ReportData, TopRow, Totals } from './types';

/**
 * The nightly report as Markdown: what an IT admin reads in two minutes (a ticket, a wiki page, a chat
 * message), headline first, details after. Every string that came from a sign-in log goes through mdText,
 * because display names, UPNs of failed sign-ins and app names are attacker-controlled: whatever they hold
 * renders as plain text: never a link, image, table cell, emphasis, HTML or a new line.
 */

/** Rows shown per section here; the CSV files and report.json carry more. */
const SHOW = { remediation: 20, worstLoops: 10, denialBursts: 15, failureBursts: 10, top: 5, errorCodes: 10 } as const;

// Line breaks of every kind (and tabs) would end a table row or a paragraph: they become spaces.
const BREAKS = /[\t\n\v\f\r\u0085\u2028\u2029]/g;
// Controls, bidi overrides and invisible characters would hide or reorder text: they are shown as ‹U+XXXX›.
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
// Markdown syntax, backslash-escaped (CommonMark: any ASCII punctuation may be). Brackets and `<` are what
// links, images and HTML need; `|` ends a table cell; `` ` * _ ~ `` are code and emphasis; `&` starts an
// entity; `$` math on GitHub; `{}` attribute syntax elsewhere. `:` `@` `.` break autolinks (GFM's http:,
// www. and e-mail ones, and linkify's bare domains as in VS Code's preview) and @mentions, `#` issue links.
// Line-start syntax (`-`, `+`, `=`, `1.`) needs no escape: a log string never starts a line here.
const SYNTAX = /[\\`*_{}[\]<>|~$&:@.#]/g;

/**
 * A log string as inert Markdown text: line breaks to spaces, invisible characters made visible, Markdown
 * syntax backslash-escaped, cut at `max` characters. The raw file shows the backslashes; rendered, it reads
 * as the original. null and empty become an em dash.
 */
export function mdText(s: string | null | undefined, max = 120): string {
  if (s === null || s === undefined || s === '') return '—';
  let chars = Array.from(s.replace(BREAKS, ' '));
  const cut = chars.length > max;
  if (cut) chars = chars.slice(0, max - 1);
  const text = chars.join('').replace(INVISIBLE, (c) => `\u2039U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}\u203a`);
  return text.replace(SYNTAX, (c) => `\\${c}`) + (cut ? '…' : '');
}

function int(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${int(n)} ${n === 1 ? one : many}`;
}

function change(now: number, before: number | undefined): string {
  if (before === undefined) return '—';
  const d = now - before;
  if (d === 0) return '±0';
  const sign = d > 0 ? '+' : '−';
  const pct = before === 0 ? 'new' : `${sign}${Math.abs((d / before) * 100) >= 10 ? Math.round(Math.abs((d / before) * 100)) : (Math.abs((d / before) * 100)).toFixed(1)}%`;
  return `${sign}${int(Math.abs(d))} (${pct})`;
}

/** Times are shown in UTC; the date is left out when the report covers a single day and the time is on it. */
function timeFormatter(d: ReportData): (iso: string | null) => string {
  const oneDay = /^\d{4}-\d{2}-\d{2}$/.test(d.period.label) ? d.period.label : null;
  return (iso) => {
    if (!iso) return '—';
    const day = iso.slice(0, 10);
    const hm = iso.slice(11, 16);
    return oneDay === day ? hm : `${day} ${hm}`;
  };
}

function duration(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function table(head: string[], align: Array<'l' | 'r'>, rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(align.map((a) => (a === 'r' ? '---:' : '---'))), ...rows.map(line)].join('\n');
}

function where(app: string | null, os: string | null): string {
  return `${mdText(app ?? 'an unknown app')}${os ? ` on ${mdText(os)}` : ''}`;
}

function user(upn: string | null, name?: string | null): string {
  if (name && upn && name !== upn) return `${mdText(name, 60)} (${mdText(upn, 80)})`;
  return mdText(upn ?? name ?? null, 80);
}

const HEADLINE: Array<[keyof Totals, string]> = [
  ['looping_users', 'Users in reauthentication loops'],
  ['loops', 'Reauthentication loops'],
  ['loop_prompts', 'Prompts in those loops'],
  ['clusters', 'Tenant-wide clusters'],
  ['denial_bursts', 'MFA-denial bursts'],
  ['failure_bursts', 'Failure bursts'],
  ['users_prompted', 'Users prompted to sign in'],
  ['prompts', 'Sign-in prompts'],
  ['interactive_sign_ins', 'Interactive sign-ins'],
  ['sign_ins', 'Sign-ins (all)'],
];

export function renderMarkdown(d: ReportData): string {
  const t = d.totals;
  const at = timeFormatter(d);
  const out: string[] = [];
  const codeMeaning = new Map(d.top.error_codes.map((c) => [c.code, c.meaning]));

  out.push(`# Reauthentication loops: ${d.period.label}`); // our own text: digits, dashes, "to"
  out.push('');
  const through = d.data_through ? `data through ${at(d.data_through)} UTC` : 'no sign-ins in the period';
  const oneDay = /^\d{4}-\d{2}-\d{2}$/.test(d.period.label);
  out.push(`${oneDay ? `The UTC day ${d.period.label}` : `From ${at(d.period.from)} to ${at(d.period.to)} UTC`}; ${through}.`);
  if (d.pseudonymized) out.push('', '*Pseudonymized: user names, object ids, IP addresses, devices and sign-in ids are keyed tokens (u-…, id-…, ip-…). The security team can map them back with the same key.*');
  out.push('', summary(d), '');

  out.push('## Headline', '');
  const prev = d.previous;
  out.push(
    table(
      ['', 'This period', 'Previous period', 'Change'],
      ['l', 'r', 'r', 'r'],
      HEADLINE.map(([k, name]) => [name, int(t[k]), prev ? int(prev[k]) : '—', change(t[k], prev?.[k])]),
    ),
  );
  if (!prev) out.push('', 'No sign-ins in the previous period, so no day-over-day change.');
  out.push('');

  out.push('## Tenant-wide incidents', '');
  if (!d.clusters.length) out.push('None: no app had many users looping at once.', '');
  d.clusters.forEach((c, i) => out.push(...cluster(c, i + 1, at, codeMeaning)));

  out.push('## Remediation', '');
  out.push(...remediation(d, at));

  out.push('## Worst loops', '');
  if (!d.worst_loops.length) out.push('No reauthentication loops.', '');
  else {
    const shown = d.worst_loops.slice(0, SHOW.worstLoops);
    out.push(
      table(
        ['User', 'App', 'OS', 'Start', 'Prompts', 'Lasted', 'Cluster'],
        ['l', 'l', 'l', 'l', 'r', 'r', 'l'],
        shown.map((f) => [user(f.user_principal_name, f.user_display_name), mdText(f.app_display_name ?? f.app_id), mdText(f.device_os), at(f.start), int(f.prompt_count), duration(f.duration_seconds), f.cluster_id ? clusterRef(d.clusters, f.cluster_id) : '—']),
      ),
      '',
      more(t.loops, shown.length, 'loops.csv'),
    );
  }

  out.push('## MFA-denial bursts', '');
  out.push('Several MFA prompts denied or left unanswered in a row: what MFA fatigue (push bombing) looks like. Kept apart from loops: this is an attack signal, not a broken client.', '');
  out.push(...bursts(d.denial_bursts, t.denial_bursts, at, true));

  out.push('## Failure bursts', '');
  out.push('Runs of failed sign-ins with no success: password guessing, or a client with stale credentials.', '');
  out.push(...bursts(d.failure_bursts, t.failure_bursts, at, false));

  out.push('## Where the loops are', '');
  if (!t.loops) out.push('No reauthentication loops.', '');
  else {
    for (const [title, rows] of [['App', d.top.apps], ['OS', d.top.os], ['Client', d.top.clients]] as Array<[string, TopRow[]]>) {
      out.push(table([title, 'Loops', 'Users', 'Prompts'], ['l', 'r', 'r', 'r'], rows.slice(0, SHOW.top).map((r) => [mdText(r.name), int(r.loops), int(r.users), int(r.prompts)])), '');
    }
  }

  out.push('## Error codes', '');
  if (!d.top.error_codes.length) out.push('No sign-in failed or was interrupted.', '');
  else out.push(errorCodes(d.top.error_codes.slice(0, SHOW.errorCodes)), '', 'Every code is in error-codes.csv.', '');

  out.push('## Files', '');
  out.push('report.json (everything above, for scripts), report.html (with charts, when rendered), loops.csv (every loop and burst), clusters.csv, remediation.csv, error-codes.csv.');
  if (d.thresholds) out.push('', `Thresholds: ${Object.entries(d.thresholds).map(([k, v]) => `${mdText(k)} ${mdText(String(v))}`).join(', ')}.`);
  // sections add their own blank lines; one is enough (no code block here has blank lines)
  return out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n';
}

function summary(d: ReportData): string {
  const t = d.totals;
  const parts: string[] = [];
  if (!t.sign_ins) return 'No sign-ins in this period: check that the lake is being filled (import or consume) for these dates.';
  if (!t.loops) parts.push('Nobody was stuck in a reauthentication loop.');
  else {
    const inClusters = new Set(d.remediation.map((r) => `${r.user_id ?? ''}|${r.user_principal_name ?? ''}`)).size;
    let s = `${plural(t.looping_users, 'user was', 'users were')} stuck in reauthentication loops (${plural(t.loop_prompts, 'prompt')} in ${plural(t.loops, 'loop')})`;
    if (d.clusters.length) {
      const big = d.clusters.reduce((a, c) => (c.user_count > a.user_count ? c : a));
      s += `; ${int(inClusters)} of them in ${d.clusters.length === 1 ? 'a tenant-wide incident' : `${d.clusters.length} tenant-wide incidents`}, the largest on ${where(big.app_display_name, big.device_os)} (${plural(big.user_count, 'user')})`;
    }
    parts.push(`${s}.`);
  }
  const still = d.remediation.filter((r) => !r.stopped).length;
  if (d.clusters.length) parts.push(still ? `**${plural(still, 'user is', 'users are')} still looping** at the end of the data: see Remediation.` : 'Every user of the incidents has stopped looping.');
  const critical = d.denial_bursts.filter((f) => f.severity === 'critical').length;
  // the list is capped and critical ones come first: a full list of critical ones means "at least"
  const atLeast = critical === d.denial_bursts.length && d.denial_bursts.length < t.denial_bursts ? 'at least ' : '';
  if (t.denial_bursts) parts.push(`${plural(t.denial_bursts, 'MFA-denial burst')}${critical ? `, **${atLeast}${int(critical)} followed by a successful sign-in** (did the user approve an attacker's prompt?)` : ''}.`);
  if (t.failure_bursts) parts.push(`${plural(t.failure_bursts, 'failure burst')}.`);
  return parts.join(' ');
}

function clusterRef(clusters: ClusterRow[], id: string): string {
  const i = clusters.findIndex((c) => c.cluster_id === id);
  // "C1", not "#1": GitHub turns #1 into a link to issue 1
  return i >= 0 ? `C${i + 1}` : mdText(id);
}

function cluster(c: ClusterRow, n: number, at: (iso: string | null) => string, meaning: Map<number, string | null>): string[] {
  const stragglers = c.users_still_looping.length;
  const codes = c.error_codes.slice(0, 4).map((code) => (meaning.get(code) ? `${code} (${mdText(meaning.get(code) ?? '', 60)})` : String(code)));
  const lines = [
    `### C${n}: ${where(c.app_display_name, c.device_os)}, ${plural(c.user_count, 'user')}`,
    '',
    `From ${at(c.start)} UTC, ${plural(c.user_count, 'user')} looped on ${where(c.app_display_name, c.device_os)}` +
      `${c.client_app_used ? ` (${mdText(c.client_app_used)})` : ''}, peaking at ${plural(c.peak_users, 'user')} at ${at(c.peak_at)}. ` +
      `It subsided at ${at(c.core_end)}; the last loop ended at ${at(c.end)}. ` +
      `${plural(c.loop_count, 'loop')}, ${plural(c.prompt_count, 'prompt')}.` +
      (codes.length ? ` Codes: ${codes.join(', ')}.` : ''),
    '',
    stragglers
      ? `${plural(stragglers, 'user', 'users')} kept looping after it subsided: ${int(c.stragglers_stopped)} ${c.stragglers_stopped === 1 ? 'has' : 'have'} stopped since, **${int(c.stragglers_still_looping)} still looping**.`
      : 'Nobody kept looping after it subsided.',
    '',
    `Cluster id ${mdText(c.cluster_id)}.`,
    '',
  ];
  return lines;
}

function remediation(d: ReportData, at: (iso: string | null) => string): string[] {
  const rows = d.remediation;
  if (!rows.length) return ['Nothing to do: no tenant-wide cluster.', ''];
  const still = rows.filter((r) => !r.stopped);
  const out = [
    `${plural(rows.length, 'user')} in tenant-wide clusters; ${still.length ? `**${plural(still.length, 'is', 'are')} still looping**` : 'all have stopped looping'} ` +
      `(no prompt in the last ${d.thresholds?.loop_gap_secs ?? 120} s before ${at(d.data_through)} UTC counts as stopped). ` +
      'Revoking a user\'s sessions makes their apps sign in afresh, which usually ends a loop that outlived the incident.',
    '',
  ];
  const shown = [...still, ...rows.filter((r) => r.stopped)].slice(0, SHOW.remediation);
  out.push(
    table(
      ['Cluster', 'User', 'Loops', 'Prompts', 'After it subsided', 'Last prompt', 'Status'],
      ['l', 'l', 'r', 'r', 'r', 'l', 'l'],
      shown.map((r: RemediationRow) => [
        clusterRef(d.clusters, r.cluster_id),
        user(r.user_principal_name),
        int(r.loops),
        int(r.prompts),
        int(r.prompts_after_core_end),
        at(r.last_prompt),
        r.status === 'stopped_after_revocation' ? 'stopped after revocation' : r.stopped ? (r.straggler ? 'stopped late' : 'stopped') : '**still looping**',
      ]),
    ),
    '',
    more(rows.length, shown.length, 'remediation.csv'),
  );
  if (d.pseudonymized) out.push('This report is pseudonymized, so remediation.csv holds tokens, not object ids: run the report without a key to revoke sessions.', '');
  else {
    out.push(
      'remediation.csv has user_id and user_principal_name per row, for Microsoft Graph (POST /users/{id}/revokeSignInSessions) or PowerShell:',
      '',
      '```powershell',
      "Import-Csv remediation.csv | Where-Object { $_.stopped -eq 'false' } | ForEach-Object { Revoke-MgUserSignInSession -UserId ($(if ($_.user_id) { $_.user_id } else { $_.user_principal_name })) }",
      '```',
      '',
    );
  }
  return out;
}

function bursts(rows: FlaggedSession[], total: number, at: (iso: string | null) => string, denial: boolean): string[] {
  if (!rows.length) return ['None.', ''];
  const shown = rows.slice(0, denial ? SHOW.denialBursts : SHOW.failureBursts);
  const body = shown.map((f) => [
    f.severity === 'critical' ? '**critical**' : f.severity,
    user(f.user_principal_name, f.user_display_name),
    where(f.app_display_name ?? f.app_id, f.device_os),
    at(f.start),
    int(denial ? f.denial_count : f.failure_count),
    f.ip_addresses.length <= 2 ? f.ip_addresses.map((ip) => mdText(ip, 45)).join(', ') || '—' : `${int(f.ip_addresses.length)} addresses`,
    denial && f.severity === 'critical' ? 'a sign-in succeeded after the denials: confirm with the user' : '',
  ]);
  return [
    table(['Severity', 'User', 'Where', 'Start', denial ? 'Denied' : 'Failed', 'IP addresses', ''], ['l', 'l', 'l', 'l', 'r', 'l', 'l'], body),
    '',
    more(total, shown.length, 'loops.csv'),
  ];
}

function errorCodes(rows: ErrorCodeRow[]): string {
  return table(
    ['Code', 'Meaning', 'Class', 'Sign-ins', 'In loops or bursts'],
    ['r', 'l', 'l', 'r', 'r'],
    rows.map((r) => [String(r.code), mdText(r.meaning ?? 'not in the code table'), mdText(r.outcome ?? 'failure'), int(r.sign_ins), int(r.in_loops)]),
  );
}

function more(total: number, shown: number, file: string): string {
  return total > shown ? `${int(total - shown)} more in ${file}.\n` : '';
}
