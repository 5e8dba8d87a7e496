import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { importFiles } from '../../pipeline/lake/ingest';
import { detect } from '../../pipeline/detect/detect';
import { buildUserTimeline } from '../../pipeline/report/user';
import { REPO, tempDir } from '../support/tmp';

/**
 * The analyst's workbench (`loops`, filtered `clusters`, `user`, `explain`) on a lake of every data-samples/
 * case, driven through the built command (npm test builds dist/ first). The lake holds the tenant-wide
 * Outlook iOS incident (12 users), other Outlook iOS and Exchange loops, an MFA-denial burst and a failure
 * burst; the cases were generated separately, so some UPNs exist in two tenants with two object ids.
 */
function cli(args: string[]) {
  const r = spawnSync(process.execPath, [join(REPO, 'bin', 'reauth-loops.js'), ...args], { encoding: 'utf8', cwd: REPO });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const lake = tmp.sub('lake');
type Row = Record<string, any>;
let flagged: Row[] = [];
let incident: Row;

/** `cmd --format json` parsed; fails the test with stderr when the command fails. */
function json(args: string[]): any {
  const r = cli([...args, '--lake', lake, '--format', 'json']);
  if (r.code !== 0) throw new Error(`${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

beforeAll(async () => {
  const samples = join(REPO, 'data-samples');
  const inputs = readdirSync(samples, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(samples, d.name, 'input'));
  const s = await importFiles(inputs, lake);
  expect(s.quarantined).toBe(0);
  const r = await detect(lake);
  flagged = r.flagged.rows;
  expect(r.clusters.rows).toHaveLength(1);
  incident = r.clusters.rows[0];
});

const upns = (rows: Row[]) => [...new Set(rows.map((r) => r.user_principal_name as string))].sort();
const incidentUsers = () => upns(flagged.filter((f) => f.cluster_id === incident.cluster_id));

describe('loops', () => {
  test('--app outlook --os ios finds every user of the Outlook iOS incident and no one else, in any case', () => {
    const rows: Row[] = json(['loops', '--app', 'outlook', '--os', 'ios']);
    expect(incidentUsers()).toHaveLength(12);
    expect(upns(rows)).toEqual(expect.arrayContaining(incidentUsers()));
    for (const r of rows) {
      expect(r.app_display_name).toBe('Outlook Mobile');
      expect(r.device_os).toBe('Ios');
    }
    // the others in the lake: Exchange on Windows, the OfficeHome bursts
    const others = flagged.filter((f) => f.app_display_name !== 'Outlook Mobile' || f.device_os !== 'Ios');
    expect(others.length).toBeGreaterThanOrEqual(4);
    const ids = new Set(rows.map((r) => r.loop_id));
    for (const o of others) expect(ids.has(o.loop_id)).toBe(false);
    expect(json(['loops', '--app', 'OUTLOOK', '--os', 'iOS']).map((r: Row) => r.loop_id)).toEqual(rows.map((r) => r.loop_id));
    // narrowed to the incident's morning and to users in a cluster's app by client
    const morning: Row[] = json(['loops', '--app', 'outlook', '--os', 'ios', '--since', '2026-04-14T09:00:00Z', '--until', '2026-04-14T10:00:00Z']);
    expect(upns(morning)).toEqual(incidentUsers());
  });

  test('--code 70044 matches the code exactly; --kind and --severity pick the bursts', () => {
    const rows: Row[] = json(['loops', '--code', '70044']);
    expect(rows.length).toBeGreaterThan(12);
    for (const r of rows) expect(r.error_codes).toContain(70044);
    expect(rows.map((r) => r.kind)).not.toContain('mfa_denial_burst');
    expect(rows.map((r) => r.kind)).not.toContain('failure_burst');
    expect(json(['loops', '--code', '7004'])).toEqual([]); // not a substring match
    const denials: Row[] = json(['loops', '--code', '500121']);
    expect(denials.map((r) => r.kind)).toEqual(['mfa_denial_burst']);
    expect(json(['loops', '--kind', 'failure_burst']).map((r: Row) => r.user_principal_name)).toEqual(['user0304@contoso.example']);
    expect(json(['loops', '--severity', 'critical']).map((r: Row) => r.kind)).toEqual(['mfa_denial_burst']);
    expect(json(['loops', '--user', 'USER0096']).map((r: Row) => r.user_principal_name)).toEqual(['user0096@contoso.example']);
  });

  test('a filter value with SQL syntax is a literal: nothing matches, nothing fails', () => {
    for (const [opt, value] of [
      ['--app', "' or 1=1 --"],
      ['--user', "x' or '1'='1"],
      ['--os', '%'],
      ['--client', '_'],
      ['--app', "outlook'; drop table loops; --"],
    ]) {
      const r = cli(['loops', '--lake', lake, opt, value, '--format', 'json']);
      expect({ opt, value, code: r.code, rows: JSON.parse(r.stdout) }).toEqual({ opt, value, code: 0, rows: [] });
    }
    const badCode = cli(['loops', '--lake', lake, '--code', '1 or 1=1']);
    expect(badCode.code).toBe(2);
    expect(badCode.stderr).toContain('--code must be an Entra error code');
    const badTime = cli(['loops', '--lake', lake, '--since', 'yesterday']);
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toContain('--since must be a time');
  });

  test('CSV and the table say the same', () => {
    const csv = cli(['loops', '--lake', lake, '--app', 'outlook', '--os', 'ios', '--format', 'csv']);
    expect(csv.code).toBe(0);
    expect(csv.stdout.trim().split('\r\n')).toHaveLength(1 + json(['loops', '--app', 'outlook', '--os', 'ios']).length);
    const table = cli(['loops', '--lake', lake, '--kind', 'mfa_denial_burst', '--format', 'table']);
    expect(table.stdout).toMatch(/^loop_id +\| kind +\| severity/);
    expect(table.stderr).toContain(`1 of ${flagged.length} flagged session(s) match the filters`);
  });
});

describe('clusters', () => {
  test('filters app, OS, code and period; without filters the output is what detect gives', async () => {
    expect(json(['clusters'])).toEqual((await detect(lake)).clusters.rows);
    expect(json(['clusters', '--app', 'outlook', '--os', 'ios', '--code', '70044']).map((c: Row) => c.cluster_id)).toEqual([incident.cluster_id]);
    expect(json(['clusters', '--app', 'teams'])).toEqual([]);
    expect(json(['clusters', '--os', 'android'])).toEqual([]);
    expect(json(['clusters', '--code', '500121'])).toEqual([]);
    expect(json(['clusters', '--until', '2026-04-14T09:00:00Z'])).toEqual([]);
    expect(json(['clusters', '--since', '2026-04-14T09:30:00Z']).map((c: Row) => c.cluster_id)).toEqual([incident.cluster_id]); // stragglers kept it running
    expect(json(['clusters', '--app', "' or 1=1 --"])).toEqual([]);
  });
});

describe('user', () => {
  const upn = 'user0096@contoso.example';

  test('an incident user: their prompts, their loop, devices and IPs', () => {
    const t = json(['user', upn.toUpperCase()]);
    const loop = flagged.find((f) => f.user_principal_name === upn)!;
    expect(t.schema).toBe('reauth-loops.user-timeline/1');
    expect(t.user).toEqual({ user_id: loop.user_id, user_principal_name: upn, user_display_name: loop.user_display_name });
    expect(t.loops.map((l: Row) => l.loop_id)).toEqual([loop.loop_id]);
    expect(t.loops[0].cluster_id).toBe(incident.cluster_id);
    const inLoop = t.events.filter((e: Row) => e.loop_id === loop.loop_id);
    expect(new Set(inLoop.map((e: Row) => e.sign_in_id))).toEqual(new Set(loop.sign_in_ids));
    expect(inLoop.filter((e: Row) => e.kind === 'prompt').length).toBeGreaterThanOrEqual(loop.prompt_count);
    expect(inLoop.filter((e: Row) => e.kind === 'background').map((e: Row) => e.outcome)).toEqual(Array(loop.reauth_signal_count).fill('reauth_trigger'));
    expect(new Set(t.events.map((e: Row) => e.kind))).toEqual(new Set(['prompt', 'silent', 'background']));
    const times = t.events.map((e: Row) => e.created_at);
    expect([...times].sort()).toEqual(times);
    expect(t.devices.map((d: Row) => d.device_id)).toContain(loop.device_id);
    expect(t.devices.reduce((n: number, d: Row) => n + d.sign_ins, 0)).toBe(t.events.length);
    expect(t.ips.map((i: Row) => i.ip_address)).toEqual(expect.arrayContaining(loop.ip_addresses));
  });

  test('the table shows the timeline, then loops, devices and IPs; --since/--until bound the period', () => {
    const r = cli(['user', upn, '--lake', lake, '--format', 'table', '--since', '2026-04-14T09:00:00Z', '--until', '2026-04-14T09:05:00Z']);
    expect(r.code).toBe(0);
    const order = ['Timeline (', 'Loops (1)', 'Devices (', 'IP addresses ('].map((h) => r.stdout.indexOf(h));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(r.stdout).toContain('| prompt ');
    expect(r.stdout).toContain('| background ');
    expect(r.stdout).toContain(flagged.find((f) => f.user_principal_name === upn)!.loop_id);
    expect(r.stdout).toContain('Period 2026-04-14T09:00:00.000Z to 2026-04-14T09:05:00.000Z');
    for (const m of r.stdout.matchAll(/^(2026-\S+) \|/gm)) expect(m[1] >= '2026-04-14T09:00' && m[1] < '2026-04-14T09:05').toBe(true);
  });

  test('buildUserTimeline by object id, any case, within a period', async () => {
    const loop = flagged.find((f) => f.user_principal_name === upn)!;
    const t = await buildUserTimeline(lake, String(loop.user_id).toUpperCase(), { from: '2026-04-14T09:00:00Z', to: '2026-04-14T09:10:00Z' });
    expect(t.user.user_principal_name).toBe(upn);
    expect(t.period).toEqual({ from: '2026-04-14T09:00:00.000Z', to: '2026-04-14T09:10:00.000Z' });
    expect(t.events.length).toBeGreaterThan(0);
    expect(t.events.every((e) => e.created_at >= '2026-04-14T09:00' && e.created_at < '2026-04-14T09:10')).toBe(true);
    expect(t.loops.map((l) => l.loop_id)).toEqual([loop.loop_id]); // it overlaps the period
  });

  test('a UPN two objects share is refused with both listed; an unknown user is a clear error', () => {
    const amb = cli(['user', 'user0010@contoso.example', '--lake', lake]);
    expect(amb.code).toBe(2);
    expect(amb.stderr).toContain('"user0010@contoso.example" matches 2 users; name one by its object id');
    expect(amb.stderr).toContain('6b31977e-452b-4db5-baa6-af1c6b7e4074');
    expect(amb.stderr).toContain('38895e6e-3141-42fa-a6b1-a3f0990eff0d');
    expect(amb.stderr).not.toContain('    at ');
    const byId = json(['user', '6b31977e-452b-4db5-baa6-af1c6b7e4074']);
    expect(byId.loops.map((l: Row) => l.loop_id)).toEqual(flagged.filter((f) => f.user_id === '6b31977e-452b-4db5-baa6-af1c6b7e4074').map((f) => f.loop_id));
    const unknown = cli(['user', 'nobody@contoso.example', '--lake', lake]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('No sign-ins for a user "nobody@contoso.example" in this lake');
    const part = cli(['user', 'user009', '--lake', lake]);
    expect(part.code).toBe(2);
    expect(part.stderr).toContain('No user is exactly "user009"');
    expect(part.stderr).toContain('user0096@contoso.example');
  });
  test('hostile display names are escaped in tables and in the list of candidates', () => {
    const table = cli(['user', 'user0050@contoso.example', '--lake', lake, '--format', 'table']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('"Carol\\nInjected-Header: yes"');
    expect(table.stdout).not.toContain('Carol\nInjected');
    const amb = cli(['user', 'user0065@contoso.example', '--lake', lake]); // one of the two is "… \u202eevil\u202c …"
    expect(amb.code).toBe(2);
    expect(amb.stderr).toContain('\\u202eevil');
    expect(amb.stderr).not.toMatch(/[\u202e\u202c\u001b]/);
  });

  test('--html writes the page (pipeline/report/html.ts) atomically', () => {
    const page = tmp.sub('user0096.html');
    const r = cli(['user', upn, '--lake', lake, '--html', page]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const text = readFileSync(page, 'utf8');
    expect(text).toContain(upn);
    expect(text).toMatch(/<html/i);
  });
});

describe('explain', () => {
  test('a reauth loop: kind, prompts vs min_prompts, gaps, codes with meanings, cluster, and exactly its evidence', () => {
    const loop = flagged.find((f) => f.user_principal_name === 'user0096@contoso.example')!;
    const r = cli(['explain', loop.loop_id, '--lake', lake]);
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toContain(`Loop ${loop.loop_id}: reauth_loop, high severity`);
    expect(out).toContain(`${loop.prompt_count} prompts, at least min_prompts = 3`);
    expect(out).toMatch(/gaps between prompts [\d.]+ s to [\d.]+ s \(median [\d.]+ s\), each within loop_gap_secs = 299 s/);
    for (let i = 2; i <= loop.prompt_count; i++) expect(out).toMatch(new RegExp(`prompt ${i} +\\| \\S+ +\\| [\\d.]+ s after #${i - 1} ended +\\| succeeded`));
    expect(out).toContain(`${loop.prompt_count} prompts, at least severe_prompts = 10`);
    expect(out).toMatch(/70044 +reauth_trigger +Session expired by the sign-in frequency check/);
    expect(out).toMatch(/50074 +interrupt +Strong authentication required/);
    expect(out).toContain(`${loop.reauth_signal_count} background token refresh(es) were refused`);
    expect(out.match(/refused in background/g)).toHaveLength(loop.reauth_signal_count);
    expect(out).toContain(`Cluster ${incident.cluster_id}: 12 users`);
    // evidence: the lake rows of exactly its sign_in_ids
    const evidence = out.slice(out.indexOf('Evidence:'));
    expect(evidence).toContain(`Evidence: ${loop.sign_in_ids.length} sign-in id(s)`);
    const shown = new Set([...evidence.matchAll(/\| ([0-9a-f-]{36}) \|/g)].map((m) => m[1]));
    expect(shown).toEqual(new Set(loop.sign_in_ids));
    const doc = json(['explain', loop.loop_id]);
    expect(new Set(doc.evidence.map((e: Row) => e.sign_in_id))).toEqual(new Set(loop.sign_in_ids));
    expect(doc.thresholds).toMatchObject({ min_prompts: 3, loop_gap_secs: 299, pause_secs: 900, min_denials: 3, severe_prompts: 10 });
  });

  test('thresholds are honoured as detect honours them', () => {
    const loop = flagged.find((f) => f.user_principal_name === 'user0010@contoso.example' && f.app_display_name === 'Outlook Mobile')!;
    const r = cli(['explain', loop.loop_id, '--lake', lake, '--severe-prompts', '5', '--loop-gap-secs', '100']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('each within loop_gap_secs = 100 s');
    expect(r.stdout).toContain(`severity high: ${loop.prompt_count} prompts, at least severe_prompts = 5`);
    const gone = cli(['explain', loop.loop_id, '--lake', lake, '--min-prompts', '50']);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain(`No loop ${loop.loop_id} in this lake`);
  });

  test('an MFA-denial burst explains the denial rule', () => {
    const burst = flagged.find((f) => f.kind === 'mfa_denial_burst')!;
    const r = cli(['explain', burst.loop_id, '--lake', lake]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Loop ${burst.loop_id}: mfa_denial_burst, critical severity`);
    expect(r.stdout).toMatch(/kind mfa_denial_burst: 5 of 6 prompts were MFA denied or not answered \(500121\): at least min_denials = 3, and at least half of the prompts/);
    expect(r.stdout).toContain('severity critical: a prompt succeeded at');
    expect(r.stdout).toMatch(/500121 +mfa_denied +Strong authentication \(MFA\) not completed or denied/);
    expect(r.stdout).toContain('did not succeed (mfa_denied)');
  });

  test('an unknown or malformed loop id is a clear error', () => {
    const unknown = cli(['explain', 'loop-0123456789abcdef', '--lake', lake]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('No loop loop-0123456789abcdef in this lake. `reauth-loops loops --lake DIR` lists the loops there are');
    const bad = cli(['explain', "loop-' or 1=1 --", '--lake', lake]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a loop id');
    expect(bad.stderr).not.toContain('    at ');
  });
});
