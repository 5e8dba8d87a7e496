import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { makeCerts, Restartable, type TestCerts } from './receivers';

/** Certificates from receivers.ts's makeCerts, in a temp folder of their own. */
async function ownCerts(): Promise<TestCerts & { cleanup: () => void }> {
  // Not test/support/tmp.ts: that module loads DuckDB, which a TLS receiver has no use for.
  const dir = mkdtempSync(join(tmpdir(), 'reauth-certs-'));
  return { ...(await makeCerts(dir)), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export type DceFailure = 400 | 401 | 403 | 413 | 429 | 503;

export interface DceRequest {
  ruleId: string;
  stream: string;
  apiVersion: string | null;
  status: number;
  /** Rows in the call (0 when it was refused before parsing). */
  rows: number;
  /** Body bytes after gunzip. */
  bytes: number;
  authorized: boolean;
}

/**
 * A local HTTPS Data Collection Endpoint that speaks the Logs Ingestion API as @azure/monitor-ingestion calls
 * it: POST /dataCollectionRules/{ruleId}/streams/{stream}?api-version=..., `Authorization: Bearer <token>`,
 * `Content-Encoding: gzip`, a JSON array of row objects; 204 on success. It enforces the 1 MB call limit (413),
 * checks the token (401), and plays scripted failures with Azure's error body shape.
 */
export interface DceReceiver {
  /** https://127.0.0.1:<port> */
  endpoint: string;
  caFile: string;
  token: string;
  /** Rows accepted for one rule and stream, in arrival order. */
  rows: (ruleId: string, stream: string) => Record<string, unknown>[];
  requests: DceRequest[];
  /** The next `count` requests answer `status` (429 and 503 with Retry-After: retryAfterSeconds, default 1). */
  failNext: (status: DceFailure, count?: number, retryAfterSeconds?: number) => void;
  /** Down (open connections destroyed) and back on the same port, as an outage. */
  stop: () => Promise<void>;
  restart: () => Promise<void>;
  close: () => Promise<void>;
}

const MAX_CALL_BYTES = 1024 * 1024;
const ROUTE = /^\/dataCollectionRules\/([^/]+)\/streams\/([^/]+)$/;

export async function startDce(opts: { token?: string; certs?: TestCerts } = {}): Promise<DceReceiver> {
  const token = opts.token ?? 'dce-test-token';
  const own = opts.certs ? null : await ownCerts();
  const certs = opts.certs ?? own!;
  const accepted = new Map<string, Record<string, unknown>[]>();
  const requests: DceRequest[] = [];
  const script: { status: DceFailure; retryAfter: number }[] = [];

  const answer = (res: ServerResponse, status: number, code?: string, message?: string, headers: Record<string, string> = {}) => {
    if (status === 204) return void res.writeHead(204, headers).end();
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify({ error: { code, message } }));
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const url = new URL(req.url ?? '/', 'https://dce');
    const m = ROUTE.exec(url.pathname);
    const ruleId = m ? decodeURIComponent(m[1]) : '';
    const stream = m ? decodeURIComponent(m[2]) : '';
    const authorized = req.headers.authorization === `Bearer ${token}`;
    const record: DceRequest = { ruleId, stream, apiVersion: url.searchParams.get('api-version'), status: 0, rows: 0, bytes: 0, authorized };
    requests.push(record);
    const reply = (status: number, code?: string, message?: string, headers?: Record<string, string>) => {
      record.status = status;
      answer(res, status, code, message, headers);
    };
    if (req.method !== 'POST' || !m) return reply(404, 'NotFound', `No such route: ${req.method} ${url.pathname}`);
    if (!record.apiVersion) return reply(400, 'MissingApiVersionParameter', 'The api-version query parameter is required.');
    if (!authorized) return reply(401, 'InvalidToken', 'The provided access token is invalid or expired.');
    const scripted = script.shift();
    if (scripted) {
      const { status, retryAfter } = scripted;
      const headers: Record<string, string> = status === 429 || status === 503 ? { 'retry-after': String(retryAfter) } : {};
      const codes: Record<DceFailure, string> = { 400: 'InvalidStream', 401: 'InvalidToken', 403: 'OperationFailed', 413: 'ContentLengthLimitExceeded', 429: 'TooManyRequests', 503: 'ServiceUnavailable' };
      return reply(status, codes[status], `Scripted failure ${status}.`, headers);
    }
    if (req.headers['content-encoding'] !== 'gzip') return reply(400, 'InvalidContentEncoding', 'Expected Content-Encoding: gzip.');
    if (!/^application\/json/.test(req.headers['content-type'] ?? '')) return reply(415, 'UnsupportedMediaType', 'Expected application/json.');
    let text: string;
    try {
      text = gunzipSync(body).toString('utf8');
    } catch {
      return reply(400, 'InvalidPayload', 'The body is not valid gzip.');
    }
    record.bytes = Buffer.byteLength(text);
    if (record.bytes > MAX_CALL_BYTES) return reply(413, 'ContentLengthLimitExceeded', `The call holds ${record.bytes} bytes; the limit is 1 MB.`);
    let rows: unknown;
    try {
      rows = JSON.parse(text);
    } catch {
      return reply(400, 'InvalidPayload', 'The body is not JSON.');
    }
    if (!Array.isArray(rows) || rows.some((r) => !r || typeof r !== 'object' || Array.isArray(r))) return reply(400, 'InvalidPayload', 'The body must be a JSON array of objects.');
    record.rows = rows.length;
    const key = `${ruleId}\u0000${stream}`;
    accepted.set(key, [...(accepted.get(key) ?? []), ...(rows as Record<string, unknown>[])]);
    reply(204);
  };

  const server: Server = createServer(certs.good, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  const r = new Restartable(server);
  await r.start();
  const port = r.port;
  return {
    endpoint: `https://127.0.0.1:${port}`,
    caFile: certs.caFile,
    token,
    rows: (ruleId, stream) => accepted.get(`${ruleId}\u0000${stream}`) ?? [],
    requests,
    failNext: (status, count = 1, retryAfterSeconds = 1) => {
      for (let i = 0; i < count; i++) script.push({ status, retryAfter: retryAfterSeconds });
    },
    stop: () => r.stop(),
    restart: () => r.restart(),
    close: async () => {
      await r.stop();
      own?.cleanup();
    },
  };
}
