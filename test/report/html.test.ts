/**
 * The HTML report and the user page, checked without a browser: the escaping function, a strict parse of the
 * whole output (every tag and attribute on an allow-list, no `<` that does not start one), determinism, the CSP.
 * test/report/browser.test.ts opens the same hostile pages in Chromium.
 */
import { createHash } from 'node:crypto';
import { assertSafeSvg, barChart, clustersChart, hourlyChart, printable } from '../../pipeline/report/charts';
import { CSP, escapeHtml, renderHtml, renderUserHtml } from '../../pipeline/report/html';
import type { ReportData, UserTimeline } from '../../pipeline/report/types';
import { XSS_PAYLOADS, hostileReport, hostileTimeline, realisticReport } from '../support/xss-corpus';

/** The five entities escapeHtml writes, plus numeric ones, decoded the way a browser would. */
function decode(s: string): string {
  return s.replace(/&(?:#(\d+)|#x([0-9a-f]+)|(amp|lt|gt|quot|apos));/gi, (_m, dec: string, hex: string, name: string) => {
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[name.toLowerCase() as 'amp']!;
  });
}

interface Tag {
  name: string;
  closing: boolean;
  attrs: Array<[string, string]>;
}

const TAG_RE = /<(\/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'))?)*)\s*\/?>/y;
const ATTR_RE = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'))?/g;

/**
 * A deliberately strict tokenizer for our own output: attribute values must be quoted, and any `<` that does
 * not open a well-formed tag fails the parse. Returns tags, text (outside style) and the style sheets.
 */
function parse(doc: string): { tags: Tag[]; text: string; styles: string[] } {
  const tags: Tag[] = [];
  const styles: string[] = [];
  let text = '';
  let i = 0;
  if (!doc.startsWith('<!DOCTYPE html>\n')) throw new Error('no doctype');
  i = '<!DOCTYPE html>\n'.length;
  while (i < doc.length) {
    const lt = doc.indexOf('<', i);
    if (lt < 0) {
      text += doc.slice(i);
      break;
    }
    text += doc.slice(i, lt);
    TAG_RE.lastIndex = lt;
    const m = TAG_RE.exec(doc);
    if (!m) throw new Error(`not a well-formed tag at ${lt}: ${JSON.stringify(doc.slice(lt, lt + 80))}`);
    const tag: Tag = { name: m[2]!.toLowerCase(), closing: m[1] === '/', attrs: [] };
    for (const a of m[3]!.matchAll(ATTR_RE)) tag.attrs.push([a[1]!.toLowerCase(), decode(a[2] ?? a[3] ?? '')]);
    tags.push(tag);
    i = TAG_RE.lastIndex;
    if (tag.name === 'style' && !tag.closing) {
      const end = doc.indexOf('</style>', i);
      styles.push(doc.slice(i, end));
      i = end;
    }
  }
  return { tags, text: decode(text), styles };
}

const ELEMENTS = new Set([
  'html', 'head', 'meta', 'title', 'style', 'body', 'main', 'header', 'footer', 'section', 'h1', 'h2', 'h3', 'p', 'div',
  'span', 'strong', 'br', 'bdi', 'code', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'figure', 'figcaption',
  'svg', 'g', 'path', 'rect', 'line', 'text',
]);
const ATTRIBUTES = new Set([
  'lang', 'charset', 'http-equiv', 'content', 'name', 'class', 'role', 'aria-label', 'aria-hidden', 'aria-roledescription',
  'xmlns', 'version', 'width', 'height', 'viewbox', 'fill', 'stroke', 'stroke-width', 'stroke-miterlimit', 'stroke-opacity',
  'fill-opacity', 'opacity', 'transform', 'd', 'x2', 'y2', 'pointer-events', 'display', 'text-anchor', 'font-family',
  'font-size', 'font-weight',
]);

/** Every structural property an injection would break, collected so a failure lists them all at once. */
function expectSafe(doc: string): ReturnType<typeof parse> {
  const parsed = parse(doc);
  const problems: string[] = [];
  for (const tag of parsed.tags) {
    if (!ELEMENTS.has(tag.name)) problems.push(`element <${tag.name}>`);
    for (const [name, value] of tag.attrs) {
      if (!ATTRIBUTES.has(name)) problems.push(`attribute ${name} on <${tag.name}>`);
      if (/javascript:|vbscript:|data:|url\((?!#)|expression\(/i.test(value)) problems.push(`${name}=${JSON.stringify(value)}`);
      if (name !== 'xmlns' && /:\/\//.test(value)) problems.push(`${name}=${JSON.stringify(value)}`);
    }
  }
  expect(problems).toEqual([]);
  // The same, said without the parser: no script element and no on*= inside any tag.
  expect(doc).not.toMatch(/<script/i);
  expect(doc).not.toMatch(/<[^>]*\son\w+\s*=/i);
  expect(XSS_PAYLOADS.filter((p) => p.includes('<') && doc.includes(p))).toEqual([]);
  return parsed;
}

function expectHeadOf(doc: string, parsed: ReturnType<typeof parse>): void {
  // The CSP must be the first thing after the charset, before any style or content.
  expect(doc).toContain(`<head>\n<meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="${CSP}">\n<meta name="referrer" content="no-referrer">`);
  expect(parsed.tags.filter((t) => t.name === 'meta' && t.attrs.some(([n]) => n === 'http-equiv'))).toHaveLength(1);
  expect(CSP).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*'; base-uri 'none'; form-action 'none'$/);
  expect(parsed.styles).toHaveLength(1);
  const hash = createHash('sha256').update(parsed.styles[0]!).digest('base64');
  expect(CSP).toContain(`'sha256-${hash}'`);
}

describe('escapeHtml', () => {
  test.each([
    ['', ''],
    ['plain text', 'plain text'],
    [`<a href="x">'&`, '&lt;a href=&quot;x&quot;&gt;&#39;&amp;'],
    ['&amp;', '&amp;amp;'],
    ['&#60;', '&amp;#60;'],
    ['`${x}`', '`${x}`'],
    ['\u202e\u0000', '\u202e\u0000'],
  ])('%j', (input, expected) => {
    expect(escapeHtml(input)).toBe(expected);
  });

  test('every payload of the corpus: no markup character left, and it decodes back to itself', () => {
    expect(XSS_PAYLOADS.length).toBeGreaterThanOrEqual(150);
    for (const p of XSS_PAYLOADS) {
      const e = escapeHtml(p);
      expect(e).not.toMatch(/[<>"']/);
      expect(e).not.toMatch(/&(?!(?:amp|lt|gt|quot|#39);)/);
      expect(decode(e)).toBe(p);
    }
  });
});

describe('renderHtml', () => {
  let hostile: string;
  beforeAll(async () => {
    hostile = await renderHtml(hostileReport());
  });

  test('the hostile report parses as our markup only, with the CSP first in <head>', () => {
    const parsed = expectSafe(hostile);
    expectHeadOf(hostile, parsed);
    // The payloads are there, as text.
    expect(parsed.text).toContain(printable(hostileReport().worst_loops[0]!.user_display_name!, 60));
    expect(parsed.text).toContain('Pseudonymized');
  });

  test('the checks above catch markup that got through', () => {
    expect(() => expectSafe(hostile.replace('<main>', '<main><img src=x onerror=alert(1)>'))).toThrow(/not a well-formed tag/);
    expect(() => expectSafe(hostile.replace('<main>', '<main><img src="x">'))).toThrow();
    expect(() => expectSafe(hostile.replace('<main>', '<main><b title="javascript:alert(1)">'))).toThrow();
  });

  test('every chart in it passes the SVG guard', () => {
    const svgs = hostile.match(/<svg [^]*?<\/svg>/g) ?? [];
    expect(svgs).toHaveLength(6);
    for (const svg of svgs) expect(assertSafeSvg(svg)).toBe(svg);
  });

  test('same data, same bytes, in any time zone', async () => {
    const tz = process.env.TZ;
    try {
      process.env.TZ = 'Pacific/Chatham';
      expect(await renderHtml(hostileReport())).toBe(hostile);
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
  });

  test('a realistic report reads: headline numbers with change, clusters in words, every section', async () => {
    const doc = await renderHtml(realisticReport());
    const { text } = expectSafe(doc);
    expect(text).toContain('42 users were stuck in 57 reauthentication loops (1,204 prompts), in 1 tenant-wide cluster.');
    expect(text).toContain('▲ +31 (+282 %)');
    expect(text).toContain('▼ −2 (−67 %)');
    expect(text).toContain(
      'From 2026-04-14 09:00 to 10:40 UTC, 37 users of Outlook Mobile on Ios (Mobile Apps and Desktop clients) were stuck in 41 loops (612 prompts), peaking at 29 users at 09:40; most of it was over by 10:05.',
    );
    expect(text).toContain('3 users kept looping after that: 2 stopped since, 1 still looping at the end of the data.');
    for (const heading of [
      'Over the day',
      'Clusters',
      'Still looping after a cluster ended',
      'Where the loops are',
      'Longest and worst loops',
      'MFA-denial bursts: possible attack',
      'Failure bursts',
      'Compared with the previous period',
    ]) {
      expect(text).toContain(heading);
    }
    expect(text).toContain('data through 2026-04-14 23:58 UTC');
    expect(text).not.toContain('Pseudonymized');
    expect((doc.match(/<svg /g) ?? []).length).toBe(6);
  });

  test('an empty period renders without charts or previous data', async () => {
    const zero = { ...realisticReport().totals };
    for (const k of Object.keys(zero) as Array<keyof typeof zero>) zero[k] = 0;
    const empty: ReportData = {
      ...realisticReport(),
      data_through: null,
      totals: zero,
      previous: null,
      hourly: [],
      clusters: [],
      top: { apps: [], os: [], clients: [], error_codes: [] },
      worst_loops: [],
      denial_bursts: [],
      failure_bursts: [],
      remediation: [],
    };
    const doc = await renderHtml(empty);
    const { text } = expectSafe(doc);
    expect(text).toContain('No reauthentication loops, MFA-denial bursts or failure bursts in this period.');
    expect(text).toContain('no previous data');
    expect(doc).not.toContain('<svg');
  });
});

describe('renderUserHtml', () => {
  test('the hostile timeline parses as our markup only; every payload is shown as text; deterministic', async () => {
    const t = hostileTimeline();
    const doc = await renderUserHtml(t);
    const parsed = expectSafe(doc);
    expectHeadOf(doc, parsed);
    for (const p of XSS_PAYLOADS) expect(doc).toContain(escapeHtml(printable(p, 60)));
    expect(parsed.text).toContain(`${XSS_PAYLOADS.length} sign-ins`);
    expect(await renderUserHtml(hostileTimeline())).toBe(doc);
  });

  test('a user without sign-ins', async () => {
    const t: UserTimeline = { ...hostileTimeline(), events: [], loops: [], devices: [], ips: [] };
    const doc = await renderUserHtml(t);
    expect(expectSafe(doc).text).toContain('No sign-ins in this period.');
  });
});

describe('charts', () => {
  test('Vega escapes a label, a note and a title', async () => {
    const evil = '</text><script>alert(1)</script>';
    const svg = await barChart([{ label: evil, value: 1, note: evil }], evil);
    expect(assertSafeSvg(svg)).toBe(svg);
    expect(expectSafe(`<!DOCTYPE html>\n${svg}`).text).toContain(evil);
    // Note and axis title in full; the axis label cut to its width limit.
    expect(svg.split('&lt;/text&gt;&lt;script&gt;alert(1)&lt;/script&gt;').length - 1).toBe(2);
    expect(svg.split('&lt;/text&gt;').length - 1).toBe(3);
  });

  test('the SVG guard rejects what Vega must never write', () => {
    for (const bad of [
      '<svg><script>alert(1)</script></svg>',
      '<svg onload="alert(1)"></svg>',
      '<svg><a href="javascript:alert(1)"></a></svg>',
      '<svg><image href="http://example.com/x.png"/></svg>',
      '<svg><rect fill="url(http://example.com/x#p)"/></svg>',
      '<svg><foreignObject></foreignObject></svg>',
      '<svg><path style="fill:red"/></svg>',
    ]) {
      expect(() => assertSafeSvg(bad)).toThrow(/chart SVG/);
    }
  });

  test('hours are labelled in UTC, and an empty series is no chart', async () => {
    const svg = await hourlyChart(realisticReport().hourly);
    expect(svg).toContain('>09:00<');
    expect(await hourlyChart([])).toBe('');
    expect(await clustersChart([])).toBe('');
    expect(await barChart([], 'x')).toBe('');
  });
});
