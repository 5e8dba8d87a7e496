/**
 * The lake's flat sign-in row: one definition, used by the normalizer, the Parquet writer,
 * the JSON Schema (schemas/sign-in.schema.json is generated from it and checked by a test)
 * and the README. Order here is column order in Parquet.
 *
 * `outcome` is deliberately not stored: the `sign_ins` view derives it from
 * queries/reference/error_codes.csv, so re-classifying a code never needs a re-import.
 */
export type SqlType = 'VARCHAR' | 'TIMESTAMP' | 'INTEGER' | 'BIGINT' | 'UBIGINT' | 'BOOLEAN' | 'JSON';

export interface ColumnDef {
  readonly name: string;
  readonly type: SqlType;
  readonly doc: string;
  /** Computed by DuckDB when the row lands, from the columns above (never staged from TypeScript). */
  readonly sql?: string;
}

export const SIGN_IN_COLUMNS: readonly ColumnDef[] = [
  { name: 'created_at', type: 'TIMESTAMP', doc: 'Event time in UTC (microseconds): createdDateTime, else the record time.' },
  { name: 'created_at_raw', type: 'VARCHAR', doc: 'The timestamp text exactly as the source wrote it (Entra emits 100 ns).' },
  { name: 'record_time', type: 'TIMESTAMP', doc: 'Diagnostic record time (`time`, `TimeGenerated`) in UTC; null for Graph.' },
  { name: 'log_category', type: 'VARCHAR', doc: 'SignInLogs, NonInteractiveUserSignInLogs, ServicePrincipalSignInLogs, ManagedIdentitySignInLogs, ADFSSignInLogs, ... (Log Analytics and Graph names mapped to these).' },
  { name: 'principal_kind', type: 'VARCHAR', doc: 'user, service_principal or managed_identity. Only users can be prompted.' },
  { name: 'sign_in_id', type: 'VARCHAR', doc: 'Entra sign-in id (`properties.id`, `Id`, `id`).' },
  { name: 'tenant_id', type: 'VARCHAR', doc: 'Entra tenant (`tenantId`, Log Analytics `AADTenantId`; never the workspace).' },
  { name: 'user_id', type: 'VARCHAR', doc: 'User object id.' },
  { name: 'user_principal_name', type: 'VARCHAR', doc: 'UPN, lower-cased.' },
  { name: 'user_display_name', type: 'VARCHAR', doc: 'Display name (hostile text: escape on output).' },
  { name: 'user_type', type: 'VARCHAR', doc: 'Member or Guest.' },
  { name: 'app_id', type: 'VARCHAR', doc: 'Client application id.' },
  { name: 'app_display_name', type: 'VARCHAR', doc: 'Client application name.' },
  { name: 'resource_app_id', type: 'VARCHAR', doc: 'Target resource (`properties.resourceId`, `ResourceIdentity`).' },
  { name: 'resource_display_name', type: 'VARCHAR', doc: 'Target resource name.' },
  { name: 'service_principal_id', type: 'VARCHAR', doc: 'Service principal or managed identity id.' },
  { name: 'service_principal_name', type: 'VARCHAR', doc: 'Service principal or managed identity name.' },
  { name: 'client_app_used', type: 'VARCHAR', doc: 'Browser, Mobile Apps and Desktop clients, Exchange ActiveSync, ...' },
  { name: 'user_agent', type: 'VARCHAR', doc: 'User agent (hostile text: escape on output).' },
  { name: 'ip_address', type: 'VARCHAR', doc: 'Client IP (`ipAddress`, else `callerIpAddress`).' },
  { name: 'country', type: 'VARCHAR', doc: 'Country or region code.' },
  { name: 'city', type: 'VARCHAR', doc: 'City.' },
  { name: 'asn', type: 'INTEGER', doc: 'Autonomous system number.' },
  { name: 'device_id', type: 'VARCHAR', doc: 'Entra device id; null when the log has none (often an empty string at source).' },
  { name: 'device_display_name', type: 'VARCHAR', doc: 'Device name.' },
  { name: 'device_os', type: 'VARCHAR', doc: 'Operating system as logged (Ios, MacOs, Windows10, ...).' },
  { name: 'device_browser', type: 'VARCHAR', doc: 'Browser or client as logged.' },
  { name: 'device_trust_type', type: 'VARCHAR', doc: 'Azure AD joined, registered, ...' },
  { name: 'device_is_compliant', type: 'BOOLEAN', doc: 'Intune compliant.' },
  { name: 'device_is_managed', type: 'BOOLEAN', doc: 'Managed device.' },
  { name: 'error_code', type: 'INTEGER', doc: '`status.errorCode`, else `resultType`; 0 is success.' },
  { name: 'failure_reason', type: 'VARCHAR', doc: '`status.failureReason`, else `resultDescription`.' },
  { name: 'additional_details', type: 'VARCHAR', doc: '`status.additionalDetails`.' },
  { name: 'is_interactive', type: 'BOOLEAN', doc: 'Interactive sign-in (from the flag, else the category).' },
  { name: 'correlation_id', type: 'VARCHAR', doc: 'Client-supplied correlation id: a hint, never trusted alone.' },
  { name: 'original_request_id', type: 'VARCHAR', doc: 'Original request id.' },
  { name: 'session_id', type: 'VARCHAR', doc: 'Entra session id (2025 and later).' },
  { name: 'incoming_token_type', type: 'VARCHAR', doc: 'none, primaryRefreshToken, refreshToken, ...' },
  { name: 'authentication_requirement', type: 'VARCHAR', doc: 'singleFactorAuthentication or multiFactorAuthentication.' },
  { name: 'conditional_access_status', type: 'VARCHAR', doc: 'success, failure, notApplied.' },
  { name: 'token_issuer_type', type: 'VARCHAR', doc: 'AzureAD, ADFederationServices, AzureADBackupAuth, ...' },
  { name: 'risk_state', type: 'VARCHAR', doc: 'Risk state.' },
  { name: 'risk_level_during_sign_in', type: 'VARCHAR', doc: 'Risk level during sign-in.' },
  { name: 'processing_time_ms', type: 'INTEGER', doc: 'Processing time in ms.' },
  { name: 'is_cae_token', type: 'BOOLEAN', doc: 'Processing detail "Is CAE Token".' },
  { name: 'auth_methods', type: 'VARCHAR', doc: 'Distinct authentication methods of the steps, in order, joined by ", " (e.g. "Password, Mobile app notification"; "Previously satisfied" alone means silent SSO).' },
  { name: 'auth_details_json', type: 'JSON', doc: 'authenticationDetails as JSON.' },
  { name: 'ca_policies_json', type: 'JSON', doc: 'appliedConditionalAccessPolicies as JSON.' },
  { name: 'source_shape', type: 'VARCHAR', doc: 'eventhub (diagnostic record), log_analytics or graph.' },
  { name: 'source', type: 'VARCHAR', doc: 'Where the record came from: file path, or eventhub://namespace/hub/partition.' },
  { name: 'eh_partition', type: 'VARCHAR', doc: 'Event Hubs partition (streaming only).' },
  { name: 'eh_sequence_number', type: 'BIGINT', doc: 'Event Hubs sequence number (streaming only).' },
  { name: 'eh_enqueued_time', type: 'TIMESTAMP', doc: 'Event Hubs enqueued time (streaming only).' },
  { name: 'record_key', type: 'VARCHAR', doc: 'Dedupe key: hash of (category, sign-in id, created_at, error code); of the raw record when there is no id.' },
  {
    name: 'session_key',
    type: 'UBIGINT',
    doc: 'Hash of user, app and device: the partition key of prompt flows, stored so detection reads one number instead of five strings.',
    sql: "hash(coalesce(user_id, user_principal_name), coalesce(app_id, app_display_name, ''), coalesce(device_id, ''))",
  },
  {
    name: 'user_app_key',
    type: 'UBIGINT',
    doc: 'Hash of user and app: ties background token refusals to a loop on any device.',
    sql: "hash(coalesce(user_id, user_principal_name), coalesce(app_id, app_display_name, ''))",
  },
  { name: 'ingested_at', type: 'TIMESTAMP', doc: 'When this row was landed.' },
  { name: 'raw', type: 'JSON', doc: 'The source record as received, for re-normalization and evidence.' },
];

/** Hive partition columns, derived from created_at only (never from a log field). */
export const PARTITION_COLUMNS = ['date', 'hour'] as const;

/** A row as staged for DuckDB. JSON columns hold the nested value itself, not its text, so it is encoded once. */
export type SignInRow = Record<string, string | number | boolean | null | object>;

/** DuckDB `columns={...}` for read_json over staged rows (all but `raw`, staged apart, and the SQL-derived keys). Names are ours, not input. */
export function duckdbColumnsLiteral(): string {
  const body = SIGN_IN_COLUMNS.filter((c) => c.name !== 'raw' && !c.sql).map((c) => `${c.name}: '${c.type}'`);
  return `{${[...body, "date: 'DATE'", "hour: 'INTEGER'"].join(', ')}}`;
}
