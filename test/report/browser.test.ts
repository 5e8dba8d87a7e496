/**
 * reliability.md S5: the report with ~150 XSS payloads, opened in a real headless Chromium, runs no script,
 * opens no dialog and makes no request; its CSP is in force.
 *
 * puppeteer-core 25 ships only ES modules, which jest's CommonJS runtime cannot load before Node 24.9, so the
 * browser is driven from a child `node` process (DRIVER below) that reports what it observed as JSON.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { renderHtml, renderUserHtml } from '../../pipeline/report/html';
import { hostileReport, hostileTimeline } from '../support/xss-corpus';

const REPO = resolve(__dirname, '..', '..');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** What the driver saw on one page. */
interface Observed {
  url: string;
  dialogs: string[];
  /** Every request but the navigation to the file itself (all are aborted). */
  requests: string[];
  console: string[];
  pageErrors: string[];
  /** Scripts compiled from the document itself (inline, handlers, javascript: URLs): not puppeteer's own. */
  scripts: string[];
  violations: string[];
  xss: string;
  headline: string;
  text: string;
  screenshot: string | null;
}

/**
 * Runs in a plain `node` child (ES module). For each page: a CSP-violation listener is installed before the
 * document parses, every network request is intercepted, and the Debugger domain reports each script compiled.
 */
const DRIVER = String.raw`
import puppeteer from 'puppeteer-core';
const { executablePath, noSandbox, pages } = JSON.parse(process.argv[1]);
const browser = await puppeteer.launch({ executablePath, args: noSandbox ? ['--no-sandbox'] : [] });
const results = [];
try {
  for (const { file, screenshot } of pages) {
    const url = new URL('file://' + file).href;
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const seen = { url, dialogs: [], requests: [], console: [], pageErrors: [], scripts: [] };
    page.on('dialog', (d) => { seen.dialogs.push(d.type() + ': ' + d.message()); d.dismiss().catch(() => {}); });
    page.on('console', (m) => seen.console.push(m.type() + ': ' + m.text()));
    page.on('pageerror', (e) => seen.pageErrors.push(String(e)));
    let navigated = false;
    await page.setRequestInterception(true);
    page.on('request', (r) => {
      if (!navigated && r.isNavigationRequest() && r.url() === url) { navigated = true; r.continue(); return; }
      seen.requests.push(r.url());
      r.abort().catch(() => {});
    });
    const cdp = await page.createCDPSession();
    cdp.on('Debugger.scriptParsed', (e) => { if (e.url === url || /^(javascript|data):/i.test(e.url)) seen.scripts.push(e.url); });
    await cdp.send('Debugger.enable');
    await page.evaluateOnNewDocument("window.__violations = []; document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')), true);");
    await page.goto(url, { waitUntil: 'load' });
    // Let timers, autofocus handlers and SMIL animations fire if anything slipped through.
    await new Promise((r) => setTimeout(r, 100));
    seen.violations = await page.evaluate('Array.from(window.__violations || [])');
    seen.xss = await page.evaluate('typeof window.__xss');
    seen.headline = await page.evaluate("document.querySelector('.cards') ? document.querySelector('.cards').innerText : ''");
    seen.text = await page.evaluate('document.body ? document.body.innerText : ""');
    seen.screenshot = null;
    if (screenshot) { await page.screenshot({ path: screenshot }); seen.screenshot = screenshot; }
    results.push(seen);
    await page.close();
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(results));
`;

function drive(pages: Array<{ file: string; screenshot?: string }>): Promise<Observed[]> {
  const config = { executablePath: CHROMIUM, noSandbox: process.getuid?.() === 0, pages };
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', DRIVER, JSON.stringify(config)], { cwd: REPO });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`browser driver exited with ${code}:\n${err}`));
      else resolvePromise(JSON.parse(out) as Observed[]);
    });
  });
}

const RAW_ATTACK = `<script>window.__xss=1</script><img src=x onerror="alert(1)"><img src="http://127.0.0.1:9/control.png">`;

describe('the hostile report in headless Chromium', () => {
  let dir: string;
  let observed: Map<string, Observed>;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium not found at ${CHROMIUM}. Install Debian's \`chromium\` package (apt-get install chromium; CI installs it) or set CHROMIUM_PATH.`,
      );
    }
    dir = mkdtempSync(join(tmpdir(), 'reauth-browser-'));
    const report = await renderHtml(hostileReport());
    const files = {
      report: join(dir, 'report.html'),
      user: join(dir, 'user.html'),
      // Controls: prove the detectors see an attack (no CSP), and that the CSP alone stops one that got in.
      noCsp: join(dir, 'no-csp.html'),
      injected: join(dir, 'injected.html'),
    };
    writeFileSync(files.report, report);
    writeFileSync(files.user, await renderUserHtml(hostileTimeline()));
    writeFileSync(files.noCsp, `<!DOCTYPE html><html><head><title>control</title></head><body>${RAW_ATTACK}</body></html>`);
    writeFileSync(files.injected, report.replace('<main>', `<main>${RAW_ATTACK}`));
    const results = await drive([
      { file: files.report, screenshot: join(dir, 'report.png') },
      { file: files.user },
      { file: files.noCsp },
      { file: files.injected },
    ]);
    observed = new Map(Object.keys(files).map((name, i) => [name, results[i]!]));
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test.each(['report', 'user'])('%s page: no dialog, no request, no script, no CSP violation', (name) => {
    const o = observed.get(name)!;
    expect(o.dialogs).toEqual([]);
    expect(o.requests).toEqual([]);
    expect(o.scripts).toEqual([]);
    expect(o.violations).toEqual([]);
    expect(o.pageErrors).toEqual([]);
    expect(o.console).toEqual([]);
    expect(o.xss).toBe('undefined');
  });

  test('the payloads are shown as text', () => {
    const text = observed.get('user')!.text;
    expect(text).toContain('<script>window.__xss=1</script>');
    expect(text).toContain('<img src=x onerror=window.__xss=1>');
  });

  test('a screenshot of the report is a PNG, and the headline numbers are visible', () => {
    const o = observed.get('report')!;
    const png = readFileSync(o.screenshot!);
    expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
    expect(png.length).toBeGreaterThan(10_000);
    for (const n of ['42', '57', '1,204', '▲ +31 (+282 %)']) expect(o.headline).toContain(n);
    expect(o.text).toContain('42 users were stuck in 57 reauthentication loops (1,204 prompts)');
    expect(o.text).toContain('Pseudonymized');
  });

  test('control without CSP: the detectors see the script, the dialog and the request', () => {
    const o = observed.get('noCsp')!;
    expect(o.xss).toBe('number');
    expect(o.dialogs.length).toBeGreaterThan(0);
    expect(o.scripts.length).toBeGreaterThan(0);
    expect(o.requests).toContain('http://127.0.0.1:9/control.png');
  });

  test('control with raw markup spliced into the report: the CSP blocks it and reports it', () => {
    const o = observed.get('injected')!;
    expect(o.xss).toBe('undefined');
    expect(o.dialogs).toEqual([]);
    expect(o.requests).toEqual([]);
    expect(o.scripts).toEqual([]);
    expect(o.violations.length).toBeGreaterThanOrEqual(3);
  });
});
