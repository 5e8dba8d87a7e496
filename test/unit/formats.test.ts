import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { fitToSize, render } from '../../pipeline/sink/formats';
import type { Alert, FlaggedSession, LoopCluster } from '../../pipeline/domain/findings';
import type { FormatName } from '../../pipeline/sink/types';
import { parseCef, parseCefRegex, type CefEvent } from '../support/cef-parse';
import { schemaErrors } from '../support/schemas';
import { REPO } from '../support/tmp';

const FORMATS: FormatName[] = ['json', 'cef', 'ecs', 'ocsf', 'sentinel'];
const MARKER = '…[truncated]';
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

// ----- Samples: a real flagged session and cluster from data-samples/tenant-incident (sign-in ids shortened).

const LOOP: FlaggedSession = {
  loop_id: 'loop-27d85e047c402219',
  kind: 'reauth_loop',
  severity: 'high',
  tenant_id: '8c3e2803-d6fc-450d-b029-a6e113b0fb9c',
  user_id: 'd2b7fb0e-e5f6-4251-aa77-5a785d4cf76b',
  user_principal_name: 'user0096@contoso.example',
  user_display_name: 'Tomasz Andersen',
  app_id: '27922004-5251-4030-b22d-91ecd9a37ea4',
  app_display_name: 'Outlook Mobile',
  device_id: '9cb3e1ce-e348-4098-ba9f-356c9ebe0892',
  device_os: 'Ios',
  client_app_used: 'Mobile Apps and Desktop clients',
  start: '2026-04-14T09:01:52.946Z',
  end: '2026-04-14T09:20:05.658Z',
  duration_seconds: 1092.711,
  prompt_count: 24,
  success_count: 24,
  interrupt_count: 24,
  failure_count: 0,
  denial_count: 0,
  reauth_signal_count: 10,
  loop_signal_count: 0,
  error_codes: [50074, 70044, 70043],
  median_gap_seconds: 51.6,
  median_reprompt_seconds: 45.7,
  ip_addresses: ['198.51.100.24', '2001:db8:c4ea::3529'],
  sign_in_ids: ['02714a99-aaa9-4202-b52f-c8f059bb01ce', '04c4a223-b38e-4d40-acce-fac09fe38421', '04e2c49c-e506-421d-93c5-625b526459c4'],
  cluster_id: 'cluster-cce284bc2135b22a',
  status: 'stopped',
  pause_count: 0,
  aliases: [],
  reason:
    '24 prompts in 18 min for Outlook Mobile on Ios; each success was followed by a new prompt within 60 s; 10 background token refreshes were refused in between; codes 50074, 70044, 70043; part of tenant-wide cluster cluster-cce284bc2135b22a (12 users).',
};

const CLUSTER: LoopCluster = {
  cluster_id: 'cluster-cce284bc2135b22a',
  start: '2026-04-14T09:01:52.946Z',
  end: '2026-04-14T09:54:09.729Z',
  core_start: '2026-04-14T09:03:00.000Z',
  core_end: '2026-04-14T09:21:00.000Z',
  peak_at: '2026-04-14T09:09:00.000Z',
  peak_users: 12,
  user_count: 12,
  loop_count: 12,
  prompt_count: 274,
  tenant_id: '8c3e2803-d6fc-450d-b029-a6e113b0fb9c',
  app_id: '27922004-5251-4030-b22d-91ecd9a37ea4',
  app_display_name: 'Outlook Mobile',
  device_os: 'Ios',
  os_family: 'ios',
  client_app_used: 'Mobile Apps and Desktop clients',
  error_codes: [50074, 70043, 70044],
  loop_ids: ['loop-27d85e047c402219', 'loop-7720dc63b26b91a9', 'loop-1e573429cdb23556'],
  users_still_looping: ['user0139@contoso.example', 'user0140@contoso.example'],
  users_stopped_after_revocation: [],
  aliases: [],
  parts: [
    {
      app_id: '27922004-5251-4030-b22d-91ecd9a37ea4', app_display_name: 'Outlook Mobile', os_family: 'ios', device_os: 'Ios', client_app_used: 'Mobile Apps and Desktop clients',
      start: '2026-04-14T09:01:52.946Z', core_start: '2026-04-14T09:03:00.000Z', core_end: '2026-04-14T09:21:00.000Z', end: '2026-04-14T09:54:09.729Z',
      peak_at: '2026-04-14T09:09:00.000Z', peak_users: 12, user_count: 12, loop_count: 12, prompt_count: 274,
    },
  ],
};

function loopAlert(loop: Partial<FlaggedSession> = {}, top: Partial<Alert> = {}): Alert {
  const l = { ...LOOP, ...loop };
  return {
    schema: 'reauth-loops.alert/1',
    event_id: `${l.loop_id}.v2`,
    kind: 'loop',
    subject_id: l.loop_id,
    version: 2,
    action: 'updated',
    severity: l.severity,
    title: `Reauthentication loop: ${l.user_principal_name}, ${l.app_display_name} on ${l.device_os} (${l.prompt_count} prompts)`,
    reason: l.reason,
    emitted_at: '2026-04-14T09:25:00.000Z',
    first_emitted_at: '2026-04-14T09:10:00.000Z',
    tenant_id: l.tenant_id,
    loop: l,
    ...top,
  };
}

function clusterAlert(cluster: Partial<LoopCluster> = {}, top: Partial<Alert> = {}): Alert {
  const c = { ...CLUSTER, ...cluster };
  return {
    schema: 'reauth-loops.alert/1',
    event_id: `${c.cluster_id}.v1`,
    kind: 'cluster',
    subject_id: c.cluster_id,
    version: 1,
    action: 'opened',
    severity: 'high',
    title: `Tenant-wide reauthentication loop: ${c.user_count} users, ${c.app_display_name} on ${c.os_family}`,
    reason: `${c.user_count} users looping at once on ${c.app_display_name} (${c.os_family}, ${c.client_app_used}) from ${c.start}; peak ${c.peak_users} users at ${c.peak_at}.`,
    emitted_at: '2026-04-14T09:30:00.000Z',
    first_emitted_at: '2026-04-14T09:30:00.000Z',
    tenant_id: c.tenant_id,
    cluster: c,
    ...top,
  };
}

const TEST_ALERT: Alert = {
  schema: 'reauth-loops.alert/1',
  event_id: 'test-m1x2y3z4.v1',
  kind: 'test',
  subject_id: 'test-m1x2y3z4',
  version: 1,
  action: 'opened',
  severity: 'medium',
  title: 'reauth-loops test alert: not a real loop',
  reason: 'Sent by `reauth-loops sinks test siem` to check the wiring.',
  emitted_at: '2026-04-14T10:00:00.000Z',
  first_emitted_at: '2026-04-14T10:00:00.000Z',
  tenant_id: null,
};

const CLOSED = loopAlert({ severity: 'critical', kind: 'mfa_denial_burst', device_os: 'Windows 10', ip_addresses: ['not an ip'] }, { action: 'closed', version: 5, event_id: `${LOOP.loop_id}.v5` });
const SAMPLES: [string, Alert][] = [
  ['loop', loopAlert()],
  ['closed loop', CLOSED],
  ['cluster', clusterAlert()],
  ['test', TEST_ALERT],
  ['truncated loop', { ...loopAlert(), truncated: ['loop.sign_in_ids', 'reason'] }],
];

// ----- The documented control-character rule for CEF, implemented independently of formats.ts.

function visible(s: string, header: boolean): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff) {
      out += s[i] + s[i + 1];
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) out += '\uFFFD';
    else if (c === 0x0d || c === 0x0a) out += header ? ' ' : s[i];
    else if (c < 0x20) out += String.fromCodePoint(0x2400 + c);
    else if (c === 0x7f) out += '\u2421';
    else if (c === 0x85 || c === 0x2028 || c === 0x2029) out += '\u2424';
    else if (c >= 0x80 && c <= 0x9f) out += '\uFFFD';
    else out += s[i];
  }
  return out;
}

/** What a CEF consumer must read back from an alert: the oracle for every CEF test (schemas/mappings/cef.json). */
function cefExpected(a: Alert): { header: CefEvent['header']; extension: Record<string, string> } {
  const l = a.loop;
  const c = a.cluster;
  const sig = l?.kind ?? (c ? 'loop_cluster' : 'test');
  const t = (iso: string | undefined) => (iso === undefined ? undefined : String(Date.parse(iso)));
  const ip = l?.ip_addresses[0];
  const pairs: Record<string, string | number | null | undefined> = {
    rt: t(a.emitted_at),
    externalId: a.event_id,
    act: a.action,
    cat: sig,
    start: t(l?.start ?? c?.start),
    end: t(l?.end ?? c?.end),
    cnt: l?.prompt_count ?? c?.prompt_count,
    suser: l ? l.user_principal_name : c?.users_still_looping.join(','),
    suid: l?.user_id,
    src: ip !== undefined && isIP(ip) ? ip : undefined,
    app: l?.app_display_name ?? c?.app_display_name,
    requestClientApplication: l?.client_app_used ?? c?.client_app_used,
    cs1: a.subject_id,
    cs2: l?.cluster_id ?? c?.cluster_id,
    cs3: a.tenant_id,
    cs4: l?.device_os ?? c?.device_os,
    cs5: l?.app_id ?? c?.app_id,
    cs6: (l?.error_codes ?? c?.error_codes)?.join(','),
    cn1: a.version,
    cn2: c?.user_count,
    cn3: c?.loop_count,
    flexString1: l?.user_display_name,
    flexString2: a.truncated?.join(','),
    msg: a.reason,
  };
  const labels: Record<string, string> = {
    cs1: 'subjectId', cs2: 'clusterId', cs3: 'tenantId', cs4: 'deviceOs', cs5: 'appId', cs6: 'errorCodes',
    cn1: 'alertVersion', cn2: 'usersAffected', cn3: 'loopCount', flexString1: 'userDisplayName', flexString2: 'truncated',
  };
  const extension: Record<string, string> = {};
  for (const [k, v] of Object.entries(pairs)) {
    if (v === undefined || v === null || v === '') continue;
    extension[k] = visible(String(v), false);
    if (labels[k]) extension[`${k}Label`] = labels[k];
  }
  const severity = { medium: '5', high: '8', critical: '10' }[a.severity];
  return {
    header: { version: '0', deviceVendor: 'reauth-loops', deviceProduct: 'reauth-loops', deviceVersion: VERSION, signatureId: sig, name: visible(a.title, true), severity },
    extension,
  };
}

const FORBIDDEN_RAW = /[\x00-\x1f\x7f-\x9f\u2028\u2029]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Unescaped pipes up to the one that opens the extension (its first key is always rt): exactly 7. */
function headerPipes(line: string): number {
  let pipes = 0;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\\') i++;
    else if (line[i] === '|') {
      pipes++;
      if (line.startsWith('rt=', i + 1)) return pipes;
    }
  }
  return -1;
}

function checkCef(a: Alert): void {
  const line = render(a, 'cef');
  expect(FORBIDDEN_RAW.test(line)).toBe(false);
  expect(headerPipes(line)).toBe(7);
  const walked = parseCef(line);
  expect(parseCefRegex(line)).toEqual(walked);
  const want = cefExpected(a);
  expect(walked.header).toEqual(want.header);
  expect(Object.fromEntries(walked.extension)).toEqual(want.extension);
}

// ----- Hostile input.

const LONG = 'a|b\\c=d\r\n'.repeat(20_000);
const CORPUS = [
  'pipe|pipe',
  '\\',
  'back\\slash',
  'a=b',
  'a=b c=d',
  ' cs1=forged suser=admin',
  'x cs1Label=subjectId',
  '\\=',
  '\\\\=',
  '\\|',
  'trailing backslash\\',
  'cr\rcr',
  'lf\nlf',
  'crlf\r\nsecond line',
  'nul\0nul',
  'line\u2028separator\u2029paragraph',
  'next\u0085line',
  'tab\there',
  'esc\x1b[31mred\x1b[0m del\x7f c1\x9b',
  'CEF:0|x|y|1|2|3|4|',
  'name|CEF:0|evil|evil|1|1|evil|10|src=6.6.6.6 suser=root',
  'end with space ',
  ' start with space',
  '   ',
  '=',
  '==',
  'k=',
  'emoji 😀 and 𝕏 and \u{1F9D1}\u200D\u{1F4BB}',
  'lone \uD83D surrogate \uDE00 pair',
  'über café 東京',
  '<script>alert(1)</script>',
  '"quoted" \'single\'',
  'a'.repeat(70_000),
  LONG,
  '',
];

/** Every attacker-controllable field of a loop set to s (or to one generated string each). */
function hostileLoop(pick: () => string): Alert {
  const loop: Partial<FlaggedSession> = {
    user_principal_name: pick(),
    user_display_name: pick(),
    app_display_name: pick(),
    device_os: pick(),
    client_app_used: pick(),
    user_id: pick(),
    app_id: pick(),
    tenant_id: pick(),
    ip_addresses: [pick(), pick()],
    reason: pick(),
  };
  return loopAlert(loop, { title: pick(), reason: loop.reason, tenant_id: loop.tenant_id });
}

function hostileCluster(pick: () => string): Alert {
  const cluster: Partial<LoopCluster> = {
    app_display_name: pick(),
    device_os: pick(),
    os_family: pick(),
    client_app_used: pick(),
    app_id: pick(),
    users_still_looping: [pick(), pick()],
  };
  return clusterAlert(cluster, { title: pick(), reason: pick() });
}

/** mulberry32: a seeded PRNG, so a failure reproduces. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ['\\', '|', '=', '\r', '\n', '\0', '\u2028', '\u2029', '\u0085', '\t', ' ', ' ', 'a', 'Z', '9', 'cs1', 'suser', 'msg=', ' src=', 'CEF:0|', '\\=', '\\n', '😀', '\uD800', '\uDC00', '\x7f', '\x1b', '\x9f', 'é', '…'];

function randomStrings(seed: number): () => string {
  const r = prng(seed);
  return () => {
    let s = '';
    const n = Math.floor(r() * 40);
    for (let i = 0; i < n; i++) s += PIECES[Math.floor(r() * PIECES.length)];
    return s;
  };
}

describe('cef', () => {
  test('samples read back exactly through two independent parsers', () => {
    for (const [, a] of SAMPLES) checkCef(a);
    const line = render(loopAlert(), 'cef');
    expect(line.startsWith(`CEF:0|reauth-loops|reauth-loops|${VERSION}|reauth_loop|Reauthentication loop: user0096@contoso.example`)).toBe(true);
    expect(line).toContain('src=198.51.100.24 ');
    expect(render(CLOSED, 'cef')).not.toContain('src=');
  });

  test('injection corpus in every attacker-controllable field: one line, 7 header pipes, no extra keys, values round-trip', () => {
    for (const s of CORPUS) {
      checkCef(hostileLoop(() => s));
      checkCef(hostileCluster(() => s));
    }
  });

  test('5,000 seeded random hostile alerts (50,000+ strings)', () => {
    const pick = randomStrings(20260414);
    for (let i = 0; i < 2500; i++) {
      checkCef(hostileLoop(pick));
      checkCef(hostileCluster(pick));
    }
  });

  test('escaping follows the standard byte for byte', () => {
    const line = render(loopAlert({ user_display_name: 'a\\b=c|d\r\ne\0f\u2028g\th' }, { title: 'x|y\\z=\r\nw' }), 'cef');
    expect(line).toContain('|x\\|y\\\\z=  w|8|');
    expect(line).toContain(' flexString1=a\\\\b\\=c|d\\r\\ne\u2400f\u2424g\u2409h ');
  });
});

// ----- JSON formats.

function get(o: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], o);
}

/** Where each JSON format puts the hostile fields of hostileLoop, and what must come back. */
function jsonExpectations(format: FormatName, a: Alert): [string, unknown][] {
  const l = a.loop!;
  const ip = isIP(l.ip_addresses[0]) ? l.ip_addresses[0] : undefined;
  const email = /^[^@\s]+@[^@\s]+$/.test(l.user_principal_name ?? '') ? l.user_principal_name! : undefined;
  switch (format) {
    case 'json':
      return [['loop', l], ['title', a.title], ['reason', a.reason]];
    case 'ecs':
      return [
        ['user.name', l.user_principal_name], ['user.email', email], ['user.full_name', l.user_display_name], ['user.id', l.user_id],
        ['host.os.full', l.device_os], ['source.ip', ip], ['message', a.reason], ['organization.id', a.tenant_id],
        ['reauth_loops.loop.app_display_name', l.app_display_name], ['reauth_loops.loop.client_app_used', l.client_app_used], ['reauth_loops.loop.ip_addresses', l.ip_addresses],
      ];
    case 'ocsf':
      return [
        ['finding_info.title', a.title], ['finding_info.desc', a.reason], ['message', a.reason], ['resources', [{ uid: l.app_id, name: l.app_display_name, type: 'Application' }]],
        ['cloud.account.uid', a.tenant_id], ['evidences', undefined],
        ['unmapped.loop.client_app_used', l.client_app_used], ['unmapped.loop.ip_addresses', l.ip_addresses],
      ];
    case 'sentinel':
      return [
        ['UserPrincipalName', l.user_principal_name], ['UserDisplayName', l.user_display_name], ['AppDisplayName', l.app_display_name], ['DeviceOS', l.device_os],
        ['ClientAppUsed', l.client_app_used], ['Title', a.title], ['Reason', a.reason], ['IPAddresses', l.ip_addresses], ['EntraTenantId', a.tenant_id], ['Details.sign_in_ids', l.sign_in_ids],
      ];
    default:
      throw new Error(format);
  }
}

/** JSON drops what a string cannot hold (lone surrogates become escapes that parse back to themselves). */
const LINE_BREAKS = /[\r\n\u0085\u2028\u2029]/;

describe.each(['json', 'ecs', 'ocsf', 'sentinel'] as FormatName[])('%s', (format) => {
  test('hostile strings survive the JSON round trip exactly, on one line', () => {
    const pick = randomStrings(7);
    const alerts = [...CORPUS.map((s) => hostileLoop(() => s)), ...Array.from({ length: 300 }, () => hostileLoop(pick))];
    for (const a of alerts) {
      const text = render(a, format);
      expect(LINE_BREAKS.test(text)).toBe(false);
      const doc = JSON.parse(text) as unknown;
      for (const [path, want] of jsonExpectations(format, a)) {
        if (want === undefined || want === null || want === '') continue;
        expect([path, get(doc, path)]).toEqual([path, want]);
      }
    }
  });
});

describe('json formats: required fields and types', () => {
  const isIso = (v: unknown) => typeof v === 'string' && !Number.isNaN(Date.parse(v)) && v.endsWith('Z');
  const isMs = (v: unknown) => Number.isInteger(v) && (v as number) > 1.7e12;

  test('json is the native alert', () => {
    for (const [, a] of SAMPLES) expect(JSON.parse(render(a, 'json'))).toEqual(a);
  });

  test('ecs', () => {
    for (const [name, a] of SAMPLES) {
      const d = JSON.parse(render(a, 'ecs'));
      expect([name, isIso(d['@timestamp'])]).toEqual([name, true]);
      expect(d.ecs.version).toBe('8.11.0');
      expect(d.event).toMatchObject({ kind: 'alert', category: ['authentication'], type: ['info'], action: a.action, id: a.event_id, reason: a.reason, dataset: 'reauth_loops.alert' });
      expect(d.event.severity).toBe({ medium: 47, high: 73, critical: 99 }[a.severity]);
      expect(d.reauth_loops).toMatchObject({ subject_id: a.subject_id, version: a.version });
      if (a.loop) {
        expect(d.user).toEqual({ id: LOOP.user_id, name: LOOP.user_principal_name, email: LOOP.user_principal_name, full_name: LOOP.user_display_name });
        expect(isIso(d.event.start) && isIso(d.event.end)).toBe(true);
      }
    }
    const loop = JSON.parse(render(loopAlert(), 'ecs'));
    expect(loop.source.ip).toBe('198.51.100.24');
    expect(loop.related.ip).toEqual(['198.51.100.24', '2001:db8:c4ea::3529']);
    expect(loop.host.os).toEqual({ type: 'ios', full: 'Ios' });
    expect(JSON.parse(render(CLOSED, 'ecs')).host.os.type).toBe('windows');
    expect(JSON.parse(render(CLOSED, 'ecs')).source).toBeUndefined();
    expect(JSON.parse(render(clusterAlert(), 'ecs')).related.user).toEqual(CLUSTER.users_still_looping);
  });

  test('ocsf', () => {
    for (const [, a] of SAMPLES) {
      const d = JSON.parse(render(a, 'ocsf'));
      const activity = { opened: 1, updated: 2, closed: 3 }[a.action];
      expect(d).toMatchObject({ class_uid: 2004, category_uid: 2, activity_id: activity, type_uid: 200400 + activity, severity_id: { medium: 3, high: 4, critical: 5 }[a.severity] });
      expect(d.status_id).toBe(a.action === 'closed' ? 4 : 1);
      expect(isMs(d.time)).toBe(true);
      expect(d.metadata).toMatchObject({ version: '1.1.0', uid: a.event_id, correlation_uid: a.subject_id, product: { name: 'reauth-loops', vendor_name: 'reauth-loops', version: VERSION } });
      expect(d.finding_info).toMatchObject({ uid: a.subject_id, title: a.title, desc: a.reason });
      expect(Array.isArray(d.finding_info.types)).toBe(true);
    }
    const loop = JSON.parse(render(loopAlert(), 'ocsf'));
    expect(loop.evidences[0].actor.user).toEqual({ uid: LOOP.user_id, name: LOOP.user_principal_name, full_name: LOOP.user_display_name, email_addr: LOOP.user_principal_name });
    expect(loop.evidences[0].device.os).toEqual({ name: 'Ios', type_id: 301 });
    expect(loop.finding_info.first_seen_time).toBe(Date.parse(LOOP.start));
    expect(JSON.parse(render(clusterAlert(), 'ocsf')).evidences.map((e: { actor: { user: { name: string } } }) => e.actor.user.name)).toEqual(CLUSTER.users_still_looping);
  });

  test('sentinel rows match schemas/mappings/sentinel-table.json column for column, type for type', () => {
    const table = JSON.parse(readFileSync(join(REPO, 'schemas', 'mappings', 'sentinel-table.json'), 'utf8')).properties.schema;
    expect(table.name).toBe('ReauthLoops_CL');
    const types = new Map<string, string>(table.columns.map((c: { name: string; type: string }) => [c.name, c.type]));
    for (const [name, type] of types) {
      expect([name, /^[A-Z][A-Za-z0-9]*$/.test(name), ['string', 'int', 'long', 'real', 'boolean', 'datetime', 'dynamic'].includes(type)]).toEqual([name, true, true]);
    }
    for (const reserved of ['TenantId', 'Type', 'SourceSystem', 'MG', 'ManagementGroupName', 'Computer', 'RawData']) expect(types.has(reserved)).toBe(false);
    const check: Record<string, (v: unknown) => boolean> = {
      string: (v) => typeof v === 'string',
      int: (v) => Number.isInteger(v) && Math.abs(v as number) < 2 ** 31,
      datetime: isIso,
      dynamic: (v) => typeof v === 'object' && v !== null,
    };
    for (const [name, a] of SAMPLES) {
      const row = JSON.parse(render(a, 'sentinel')) as Record<string, unknown>;
      for (const [col, v] of Object.entries(row)) expect([name, col, types.has(col) && check[types.get(col)!](v)]).toEqual([name, col, true]);
      expect(row).toMatchObject({ EventId: a.event_id, SubjectId: a.subject_id, Version: a.version, TimeGenerated: a.emitted_at });
    }
    const mapping = JSON.parse(readFileSync(join(REPO, 'schemas', 'mappings', 'sentinel.json'), 'utf8')) as Mapping;
    expect(mapping.fields.map((f) => f.to)).toEqual([...types.keys()]);
  });
});

// ----- The mapping documents cannot drift from the code.

interface Mapping {
  format: FormatName;
  description: string;
  fields: { to: string; from: string; note?: string; always?: boolean }[];
}

/** Output field paths: objects by dots, arrays of objects by [], a documented path is a leaf (Details, reauth_loops.loop). */
function paths(v: unknown, documented: Set<string>, prefix = ''): string[] {
  if (prefix && documented.has(prefix)) return [prefix];
  if (Array.isArray(v) && v.length && v.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x))) {
    return [...new Set(v.flatMap((x) => paths(x, documented, `${prefix}[]`)))];
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    return Object.entries(v).flatMap(([k, x]) => paths(x, documented, prefix ? `${prefix}.${k}` : k));
  }
  return [prefix];
}

function outputPaths(format: FormatName, a: Alert, documented: Set<string>): string[] {
  const text = render(a, format);
  if (format !== 'cef') return paths(JSON.parse(text), documented);
  const e = parseCef(text);
  return [...Object.keys(e.header).map((k) => `header.${k}`), ...e.extension.map(([k]) => k)];
}

test.each(['cef', 'ecs', 'ocsf', 'sentinel'] as FormatName[])('schemas/mappings/%s.json documents exactly the fields render() produces', (format) => {
  const mapping = JSON.parse(readFileSync(join(REPO, 'schemas', 'mappings', `${format}.json`), 'utf8')) as Mapping;
  expect(mapping.format).toBe(format);
  const documented = new Set(mapping.fields.map((f) => f.to));
  expect(documented.size).toBe(mapping.fields.length);
  const always = mapping.fields.filter((f) => f.always).map((f) => f.to);
  const seen = new Set<string>();
  for (const [name, a] of SAMPLES) {
    const got = outputPaths(format, a, documented);
    for (const p of got) expect([name, p, documented.has(p)]).toEqual([name, p, true]);
    for (const p of always) expect([name, p, got.includes(p)]).toEqual([name, p, true]);
    got.forEach((p) => seen.add(p));
  }
  // Every documented field is produced by some sample: no stale entries.
  expect([...documented].filter((p) => !seen.has(p))).toEqual([]);
});

// ----- fitToSize.

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    Object.values(o).forEach(deepFreeze);
    Object.freeze(o);
  }
  return o;
}

describe('fitToSize', () => {
  const huge = deepFreeze(
    loopAlert({
      sign_in_ids: Array.from({ length: 20_000 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`),
      user_display_name: 'Ω\\|='.repeat(25_000),
    }),
  );
  const before = JSON.stringify(huge);

  test.each(FORMATS.flatMap((f) => [2048, 8192, 65536].map((n) => [f, n] as const)))('%s in %i bytes: cut with a marker, ids kept, input untouched', (format, max) => {
    const { text, alert } = fitToSize(huge, format, max);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(max);
    expect(alert.truncated).toEqual(expect.arrayContaining(['loop.sign_in_ids', 'loop.user_display_name']));
    expect(alert.loop!.user_display_name!.endsWith(MARKER)).toBe(true);
    expect(text).toContain(MARKER);
    expect(alert.loop!.sign_in_ids[0]).toBe(huge.loop!.sign_in_ids[0]);
    for (const k of ['event_id', 'subject_id', 'version', 'action', 'severity', 'emitted_at'] as const) expect(alert[k]).toBe(huge[k]);
    expect(alert.loop!.loop_id).toBe(LOOP.loop_id);
    expect(text).toContain(huge.event_id);
    expect(render(alert, format)).toBe(text);
    expect(schemaErrors('alert.schema.json', alert)).toEqual([]);
    if (format === 'cef') checkCef(alert);
    else JSON.parse(text);
    expect(JSON.stringify(huge)).toBe(before);
  });

  test('an alert that fits is returned as it is', () => {
    const a = loopAlert();
    expect(fitToSize(a, 'cef', 65536)).toEqual({ text: render(a, 'cef'), alert: a });
    expect(fitToSize(a, 'cef', 65536).alert.truncated).toBeUndefined();
  });

  test('only what must be cut is cut, and earlier cuts are kept in the list', () => {
    const a = { ...loopAlert({ ip_addresses: Array.from({ length: 5000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`) }), truncated: ['reason'] };
    const { alert } = fitToSize(a, 'json', 65536);
    expect(alert.truncated).toEqual(['reason', 'loop.ip_addresses']);
    expect(alert.loop!.ip_addresses.length).toBeLessThan(5000);
    expect(alert.loop!.user_display_name).toBe(LOOP.user_display_name);
  });

  test('huge attacker strings in every field still fit 2048 bytes of CEF', () => {
    const a = hostileLoop(() => LONG);
    const { text, alert } = fitToSize(a, 'cef', 2048);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(2048);
    checkCef(alert);
  });

  test('a limit below the smallest rendering throws', () => {
    for (const f of FORMATS) expect(() => fitToSize(huge, f, 200)).toThrow(/cannot fit in 200 bytes/);
  });
});

// ----- Native schema.

test('schemas/alert.schema.json accepts loop, cluster, test and truncated alerts, and refuses a loop alert without its loop', () => {
  for (const [name, a] of SAMPLES) expect([name, schemaErrors('alert.schema.json', a)]).toEqual([name, []]);
  expect(schemaErrors('flagged-session.schema.json', LOOP)).toEqual([]);
  expect(schemaErrors('loop-cluster.schema.json', CLUSTER)).toEqual([]);
  const bare: Partial<Alert> = loopAlert();
  delete bare.loop;
  expect(schemaErrors('alert.schema.json', bare)).not.toEqual([]);
  expect(schemaErrors('alert.schema.json', { ...TEST_ALERT, cluster: CLUSTER })).not.toEqual([]);
});
