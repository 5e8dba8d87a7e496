import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { WebhookSinkConfig } from '../config';
import { DeliveryError, type OutMessage, type Transport } from '../types';
import { bodySnippet, describeNetError, httpClient, jsonValueText, readSecret, retryAfterMs, type HttpResponse } from './net';

/* The generic HTTPS webhook: one JSON array of alerts per request, signed with HMAC-SHA256. */

/** Most texts in one webhook message; HTTP 413 makes the caller split further. */
const WEBHOOK_MAX_MESSAGE_BYTES = 1024 * 1024;
const WEBHOOK_MAX_BATCH_BYTES = 5 * 1024 * 1024;

/**
 * POSTs each batch as one JSON array of the rendered texts. With a secret, the receiver can check
 * `X-Reauth-Signature: sha256=<hex HMAC-SHA256(secret, "<X-Reauth-Timestamp>.<body>")>` and refuse stale timestamps;
 * `Idempotency-Key` is the same on every retry of the same batch, so a receiver can drop redeliveries.
 */
export function createWebhookTransport(cfg: WebhookSinkConfig): Transport {
  const what = `webhook sink ${cfg.name}`;
  const url = new URL(cfg.url);
  const secret = readSecret(what, cfg.secretEnv, cfg.secret, 'secret');
  const timeoutMs = cfg.timeoutMs ?? 10_000;
  const extra = cfg.headers ?? {};
  for (const [k, v] of Object.entries(extra)) {
    try {
      http.validateHeaderName(k);
      http.validateHeaderValue(k, v);
    } catch {
      throw new Error(`${what}: header ${JSON.stringify(k)} is not a valid HTTP header name/value (no spaces in names, no line breaks in values)`);
    }
  }
  const client = httpClient(url, cfg, timeoutMs, what);
  const endpoint = `webhook ${client.origin}`;
  let closed = false;

  return {
    limits: { maxMessageBytes: WEBHOOK_MAX_MESSAGE_BYTES, maxBatchMessages: cfg.batch ?? 100, maxBatchBytes: WEBHOOK_MAX_BATCH_BYTES },
    async send(batch: OutMessage[]) {
      if (closed) throw new DeliveryError(`${endpoint}: the transport is closed`);
      if (!batch.length) return;
      const body = Buffer.from(`[${batch.map((m) => jsonValueText(m.text)).join(',')}]`, 'utf8');
      const timestamp = String(Math.floor(Date.now() / 1000));
      const headers: Record<string, string> = {
        ...extra,
        'Content-Type': 'application/json',
        'X-Reauth-Timestamp': timestamp,
        'Idempotency-Key': createHash('sha256').update(batch.map((m) => m.eventId).join(',')).digest('hex'),
      };
      if (secret) {
        const hmac = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
        headers['X-Reauth-Signature'] = `sha256=${hmac}`;
      }
      let res: HttpResponse;
      try {
        res = await client.post(url, headers, body);
      } catch (e) {
        throw new DeliveryError(describeNetError(e, endpoint), { cause: e });
      }
      if (res.status >= 200 && res.status < 300) return;
      throw webhookError(res, endpoint, batch.length);
    },
    async close() {
      closed = true;
      client.close();
    },
  };
}

function webhookError(res: HttpResponse, endpoint: string, count: number): DeliveryError {
  const { status } = res;
  const said = `${endpoint} answered HTTP ${status} to ${count} alert(s)${res.body ? ` (${bodySnippet(res.body)})` : ''}`;
  const retryAfter = retryAfterMs(res.headers['retry-after']);
  if (status === 413) return new DeliveryError(`${said}: the request is too large; the batch will be split`, { tooLarge: true });
  if (status === 401 || status === 403) {
    return new DeliveryError(`${said}: the receiver refused our credentials; check the secret (secretEnv or secret) and headers in the sink config and the receiver's settings. Alerts stay queued`, { retryAfterMs: retryAfter });
  }
  if (status === 404 || status === 405) return new DeliveryError(`${said}: check the url in the sink config. Alerts stay queued`, { retryAfterMs: retryAfter });
  if (status >= 300 && status < 400) return new DeliveryError(`${said}: redirects are not followed; set url to the address it redirects to. Alerts stay queued`);
  if (status === 408 || status === 429 || status >= 500) return new DeliveryError(`${said}: will retry`, { retryAfterMs: retryAfter });
  return new DeliveryError(`${said}: the receiver refused the content; these alerts are set aside`, { permanent: true });
}
