/**
 * Report charts, rendered at build time to inline SVG: Vega-Lite spec → Vega → SVG string in Node, so the HTML
 * needs no script and no network at view time. Labels come from sign-in logs (attacker-controlled): Vega escapes
 * SVG text and attribute values itself, and every SVG is checked against an allow-list of elements and
 * attributes before it leaves this module (no script, no event handler, no href, no external url()).
 * Times are UTC throughout, so the same data gives the same bytes on any machine and in any TZ.
 */
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import type { FlaggedSession } from '../domain/findings';
import type { ClusterRow, HourRow, UserTimeline } from './types';

/** A row of a bar chart: the bar's length is `value`; `note` (default: the value) is written at its end. */
export interface Bar {
  label: string;
  value: number;
  note?: string;
}

const WIDTH = 720;
const FONT = 'system-ui, sans-serif';
const BLUE = '#3b6ea5';
const ORANGE = '#d9822b';
const GREY = '#9aa0a6';

/** Sign-in outcome classes (queries/staging/sign_ins.sql) with a fixed colour each; anything else is "other". */
const OUTCOME_COLORS: ReadonlyArray<readonly [string, string]> = [
  ['success', '#2e7d32'],
  ['interrupt', '#f2a900'],
  ['reauth_trigger', '#ef6c00'],
  ['loop_signal', '#8e24aa'],
  ['failure', '#c62828'],
  ['mfa_denied', '#6d0000'],
  ['block', '#37474f'],
  ['unknown', '#b0bec5'],
  ['other', '#00838f'],
];
const KNOWN_OUTCOMES = new Set(OUTCOME_COLORS.map(([o]) => o));

const LOOP_KIND_LABEL: Record<FlaggedSession['kind'], string> = {
  reauth_loop: 'reauth loop',
  mfa_denial_burst: 'MFA-denial burst',
  failure_burst: 'failure burst',
  silent_loop: 'silent loop',
};
const LOOP_KINDS: ReadonlyArray<readonly [string, string]> = [
  [LOOP_KIND_LABEL.reauth_loop, '#ef6c00'],
  [LOOP_KIND_LABEL.mfa_denial_burst, '#c62828'],
  [LOOP_KIND_LABEL.failure_burst, '#6a1b9a'],
  [LOOP_KIND_LABEL.silent_loop, '#00838f'],
];

// Characters that are invisible or reorder text (C0/C1 controls, zero-width, bidi controls, BOM, lone
// surrogates): shown as \uXXXX so a name cannot hide or spoof what sits around it.
const INVISIBLE_RE =
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A log value made safe to show as plain text (not yet escaped for any format): invisible characters made
 * visible, cut to `max` code points with an ellipsis so a 100 kB user agent cannot bloat the report.
 */
export function printable(s: string, max = 200): string {
  const visible = s.replace(INVISIBLE_RE, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  const points = Array.from(visible);
  return points.length > max ? points.slice(0, max - 1).join('') + '…' : visible;
}

/** 1234567 → "1,234,567", the same on every machine (no ICU locale involved). */
export function fmtInt(n: number): string {
  if (!Number.isFinite(n)) return '–';
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

const BASE_CONFIG = {
  // Per-mark ARIA labels repeat every data value in attributes; the HTML gives each figure its own label.
  aria: false,
  background: null,
  font: FONT,
  view: { stroke: null },
  axis: { labelColor: '#333', titleColor: '#333', gridColor: '#e6e6e6', domainColor: '#999', tickColor: '#999' },
  legend: { labelLimit: 220 },
} as const;

/** Compile and render one Vega-Lite spec to a checked SVG string. */
async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const { spec: vgSpec } = compile({ ...spec, config: { ...BASE_CONFIG, ...spec.config } } as TopLevelSpec, {
    // Warnings would go to the console of whoever builds the report, where they are not actionable.
    logger: vega.logger(vega.None),
  });
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none', logLevel: vega.None });
  try {
    // The xlink namespace declaration is unused (no links) and the only URL-looking thing Vega writes.
    return assertSafeSvg((await view.toSVG()).replace(' xmlns:xlink="http://www.w3.org/1999/xlink"', ''));
  } finally {
    view.finalize();
  }
}

const SVG_ELEMENTS = new Set(['svg', 'g', 'path', 'rect', 'line', 'text', 'tspan', 'circle', 'defs', 'clippath', 'title']);
const SVG_ATTRIBUTES = new Set([
  'xmlns', 'version', 'class', 'width', 'height', 'viewbox', 'fill', 'fill-opacity', 'stroke', 'stroke-width',
  'stroke-opacity', 'stroke-miterlimit', 'stroke-dasharray', 'stroke-linecap', 'stroke-linejoin', 'transform', 'role',
  'aria-roledescription', 'aria-hidden', 'aria-label', 'd', 'x', 'y', 'x2', 'y2', 'pointer-events', 'opacity',
  'display', 'text-anchor', 'font-family', 'font-size', 'font-weight', 'font-style', 'id', 'clip-path', 'dy', 'dx',
  'shape-rendering',
]);

/**
 * Defence in depth behind Vega's own escaping: every tag and attribute of the SVG must be on the allow-list,
 * and no attribute value may point anywhere but a local `url(#id)`. Text content cannot hold a raw `<`
 * (Vega writes `&lt;`), so every `<` here starts a tag.
 */
export function assertSafeSvg(svg: string): string {
  for (const tag of svg.matchAll(/<\/?([A-Za-z][\w:-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>/g)) {
    const name = tag[1]!.toLowerCase();
    if (!SVG_ELEMENTS.has(name)) throw new Error(`chart SVG has a disallowed element <${name}>`);
    for (const attr of tag[2]!.matchAll(/([^\s=/]+)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/g)) {
      const attrName = attr[1]!.toLowerCase();
      if (!SVG_ATTRIBUTES.has(attrName)) throw new Error(`chart SVG has a disallowed attribute ${attrName} on <${name}>`);
      const value = attr[2]!.replace(/^["']|["']$/g, '');
      // aria-* may carry a label (plain text to the browser); every other value must not reach outside the document.
      const outside = attrName === 'xmlns' ? value !== 'http://www.w3.org/2000/svg' : !attrName.startsWith('aria-') && /url\((?!#)|:\/\//i.test(value);
      if (outside) throw new Error(`chart SVG attribute ${attrName} on <${name}> references something outside the document`);
    }
  }
  return svg;
}

const HOUR_MS = 3_600_000;

/** Prompts (top) and looping users (bottom) per UTC hour. Empty string when there are no hours. */
export async function hourlyChart(hours: readonly HourRow[]): Promise<string> {
  if (hours.length === 0) return '';
  const values = hours.flatMap((h) => {
    const start = Date.parse(h.hour);
    if (!Number.isFinite(start)) return [];
    return [{ start: h.hour, end: new Date(start + HOUR_MS).toISOString(), prompts: h.prompts, looping: h.looping_users }];
  });
  const x = { field: 'start', type: 'temporal', title: null, scale: { type: 'utc' }, axis: { format: '%H:%M', labelOverlap: true } } as const;
  const panel = (field: string, title: string, color: string, showX: boolean): object => ({
    width: WIDTH,
    height: 110,
    // A rect from the start to the end of the hour, from 0 to the value (a bar with x2 would be a horizontal range).
    mark: { type: 'rect', color, stroke: 'white', strokeWidth: 1 },
    encoding: {
      x: showX ? x : { ...x, axis: { ...x.axis, labels: false, ticks: false } },
      x2: { field: 'end' },
      y: { field, type: 'quantitative', title, axis: { tickMinStep: 1, format: ',d' } },
      y2: { datum: 0 },
    },
  });
  return renderSvg({
    data: { values },
    vconcat: [panel('prompts', 'Prompts', BLUE, false), panel('looping', 'Looping users', ORANGE, true)],
    spacing: 8,
  } as TopLevelSpec);
}

function clusterLabel(c: ClusterRow, i: number): string {
  const app = printable(c.app_display_name ?? 'unknown app', 40);
  const os = printable(c.device_os ?? c.os_family ?? 'any OS', 24);
  // The index keeps labels unique when two clusters share app and OS.
  return `#${i + 1} ${app} · ${os}`;
}

/** Clusters on a time axis: thin rule start → end, thick bar start → core_end, a dot at the peak sized by users. */
export async function clustersChart(clusters: readonly ClusterRow[]): Promise<string> {
  if (clusters.length === 0) return '';
  const values = clusters.map((c, i) => ({
    label: clusterLabel(c, i),
    start: c.start,
    end: c.end,
    core_end: c.core_end,
    peak_at: c.peak_at,
    users: c.user_count,
    users_text: `${c.user_count} user${c.user_count === 1 ? '' : 's'}`,
  }));
  const y = { field: 'label', type: 'nominal', title: null, sort: null, axis: { labelLimit: 260 } } as const;
  const time = { type: 'temporal', title: null, scale: { type: 'utc' }, axis: { format: '%H:%M', labelOverlap: true } } as const;
  return renderSvg({
    data: { values },
    width: WIDTH - 260,
    height: { step: 26 },
    layer: [
      { mark: { type: 'rule', color: GREY, strokeWidth: 2 }, encoding: { y, x: { field: 'start', ...time }, x2: { field: 'end' } } },
      { mark: { type: 'bar', color: ORANGE, height: 12 }, encoding: { y, x: { field: 'start', ...time }, x2: { field: 'core_end' } } },
      {
        mark: { type: 'circle', color: '#b23b00', opacity: 0.9 },
        encoding: {
          y,
          x: { field: 'peak_at', ...time },
          size: { field: 'users', type: 'quantitative', title: 'Users', scale: { range: [40, 400], zero: true }, legend: null },
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 6, fontSize: 11, color: '#333' },
        encoding: { y, x: { field: 'end', ...time }, text: { field: 'users_text' } },
      },
    ],
  } as TopLevelSpec);
}

/** Keeps bar labels unique (a band per label) without merging two rows that share a name. */
function uniqueLabels(rows: readonly Bar[]): Array<{ label: string; value: number; note: string; rank: number }> {
  const seen = new Map<string, number>();
  return rows.map((r, rank) => {
    const base = printable(r.label, 48);
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return { label: n === 1 ? base : `${base} (${n})`, value: r.value, note: r.note ?? fmtInt(r.value), rank };
  });
}

/** Horizontal bars, in the order given (the report's SQL already ranks them). */
export async function barChart(rows: readonly Bar[], valueTitle: string, color = BLUE): Promise<string> {
  if (rows.length === 0) return '';
  const values = uniqueLabels(rows);
  const y = { field: 'label', type: 'nominal', title: null, sort: { field: 'rank', order: 'ascending' }, axis: { labelLimit: 180 } } as const;
  const x = { field: 'value', type: 'quantitative', title: valueTitle, axis: { format: ',d', tickMinStep: 1 } } as const;
  return renderSvg({
    data: { values },
    width: 220,
    height: { step: 18 },
    layer: [
      { mark: { type: 'bar', color }, encoding: { y, x } },
      { mark: { type: 'text', align: 'left', dx: 3, fontSize: 10, color: '#333' }, encoding: { y, x, text: { field: 'note' } } },
    ],
  } as TopLevelSpec);
}

const KIND_ORDER = ['prompt', 'silent', 'background'];

/** A user's sign-ins over time, one row per kind, coloured by outcome, with flagged loops and bursts as bands. */
export async function userTimelineChart(t: UserTimeline): Promise<string> {
  if (t.events.length === 0 && t.loops.length === 0) return '';
  const events = t.events.map((e) => ({
    at: e.created_at,
    kind: e.kind,
    outcome: e.outcome !== null && KNOWN_OUTCOMES.has(e.outcome) ? e.outcome : e.outcome === null ? 'unknown' : 'other',
  }));
  const bands = t.loops.map((l, i) => ({ start: l.start, end: l.end, flagged: LOOP_KIND_LABEL[l.kind], name: `L${i + 1}` }));
  // The axis spans the activity, not the whole period: a loop of ten minutes would be a hairline on a day.
  const times = [...events.map((e) => Date.parse(e.at)), ...bands.flatMap((b) => [Date.parse(b.start), Date.parse(b.end)])].filter(
    Number.isFinite,
  );
  if (times.length === 0) return '';
  const lo = Math.min(...times);
  const hi = Math.max(...times);
  const pad = Math.max((hi - lo) * 0.03, 60_000);
  const domain = [new Date(lo - pad).toISOString(), new Date(hi + pad).toISOString()];
  const format = hi - lo > 20 * HOUR_MS ? '%m-%d %H:%M' : '%H:%M';
  const x = { type: 'temporal', title: 'UTC', scale: { type: 'utc', domain }, axis: { format, labelOverlap: true } } as const;
  // Legends list only what is on the chart.
  const presentOutcomes = OUTCOME_COLORS.filter(([o]) => events.some((e) => e.outcome === o));
  const presentKinds = LOOP_KINDS.filter(([label]) => bands.some((b) => b.flagged === label));
  return renderSvg({
    width: WIDTH,
    height: 120,
    layer: [
      {
        data: { values: bands },
        mark: { type: 'rect', opacity: 0.18 },
        encoding: {
          x: { field: 'start', ...x },
          x2: { field: 'end' },
          fill: {
            field: 'flagged',
            type: 'nominal',
            title: 'Flagged',
            scale: { domain: presentKinds.map(([k]) => k), range: presentKinds.map(([, c]) => c) },
          },
        },
      },
      {
        data: { values: bands },
        mark: { type: 'text', align: 'left', baseline: 'top', dx: 2, dy: 2, fontSize: 10, color: '#555' },
        encoding: { x: { field: 'start', ...x }, y: { value: 0 }, text: { field: 'name' } },
      },
      {
        data: { values: events },
        mark: { type: 'tick', thickness: 2, opacity: 0.9 },
        encoding: {
          x: { field: 'at', ...x },
          y: { field: 'kind', type: 'nominal', title: null, scale: { domain: KIND_ORDER } },
          color: {
            field: 'outcome',
            type: 'nominal',
            title: 'Outcome',
            scale: { domain: presentOutcomes.map(([o]) => o), range: presentOutcomes.map(([, c]) => c) },
          },
        },
      },
    ],
    resolve: { scale: { x: 'shared' } },
  } as TopLevelSpec);
}
