import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { LogsIngestionClient, isAggregateLogsUploadError, type LogsIngestionClientOptions } from '@azure/monitor-ingestion';
import { CliError } from '../../errors';
import { describeAzureError } from '../../sources/eventhub';
import type { SentinelSinkConfig } from '../config';
import { DeliveryError, type OutMessage, type Transport } from '../types';
import { sinkCredential } from './credential';

const DEFAULT_STREAM = 'Custom-ReauthLoops_CL';
/** The SDK waits out a Retry-After up to this long itself; a longer one goes back to the caller's backoff. */
const MAX_SDK_WAIT_MS = 5_000;
/** One send() never takes longer than this, SDK retries included. */
const SEND_TIMEOUT_MS = 60_000;
/** @azure/core-rest-pipeline's PipelinePolicy, named through the client's options (core-rest-pipeline is not our dependency). */
type PipelinePolicy = NonNullable<LogsIngestionClientOptions['additionalPolicies']>[number]['policy'];

/**
 * Sentinel through the Azure Monitor Logs Ingestion API: each message is one row (the "sentinel" format
 * renders a flat JSON object) of the DCR's stream. The SDK splits the rows into ~1 MB calls, gzips them and
 * retries 429/503/5xx a couple of times; what still fails comes back as one DeliveryError for the batch.
 */
export function createSentinelTransport(cfg: SentinelSinkConfig): Transport {
  const stream = cfg.stream ?? DEFAULT_STREAM;
  if (!/^https:\/\//i.test(cfg.endpoint)) throw new CliError(`Sink ${cfg.name}: endpoint must be an https:// URL (the SDK sends its bearer token over TLS only), got ${cfg.endpoint}.`, 2);
  const ca = cfg.caFile ? readCa(cfg) : undefined;
  // The SDK's agent option installs its agentPolicy, which sets request.agent; its node HTTP client then uses
  // our agent instead of its own, so a private CA or a lab's tlsVerify:false reach the TLS handshake.
  const agent = ca || cfg.tlsVerify === false || cfg.servername ? new Agent({ keepAlive: true, ca, rejectUnauthorized: cfg.tlsVerify !== false, servername: cfg.servername }) : undefined;
  let client: Promise<LogsIngestionClient> | undefined;
  const open = () =>
    (client ??= sinkCredential(cfg.credential).then(
      (credential) =>
        new LogsIngestionClient(cfg.endpoint, credential, {
          agent,
          retryOptions: { maxRetries: 2, retryDelayInMs: 500, maxRetryDelayInMs: 5_000 },
          additionalPolicies: [{ policy: longRetryAfterPolicy, position: 'perRetry' }],
        }),
    ));

  return {
    // The API takes 1 MB per call (the SDK splits a batch into calls of under 1,000,000 bytes of rows) and
    // truncates any field over 64 KB, which the format has to avoid; one row must fit one call.
    limits: { maxMessageBytes: 990_000, maxBatchMessages: 5_000, maxBatchBytes: 4_000_000 },
    async send(batch: OutMessage[]): Promise<void> {
      if (batch.length === 0) return;
      const rows = batch.map((m) => toRow(m, cfg.name));
      try {
        // Partial failure: the chunks that made it are in the table, and the caller resends the whole batch.
        // Rows carry their EventId, so duplicates can be dropped in KQL (summarize arg_max by EventId).
        await (await open()).upload(cfg.ruleId, stream, rows, { abortSignal: AbortSignal.timeout(SEND_TIMEOUT_MS) });
      } catch (e) {
        throw toDeliveryError(e, cfg, stream);
      }
    },
    async close(): Promise<void> {
      agent?.destroy();
    },
  };
}

function readCa(cfg: SentinelSinkConfig): Buffer {
  try {
    return readFileSync(cfg.caFile!);
  } catch (e) {
    throw new CliError(`Sink ${cfg.name}: cannot read caFile ${cfg.caFile}: ${(e as Error).message}`, 2);
  }
}

function toRow(m: OutMessage, sink: string): Record<string, unknown> {
  let row: unknown;
  try {
    row = JSON.parse(m.text);
  } catch {
    row = undefined;
  }
  if (!row || typeof row !== 'object' || Array.isArray(row)) {
    throw new DeliveryError(`Sentinel sink ${sink}: alert ${m.eventId} is not a JSON object, so it cannot be a Logs Ingestion row: use format "sentinel" for this sink.`, { permanent: true });
  }
  return row as Record<string, unknown>;
}

/**
 * The SDK would sleep through any Retry-After (minutes, if the DCR is throttled hard) inside one send().
 * A long one is handed back instead: thrown as a non-REST error, which the retry policy passes straight up.
 */
const longRetryAfterPolicy: PipelinePolicy = {
  name: 'reauthLoopsLongRetryAfter',
  async sendRequest(request, next) {
    const response = await next(request);
    const waitMs = retryAfterMs(response.headers.get.bind(response.headers), response.status);
    if (waitMs !== undefined && waitMs > MAX_SDK_WAIT_MS) {
      throw new DeliveryError(`Logs Ingestion answered HTTP ${response.status} and asks to wait ${Math.ceil(waitMs / 1000)} s (a DCR takes 12,000 requests and 2 GB a minute).`, { retryAfterMs: waitMs });
    }
    return response;
  },
};

function retryAfterMs(header: (name: string) => string | undefined, status: number | undefined): number | undefined {
  if (status !== 429 && status !== 503) return undefined;
  const ms = Number(header('retry-after-ms') ?? header('x-ms-retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return ms;
  const v = header('retry-after');
  if (!v) return undefined;
  const seconds = Number(v);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

function toDeliveryError(e: unknown, cfg: SentinelSinkConfig, stream: string): DeliveryError {
  if (e instanceof DeliveryError) return e;
  if (e instanceof CliError) return new DeliveryError(e.message, { cause: e });
  // upload() collects one failure per 1 MB call; the worst one decides what the caller does with the batch.
  const causes = isAggregateLogsUploadError(e) ? e.errors.map((f) => f.cause) : [e];
  const failedRows = isAggregateLogsUploadError(e) ? e.errors.reduce((n, f) => n + f.failedLogs.length, 0) : undefined;
  const errs = causes.map((c) => describeCause(c, cfg, stream));
  const pick = errs.find((x) => x.permanent) ?? errs.find((x) => x.tooLarge) ?? errs.find((x) => x.retryAfterMs !== undefined) ?? errs[0];
  const prefix = failedRows === undefined ? '' : `${failedRows} row(s) in ${errs.length} call(s) failed; `;
  return new DeliveryError(`Sentinel sink ${cfg.name}: ${prefix}${pick.message}`, { permanent: pick.permanent, tooLarge: pick.tooLarge, retryAfterMs: pick.retryAfterMs, cause: e });
}

function describeCause(c: unknown, cfg: SentinelSinkConfig, stream: string): DeliveryError {
  if (c instanceof DeliveryError) return c;
  const err = c as { statusCode?: number; name?: string; code?: string; response?: { headers: { get(name: string): string | undefined } } };
  // Without its final period: a hint follows.
  const what = describeAzureError(c).replace(/\.+$/, '');
  switch (err.statusCode) {
    case 400:
      return new DeliveryError(`${what}. The rows do not match stream ${stream} of DCR ${cfg.ruleId}: compare the DCR's stream declaration with schemas/mappings/sentinel-table.json.`, { permanent: true });
    case 401:
    case 403:
      return new DeliveryError(`${what}. Give this sink's identity the "Monitoring Metrics Publisher" role on DCR ${cfg.ruleId}, and check the credential (roles take up to 30 minutes to apply).`);
    case 404:
      return new DeliveryError(`${what}. Check the endpoint ${cfg.endpoint}, ruleId (the DCR's immutable id, dcr-...) and stream ${stream}.`);
    case 413:
      return new DeliveryError(`${what}. The call was over the 1 MB Logs Ingestion limit: send fewer alerts at a time.`, { tooLarge: true });
    case 429:
    case 503:
      return new DeliveryError(`${what}. Logs Ingestion is throttling this DCR or briefly unavailable; the SDK's retries were not enough.`, { retryAfterMs: err.response ? retryAfterMs((n) => err.response!.headers.get(n), err.statusCode) : undefined });
  }
  if (/CredentialUnavailable|AuthenticationError/.test(err.name ?? '')) {
    return new DeliveryError(`${what}. No Microsoft Entra token: check this sink's credential setting (${cfg.credential?.kind ?? 'managed-identity'}).`);
  }
  if (err.name === 'AbortError') return new DeliveryError(`no answer from ${cfg.endpoint} within ${SEND_TIMEOUT_MS / 1000} s (retries included).`);
  const tls = /certificate|self[- ]signed|unable to verify|CERT_|DEPTH_ZERO/i.test(`${err.code ?? ''} ${what}`);
  return new DeliveryError(`${what}.${tls ? ` The endpoint's TLS certificate is not trusted: for a private CA set caFile on sink ${cfg.name}.` : ` Check that ${cfg.endpoint} is reachable.`}`);
}
