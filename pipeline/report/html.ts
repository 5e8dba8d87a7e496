/**
 * The nightly report and the user-timeline page as one self-contained HTML file each: inline CSS, inline SVG
 * charts, no script, nothing fetched at view time. Every value from ReportData came from sign-in logs and is
 * attacker-controlled (reliability.md §7), so markup is only built through the `html` template below, which
 * HTML-escapes every interpolated string with escapeHtml(); values only ever land in element text or quoted
 * attributes, never in a URL, style, script or event handler. A strict CSP (style allowed by hash only) stops
 * whatever an escaping bug might still let through.
 */
import { createHash } from 'node:crypto';
import type { FlaggedSession } from '../domain/findings';
import { barChart, clustersChart, fmtInt, hourlyChart, printable, userTimelineChart } from './charts';
import type { Bar } from './charts';
import type { ClusterRow, RemediationRow, ReportData, TimelineEvent, Totals, UserTimeline } from './types';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** The one escaping function: safe in element text and in quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** Markup that may be emitted as is: made only by `html`, and by `raw` for our own constants and the checked chart SVG. */
class Html {
  constructor(readonly markup: string) {}
}
type Part = Html | string | number | null | undefined | readonly Part[];

function part(v: Part): string {
  if (v instanceof Html) return v.markup;
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return escapeHtml(v);
  return v.map(part).join('');
}

/** Tagged template: literal parts are markup, every interpolated string is escaped. */
function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += part(v) + strings[i + 1]!;
  });
  return new Html(out);
}

function raw(markup: string): Html {
  return new Html(markup);
}

/** A log value as text: invisible characters shown, long values cut, bidi isolated from its neighbours. */
function val(s: string | null | undefined, max = 120): Html {
  return s === null || s === undefined || s === '' ? html`<span class="none">–</span>` : html`<bdi>${printable(s, max)}</bdi>`;
}

function plural(n: number, one: string, many = one + 's'): string {
  return `${fmtInt(n)} ${n === 1 ? one : many}`;
}

function iso(s: string): Date | null {
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "2026-04-14 09:05" (UTC), or with seconds; an unparsable value is shown as the (escaped) text it is. */
function when(s: string | null, seconds = false): string {
  if (s === null) return '–';
  const d = iso(s);
  return d ? d.toISOString().slice(0, seconds ? 19 : 16).replace('T', ' ') : printable(s, 40);
}

/** "09:05" (UTC). */
function clock(s: string): string {
  const d = iso(s);
  return d ? d.toISOString().slice(11, 16) : printable(s, 40);
}

function duration(secs: number): string {
  if (!Number.isFinite(secs) || secs < 0) return '–';
  const s = Math.round(secs);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

function span(start: string, end: string, secs: number): Html {
  return html`${when(start)} – ${clock(end)}<br><span class="sub">${duration(secs)}</span>`;
}

function codes(list: readonly number[]): string {
  return list.length ? list.map(String).join(', ') : '–';
}

const CSS = `
:root{--fg:#1d2125;--muted:#5f6b76;--line:#dde2e6;--bg:#f6f7f9;--bad:#b3261e;--good:#2e7d32;--warn:#8a4b00}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#fff}
main{max-width:1120px;margin:0 auto;padding:20px 24px 40px}
h1{font-size:24px;margin:0 0 2px}
h2{font-size:18px;margin:32px 0 8px;padding-bottom:4px;border-bottom:2px solid var(--line)}
h3{font-size:15px;margin:18px 0 4px}
p{margin:6px 0}
.sub,.note,figcaption{color:var(--muted)}
.note{font-size:13px}
.none{color:var(--muted)}
.banner{background:#fff4d6;border:1px solid #e8c66a;padding:6px 10px;border-radius:4px;margin:10px 0}
.lead{font-size:16px;margin:12px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:10px;margin:14px 0}
.card{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:10px 12px}
.card .label{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.card .value{font-size:28px;font-weight:650;line-height:1.2}
.delta{font-size:12px;color:var(--muted)}
.delta.worse{color:var(--bad)}
.delta.better{color:var(--good)}
figure{margin:10px 0;overflow-x:auto}
figure svg{max-width:100%;height:auto}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:8px 24px}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:13px}
th,td{text-align:left;vertical-align:top;padding:4px 8px;border-bottom:1px solid var(--line)}
th{background:var(--bg);font-weight:600;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.t{white-space:nowrap}
td{overflow-wrap:break-word}bdi{overflow-wrap:anywhere}
code{font-size:12px}
.cluster{border-left:4px solid #d9822b;padding:2px 0 2px 12px;margin:14px 0}
.attack{border:2px solid var(--bad);border-radius:6px;padding:4px 14px 10px;margin-top:32px}
.attack h2{color:var(--bad);border-bottom-color:#f0c9c6;margin-top:10px}
.sev-critical{color:var(--bad);font-weight:600}
.sev-high{color:var(--warn);font-weight:600}
.still{color:var(--bad);font-weight:600}
footer{margin-top:36px;padding-top:10px;border-top:1px solid var(--line);color:var(--muted);font-size:12px}
@media print{
  @page{margin:12mm}
  body{font-size:11px}
  main{max-width:none;padding:0}
  h2{break-after:avoid}
  figure,tr,.card,.cluster{break-inside:avoid}
  .card,th{background:none}
  figure{overflow:visible}
}
`.trim();

/** Only this exact stylesheet may apply: the CSP allows it by hash, so no injected style or script can run. */
export const CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'; base-uri 'none'; form-action 'none'`;

function page(title: string, body: Html): string {
  return (
    html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${raw(CSP)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${raw(CSS)}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`.markup
  );
}

function table(head: readonly Html[], rows: readonly Html[][]): Html {
  return html`<table><thead><tr>${head}</tr></thead><tbody>${rows.map((r) => html`<tr>${r}</tr>`)}</tbody></table>`;
}
const th = (label: string): Html => html`<th>${label}</th>`;
const thn = (label: string): Html => html`<th class="n">${label}</th>`;
const td = (content: Part): Html => html`<td>${content}</td>`;
const tdn = (n: number): Html => html`<td class="n">${fmtInt(n)}</td>`;
const tdt = (content: Part): Html => html`<td class="t">${content}</td>`;

function figure(svg: string, caption: string): Html {
  // aria-label carries what Vega's per-mark labels would have said, once.
  return svg ? html`<figure role="img" aria-label="${caption}">${raw(svg)}<figcaption>${caption}</figcaption></figure>` : html``;
}

/** At most `max` rows, and a line saying how many were left out. */
function capped<T>(rows: readonly T[], max: number, render: (rows: readonly T[]) => Html, rest: string): Html {
  const more = rows.length - max;
  return html`${render(rows.slice(0, max))}${more > 0 ? html`<p class="note">… and ${plural(more, 'more row')}: ${rest}</p>` : null}`;
}

function user(u: { user_display_name?: string | null; user_principal_name: string | null; user_id: string | null }): Html {
  const name = u.user_display_name ?? null;
  const upn = u.user_principal_name ?? u.user_id;
  return name && upn ? html`${val(name, 60)}<br><span class="sub">${val(upn, 80)}</span>` : val(name ?? upn, 80);
}

function severity(s: FlaggedSession['severity']): Html {
  return html`<span class="sev-${s}">${s}</span>`;
}

// ---------------------------------------------------------------------------
// The nightly report
// ---------------------------------------------------------------------------

interface Metric {
  key: keyof Totals;
  label: string;
}

const HEADLINE: readonly Metric[] = [
  { key: 'looping_users', label: 'Users in a loop' },
  { key: 'loops', label: 'Reauth loops' },
  { key: 'loop_prompts', label: 'Prompts in loops' },
  { key: 'clusters', label: 'Clusters' },
  { key: 'denial_bursts', label: 'MFA-denial bursts' },
  { key: 'failure_bursts', label: 'Failure bursts' },
];

const ALL_TOTALS: readonly Metric[] = [
  { key: 'sign_ins', label: 'Sign-ins' },
  { key: 'interactive_sign_ins', label: 'Interactive sign-ins' },
  { key: 'prompts', label: 'Prompts' },
  { key: 'users_prompted', label: 'Users prompted' },
  ...HEADLINE,
];

/** Change against the previous period; every headline metric is a bad thing, so up is "worse". */
function delta(cur: number, prev: number | undefined, judged: boolean): Html {
  if (prev === undefined) return html`<span class="delta">no previous data</span>`;
  const d = cur - prev;
  if (d === 0) return html`<span class="delta">same as before</span>`;
  const pct = prev === 0 ? 'new' : `${d > 0 ? '+' : '−'}${fmtInt(Math.abs((d / prev) * 100))} %`;
  const cls = judged ? (d > 0 ? 'delta worse' : 'delta better') : 'delta';
  return html`<span class="${cls}">${d > 0 ? '▲ +' : '▼ −'}${fmtInt(Math.abs(d))} (${pct})</span>`;
}

function headline(d: ReportData): Html {
  const t = d.totals;
  const cards = HEADLINE.map(
    (m) =>
      html`<div class="card"><div class="label">${m.label}</div><div class="value">${fmtInt(t[m.key])}</div>${delta(t[m.key], d.previous?.[m.key], true)}</div>`,
  );
  const lead =
    t.loops + t.denial_bursts + t.failure_bursts === 0
      ? html`No reauthentication loops, MFA-denial bursts or failure bursts in this period.`
      : html`${plural(t.looping_users, 'user')} ${t.looping_users === 1 ? 'was' : 'were'} stuck in ${plural(t.loops, 'reauthentication loop')} (${plural(t.loop_prompts, 'prompt')})${
          t.clusters ? html`, in ${plural(t.clusters, 'tenant-wide cluster')}` : null
        }.${t.denial_bursts ? html` <strong>${plural(t.denial_bursts, 'MFA-denial burst')}: a possible MFA-fatigue attack, see below.</strong>` : null}`;
  return html`<p class="lead">${lead}</p>
<div class="cards">${cards}</div>
<p class="note">Context: ${fmtInt(t.sign_ins)} sign-ins (${fmtInt(t.interactive_sign_ins)} interactive); ${plural(t.prompts, 'prompt')} to ${plural(t.users_prompted, 'user')}.${
    d.previous ? ' Changes are against the previous period of the same length.' : ''
  }</p>`;
}

function clusterSentence(c: ClusterRow): Html {
  const what = html`${val(c.app_display_name ?? 'an unknown app', 80)} on ${val(c.device_os ?? c.os_family ?? 'any OS', 40)}${
    c.client_app_used ? html` (${val(c.client_app_used, 60)})` : null
  }`;
  const after = c.stragglers_stopped + c.stragglers_still_looping;
  return html`From ${when(c.start)} to ${clock(c.end)} UTC, ${plural(c.user_count, 'user')} of ${what} ${
    c.user_count === 1 ? 'was' : 'were'
  } stuck in ${plural(c.loop_count, 'loop')} (${plural(c.prompt_count, 'prompt')}), peaking at ${plural(c.peak_users, 'user')} at ${clock(
    c.peak_at,
  )}; most of it was over by ${clock(c.core_end)}. Error codes: ${codes(c.error_codes)}.${
    after
      ? html` ${plural(after, 'user')} kept looping after that: ${fmtInt(c.stragglers_stopped)} stopped since, ${
          c.stragglers_still_looping ? html`<span class="still">${fmtInt(c.stragglers_still_looping)} still looping</span>` : 'none still looping'
        } at the end of the data.`
      : null
  }`;
}

function remediationSummary(rows: readonly RemediationRow[]): Html {
  if (rows.length === 0) return html``;
  const still = rows.filter((r) => !r.stopped).length;
  return html`<p class="note">Remediation: ${plural(rows.length, 'user')} to consider for a session revoke, ${fmtInt(
    still,
  )} of them still looping. Revoke with <code>Revoke-MgUserSignInSession -UserId &lt;user id&gt;</code> (Microsoft Graph <code>POST /users/{id}/revokeSignInSessions</code>); the full list is in the remediation CSV.</p>`;
}

function clustersSection(d: ReportData, svg: string): Html {
  if (d.clusters.length === 0) return html`<h2>Clusters</h2><p>No tenant-wide cluster: the loops below look individual.</p>`;
  const items = d.clusters.map(
    (c, i) => html`<div class="cluster"><h3>#${i + 1} ${val(c.app_display_name ?? 'unknown app', 80)} · ${val(c.device_os ?? c.os_family ?? 'any OS', 40)} <span class="sub">${val(c.cluster_id, 60)}</span></h3>
<p>${clusterSentence(c)}</p>
${remediationSummary(d.remediation.filter((r) => r.cluster_id === c.cluster_id))}</div>`,
  );
  return html`<h2>Clusters</h2>
<p class="note">Many users looping at once on the same app or OS usually means a service incident or a policy change, not the users' devices.</p>
${figure(svg, 'Clusters over time: grey line from start to end, orange bar until most users recovered (core end), dot at the peak sized by users.')}
${items}`;
}

function stragglersSection(d: ReportData): Html {
  const order = new Map(d.clusters.map((c, i) => [c.cluster_id, i + 1]));
  const rows = d.remediation
    .filter((r) => r.straggler)
    .sort((a, b) => Number(a.stopped) - Number(b.stopped) || b.prompts_after_core_end - a.prompts_after_core_end);
  const body =
    rows.length === 0
      ? html`<p>Nobody kept looping after a cluster ended.</p>`
      : capped(
          rows,
          100,
          (rs) =>
            table(
              [th('Status'), th('Cluster'), th('User'), th('User id'), th('App'), th('OS'), thn('Prompts after'), thn('Prompts'), th('Last prompt')],
              rs.map((r) => [
                td(r.status === 'stopped_after_revocation' ? 'stopped after revocation' : r.stopped ? 'stopped' : html`<span class="still">still looping</span>`),
                td(order.has(r.cluster_id) ? `#${order.get(r.cluster_id)}` : val(r.cluster_id, 40)),
                td(val(r.user_principal_name, 80)),
                td(html`<code>${val(r.user_id, 60)}</code>`),
                td(val(r.app_display_name, 60)),
                td(val(r.device_os, 30)),
                tdn(r.prompts_after_core_end),
                tdn(r.prompts),
                tdt(when(r.last_prompt)),
              ]),
            ),
          'see the remediation CSV.',
        );
  return html`<h2>Still looping after a cluster ended</h2>
<p class="note">These users kept getting prompts after the service recovered: their cached tokens or sessions are likely stuck, and revoking their sign-in sessions usually ends the loop.</p>
${body}`;
}

function topSection(d: ReportData, svgs: { apps: string; os: string; clients: string; codes: string }): Html {
  const codeRows = d.top.error_codes.map((e) => [
    td(html`<code>${e.code}</code>`),
    td(val(e.meaning, 120)),
    td(val(e.outcome, 30)),
    tdn(e.sign_ins),
    tdn(e.in_loops),
  ]);
  return html`<h2>Where the loops are</h2>
<div class="grid">
${figure(svgs.apps, 'Apps, by users in a loop')}
${figure(svgs.os, 'Operating systems, by users in a loop')}
${figure(svgs.clients, 'Client types, by users in a loop')}
${figure(svgs.codes, 'Error codes, by sign-ins in loops or bursts')}
</div>
${codeRows.length ? html`<h3>Error codes</h3>${table([th('Code'), th('Meaning'), th('Outcome'), thn('Sign-ins'), thn('In loops')], codeRows)}` : null}`;
}

function loopsTable(loops: readonly FlaggedSession[], kind: 'loop' | 'denial' | 'failure'): Html {
  const countHead = kind === 'denial' ? 'Denials' : kind === 'failure' ? 'Failures' : 'Prompts';
  return table(
    [th('User'), th('App'), th('OS · client'), th('When (UTC)'), thn(countHead), ...(kind === 'loop' ? [] : [thn('Prompts')]), th('Codes'), th(kind === 'loop' ? 'Severity' : 'IP addresses'), th('Why')],
    loops.map((l) => [
      td(user(l)),
      td(val(l.app_display_name, 60)),
      td(html`${val(l.device_os, 30)}<br><span class="sub">${val(l.client_app_used, 40)}</span>`),
      tdt(span(l.start, l.end, l.duration_seconds)),
      tdn(kind === 'denial' ? l.denial_count : kind === 'failure' ? l.failure_count : l.prompt_count),
      ...(kind === 'loop' ? [] : [tdn(l.prompt_count)]),
      td(codes(l.error_codes)),
      td(kind === 'loop' ? severity(l.severity) : ipList(l.ip_addresses)),
      td(val(l.reason, 300)),
    ]),
  );
}

function ipList(ips: readonly string[]): Html {
  if (ips.length === 0) return val(null);
  const shown = ips.slice(0, 5).map((ip, i) => html`${i ? html`<br>` : null}${val(ip, 64)}`);
  return html`${shown}${ips.length > 5 ? html`<br><span class="sub">+${ips.length - 5} more</span>` : null}`;
}

function comparisonTable(d: ReportData): Html {
  if (!d.previous) return html``;
  const prev = d.previous;
  return html`<h2>Compared with the previous period</h2>
${table(
  [th('Measure'), thn('Previous'), thn('This period'), th('Change')],
  ALL_TOTALS.map((m) => [td(m.label), tdn(prev[m.key]), tdn(d.totals[m.key]), td(delta(d.totals[m.key], prev[m.key], HEADLINE.includes(m)))]),
)}`;
}

function topBars(rows: ReadonlyArray<{ name: string; users: number; loops: number }>): Bar[] {
  return rows.map((r) => ({ label: r.name, value: r.users, note: `${plural(r.users, 'user')}, ${plural(r.loops, 'loop')}` }));
}

/** The nightly report as one self-contained HTML document (deterministic: same data, same bytes). */
export async function renderHtml(d: ReportData): Promise<string> {
  const [hourly, clusters, apps, os, clients, errorCodes] = await Promise.all([
    hourlyChart(d.hourly),
    clustersChart(d.clusters),
    barChart(topBars(d.top.apps), 'Users in a loop'),
    barChart(topBars(d.top.os), 'Users in a loop'),
    barChart(topBars(d.top.clients), 'Users in a loop'),
    barChart(
      d.top.error_codes.map((e) => ({ label: `${e.code} ${e.meaning ?? ''}`.trim(), value: e.in_loops })),
      'Sign-ins in loops',
      '#8e24aa',
    ),
  ]);
  const label = printable(d.period.label, 60);
  const body = html`<header>
<h1>Reauthentication loops</h1>
<p class="sub">${label} (UTC) · data through ${when(d.data_through)}</p>
${d.pseudonymized ? html`<p class="banner"><strong>Pseudonymized:</strong> user names and IP addresses are keyed tokens, not the real values.</p>` : null}
</header>
${headline(d)}
<h2>Over the day</h2>
${hourly ? figure(hourly, 'Prompts (top) and users in a loop (bottom) per hour, UTC.') : html`<p>No sign-ins in this period.</p>`}
${clustersSection(d, clusters)}
${stragglersSection(d)}
${topSection(d, { apps, os, clients, codes: errorCodes })}
<h2>Longest and worst loops</h2>
${d.worst_loops.length ? loopsTable(d.worst_loops, 'loop') : html`<p>No reauthentication loop in this period.</p>`}
<section class="attack">
<h2>MFA-denial bursts: possible attack</h2>
<p class="note">Repeated MFA denials in a short time are what MFA fatigue (push bombing) looks like: someone who has the password keeps sending prompts until the user approves one. Check the IP addresses, reset the password, and talk to the user.</p>
${d.denial_bursts.length ? capped(d.denial_bursts, 100, (rs) => loopsTable(rs, 'denial'), 'see the JSON or CSV output.') : html`<p>None in this period.</p>`}
</section>
<h2>Failure bursts</h2>
${d.failure_bursts.length ? capped(d.failure_bursts, 100, (rs) => loopsTable(rs, 'failure'), 'see the JSON or CSV output.') : html`<p>None in this period.</p>`}
${comparisonTable(d)}
<footer>Period ${when(d.period.from)} to ${when(d.period.to)} UTC (end excluded) · data through ${when(d.data_through)} UTC${
    d.pseudonymized ? ' · pseudonymized' : ''
  } · ${d.schema}</footer>`;
  return page(`Reauthentication loops · ${label}`, body);
}

// ---------------------------------------------------------------------------
// One user's timeline
// ---------------------------------------------------------------------------

const MAX_EVENT_ROWS = 1000;

function eventRow(e: TimelineEvent, loopNames: ReadonlyMap<string, string>): Html[] {
  return [
    tdt(when(e.created_at, true)),
    td(e.kind),
    td(val(e.outcome, 30)),
    td(e.error_code === null ? val(null) : String(e.error_code)),
    td(val(e.app_display_name, 60)),
    td(val(e.device_os, 30)),
    td(val(e.ip_address, 64)),
    td(val(e.user_agent, 160)),
    td(e.loop_id === null ? null : (loopNames.get(e.loop_id) ?? val(e.loop_id, 40))),
  ];
}

/** One user's sign-ins as a self-contained HTML page with a timeline chart. */
export async function renderUserHtml(t: UserTimeline): Promise<string> {
  const svg = await userTimelineChart(t);
  const loopNames = new Map(t.loops.map((l, i) => [l.loop_id, `L${i + 1}`]));
  const count = (k: TimelineEvent['kind']): number => t.events.filter((e) => e.kind === k).length;
  const who = t.user.user_principal_name ?? t.user.user_display_name ?? t.user.user_id ?? 'unknown user';
  const body = html`<header>
<h1>Sign-in timeline: ${val(who, 80)}</h1>
<p class="sub">${t.user.user_display_name ? html`${val(t.user.user_display_name, 80)} · ` : null}user id ${val(t.user.user_id, 60)} · ${when(
    t.period.from,
  )} to ${when(t.period.to)} UTC</p>
</header>
<p class="lead">${plural(t.events.length, 'sign-in')}: ${plural(count('prompt'), 'prompt')}, ${fmtInt(count('silent'))} silent, ${fmtInt(
    count('background'),
  )} background; ${plural(t.loops.length, 'flagged loop or burst', 'flagged loops or bursts')}.</p>
${svg ? figure(svg, 'Sign-ins over time by kind, coloured by outcome; shaded bands are flagged loops and bursts (L1, L2, … as in the table).') : html`<p>No sign-ins in this period.</p>`}
<h2>Flagged loops and bursts</h2>
${
  t.loops.length
    ? table(
        [th(''), th('Kind'), th('App'), th('OS · client'), th('When (UTC)'), thn('Prompts'), thn('Denials'), thn('Failures'), th('Codes'), th('Why')],
        t.loops.map((l, i) => [
          td(`L${i + 1}`),
          td(html`${l.kind.replace(/_/g, ' ')}<br>${severity(l.severity)}`),
          td(val(l.app_display_name, 60)),
          td(html`${val(l.device_os, 30)}<br><span class="sub">${val(l.client_app_used, 40)}</span>`),
          tdt(span(l.start, l.end, l.duration_seconds)),
          tdn(l.prompt_count),
          tdn(l.denial_count),
          tdn(l.failure_count),
          td(codes(l.error_codes)),
          td(val(l.reason, 300)),
        ]),
      )
    : html`<p>None.</p>`
}
<h2>Devices</h2>
${table(
  [th('Device id'), th('OS'), thn('Sign-ins'), th('First'), th('Last')],
  t.devices.map((v) => [td(val(v.device_id, 60)), td(val(v.device_os, 30)), tdn(v.sign_ins), tdt(when(v.first)), tdt(when(v.last))]),
)}
<h2>IP addresses</h2>
${table(
  [th('IP address'), thn('Sign-ins'), th('First'), th('Last')],
  t.ips.map((v) => [td(val(v.ip_address, 64)), tdn(v.sign_ins), tdt(when(v.first)), tdt(when(v.last))]),
)}
<h2>Sign-ins</h2>
${capped(
  t.events,
  MAX_EVENT_ROWS,
  (rs) =>
    table(
      [th('Time (UTC)'), th('Kind'), th('Outcome'), th('Code'), th('App'), th('OS'), th('IP address'), th('User agent'), th('Loop')],
      rs.map((e) => eventRow(e, loopNames)),
    ),
  'run `reauth-loops user` with --json for all of them.',
)}
<footer>${when(t.period.from)} to ${when(t.period.to)} UTC (end excluded) · ${t.schema}</footer>`;
  return page(`Sign-in timeline · ${printable(who, 60)}`, body);
}
