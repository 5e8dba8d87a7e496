import { hash } from 'node:crypto';
import { Fields, isObject, toBool, toInt, type Json, type JsonObject } from './fields';
import { formatMicros, parseTimestamp, partitionOf, type EpochMicros } from './time';
import type { SignInRow } from './columns';

/** Which of the three wire shapes a single record is in (signin-logs.md §1). */
export type RecordShape = 'eventhub' | 'log_analytics' | 'graph';

/** Bounded reason codes: quarantine files, summaries and tests all use these. */
export type QuarantineReason =
  | 'invalid_json'
  | 'not_an_object'
  | 'records_not_array'
  | 'value_not_array'
  | 'unknown_shape'
  | 'no_usable_time'
  | 'invalid_error_code'
  | 'line_too_long'
  | 'unreadable_input';

export class Rejected {
  constructor(readonly reason: QuarantineReason, readonly detail: string) {}
}

const LA_MARKERS = ['TimeGenerated', 'AADTenantId', 'UserPrincipalName', 'ResultType', 'CreatedDateTime', 'Type', 'Id'];

export function classify(rec: JsonObject): RecordShape | null {
  if (isObject(rec.properties) || typeof rec.properties === 'string') return 'eventhub';
  // Exact-case checks: PascalCase is what tells Log Analytics apart (it also reaches Event Hub via data export).
  for (const k of LA_MARKERS) if (k in rec) return 'log_analytics';
  if ('createdDateTime' in rec || 'signInEventTypes' in rec || ('id' in rec && 'userPrincipalName' in rec)) return 'graph';
  const top = new Fields(rec);
  if (top.has('category') && (top.has('time') || top.has('operationname'))) return 'eventhub';
  return null;
}

const LA_TYPE_TO_CATEGORY: Record<string, string> = {
  signinlogs: 'SignInLogs',
  aadnoninteractiveusersigninlogs: 'NonInteractiveUserSignInLogs',
  aadserviceprincipalsigninlogs: 'ServicePrincipalSignInLogs',
  aadmanagedidentitysigninlogs: 'ManagedIdentitySignInLogs',
  adfssigninlogs: 'ADFSSignInLogs',
};
const GRAPH_EVENT_TO_CATEGORY: Record<string, string> = {
  interactiveuser: 'SignInLogs',
  noninteractiveuser: 'NonInteractiveUserSignInLogs',
  serviceprincipal: 'ServicePrincipalSignInLogs',
  managedidentity: 'ManagedIdentitySignInLogs',
};

function categoryOf(raw: string | null, graphTypes: Json[] | null, interactive: boolean | null): string | null {
  if (raw) {
    const mapped = LA_TYPE_TO_CATEGORY[raw.toLowerCase()];
    if (mapped) return mapped;
    if (raw === 'SignIn') return 'SignInLogs'; // the 2018 name
    return raw;
  }
  const first = graphTypes?.find((t) => typeof t === 'string') as string | undefined;
  if (first) return GRAPH_EVENT_TO_CATEGORY[first.toLowerCase()] ?? first;
  if (interactive === true) return 'SignInLogs';
  if (interactive === false) return 'NonInteractiveUserSignInLogs';
  return null;
}

function principalKindOf(category: string | null): string {
  const c = (category ?? '').toLowerCase();
  if (c.includes('managedidentity')) return 'managed_identity';
  if (c.includes('serviceprincipal')) return 'service_principal';
  return 'user';
}

/** "Is CAE Token" lives in a key/value list in authenticationProcessingDetails; the key's spacing drifts. */
function caeFlag(details: Json[] | null, direct: boolean | null): boolean | null {
  if (direct !== null) return direct;
  if (!details) return null;
  for (const d of details) {
    if (!isObject(d)) continue;
    const key = d.key ?? d.Key;
    if (typeof key === 'string' && /^is\s*cae\s*token$/i.test(key.trim())) return toBool(d.value ?? d.Value);
  }
  return null;
}

function authMethods(steps: Json[] | null): string | null {
  if (!steps || steps.length === 0) return null;
  const seen: string[] = [];
  for (const step of steps) {
    if (!isObject(step)) continue;
    // Direct keys first (camelCase, PascalCase): this runs for every record; the folded lookup is the fallback.
    const m = step.authenticationMethod ?? step.AuthenticationMethod ?? new Fields(step).raw('authenticationmethod');
    if (typeof m === 'string' && m && !seen.includes(m)) seen.push(m);
  }
  return seen.length ? seen.join(', ') : null;
}

const emptyToNull = (s: string | null) => (s === null || s.trim() === '' ? null : s);

export interface NormalizeContext {
  source: string;
  ingestedAt: string;
  eh?: { partition: string; sequenceNumber: number; enqueuedTime: string | null };
}

export interface NormalizedRow {
  /** Every column but `raw`, which travels beside the row (see SignInWriter) so it is never escaped twice. */
  row: SignInRow;
  /** The record's JSON text, on one line. */
  raw: string;
  micros: EpochMicros;
}

/**
 * One record (any shape) to one flat lake row. `rawText` is the record's own JSON text when the caller
 * already has it (one record per line), so the common case does not pay for a JSON.stringify.
 */
export function normalizeRecord(rec: JsonObject, shape: RecordShape, ctx: NormalizeContext, rawText?: string): NormalizedRow | Rejected {
  const top = new Fields(rec);
  // p: where the sign-in fields live. Event Hub nests them in `properties`; LA rows and Graph items are flat.
  const p = shape === 'eventhub' ? top.obj('properties') : top;
  const status = p.obj('status');
  const device = p.obj('devicedetail');
  const locObj = p.obj('locationdetails', 'location');
  const interactive = p.bool('isinteractive');

  const createdRaw = p.str('createddatetime') ?? top.str('time', 'timegenerated');
  const recordTimeRaw = shape === 'graph' ? null : top.str('time', 'timegenerated');
  const created = parseTimestamp(createdRaw);
  if (created === null) {
    return new Rejected('no_usable_time', createdRaw === null ? 'no createdDateTime, time or TimeGenerated' : `unparseable time ${JSON.stringify(createdRaw.slice(0, 80))}`);
  }
  const recordTime = parseTimestamp(recordTimeRaw);

  const codeValue = status.raw('errorcode') ?? top.raw('resulttype');
  let errorCode: number | null = null;
  if (codeValue !== undefined) {
    errorCode = toInt(codeValue);
    if (errorCode === null) return new Rejected('invalid_error_code', `error code ${JSON.stringify(codeValue).slice(0, 80)} is not an integer`);
  }

  const category = categoryOf(
    shape === 'log_analytics' ? top.str('type', 'category') : top.str('category', 'categoryvalue'),
    p.arr('signineventtypes'),
    interactive,
  );
  const principal = principalKindOf(category);
  const tenant = shape === 'log_analytics' ? top.str('aadtenantid') : top.str('tenantid') ?? p.str('tenantid') ?? tenantFromResourceId(top.str('resourceid'));
  const signInId = p.str('id');
  const upn = p.str('userprincipalname');
  const authSteps = p.arr('authenticationdetails');
  const caPolicies = p.arr('appliedconditionalaccesspolicies', 'conditionalaccesspolicies');
  const countryText = locObj.str('countryorregion') ?? (shape === 'eventhub' ? top.str('location') : p.str('location'));
  const part = partitionOf(created);
  // The caller's text is used only when it is one line: raw is staged one record per line.
  const raw = rawText !== undefined && !rawText.includes('\n') ? rawText : JSON.stringify(rec);

  const row: SignInRow = {
    created_at: formatMicros(created),
    created_at_raw: createdRaw,
    record_time: recordTime === null ? null : formatMicros(recordTime),
    log_category: category,
    principal_kind: principal,
    sign_in_id: signInId,
    tenant_id: tenant,
    user_id: emptyToNull(p.str('userid')),
    user_principal_name: upn === null ? null : upn.toLowerCase(),
    user_display_name: p.str('userdisplayname') ?? (shape === 'eventhub' && principal === 'user' ? top.str('identity') : null),
    user_type: p.str('usertype'),
    app_id: p.str('appid'),
    app_display_name: p.str('appdisplayname'),
    resource_app_id: shape === 'log_analytics' ? p.str('resourceidentity') : p.str('resourceid'),
    resource_display_name: p.str('resourcedisplayname'),
    service_principal_id: emptyToNull(p.str('serviceprincipalid')),
    service_principal_name: emptyToNull(p.str('serviceprincipalname')),
    client_app_used: p.str('clientappused'),
    user_agent: p.str('useragent'),
    ip_address: p.str('ipaddress') ?? top.str('calleripaddress'),
    country: countryText !== null && countryText.length <= 8 ? countryText : null,
    city: locObj.str('city'),
    asn: p.int('autonomoussystemnumber'),
    device_id: emptyToNull(device.str('deviceid')),
    device_display_name: emptyToNull(device.str('displayname')),
    device_os: emptyToNull(device.str('operatingsystem')),
    device_browser: emptyToNull(device.str('browser')),
    device_trust_type: emptyToNull(device.str('trusttype')),
    device_is_compliant: device.bool('iscompliant'),
    device_is_managed: device.bool('ismanaged'),
    error_code: errorCode,
    failure_reason: status.str('failurereason') ?? top.str('resultdescription'),
    additional_details: status.str('additionaldetails'),
    is_interactive: interactive ?? (category === null ? null : category === 'SignInLogs' || category === 'ADFSSignInLogs'),
    correlation_id: p.str('correlationid') ?? top.str('correlationid'),
    original_request_id: p.str('originalrequestid'),
    session_id: p.str('sessionid'),
    incoming_token_type: p.str('incomingtokentype'),
    authentication_requirement: emptyToNull(p.str('authenticationrequirement')),
    conditional_access_status: p.str('conditionalaccessstatus'),
    token_issuer_type: p.str('tokenissuertype'),
    risk_state: p.str('riskstate'),
    risk_level_during_sign_in: p.str('risklevelduringsignin'),
    processing_time_ms: p.int('processingtimeinmilliseconds', 'processingtimeinms'),
    is_cae_token: caeFlag(p.arr('authenticationprocessingdetails'), p.bool('iscaetoken')),
    auth_methods: authMethods(authSteps),
    auth_details_json: authSteps,
    ca_policies_json: caPolicies,
    source_shape: shape,
    source: ctx.source,
    eh_partition: ctx.eh?.partition ?? null,
    eh_sequence_number: ctx.eh?.sequenceNumber ?? null,
    eh_enqueued_time: ctx.eh?.enqueuedTime ?? null,
    record_key: recordKey(category, signInId, created, errorCode, raw),
    ingested_at: ctx.ingestedAt,
    date: part.date,
    hour: part.hour,
  };
  return { row, raw, micros: created };
}

function tenantFromResourceId(resourceId: string | null): string | null {
  const m = resourceId ? /^\/tenants\/([^/]+)\//i.exec(resourceId) : null;
  return m ? m[1] : null;
}

/**
 * Source dedupe key. With an id: (category, id, event time, code), so Entra's re-published rows and
 * at-least-once redeliveries collapse while the several rows of one MFA request (same id, other code
 * or time) stay. Category is in the key because one id is legitimately reused across tables.
 * Without an id the record's own bytes are the identity.
 */
export function recordKey(category: string | null, id: string | null, created: EpochMicros, code: number | null, raw: string): string {
  // crypto.hash: the one-shot form is about twice as fast as createHash for inputs this small.
  const text = id ? `id\u0000${category ?? ''}\u0000${id.toLowerCase()}\u0000${created}\u0000${code ?? ''}` : `raw\u0000${raw}`;
  return hash('sha256', text, 'base64url').slice(0, 22);
}
