import { randomUUID } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import type { SplunkHecSinkConfig } from '../config';
import { DeliveryError, type OutMessage, type Transport } from '../types';
import { bodySnippet, describeNetError, httpClient, jsonValueText, readSecret, retryAfterMs, type HttpResponse } from './net';

/**
 * Splunk HTTP Event Collector. A 200 from /services/collector/event only means Splunk parsed the events; when
 * the answer carries an ackId (indexer acknowledgement on for the token) send() resolves only once
 * /services/collector/ack says that id is indexed. Without an ackId (ack off, or Splunk Cloud without
 * Firehose) the 200 is all the acknowledgement there is: "parsed", not "indexed".
 */

export interface SplunkHecTransportOptions {
  /** Time between two ack polls [default 1000 ms]. */
  ackPollMs?: number;
  /** HEC `host` of every event [default this machine's name]. */
  hostname?: string;
}

/** HEC codes that mean the token is missing, disabled or wrong (Splunk docs, "Troubleshoot HTTP Event Collector"). */
const TOKEN_CODES = new Set([1, 2, 3, 4]);
/** HEC codes that mean this content can never be accepted: no data, invalid format, event missing or blank. */
const CONTENT_CODES = new Set([5, 6, 12, 13]);
const ACK_DISABLED = 14;

interface HecAnswer {
  text?: string;
  code?: number;
  ackId?: number;
  acks?: Record<string, boolean>;
}

function parseAnswer(body: string): HecAnswer {
  try {
    const v: unknown = JSON.parse(body);
    return v && typeof v === 'object' ? (v as HecAnswer) : {};
  } catch {
    return {};
  }
}

export function createSplunkHecTransport(cfg: SplunkHecSinkConfig, opts: SplunkHecTransportOptions = {}): Transport {
  const what = `splunk-hec sink ${cfg.name}`;
  const token = readSecret(what, cfg.tokenEnv, cfg.token, 'token');
  if (!token) throw new Error(`${what}: no HEC token; set tokenEnv to the environment variable that holds it`);
  const base = new URL(cfg.url);
  const prefix = base.pathname.replace(/\/+$/, '');
  const eventUrl = new URL(`${prefix}/services/collector/event`, base);
  // One channel per transport: acks are tracked per channel.
  const channel = randomUUID();
  const ackUrl = new URL(`${prefix}/services/collector/ack?channel=${channel}`, base);
  const client = httpClient(base, cfg, cfg.timeoutMs ?? 30_000, what);
  const endpoint = `Splunk HEC ${client.origin}`;
  const ackTimeoutMs = cfg.ackTimeoutMs ?? 120_000;
  const ackPollMs = opts.ackPollMs ?? 1000;
  const tokenHint = cfg.tokenEnv ? `the token in ${cfg.tokenEnv}` : 'the token in the sink config';
  const headers = { Authorization: `Splunk ${token}`, 'X-Splunk-Request-Channel': channel, 'Content-Type': 'application/json' };
  // Everything but the event, which is spliced in as its rendered text.
  const envelope = { host: opts.hostname ?? osHostname(), source: cfg.source ?? 'reauth-loops', sourcetype: cfg.sourcetype ?? 'reauth-loops:alert', index: cfg.index };
  let closed = false;

  function eventJson(m: OutMessage): string {
    const t = Date.parse(m.alert.emitted_at);
    const time = Number(((Number.isNaN(t) ? Date.now() : t) / 1000).toFixed(3));
    const head = JSON.stringify({ time, ...envelope, fields: { event_id: m.eventId, subject_id: m.alert.subject_id } });
    return `${head.slice(0, -1)},"event":${jsonValueText(m.text)}}`;
  }

  async function post(url: URL, body: string): Promise<HttpResponse> {
    try {
      return await client.post(url, headers, Buffer.from(body, 'utf8'));
    } catch (e) {
      throw new DeliveryError(describeNetError(e, endpoint), { cause: e });
    }
  }

  function hecError(res: HttpResponse, doing: string): DeliveryError {
    const { status } = res;
    const a = parseAnswer(res.body);
    const said = `${endpoint} answered HTTP ${status}${a.code !== undefined ? ` code ${a.code}` : ''} to ${doing}${res.body ? ` (${bodySnippet(a.text ?? res.body)})` : ''}`;
    const retryAfter = retryAfterMs(res.headers['retry-after']);
    if (status === 413) return new DeliveryError(`${said}: the request is over Splunk's max_content_length; the batch will be split`, { tooLarge: true });
    if (status === 401 || status === 403 || (a.code !== undefined && TOKEN_CODES.has(a.code))) {
      return new DeliveryError(`${said}: check ${tokenHint}: it must exist in Splunk, be enabled and allow this index. Alerts stay queued`, { retryAfterMs: retryAfter });
    }
    if (status === 429 || status === 503 || a.code === 9) return new DeliveryError(`${said}: Splunk is busy; will retry`, { retryAfterMs: retryAfter });
    if (status === 400 && a.code === 7) return new DeliveryError(`${said}: check that index ${cfg.index ?? '(default)'} exists and the token may write to it. Alerts stay queued`);
    if (status === 400 && (a.code === undefined || CONTENT_CODES.has(a.code))) return new DeliveryError(`${said}: Splunk refused the content; these alerts are set aside`, { permanent: true });
    if (status === 404 || status === 405) return new DeliveryError(`${said}: check the url in the sink config (the HEC base address, e.g. https://splunk.example.com:8088). Alerts stay queued`);
    return new DeliveryError(`${said}: will retry`, { retryAfterMs: retryAfter });
  }

  /** Resolves once Splunk says ackId is indexed; transient ack-endpoint failures are retried until the deadline. */
  async function waitForAck(ackId: number, count: number): Promise<void> {
    const deadline = Date.now() + ackTimeoutMs;
    const body = JSON.stringify({ acks: [ackId] });
    let last = 'no answer yet';
    for (;;) {
      if (closed) throw new DeliveryError(`${endpoint}: the transport closed before ack ${ackId} came; the batch stays queued`);
      let res: HttpResponse | undefined;
      try {
        res = await post(ackUrl, body);
      } catch (e) {
        last = (e as Error).message;
      }
      if (res) {
        const a = parseAnswer(res.body);
        if (res.status === 200 && a.acks?.[String(ackId)] === true) return;
        // Acks off for this token after all: the event's 200 is the only acknowledgement there is.
        if (a.code === ACK_DISABLED) return;
        if (res.status === 200) last = 'not yet indexed';
        else if (res.status === 401 || res.status === 403 || res.status === 400) throw hecError(res, `an ack poll for ${count} event(s)`);
        else last = `HTTP ${res.status}`;
      }
      if (Date.now() + ackPollMs > deadline) break;
      await new Promise((r) => setTimeout(r, ackPollMs));
    }
    throw new DeliveryError(
      `${endpoint} took ${count} event(s) (ackId ${ackId}) but did not confirm indexing within ${ackTimeoutMs} ms (last poll: ${last}); they will be resent with the same event ids. Check the indexers' health and queue`,
    );
  }

  return {
    // Splunk's default max_content_length is far larger; 1 MB keeps one request cheap to resend.
    limits: { maxMessageBytes: 1_000_000 - 1024, maxBatchMessages: 500, maxBatchBytes: 1_000_000 },
    async send(batch) {
      if (closed) throw new DeliveryError(`${endpoint}: the transport is closed`);
      if (!batch.length) return;
      const res = await post(eventUrl, batch.map(eventJson).join(''));
      if (res.status !== 200) throw hecError(res, `${batch.length} event(s)`);
      const { ackId } = parseAnswer(res.body);
      if (typeof ackId === 'number' && cfg.ack !== false) await waitForAck(ackId, batch.length);
    },
    async close() {
      closed = true;
      client.close();
    },
  };
}
