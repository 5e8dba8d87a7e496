import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { redact, registerSecret } from '../../secrets';
import type { TlsConfig } from '../config';

/*
 * The HTTP and TLS plumbing the network transports share (webhook.ts, splunk-hec.ts, syslog.ts): TLS options
 * with verification on, error descriptions that tell the operator what to check, Retry-After, secrets.
 */

/** TLS client options for every transport: TLS 1.2 or later, verification on unless `tlsVerify: false`. */
export function tlsClientOptions(cfg: TlsConfig, host: string, what: string): tls.ConnectionOptions {
  let ca: string[] | undefined;
  if (cfg.caFile) {
    try {
      // `ca` replaces Node's public roots; keep them so caFile adds a CA rather than replacing the trust store.
      ca = [...tls.rootCertificates, readFileSync(cfg.caFile, 'utf8')];
    } catch (e) {
      throw new Error(`${what}: cannot read caFile ${cfg.caFile} (${(e as NodeJS.ErrnoException).code ?? String(e)}): point it at the PEM file of the CA that signed the receiver's certificate`);
    }
  }
  return {
    ca,
    rejectUnauthorized: cfg.tlsVerify !== false,
    minVersion: 'TLSv1.2',
    // SNI must not carry an IP address (RFC 6066); Node then checks the certificate against the host itself.
    servername: cfg.servername ?? (isIP(host) ? undefined : host),
  };
}

/** One sentence for a connection-level failure that tells the operator what to check. Never quotes a secret. */
export function describeNetError(e: unknown, endpoint: string): string {
  const err = e as NodeJS.ErrnoException & { reason?: string };
  const code = err?.code ?? '';
  // OpenSSL messages span lines and quote source paths; its `reason` is the readable part.
  const msg = (err?.reason ?? err?.message ?? String(e)).split('\n')[0];
  let text: string;
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code)) {
    text = `${endpoint}: the receiver's TLS certificate was refused (${code}: ${msg}); set caFile to the CA that signed it, servername to a name the certificate holds, or (lab only) tlsVerify: false`;
  } else if (/ERR_SSL|EPROTO/.test(code)) {
    text = `${endpoint}: TLS handshake failed (${code}: ${msg}); the receiver must speak TLS 1.2 or later on this port`;
  } else if (code === 'ECONNREFUSED') {
    text = `${endpoint}: connection refused; is the receiver running and listening on this port?`;
  } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    text = `${endpoint}: the host name does not resolve (${code}); check the host in the sink config and DNS`;
  } else if (code === 'ETIMEDOUT') {
    text = `${endpoint}: ${msg}; check the network path and the receiver's load`;
  } else {
    text = `${endpoint}: ${code ? `${code}: ` : ''}${msg}`;
  }
  return redact(text);
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A secret named by an environment variable (preferred) or written in the config; registered for redaction. */
export function readSecret(what: string, envName: string | undefined, inline: string | undefined, field: string): string | undefined {
  let value = inline;
  if (envName) {
    value = process.env[envName];
    if (!value) throw new Error(`${what}: environment variable ${envName} (${field}Env) is not set or empty; set it, or remove ${field}Env`);
  }
  registerSecret(value);
  return value || undefined;
}

/** A rendered text is spliced into a JSON body as is when it is a JSON document, or as a JSON string (a CEF line). */
export function jsonValueText(text: string): string {
  try {
    JSON.parse(text);
    return text;
  } catch {
    return JSON.stringify(text);
  }
}

/** The start of a response body, safe to quote in an error message. */
export function bodySnippet(body: string): string {
  return redact(body.replace(/[\x00-\x1f\x7f]+/g, ' ').trim().slice(0, 200));
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface HttpClient {
  /** scheme://host:port only: paths and queries can hold secrets (webhook URLs often do). */
  origin: string;
  post(url: URL, headers: Record<string, string>, body: Buffer): Promise<HttpResponse>;
  close(): void;
}

/** Keeps response bodies short: we only read status codes and small JSON answers. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export function httpClient(base: URL, tlsCfg: TlsConfig, timeoutMs: number, what: string): HttpClient {
  const secure = base.protocol === 'https:';
  if (!secure && base.protocol !== 'http:') throw new Error(`${what}: url must start with https:// (or http:// for a lab), not ${base.protocol}`);
  const agent = secure ? new https.Agent({ keepAlive: true, ...tlsClientOptions(tlsCfg, base.hostname, what) }) : new http.Agent({ keepAlive: true });
  const origin = `${base.protocol}//${base.host}`;
  return {
    origin,
    post: (url, headers, body) =>
      new Promise<HttpResponse>((resolve, reject) => {
        const req = (secure ? https : http).request(url, { method: 'POST', agent, headers: { ...headers, 'Content-Length': String(body.length) } }, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            if (size < MAX_RESPONSE_BYTES) chunks.push(c);
            size += c.length;
          });
          res.on('end', () => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('close', () => {
            if (!res.complete) fail(Object.assign(new Error('the connection closed before the whole response arrived'), { code: 'ECONNRESET' }));
          });
        });
        const fail = (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        };
        const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
        req.on('error', fail);
        req.end(body);
      }),
    close: () => agent.destroy(),
  };
}

