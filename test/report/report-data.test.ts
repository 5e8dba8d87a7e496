import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importFiles } from '../../pipeline/lake/ingest';
import { detect } from '../../pipeline/detect/detect';
import { writeSimulation, type TruthEntry } from '../../pipeline/simulate/simulate';
import { writeReport, type WrittenReport } from '../../pipeline/report/write';
import { mdText } from '../../pipeline/report/markdown';
import type { ReportData } from '../../pipeline/report/types';
import { REPO, lakeRows, tempDir } from '../support/tmp';

/**
 * The nightly report against a simulated tenant (two days, a tenant-wide incident with stragglers on the
 * first, planted loops and bursts) whose truth file says who should be where; hostile display names and a
 * hostile UPN are planted on flagged users so every output format meets them.
 */
const tmp = tempDir('reauth-report-');
afterAll(() => tmp.cleanup());
const lake = tmp.sub('lake');
const D1 = '2026-04-14';
const D2 = '2026-04-15';

const HOSTILE = {
  formula: "=cmd|' /C calc'!A0",
  link: '[x](javascript:alert(1))',
  html: '<img src=x onerror=alert(1)>',
  code: 'Back`tick` | pipe\nnew line',
  mixed: '![img](http://evil.example/x.png) www.evil.com @admin #1 *bold* _it_ ~~s~~ $x$ &amp; \u202Eevil',
};
const HOSTILE_UPN = 'eve|`<b>`[x](y)@contoso.example';

let truth: TruthEntry[] = [];
const renamed = new Map<string, string>(); // user id -> planted display name
let hostileUpnUser = '';

function day1(t: TruthEntry): boolean {
  return t.start.startsWith(D1);
}

beforeAll(async () => {
  const file = tmp.sub('sim.ndjson');
  await writeSimulation({ users: 300, days: 2, seed: 11, incident: { users: 14 }, loops: 6, denialBursts: 4, failureBursts: 4, shape: 'eventhub', out: file, truthOut: tmp.sub('truth.json') });
  truth = (JSON.parse(readFileSync(tmp.sub('truth.json'), 'utf8')) as { truth: TruthEntry[] }).truth;
  // Hostile names on users each section of the report shows: an incident user (worst loops, loops.csv) and
  // the day's burst users (their tables list every burst), one of them with a hostile UPN too.
  const incidentUser = truth.find((t) => day1(t) && t.incident && !t.straggler)!;
  renamed.set(incidentUser.user_id, HOSTILE.formula);
  const burstUsers = [...new Set(truth.filter((t) => day1(t) && t.kind !== 'reauth_loop').map((t) => t.user_id))];
  expect(burstUsers.length).toBeGreaterThanOrEqual(4);
  [HOSTILE.link, HOSTILE.html, HOSTILE.code, HOSTILE.mixed].forEach((name, i) => renamed.set(burstUsers[i], name));
  hostileUpnUser = burstUsers[3];
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((line) => {
    const body = JSON.parse(line) as { records: Array<{ identity?: string; properties: Record<string, unknown> }> };
    for (const r of body.records) {
      const name = renamed.get(r.properties.userId as string);
      if (name === undefined) continue;
      r.properties.userDisplayName = name;
      r.identity = name;
      if (r.properties.userId === hostileUpnUser) r.properties.userPrincipalName = HOSTILE_UPN;
    }
    return JSON.stringify(body);
  });
  writeFileSync(file, lines.join('\n') + '\n');
  const s = await importFiles([file], lake);
  expect(s.quarantined).toBe(0);
}, 300_000);

const readJson = (dir: string) => JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as ReportData;
const filesOf = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f))]));

/** RFC 4180, enough for our own output. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(cell), (cell = '');
    else if (c === '\r' && text[i + 1] === '\n') row.push(cell), rows.push(row), (row = []), (cell = ''), i++;
    else cell += c;
  }
  return rows;
}

function csvObjects(dir: string, name: string): Record<string, string>[] {
  const [head, ...rows] = parseCsv(readFileSync(join(dir, name), 'utf8'));
  return rows.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]])));
}

let first: WrittenReport;
const reports = () => tmp.sub('reports');

describe('report for the incident day', () => {
  beforeAll(async () => {
    first = await writeReport(lake, { date: D1, out: join(reports(), D1), html: null });
  }, 120_000);

  test('clusters, remediation and stragglers match the planted incident', () => {
    const d = first.data;
    const incident = truth.filter((t) => day1(t) && t.incident);
    const stragglers = incident.filter((t) => t.straggler);
    expect(stragglers.length).toBeGreaterThan(0);
    expect(d.clusters).toHaveLength(1);
    const c = d.clusters[0];
    expect(c.user_count).toBe(incident.length);
    // the day is over: nobody is still looping at its newest sign-in (one definition: the loops' status)
    expect(c.users_still_looping).toEqual([]);
    // the day is over: every straggler has stopped by the newest sign-in
    expect(c.stragglers_stopped + c.stragglers_still_looping).toBe(stragglers.length);
    expect(d.remediation.map((r) => r.user_id).sort()).toEqual(incident.map((t) => t.user_id).sort());
    expect(d.remediation.filter((r) => r.straggler).map((r) => r.user_id).sort()).toEqual(stragglers.map((t) => t.user_id).sort());
    for (const r of d.remediation) {
      expect(r.cluster_id).toBe(c.cluster_id);
      expect(r.prompts).toBeGreaterThanOrEqual(3);
      expect(r.first_prompt <= r.last_prompt).toBe(true);
      if (r.straggler) expect(r.prompts_after_core_end).toBeGreaterThan(0);
    }
    const csv = csvObjects(first.dir, 'remediation.csv');
    expect(Object.keys(csv[0]).slice(0, 3)).toEqual(['user_id', 'user_principal_name', 'cluster_id']);
    expect(csv.map((r) => r.user_id).sort()).toEqual(incident.map((t) => t.user_id).sort());
  });

  test('denial and failure bursts are listed apart from loops', () => {
    const d = first.data;
    const of = (kind: string) => truth.filter((t) => day1(t) && t.kind === kind).map((t) => t.user_id).sort();
    expect(d.denial_bursts.map((f) => f.user_id).sort()).toEqual(of('mfa_denial_burst'));
    expect(d.failure_bursts.map((f) => f.user_id).sort()).toEqual(of('failure_burst'));
    expect(d.worst_loops.every((f) => f.kind === 'reauth_loop')).toBe(true);
    const burstUsers = new Set([...of('mfa_denial_burst'), ...of('failure_burst')]);
    expect(d.remediation.filter((r) => burstUsers.has(r.user_id ?? ''))).toEqual([]);
    // worst first
    const prompts = d.worst_loops.map((f) => f.prompt_count);
    expect(prompts).toEqual([...prompts].sort((a, b) => b - a));
  });

  test('totals agree with detect over the same day, and with the hourly rows', async () => {
    const d = first.data;
    const r = await detect(lake, { from: `${D1}T00:00:00Z`, to: `${D2}T00:00:00Z` });
    const kinds = (k: string) => r.flagged.rows.filter((f) => f.kind === k);
    expect(d.totals.loops).toBe(kinds('reauth_loop').length);
    expect(d.totals.denial_bursts).toBe(kinds('mfa_denial_burst').length);
    expect(d.totals.failure_bursts).toBe(kinds('failure_burst').length);
    expect(d.totals.clusters).toBe(r.clusters.rows.length);
    expect(d.totals.looping_users).toBe(new Set(kinds('reauth_loop').map((f) => f.user_id)).size);
    expect(d.totals.loop_prompts).toBe(kinds('reauth_loop').reduce((a, f) => a + Number(f.prompt_count), 0));
    expect(d.totals.loops).toBe(truth.filter((t) => day1(t) && t.kind === 'reauth_loop').length);
    expect(csvObjects(first.dir, 'loops.csv')).toHaveLength(r.flagged.rows.length);
    const day1Rows = await lakeRows(lake, `created_at < '${D2}'`);
    expect(d.totals.sign_ins).toBe(day1Rows.length);
    expect(d.hourly).toHaveLength(24);
    expect(d.hourly.reduce((a, h) => a + h.sign_ins, 0)).toBe(d.totals.sign_ins);
    expect(d.hourly.reduce((a, h) => a + h.prompts, 0)).toBe(d.totals.prompts);
    expect(Math.max(...d.hourly.map((h) => h.looping_users))).toBeGreaterThanOrEqual(d.clusters[0].peak_users);
    expect(d.previous).toBeNull(); // nothing the day before
    expect(first.previousSource).toBe('none');
    const codes = csvObjects(first.dir, 'error-codes.csv');
    expect(codes.reduce((a, c) => a + Number(c.sign_ins), 0)).toBe(day1Rows.filter((x) => Number(x.error_code) !== 0 && x.error_code !== null).length);
    for (const c of codes) expect(Number(c.in_loops)).toBeLessThanOrEqual(Number(c.sign_ins));
    expect(codes.find((c) => c.code === '50074')?.meaning).toBeTruthy();
  });

  test('two runs write the same bytes', async () => {
    const again = await writeReport(lake, { date: D1, out: tmp.sub('again/2026-04-14'), html: null });
    expect(filesOf(again.dir)).toEqual(filesOf(first.dir));
    expect(Object.keys(filesOf(first.dir))).toEqual(['clusters.csv', 'error-codes.csv', 'loops.csv', 'remediation.csv', 'report.json', 'report.md']);
  });

  test('CSV defuses a formula in a display name', () => {
    const text = readFileSync(join(first.dir, 'loops.csv'), 'utf8');
    const row = csvObjects(first.dir, 'loops.csv').find((r) => r.user_display_name.includes('cmd|'));
    expect(row?.user_display_name).toBe(`'${HOSTILE.formula}`);
    expect(text).not.toMatch(/(^|,)=cmd/m);
    for (const r of csvObjects(first.dir, 'loops.csv')) expect(r.user_display_name).not.toMatch(/^[=+@\t\r-]/);
  });

  test('Markdown: hostile names render as text, never a link, image, cell, HTML or a new line', () => {
    const md = readFileSync(join(first.dir, 'report.md'), 'utf8');
    for (const name of [HOSTILE.link, HOSTILE.html, HOSTILE.code, HOSTILE.mixed]) expect(md).toContain(mdText(name, 60));
    const outsideFences = md.replace(/```[\s\S]*?```/g, '');
    // drop every backslash escape, then nothing Markdown acts on may be left
    const bare = outsideFences.replace(/\\./g, '');
    expect(bare).not.toMatch(/[[\]<>`]/);
    expect(bare).not.toMatch(/javascript:|https?:|www\.|@admin/i);
    expect(md).not.toContain('\u202E');
    // every table row has as many cells as its header
    let cells = 0;
    for (const line of outsideFences.split('\n')) {
      if (!line.startsWith('|')) {
        cells = 0;
        continue;
      }
      const n = line.replace(/\\./g, '').split('|').length;
      if (cells === 0) cells = n;
      expect(n).toBe(cells);
    }
    // the name with a line break stays on one line
    expect(md).toMatch(/Back\\`tick\\` \\\| pipe new line/);
    expect(md).toContain(mdText(HOSTILE_UPN, 80));
  });
});

describe('mdText', () => {
  test.each([
    ['|', '\\|'],
    ['[x](javascript:alert(1))', '\\[x\\](javascript\\:alert(1))'],
    ['<img src=x onerror=alert(1)>', '\\<img src=x onerror=alert(1)\\>'],
    ['a`b`', 'a\\`b\\`'],
    ['line\r\nbreak\u2028here', 'line  break here'],
    ['\u202Eevil', '\u2039U+202E\u203aevil'],
    ['user@contoso.com', 'user\\@contoso\\.com'],
    ['&lt;', '\\&lt;'],
    ['back\\slash', 'back\\\\slash'],
  ])('%j', (input, want) => {
    expect(mdText(input)).toBe(want);
  });

  test('cuts long text without splitting an escape', () => {
    const s = mdText('|'.repeat(300), 10);
    expect(s).toBe('\\|'.repeat(9) + '…');
  });
});

describe('day over day, late data', () => {
  test('the previous day comes from its report beside this one, or from the lake: same bytes', async () => {
    const cached = await writeReport(lake, { date: D2, out: join(reports(), D2), html: null });
    expect(cached.previousSource).toBe('earlier-report');
    expect(cached.data.previous).toEqual(first.data.totals);
    const fresh = await writeReport(lake, { date: D2, out: tmp.sub(`alone/${D2}`), html: null });
    expect(fresh.previousSource).toBe('lake');
    expect(filesOf(fresh.dir)).toEqual(filesOf(cached.dir));
    expect(readFileSync(join(cached.dir, 'report.md'), 'utf8')).toMatch(/\| Sign-ins \(all\) \| [\d,]+ \| [\d,]+ \| ([+−][\d,]+ \(|±0)/);
  });

  test('a sign-in landed late for the day changes its counts and nothing else', async () => {
    const before = filesOf(first.dir);
    const beforeJson = readJson(first.dir);
    // one background token refresh at 12:00:30, well inside the day and before its newest sign-in
    const late = {
      time: `${D1}T12:00:30.0000000Z`,
      category: 'NonInteractiveUserSignInLogs',
      tenantId: '00000000-0000-0000-0000-000000000001',
      properties: {
        id: 'late-0001', createdDateTime: `${D1}T12:00:30Z`, userPrincipalName: 'late@contoso.example', userId: 'late-user', userDisplayName: 'Late Arrival',
        appId: 'app-late', appDisplayName: 'Late App', ipAddress: '198.51.100.77', status: { errorCode: 0 }, isInteractive: false,
        clientAppUsed: 'Mobile Apps and Desktop clients', deviceDetail: { deviceId: 'dev-late', operatingSystem: 'Ios' },
      },
    };
    writeFileSync(tmp.sub('late.ndjson'), JSON.stringify({ records: [late] }) + '\n');
    expect((await importFiles([tmp.sub('late.ndjson')], lake)).landed).toBe(1);

    // the next day's report sees that its neighbour's report is out of date and counts the lake again
    const d2 = await writeReport(lake, { date: D2, out: join(reports(), D2), html: null });
    expect(d2.previousSource).toBe('lake');
    expect(d2.data.previous?.sign_ins).toBe(beforeJson.totals.sign_ins + 1);

    const after = await writeReport(lake, { date: D1, out: first.dir, html: null });
    const now = filesOf(after.dir);
    for (const f of ['clusters.csv', 'loops.csv', 'remediation.csv', 'error-codes.csv']) expect(now[f]).toEqual(before[f]);
    expect(now['report.json']).not.toEqual(before['report.json']);
    const j = readJson(after.dir);
    const want = structuredClone(beforeJson);
    want.totals.sign_ins += 1;
    want.hourly[12].sign_ins += 1;
    expect(j).toEqual(want);
  });
});

describe('a period that ends while stragglers still loop', () => {
  test('they are counted as still looping, and the rest as stopped', async () => {
    const c = first.data.clusters[0];
    const until = new Date(Date.parse(c.core_end) + 12 * 60_000).toISOString();
    const r = await writeReport(lake, { since: `${D1}T00:00:00Z`, until, out: tmp.sub('cut'), html: null });
    const cut = r.data.clusters[0];
    expect(cut.cluster_id).toBe(c.cluster_id);
    expect(cut.stragglers_still_looping).toBeGreaterThan(0);
    const still = r.data.remediation.filter((x) => !x.stopped);
    // still looping is one definition: the cluster's list, the remediation rows and the straggler counts agree
    expect(still.map((x) => x.user_principal_name).sort()).toEqual([...cut.users_still_looping].sort());
    expect(still.filter((x) => x.straggler).length).toBe(cut.stragglers_still_looping);
    // still looping sorts first, and the Markdown says so
    expect(r.data.remediation[0].stopped).toBe(false);
    expect(readFileSync(join(r.dir, 'report.md'), 'utf8')).toContain('**still looping**');
    expect(r.data.period.label).toBe(`${D1}T00:00Z to ${until.slice(0, 16)}Z`);
  });
});

describe('pseudonymized', () => {
  const keyA = tmp.sub('a.key');
  const keyB = tmp.sub('b.key');
  let a: WrittenReport;

  beforeAll(async () => {
    writeFileSync(keyA, Buffer.alloc(32, 0xa1));
    writeFileSync(keyB, Buffer.alloc(32, 0xb2));
    // with the project's HTML renderer, so report.html is checked too
    a = await writeReport(lake, { date: D1, out: tmp.sub('pseudo-a1'), pseudonymizeKeyFile: keyA });
  }, 120_000);

  test('no UPN, object id, IP address or display name from the lake is in any file', async () => {
    expect(existsSync(join(a.dir, 'report.html'))).toBe(true);
    const rows = await lakeRows(lake);
    const secrets = new Set<string>();
    for (const r of rows) {
      for (const k of ['user_principal_name', 'ip_address', 'user_id']) if (typeof r[k] === 'string' && (r[k] as string).length >= 7) secrets.add(r[k] as string);
    }
    for (const f of csvObjects(first.dir, 'loops.csv')) if (f.user_display_name.length >= 8) secrets.add(f.user_display_name.replace(/^'/, ''));
    for (const name of renamed.values()) secrets.add(name);
    expect(secrets.size).toBeGreaterThan(300);
    for (const [file, bytes] of Object.entries(filesOf(a.dir))) {
      const text = bytes.toString('utf8');
      const found = [...secrets].filter((s) => text.includes(s) || text.includes(JSON.stringify(s).slice(1, -1)));
      expect({ file, found: found.slice(0, 5) }).toEqual({ file, found: [] });
    }
    const d = readJson(a.dir);
    expect(d.pseudonymized).toBe(true);
    expect(d.remediation.every((r) => /^u-[0-9a-f]{16}$/.test(r.user_principal_name ?? '') && /^id-[0-9a-f]{16}$/.test(r.user_id ?? ''))).toBe(true);
    expect(d.denial_bursts.flatMap((f) => f.ip_addresses).every((ip) => /^ip-[0-9a-f]{16}$/.test(ip))).toBe(true);
    expect(readFileSync(join(a.dir, 'report.md'), 'utf8')).toContain('Pseudonymized');
  });

  test('tokens are consistent across the report, stable for a key, different for another key', async () => {
    const d = readJson(a.dir);
    const clear = readJson(first.dir); // as rewritten after the late sign-in
    // the same person has the same token in every section
    const stillTokens = d.remediation.filter((r) => !r.stopped).map((r) => r.user_principal_name).sort();
    expect(d.clusters[0].users_still_looping).toEqual(stillTokens);
    const remediationTokens = new Set(d.remediation.map((r) => r.user_principal_name));
    for (const f of d.worst_loops) if (f.cluster_id) expect(remediationTokens.has(f.user_principal_name)).toBe(true);
    expect(new Set(d.clusters[0].loop_ids)).toEqual(new Set(csvObjects(a.dir, 'loops.csv').filter((l) => l.cluster_id).map((l) => l.loop_id)));
    // numbers untouched
    expect(d.totals).toEqual(clear.totals);
    expect(d.remediation.length).toBe(clear.remediation.length);

    const a2 = await writeReport(lake, { date: D1, out: tmp.sub('pseudo-a2'), pseudonymizeKeyFile: keyA, html: null });
    const a1Files = filesOf(a.dir);
    delete a1Files['report.html'];
    expect(filesOf(a2.dir)).toEqual(a1Files);

    const b = await writeReport(lake, { date: D1, out: tmp.sub('pseudo-b'), pseudonymizeKeyFile: keyB, html: null });
    const tokensA = new Set(d.remediation.map((r) => r.user_principal_name));
    expect(b.data.remediation.filter((r) => tokensA.has(r.user_principal_name))).toEqual([]);
    expect(b.data.remediation).toHaveLength(d.remediation.length);
  });

  test('a short or missing key file is refused with what to do', async () => {
    writeFileSync(tmp.sub('short.key'), 'abc\n');
    await expect(writeReport(lake, { date: D1, out: tmp.sub('x'), pseudonymizeKeyFile: tmp.sub('short.key'), html: null })).rejects.toThrow(/at least 16 .*openssl rand/);
    await expect(writeReport(lake, { date: D1, out: tmp.sub('x'), pseudonymizeKeyFile: tmp.sub('nope.key'), html: null })).rejects.toThrow(/Cannot read .*openssl rand/);
  });
});

describe('reauth-loops report (the built command)', () => {
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [join(REPO, 'bin', 'reauth-loops.js'), ...args], { encoding: 'utf8', cwd: tmp.path });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  test('--help has examples', () => {
    const r = cli(['report', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('--pseudonymize-key-file');
  });

  test('writes the report and a three-line summary; bad options exit 2', () => {
    const r = cli(['report', '--lake', lake, '--date', D1, '--no-html', '--out', tmp.sub('cli-out')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toContain('report.json');
    expect(lines[1]).toMatch(/user\(s\) in reauthentication loops/);
    expect(readFileSync(tmp.sub('cli-out/report.json'))).toEqual(readFileSync(join(first.dir, 'report.json')));
    const bad = cli(['report', '--lake', lake, '--date', '2026-4-14']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--date wants a UTC day');
    const both = cli(['report', '--lake', lake, '--date', D1, '--since', D1]);
    expect(both.code).toBe(2);
  });
});
