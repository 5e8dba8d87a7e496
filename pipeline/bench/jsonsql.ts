/**
 * DuckDB-native SQL over raw Event Hub bodies ({"records":[...]} one per line), for the benchmark only:
 *   - the import ceiling: read_ndjson_objects -> json_transform -> unnest -> COPY to zstd Parquet;
 *   - the "same detection SQL straight off raw JSON" comparison: a `lake_sign_ins` view with our column names.
 * Neither handles the quirks the TypeScript normalizer handles (key case drift, 7-digit fractions with
 * offsets, numbers as strings, objects held as strings); the simulated data is clean enough for both.
 */
import { quoteString } from '../sql/duckdb';
import { SIGN_IN_COLUMNS } from '../normalize/columns';

type Spec = string | { [k: string]: Spec };

/** The properties fields our lake lands from an Event Hub record. */
const PROPERTIES: Spec = {
  id: 'VARCHAR',
  createdDateTime: 'VARCHAR',
  userPrincipalName: 'VARCHAR',
  userId: 'VARCHAR',
  userDisplayName: 'VARCHAR',
  userType: 'VARCHAR',
  appId: 'VARCHAR',
  appDisplayName: 'VARCHAR',
  resourceId: 'VARCHAR',
  resourceDisplayName: 'VARCHAR',
  ipAddress: 'VARCHAR',
  status: { errorCode: 'INTEGER', failureReason: 'VARCHAR', additionalDetails: 'VARCHAR' },
  clientAppUsed: 'VARCHAR',
  userAgent: 'VARCHAR',
  deviceDetail: {
    deviceId: 'VARCHAR',
    operatingSystem: 'VARCHAR',
    browser: 'VARCHAR',
    displayName: 'VARCHAR',
    isCompliant: 'BOOLEAN',
    isManaged: 'BOOLEAN',
    trustType: 'VARCHAR',
  },
  location: { city: 'VARCHAR', countryOrRegion: 'VARCHAR' },
  correlationId: 'VARCHAR',
  originalRequestId: 'VARCHAR',
  sessionId: 'VARCHAR',
  incomingTokenType: 'VARCHAR',
  isInteractive: 'BOOLEAN',
  authenticationRequirement: 'VARCHAR',
  conditionalAccessStatus: 'VARCHAR',
  tokenIssuerType: 'VARCHAR',
  riskState: 'VARCHAR',
  processingTimeInMilliseconds: 'INTEGER',
  authenticationDetails: 'JSON',
  appliedConditionalAccessPolicies: 'JSON',
};

/** One Event Hub diagnostic record: the top-level fields we land, plus properties. */
export const RECORD_SPEC: Spec = {
  time: 'VARCHAR',
  category: 'VARCHAR',
  tenantId: 'VARCHAR',
  resultType: 'VARCHAR',
  resultDescription: 'VARCHAR',
  correlationId: 'VARCHAR',
  identity: 'VARCHAR',
  callerIpAddress: 'VARCHAR',
  location: 'VARCHAR',
  properties: PROPERTIES,
};

/** Number of leaf fields in the struct (reported in the output). */
export function leafCount(spec: Spec = RECORD_SPEC): number {
  return typeof spec === 'string' ? 1 : Object.values(spec).reduce((n, s) => n + leafCount(s), 0);
}

/** The json_transform structure literal for a whole body: {"records":[RECORD]}. */
export function bodyStructure(): string {
  return quoteString(JSON.stringify({ records: [RECORD_SPEC] }));
}

/**
 * One row per record: `r` (the transformed struct) and, when `raw`, the record itself as JSON. With raw,
 * the body is split into records as JSON first and each record is transformed from that (in a trial, the
 * fastest of that, transforming the body twice, and json_extract('$.records[*]') zipped beside the struct).
 */
export function recordsSql(file: string, raw: boolean): string {
  const src = `read_ndjson_objects(${quoteString(file)})`;
  if (!raw) return `select unnest(json_transform(json, ${bodyStructure()}).records) as r from ${src}`;
  return `select json_transform(raw, ${quoteString(JSON.stringify(RECORD_SPEC))}) as r, raw
    from (select unnest(json_transform(json, '{"records":["JSON"]}').records) as raw from ${src})`;
}

/** The ceiling: records straight to one zstd Parquet file, struct columns kept nested. */
export function ceilingCopySql(file: string, out: string, raw: boolean): string {
  return `copy (select r.*${raw ? ', raw' : ''} from (${recordsSql(file, raw)})) to ${quoteString(out)} (format parquet, compression zstd)`;
}

const nz = (e: string) => `nullif(${e}, '')`;
const blankToNull = (e: string) => `case when trim(${e}) = '' then null else ${e} end`;

/**
 * `lake_sign_ins` straight over the raw file, with our column names and the rules of normalize/record.ts
 * that matter for clean Event Hub data. created_at: the first 26 characters of createdDateTime (microseconds,
 * truncated like the normalizer does), offset ignored (the simulator writes +00:00 only).
 */
export function rawJsonViewSql(file: string, raw: boolean): string {
  const p = 'r.properties';
  const created = `coalesce(${nz(`${p}.createdDateTime`)}, ${nz('r.time')})`;
  const methods = `list_filter(json_extract_string(${p}.authenticationDetails, '$[*].authenticationMethod'), x -> x is not null and x <> '')`;
  const kind = `case when lower(coalesce(r.category, '')) like '%managedidentity%' then 'managed_identity'
      when lower(coalesce(r.category, '')) like '%serviceprincipal%' then 'service_principal' else 'user' end`;
  return `create or replace view lake_sign_ins as
with recs as (${recordsSql(file, raw)}),
flat as (
  select
    strptime(left(${created}, 26), '%Y-%m-%dT%H:%M:%S.%f') as created_at,
    ${created} as created_at_raw,
    strptime(left(${nz('r.time')}, 26), '%Y-%m-%dT%H:%M:%S.%f') as record_time,
    r.category as log_category,
    ${kind} as principal_kind,
    ${nz(`${p}.id`)} as sign_in_id,
    ${nz('r.tenantId')} as tenant_id,
    ${blankToNull(`${p}.userId`)} as user_id,
    lower(${nz(`${p}.userPrincipalName`)}) as user_principal_name,
    coalesce(${nz(`${p}.userDisplayName`)}, case when (${kind}) = 'user' then ${nz('r.identity')} end) as user_display_name,
    ${nz(`${p}.userType`)} as user_type,
    ${nz(`${p}.appId`)} as app_id,
    ${nz(`${p}.appDisplayName`)} as app_display_name,
    ${nz(`${p}.resourceId`)} as resource_app_id,
    ${nz(`${p}.resourceDisplayName`)} as resource_display_name,
    ${nz(`${p}.clientAppUsed`)} as client_app_used,
    ${nz(`${p}.userAgent`)} as user_agent,
    coalesce(${nz(`${p}.ipAddress`)}, ${nz('r.callerIpAddress')}) as ip_address,
    case when length(coalesce(${nz(`${p}.location.countryOrRegion`)}, ${nz('r.location')})) <= 8
      then coalesce(${nz(`${p}.location.countryOrRegion`)}, ${nz('r.location')}) end as country,
    ${nz(`${p}.location.city`)} as city,
    ${blankToNull(`${p}.deviceDetail.deviceId`)} as device_id,
    ${blankToNull(`${p}.deviceDetail.displayName`)} as device_display_name,
    ${blankToNull(`${p}.deviceDetail.operatingSystem`)} as device_os,
    ${blankToNull(`${p}.deviceDetail.browser`)} as device_browser,
    ${blankToNull(`${p}.deviceDetail.trustType`)} as device_trust_type,
    ${p}.deviceDetail.isCompliant as device_is_compliant,
    ${p}.deviceDetail.isManaged as device_is_managed,
    coalesce(${p}.status.errorCode, try_cast(${nz('r.resultType')} as integer)) as error_code,
    coalesce(${nz(`${p}.status.failureReason`)}, ${nz('r.resultDescription')}) as failure_reason,
    ${nz(`${p}.status.additionalDetails`)} as additional_details,
    coalesce(${p}.isInteractive, r.category in ('SignInLogs', 'ADFSSignInLogs')) as is_interactive,
    coalesce(${nz(`${p}.correlationId`)}, ${nz('r.correlationId')}) as correlation_id,
    ${nz(`${p}.originalRequestId`)} as original_request_id,
    ${nz(`${p}.sessionId`)} as session_id,
    ${nz(`${p}.incomingTokenType`)} as incoming_token_type,
    ${blankToNull(`${p}.authenticationRequirement`)} as authentication_requirement,
    ${nz(`${p}.conditionalAccessStatus`)} as conditional_access_status,
    ${nz(`${p}.tokenIssuerType`)} as token_issuer_type,
    ${nz(`${p}.riskState`)} as risk_state,
    ${p}.processingTimeInMilliseconds as processing_time_ms,
    nullif(array_to_string(list_filter(${methods}, (x, i) -> list_position(${methods}, x) = i), ', '), '') as auth_methods,
    ${p}.authenticationDetails as auth_details_json,
    ${p}.appliedConditionalAccessPolicies as ca_policies_json,
    'eventhub' as source_shape${raw ? ',\n    raw' : ''}
  from recs
)
select *, ${SIGN_IN_COLUMNS.filter((c) => c.sql).map((c) => `${c.sql} as ${c.name}`).join(', ')}, cast(created_at as date) as date, cast(hour(created_at) as integer) as hour from flat`;
}
