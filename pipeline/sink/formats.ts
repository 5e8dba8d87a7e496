import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import type { Alert, AlertSeverity } from '../domain/findings';
import type { FormatName } from './types';

/**
 * The five wire formats of an alert. Every field of the alert is attacker-controllable text (sign-in logs carry
 * what the client sent), so each format escapes for its own grammar and never emits a raw line break:
 * JSON formats escape U+0085/U+2028/U+2029 too (valid JSON either way, but some line splitters break on them);
 * CEF escapes per the ArcSight standard and replaces other control characters with visible symbols (cefText).
 * The field-by-field mappings are documented in schemas/mappings/*.json; test/unit/formats.test.ts keeps them true.
 */
export function render(alert: Alert, format: FormatName): string {
  switch (format) {
    case 'json':
      return jsonLine(alert);
    case 'cef':
      return cef(alert);
    case 'ecs':
      return jsonLine(ecs(alert));
    case 'ocsf':
      return jsonLine(ocsf(alert));
    case 'sentinel':
      return jsonLine(sentinel(alert));
  }
}

export const TRUNCATION_MARKER = '…[truncated]';

/**
 * Ever shorter cuts: arrays first, then strings. The last level is the shortest an alert can get: one element per
 * array, 16 characters of each string (ids we generate are never cut, see KEEP).
 */
const LEVELS: { items: number; chars: number }[] = [
  { items: 1000, chars: Infinity },
  { items: 100, chars: Infinity },
  { items: 20, chars: 16384 },
  { items: 5, chars: 4096 },
  { items: 1, chars: 1024 },
  { items: 1, chars: 256 },
  { items: 1, chars: 64 },
  { items: 1, chars: 32 },
  { items: 1, chars: 16 },
];

/**
 * Render within maxBytes (UTF-8). A too-big alert is cut level by level, always from the original so cuts never
 * compound, and every shortened field is named in `truncated`; the input is never mutated.
 */
export function fitToSize(alert: Alert, format: FormatName, maxBytes: number): { text: string; alert: Alert } {
  const text = render(alert, format);
  if (Buffer.byteLength(text) <= maxBytes) return { text, alert };
  let smallest = Infinity;
  for (const level of LEVELS) {
    const cut = shorten(alert, level.items, level.chars);
    const cutText = render(cut, format);
    const size = Buffer.byteLength(cutText);
    if (size <= maxBytes) return { text: cutText, alert: cut };
    smallest = size;
  }
  throw new Error(`Alert ${alert.event_id} cannot fit in ${maxBytes} bytes as ${format}: ${smallest} bytes even with every field cut to the minimum.`);
}

/** Fields we generate ourselves (ids, enums, timestamps): never cut, so the alert stays identifiable and dedupable. */
const KEEP = new Set([
  'schema', 'event_id', 'kind', 'subject_id', 'action', 'severity', 'emitted_at', 'first_emitted_at', 'truncated',
  'loop.loop_id', 'loop.kind', 'loop.severity', 'loop.start', 'loop.end', 'loop.cluster_id',
  'cluster.cluster_id', 'cluster.start', 'cluster.end', 'cluster.core_end', 'cluster.peak_at',
]);

function shorten(alert: Alert, items: number, chars: number): Alert {
  const paths = new Set(alert.truncated ?? []);
  const cutString = (path: string, s: string): string => {
    if (KEEP.has(path) || s.length <= chars + TRUNCATION_MARKER.length) return s;
    paths.add(path);
    // Never split a surrogate pair.
    const end = chars > 0 && /[\uD800-\uDBFF]/.test(s[chars - 1]) ? chars - 1 : chars;
    return s.slice(0, end) + TRUNCATION_MARKER;
  };
  const walk = (path: string, v: unknown): unknown => {
    if (typeof v === 'string') return cutString(path, v);
    if (Array.isArray(v)) {
      if (KEEP.has(path)) return v;
      if (v.length > items) paths.add(path);
      return v.slice(0, items).map((x) => (typeof x === 'string' ? cutString(path, x) : x));
    }
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(path ? `${path}.${k}` : k, x)]));
    }
    return v;
  };
  const cut = walk('', alert) as Alert;
  return paths.size ? { ...cut, truncated: [...paths] } : cut;
}

// ---------------------------------------------------------------------------------------------------------------
// What every format needs, taken once from the loop, the cluster, or neither (a test alert).

interface Facts {
  /** CEF signature id, ECS/OCSF rule id, Sentinel AlertKind. */
  signature: string;
  start?: string;
  end?: string;
  upn?: string;
  userId?: string;
  displayName?: string;
  appId?: string;
  appName?: string;
  deviceId?: string;
  deviceOs?: string;
  /** The OS family when it is one ECS host.os.type and OCSF os.type_id know. */
  osType?: OsType;
  /** Lower-case OS name without version: a cluster's os_family, else osType. */
  osFamily?: string;
  clientApp?: string;
  promptCount?: number;
  errorCodes?: number[];
  ips?: string[];
  clusterId?: string;
  clusterUsers?: number;
  clusterLoops?: number;
  stillLooping?: string[];
}

function facts(a: Alert): Facts {
  const v = <T>(x: T | null): T | undefined => (x === null ? undefined : x);
  if (a.loop) {
    const l = a.loop;
    return {
      signature: l.kind,
      start: l.start,
      end: l.end,
      upn: v(l.user_principal_name),
      userId: v(l.user_id),
      displayName: v(l.user_display_name),
      appId: v(l.app_id),
      appName: v(l.app_display_name),
      deviceId: v(l.device_id),
      deviceOs: v(l.device_os),
      osType: osTypeOf(l.device_os),
      osFamily: osTypeOf(l.device_os),
      clientApp: v(l.client_app_used),
      promptCount: l.prompt_count,
      errorCodes: l.error_codes,
      ips: l.ip_addresses,
      clusterId: v(l.cluster_id),
    };
  }
  if (a.cluster) {
    const c = a.cluster;
    return {
      signature: 'loop_cluster',
      start: c.start,
      end: c.end,
      appId: v(c.app_id),
      appName: v(c.app_display_name),
      deviceOs: v(c.device_os),
      osType: osTypeOf(c.os_family ?? c.device_os),
      osFamily: v(c.os_family) ?? osTypeOf(c.device_os),
      clientApp: v(c.client_app_used),
      promptCount: c.prompt_count,
      errorCodes: c.error_codes,
      clusterId: c.cluster_id,
      clusterUsers: c.user_count,
      clusterLoops: c.loop_count,
      stillLooping: c.users_still_looping,
    };
  }
  return { signature: 'test' };
}

type OsType = 'windows' | 'ios' | 'macos' | 'android' | 'linux';

/** The OS families ECS host.os.type allows (and OCSF os.type_id knows); anything else stays unmapped. */
function osTypeOf(os: string | null): OsType | undefined {
  const s = os?.toLowerCase() ?? '';
  if (s.startsWith('windows')) return 'windows';
  if (s.startsWith('ios') || s.startsWith('ipados')) return 'ios';
  if (s.startsWith('macos') || s.startsWith('mac os') || s.startsWith('os x')) return 'macos';
  if (s.startsWith('android')) return 'android';
  if (s.startsWith('linux') || s.startsWith('ubuntu')) return 'linux';
  return undefined;
}

/** Epoch milliseconds of an ISO timestamp, or undefined when it does not parse. */
function ms(iso: string | undefined): number | undefined {
  const t = iso === undefined ? NaN : Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
}

/** The first address, when it is one: typed IP fields (ECS ip, OCSF ip_t) reject the whole event otherwise. */
function firstIp(f: Facts): string | undefined {
  const ip = f.ips?.[0];
  return ip !== undefined && isIP(ip) ? ip : undefined;
}

function looksLikeEmail(s: string | undefined): s is string {
  return s !== undefined && /^[^@\s]+@[^@\s]+$/.test(s);
}

/** The fields of a loop or cluster a format has not mapped, unchanged: nothing is lost, nothing sent twice. */
function rest<T extends object>(o: T | undefined, mapped: readonly (keyof T)[]): Partial<T> | undefined {
  // `aliases` is empty for nearly every finding: left out then, so it costs no room in size-limited sinks.
  const keep = ([k, v]: [string, unknown]) => !mapped.includes(k as keyof T) && !(k === 'aliases' && Array.isArray(v) && v.length === 0);
  return o && (Object.fromEntries(Object.entries(o).filter(keep)) as Partial<T>);
}

/** Drops undefined, null, empty arrays and empty objects, so optional fields are absent rather than null. */
function prune(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    const x = Array.isArray(v) ? v.map((e) => (isObject(e) ? prune(e) : e)).filter((e) => !isEmpty(e)) : isObject(v) ? prune(v) : v;
    if (!isEmpty(x)) out[k] = x;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isEmpty(v: unknown): boolean {
  return v === undefined || v === null || (Array.isArray(v) ? v.length === 0 : isObject(v) && Object.keys(v).length === 0);
}

function jsonLine(v: unknown): string {
  // JSON.stringify escapes C0 controls; these three are legal raw in JSON but end a line for some readers.
  return JSON.stringify(v).replace(/[\u0085\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

let productVersion: string | undefined;
/** package.json's version, found from pipeline/sink (ts-jest) and dist/pipeline/sink (built CLI) alike. */
function version(): string {
  if (productVersion) return productVersion;
  for (let d = __dirname; d !== dirname(d); d = dirname(d)) {
    const p = join(d, 'package.json');
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'reauth-loops' && pkg.version) return (productVersion = pkg.version);
    }
  }
  throw new Error(`reauth-loops package.json not found above ${__dirname}`);
}

// ---------------------------------------------------------------------------------------------------------------
// CEF (ArcSight Common Event Format, implementation standard rev. 25).

const CEF_SEVERITY: Record<AlertSeverity, number> = { medium: 5, high: 8, critical: 10 };

const HEADER_ESCAPES: Record<string, string> = { '\\': '\\\\', '|': '\\|', '\r': ' ', '\n': ' ' };
const EXTENSION_ESCAPES: Record<string, string> = { '\\': '\\\\', '=': '\\=', '\r': '\\r', '\n': '\\n' };

/**
 * One pass over the string, so a backslash is escaped exactly once whatever follows ("backslash first").
 * Characters CEF has no escape for are made visible rather than dropped: C0 controls (NUL, TAB, ESC...) become
 * their Unicode control pictures U+2400-U+241F (NUL -> ␀), DEL becomes ␡ (U+2421), the line breaks U+0085,
 * U+2028 and U+2029 become ␤ (U+2424), other C1 controls and lone surrogates become U+FFFD.
 */
function cefText(s: string, escapes: Record<string, string>): string {
  return s.replace(/[\\|=\x00-\x1f\x7f-\x9f\u2028\u2029]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, (c) => {
    const e = escapes[c];
    if (e !== undefined) return e;
    if (c === '|' || c === '=') return c; // each is special in only one of header and extension
    const code = c.charCodeAt(0);
    if (code < 0x20) return String.fromCharCode(0x2400 + code);
    if (code === 0x7f) return '\u2421';
    if (code === 0x85 || code === 0x2028 || code === 0x2029) return '\u2424';
    return '\uFFFD';
  });
}

function cef(a: Alert): string {
  const f = facts(a);
  const labelled = (key: string, label: string, value: string | number | undefined): [string, string | number | undefined][] =>
    value === undefined || value === '' ? [] : [[key, value], [`${key}Label`, label]];
  const ext: [string, string | number | undefined][] = [
    ['rt', ms(a.emitted_at)],
    ['externalId', a.event_id],
    ['act', a.action],
    ['cat', f.signature],
    ['start', ms(f.start)],
    ['end', ms(f.end)],
    ['cnt', f.promptCount],
    ['suser', f.upn ?? f.stillLooping?.join(',')],
    ['suid', f.userId],
    ['src', firstIp(f)],
    ['app', f.appName],
    ['requestClientApplication', f.clientApp],
    ...labelled('cs1', 'subjectId', a.subject_id),
    ...labelled('cs2', 'clusterId', f.clusterId),
    ...labelled('cs3', 'tenantId', a.tenant_id ?? undefined),
    ...labelled('cs4', 'deviceOs', f.deviceOs),
    ...labelled('cs5', 'appId', f.appId),
    ...labelled('cs6', 'errorCodes', f.errorCodes?.join(',')),
    ...labelled('cn1', 'alertVersion', a.version),
    ...labelled('cn2', 'usersAffected', f.clusterUsers),
    ...labelled('cn3', 'loopCount', f.clusterLoops),
    ...labelled('flexString1', 'userDisplayName', f.displayName),
    ...labelled('flexString2', 'truncated', a.truncated?.join(',')),
    ['msg', a.reason],
  ];
  const header = ['CEF:0', 'reauth-loops', 'reauth-loops', version(), f.signature, a.title, String(CEF_SEVERITY[a.severity])]
    .map((h) => cefText(h, HEADER_ESCAPES))
    .join('|');
  const extension = ext
    .filter((kv): kv is [string, string | number] => kv[1] !== undefined && kv[1] !== '')
    .map(([k, v]) => `${k}=${cefText(String(v), EXTENSION_ESCAPES)}`)
    .join(' ');
  return `${header}|${extension}`;
}

// ---------------------------------------------------------------------------------------------------------------
// ECS 8.11 (Elastic Common Schema).

const ECS_SEVERITY: Record<AlertSeverity, number> = { medium: 47, high: 73, critical: 99 };

/** rule.name for each rule.id (the signature). */
const RULE_NAMES: Record<string, string> = {
  reauth_loop: 'Reauthentication loop',
  mfa_denial_burst: 'MFA denial burst',
  failure_burst: 'Failed sign-in burst',
  loop_cluster: 'Tenant-wide reauthentication loop',
  test: 'Test alert',
};

function ecs(a: Alert): Record<string, unknown> {
  const f = facts(a);
  const ip = firstIp(f);
  return {
    ...prune({
      '@timestamp': a.emitted_at,
      ecs: { version: '8.11.0' },
      message: a.reason,
      event: {
        kind: 'alert',
        category: ['authentication'],
        type: ['info'],
        action: a.action,
        id: a.event_id,
        start: f.start,
        end: f.end,
        severity: ECS_SEVERITY[a.severity],
        reason: a.reason,
        dataset: 'reauth_loops.alert',
        provider: 'reauth-loops',
      },
      rule: { id: f.signature, name: RULE_NAMES[f.signature] },
      organization: { id: a.tenant_id },
      user: { id: f.userId, name: f.upn, email: looksLikeEmail(f.upn) ? f.upn : undefined, full_name: f.displayName },
      source: { ip },
      host: { os: { type: f.osType, full: f.deviceOs } },
      related: { ip: f.ips?.filter((x) => isIP(x)), user: a.loop ? [f.upn, f.userId] : f.stillLooping },
    }),
    reauth_loops: {
      schema: a.schema,
      kind: a.kind,
      subject_id: a.subject_id,
      version: a.version,
      first_emitted_at: a.first_emitted_at,
      truncated: a.truncated,
      loop: rest(a.loop, ['tenant_id', 'user_id', 'user_principal_name', 'user_display_name', 'device_os', 'start', 'end', 'reason']),
      cluster: rest(a.cluster, ['tenant_id', 'device_os', 'start', 'end', 'users_still_looping']),
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// OCSF 1.1.0 Detection Finding (class 2004, category 2 Findings).

const OCSF_ACTIVITY = { opened: 1, updated: 2, closed: 3 } as const;
const OCSF_SEVERITY = { medium: [3, 'Medium'], high: [4, 'High'], critical: [5, 'Critical'] } as const;
const OCSF_OS_TYPE = { windows: 100, linux: 200, android: 201, macos: 300, ios: 301 } as const;

function ocsf(a: Alert): Record<string, unknown> {
  const f = facts(a);
  const activityId = OCSF_ACTIVITY[a.action];
  const [severityId, severityName] = OCSF_SEVERITY[a.severity];
  const ip = firstIp(f);
  // A loop's evidence is its user (and address, device); a cluster's, the users still looping.
  const evidences = a.loop
    ? [
        {
          actor: { user: { uid: f.userId, name: f.upn, full_name: f.displayName, email_addr: looksLikeEmail(f.upn) ? f.upn : undefined } },
          src_endpoint: { ip },
          device: f.deviceId !== undefined || f.deviceOs !== undefined
            ? { type_id: 0, uid: f.deviceId, os: f.deviceOs !== undefined ? { name: f.deviceOs, type_id: f.osType ? OCSF_OS_TYPE[f.osType] : 99 } : undefined }
            : undefined,
        },
      ]
    : f.stillLooping?.map((name) => ({ actor: { user: { name } } }));
  return {
    ...prune({
      // Caption siblings (class_name, activity_name, os.type...) are left out: consumers derive them from the ids, and
      // the finding must fit a 2048-byte syslog frame.
      class_uid: 2004,
      category_uid: 2,
      activity_id: activityId,
      type_uid: 2004 * 100 + activityId,
      severity_id: severityId,
      severity: severityName,
      status_id: a.action === 'closed' ? 4 : 1,
      time: ms(a.emitted_at),
      start_time: ms(f.start),
      end_time: ms(f.end),
      count: f.promptCount,
      message: a.reason,
      metadata: {
        version: '1.1.0',
        product: { name: 'reauth-loops', vendor_name: 'reauth-loops', version: version() },
        uid: a.event_id,
        correlation_uid: a.subject_id,
        profiles: a.tenant_id !== null ? ['cloud'] : undefined,
      },
      cloud: a.tenant_id !== null ? { provider: 'Azure', account: { uid: a.tenant_id, type_id: 6 } } : undefined,
      finding_info: {
        uid: a.subject_id,
        title: a.title,
        desc: a.reason,
        types: [f.signature],
        created_time: ms(a.first_emitted_at),
        first_seen_time: ms(f.start),
        last_seen_time: ms(f.end),
      },
      resources: f.appId !== undefined || f.appName !== undefined ? [{ uid: f.appId, name: f.appName, type: 'Application' }] : undefined,
      evidences,
    }),
    unmapped: {
      schema: a.schema,
      kind: a.kind,
      version: a.version,
      merged_into: a.merged_into,
      truncated: a.truncated,
      loop: rest(a.loop, ['tenant_id', 'user_id', 'user_principal_name', 'user_display_name', 'app_id', 'app_display_name', 'device_id', 'device_os', 'start', 'end', 'prompt_count', 'reason']),
      cluster: rest(a.cluster, ['tenant_id', 'app_id', 'app_display_name', 'start', 'end', 'prompt_count', 'users_still_looping']),
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Microsoft Sentinel: one row of the ReauthLoops_CL custom table (schemas/mappings/sentinel-table.json), sent through the
// Logs Ingestion API. TenantId is a reserved Log Analytics column, hence EntraTenantId.

function sentinel(a: Alert): Record<string, unknown> {
  const f = facts(a);
  return {
    ...prune({
      TimeGenerated: a.emitted_at,
      EventId: a.event_id,
      AlertKind: f.signature,
      SubjectId: a.subject_id,
      Version: a.version,
      Action: a.action,
      Severity: a.severity,
      Title: a.title,
      Reason: a.reason,
      FirstEmittedAt: a.first_emitted_at,
      EntraTenantId: a.tenant_id,
      UserPrincipalName: f.upn,
      UserId: f.userId,
      UserDisplayName: f.displayName,
      AppId: f.appId,
      AppDisplayName: f.appName,
      DeviceId: f.deviceId,
      DeviceOS: f.deviceOs,
      OSFamily: f.osFamily,
      ClientAppUsed: f.clientApp,
      LoopStart: f.start,
      LoopEnd: f.end,
      PromptCount: f.promptCount,
      ErrorCodes: f.errorCodes,
      IPAddresses: f.ips,
      ClusterId: f.clusterId,
      ClusterUserCount: f.clusterUsers,
      UsersStillLooping: f.stillLooping,
      Truncated: a.truncated,
    }),
    Details: rest(a.loop, ['tenant_id', 'user_id', 'user_principal_name', 'user_display_name', 'app_id', 'app_display_name', 'device_id', 'device_os', 'client_app_used', 'start', 'end', 'prompt_count', 'error_codes', 'ip_addresses', 'cluster_id', 'reason'])
      ?? rest(a.cluster, ['tenant_id', 'app_id', 'app_display_name', 'device_os', 'os_family', 'client_app_used', 'start', 'end', 'prompt_count', 'error_codes', 'cluster_id', 'user_count', 'users_still_looping']),
  };
}
