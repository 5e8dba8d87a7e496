import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { CliError } from '../errors';
import { registerSecret } from '../secrets';
import { queriesDir } from '../sql/queries';
import type { FormatName } from './types';

/**
 * The sinks config file (schemas/sinks-config.schema.json). Secrets (tokens, HMAC keys, connection strings)
 * are named by the environment variable that holds them (`*Env`); they may also be written in the file
 * itself (`token`, `secret`, `connectionString`) when the file is protected like a secret. Either way they are
 * registered with secrets.ts and never printed.
 */
export interface SinksConfig {
  sinks: SinkConfig[];
  /** Defaults for every sink's outbox; a sink may override any of them. */
  outbox?: OutboxConfig;
  retry?: RetryConfig;
}

export interface OutboxConfig {
  /** Folder holding one outbox folder per sink [default: <lake>/_alerts/outbox]. */
  dir?: string;
  /** Most alerts waiting per sink [default 100000]. */
  maxAlerts?: number;
  /** Most bytes waiting per sink, in MB [default 256]. */
  maxMb?: number;
  /** What happens to a new alert when the outbox is full [default drop-oldest]. Every drop is counted and logged. */
  full?: 'drop-oldest' | 'drop-newest';
}

export interface RetryConfig {
  /** First retry after about this long [default 500 ms]; doubles each time, with full jitter. */
  initialMs?: number;
  /** Never wait longer than this between tries [default 60000 ms], unless the receiver's Retry-After says so. */
  maxMs?: number;
}

interface SinkBase {
  /** Unique; used in `sinks status`, `sinks test NAME`, logs and the outbox folder name ([A-Za-z0-9_.-]+). */
  name: string;
  format?: FormatName;
  /** Set false to keep a sink in the file without sending to it. */
  enabled?: boolean;
  outbox?: OutboxConfig;
  /** Only alerts at or above this severity [default medium: all]. */
  minSeverity?: 'medium' | 'high' | 'critical';
}

/** TLS options shared by the sinks that speak TLS. Verification is always on unless `tlsVerify` is false. */
export interface TlsConfig {
  /** PEM file of the CA(s) that signed the receiver's certificate, for private CAs (Splunk's default certs...). */
  caFile?: string;
  /** Set false only for a lab: the receiver's certificate is then not checked (a warning is logged at start). */
  tlsVerify?: boolean;
  /** Name to check the certificate against when it differs from the host. */
  servername?: string;
}

export interface FileSinkConfig extends SinkBase {
  type: 'file';
  /** NDJSON file; rotated to <path>.1, <path>.2 ... */
  path: string;
  /** Rotate when the file passes this size [default 64 MB]. */
  rotateMb?: number;
  /** Rotated files kept [default 5]. */
  keep?: number;
}

export interface StdoutSinkConfig extends SinkBase {
  type: 'stdout';
}

export interface SyslogSinkConfig extends SinkBase, TlsConfig {
  type: 'syslog';
  host: string;
  /** [default 6514 with TLS, 514 without] */
  port?: number;
  /** RFC 5425 TLS [default true]. Plain TCP has no acknowledgement: see the README. */
  tls?: boolean;
  /** format: json (default) or cef. */
  /** RFC 5424 APP-NAME [default reauth-loops]. */
  appName?: string;
  /** RFC 5424 HOSTNAME [default this machine's name]. */
  hostname?: string;
  /** Syslog facility number [default 10, authpriv]. */
  facility?: number;
  /** Largest frame the collector accepts [default 65536; RFC 5425 requires at least 2048]. */
  maxMessageBytes?: number;
}

export interface WebhookSinkConfig extends SinkBase, TlsConfig {
  type: 'webhook';
  url: string;
  /** HMAC-SHA256 key for the signature header. */
  secretEnv?: string;
  secret?: string;
  /** Extra headers (not secrets). */
  headers?: Record<string, string>;
  /** Alerts per request [default 100]; each request is a JSON array. */
  batch?: number;
  timeoutMs?: number;
}

export interface SplunkHecSinkConfig extends SinkBase, TlsConfig {
  type: 'splunk-hec';
  /** e.g. https://splunk.example.com:8088 */
  url: string;
  tokenEnv?: string;
  token?: string;
  index?: string;
  sourcetype?: string;
  source?: string;
  /** Wait for indexer acknowledgement when the endpoint returns an ackId [default true]. */
  ack?: boolean;
  /** Resend a batch whose ack has not come true after this long [default 120000 ms]. */
  ackTimeoutMs?: number;
  timeoutMs?: number;
}

export interface EventHubsSinkConfig extends SinkBase {
  type: 'eventhubs';
  /** Connection string (emulator, or where local auth is on). */
  connectionStringEnv?: string;
  connectionString?: string;
  /** With Microsoft Entra: namespace host and hub name. */
  namespace?: string;
  eventHub?: string;
  credential?: CredentialConfig;
}

export interface SentinelSinkConfig extends SinkBase, TlsConfig {
  type: 'sentinel';
  /** Data collection endpoint (or the DCR's logs ingestion endpoint), e.g. https://my-dce.westeurope-1.ingest.monitor.azure.com */
  endpoint: string;
  /** Immutable id of the data collection rule, dcr-... */
  ruleId: string;
  /** Stream declared in the DCR [default Custom-ReauthLoops_CL]. */
  stream?: string;
  credential?: CredentialConfig;
}

/**
 * Microsoft Entra credential for the Azure sinks. `token` reads a ready bearer token from an environment
 * variable: for emulators and tests only, never production.
 */
export type CredentialConfig =
  | { kind: 'managed-identity'; clientId?: string }
  | { kind: 'workload-identity' }
  | { kind: 'azure-cli' }
  | { kind: 'default' }
  | { kind: 'token'; tokenEnv: string };

export type SinkConfig = FileSinkConfig | StdoutSinkConfig | SyslogSinkConfig | WebhookSinkConfig | SplunkHecSinkConfig | EventHubsSinkConfig | SentinelSinkConfig;

/** Sentinel rows only make sense as Sentinel rows; everything else defaults to the native JSON. */
export function defaultFormat(s: SinkConfig): FormatName {
  return s.type === 'sentinel' ? 'sentinel' : 'json';
}

/**
 * Reads and checks a sinks file against schemas/sinks-config.schema.json, resolves `*Env` secrets from the
 * environment and registers every secret for redaction. Errors say which sink and field to fix.
 */
export async function loadSinksConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<SinksConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new CliError(`Cannot read the sinks file ${path}: ${(e as Error).message}. It is a JSON file; see schemas/sinks-config.schema.json and the README's "Alert feeds" section.`, 2);
  }
  const validate = validator();
  if (!validate(raw)) {
    // A sink that fails its type's rules loses the annotations of that branch, so ajv then also calls its
    // valid keys "unevaluated": only a key no sink type knows is a real typo.
    const errs = (validate.errors ?? [])
      .filter((e) => e.keyword !== 'if' && !(e.keyword === 'unevaluatedProperties' && knownKeys().has(String(e.params.unevaluatedProperty))))
      .slice(0, 8);
    throw new CliError(`The sinks file ${path} is not valid:\n${errs.map((e) => `  ${e.instancePath || '/'} ${e.message}${e.params && 'unevaluatedProperty' in e.params ? `: ${String(e.params.unevaluatedProperty)}` : ''}`).join('\n')}\nSee schemas/sinks-config.schema.json.`, 2);
  }
  const cfg = raw as SinksConfig;
  const names = new Set<string>();
  for (const s of cfg.sinks) {
    if (names.has(s.name)) throw new CliError(`Two sinks are named "${s.name}" in ${path}; names must be unique.`, 2);
    names.add(s.name);
    resolveSecrets(s, env, path);
  }
  return cfg;
}

/** Secrets given by env var name are read here, once; a missing variable is an error now, not at the first alert. */
function resolveSecrets(s: SinkConfig, env: NodeJS.ProcessEnv, path: string): void {
  const need = (name: string | undefined): string | undefined => {
    if (!name) return undefined;
    const v = env[name];
    if (!v && s.enabled !== false) throw new CliError(`Sink "${s.name}" in ${path} reads its secret from the environment variable ${name}, which is not set.`, 2);
    return v;
  };
  switch (s.type) {
    case 'webhook':
      s.secret ??= need(s.secretEnv);
      registerSecret(s.secret);
      break;
    case 'splunk-hec':
      s.token ??= need(s.tokenEnv);
      registerSecret(s.token);
      break;
    case 'eventhubs':
      s.connectionString ??= need(s.connectionStringEnv);
      registerSecret(s.connectionString);
      break;
    default:
      break;
  }
  const cred = 'credential' in s ? s.credential : undefined;
  if (cred?.kind === 'token') registerSecret(need(cred.tokenEnv));
}

let compiled: ValidateFunction | undefined;
let schema: Record<string, unknown> | undefined;
function validator(): ValidateFunction {
  if (!compiled) {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats(ajv);
    schema = JSON.parse(readFileSync(join(queriesDir(), '..', 'schemas', 'sinks-config.schema.json'), 'utf8')) as Record<string, unknown>;
    compiled = ajv.compile(schema);
  }
  return compiled;
}

/** Every key any sink type declares, found by walking the schema's `properties`. */
function knownKeys(): Set<string> {
  const keys = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (!v || typeof v !== 'object') return;
    for (const [k, child] of Object.entries(v)) {
      if (k === 'properties' && child && typeof child === 'object') for (const name of Object.keys(child)) keys.add(name);
      walk(child);
    }
  };
  walk((schema as { $defs?: unknown })?.$defs);
  return keys;
}
