import { createHmac, timingSafeEqual } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { generate } from 'selfsigned';

/**
 * Local stand-ins for SIEM endpoints, for the tests and `npm run bench:alerts` (like dev-hub for Event Hubs).
 * Real receivers for the network transports, on 127.0.0.1 and a free port: a syslog collector (TCP or TLS,
 * RFC 6587 octet counting, RFC 5424 parsing), a signed-webhook endpoint and a Splunk HEC endpoint with indexer
 * acknowledgement. Each records what it got, can be scripted to fail, and can be stopped and restarted on the
 * same port (open connections are destroyed, as when the process dies).
 */

export interface ServerKeys {
  key: string;
  cert: string;
}

export interface TestCerts {
  /** PEM file of the test CA, for caFile. */
  caFile: string;
  /** Signed by the test CA, for 127.0.0.1 and localhost. */
  good: ServerKeys;
  /** Self-signed for the same names, unrelated to the CA: must be refused. */
  bad: ServerKeys;
}

/** Makes a CA, a server certificate it signs and an unrelated self-signed one; writes the CA to dir/ca.pem. */
export async function makeCerts(dir: string): Promise<TestCerts> {
  const names = { name: 'subjectAltName' as const, altNames: [{ type: 2 as const, value: 'localhost' }, { type: 7 as const, ip: '127.0.0.1' }] };
  const server = [{ name: 'basicConstraints' as const, cA: false }, { name: 'keyUsage' as const, digitalSignature: true, keyEncipherment: true }, { name: 'extKeyUsage' as const, serverAuth: true }, names];
  const ca = await generate([{ name: 'commonName', value: 'reauth-loops test CA' }], {
    algorithm: 'sha256',
    extensions: [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }],
  });
  const [good, bad] = await Promise.all([
    generate([{ name: 'commonName', value: 'localhost' }], { algorithm: 'sha256', ca: { key: ca.private, cert: ca.cert }, extensions: server }),
    generate([{ name: 'commonName', value: 'localhost' }], { algorithm: 'sha256', extensions: server }),
  ]);
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, ca.cert);
  return { caFile, good: { key: good.private, cert: good.cert }, bad: { key: bad.private, cert: bad.cert } };
}

/** A listening server that can be stopped and restarted on its first port, destroying open connections on stop. */
export class Restartable {
  port = 0;
  private readonly sockets = new Set<net.Socket>();
  constructor(readonly server: net.Server) {
    server.on('connection', (s: net.Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as net.AddressInfo).port;
  }
  async stop(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}

async function waitUntil(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ---------------------------------------------------------------------------------------------- syslog

export interface SyslogFrame {
  /** Connection number (1 = first accepted), to see reconnects. */
  connection: number;
  /** The MSG-LEN field as sent. */
  declaredLength: number;
  /** The exact message bytes that followed `MSG-LEN SP`. */
  bytes: Buffer;
  pri: number;
  facility: number;
  severity: number;
  version: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  /** SD-ID -> param -> value, unescaped. */
  sd: Record<string, Record<string, string>>;
  /** MSG without the BOM. */
  msg: string;
  bom: boolean;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Parses one RFC 5424 message; throws on anything malformed. */
export function parseRfc5424(bytes: Buffer): Omit<SyslogFrame, 'connection' | 'declaredLength' | 'bytes'> {
  const text = bytes.toString('utf8');
  const head = /^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(text);
  if (!head) throw new Error(`bad RFC 5424 header: ${JSON.stringify(text.slice(0, 80))}`);
  const pri = Number(head[1]);
  let i = head[0].length;
  const sd: Record<string, Record<string, string>> = {};
  if (text[i] === '-') i++;
  else {
    while (text[i] === '[') {
      const id = /^\[([^ =\]"]+)/.exec(text.slice(i));
      if (!id) throw new Error(`bad SD-ID at ${i}`);
      i += id[0].length;
      const params: Record<string, string> = {};
      while (text[i] === ' ') {
        const name = /^ ([^ =\]"]+)="/.exec(text.slice(i));
        if (!name) throw new Error(`bad SD-PARAM at ${i}`);
        i += name[0].length;
        let value = '';
        for (;;) {
          const c = text[i++];
          if (c === undefined) throw new Error('unterminated SD-PARAM');
          if (c === '"') break;
          // RFC 5424 §6.3.3: only \" \\ \] are escapes; any other backslash is literal.
          if (c === '\\' && (text[i] === '"' || text[i] === '\\' || text[i] === ']')) value += text[i++];
          else value += c;
        }
        params[name[1]] = value;
      }
      if (text[i++] !== ']') throw new Error(`SD-ELEMENT not closed at ${i - 1}`);
      sd[id[1]] = params;
    }
  }
  let msgBytes: Buffer = Buffer.alloc(0);
  if (i < text.length) {
    if (text[i] !== ' ') throw new Error(`no space before MSG at ${i}`);
    msgBytes = bytes.subarray(Buffer.byteLength(text.slice(0, i + 1), 'utf8'));
  }
  const bom = msgBytes.subarray(0, 3).equals(BOM);
  return {
    pri,
    facility: pri >> 3,
    severity: pri & 7,
    version: Number(head[2]),
    timestamp: head[3],
    hostname: head[4],
    appName: head[5],
    procId: head[6],
    msgId: head[7],
    sd,
    msg: (bom ? msgBytes.subarray(3) : msgBytes).toString('utf8'),
    bom,
  };
}

export interface SyslogReceiver {
  port: number;
  frames: SyslogFrame[];
  /** Framing or parse errors (a test expects none). */
  errors: string[];
  /** TLS handshakes that failed on the server side (a refused client shows up here). */
  tlsErrors: string[];
  connections: number;
  /** The next connection is destroyed right after its n-th frame; frames behind it in the same read are dropped, as a crash would. */
  killNextConnectionAfter(n: number): void;
  waitForFrames(n: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

export async function startSyslogReceiver(opts: { tls?: ServerKeys } = {}): Promise<SyslogReceiver> {
  let killAfter: number | undefined;
  const onSocket = (s: net.Socket) => {
    const connection = ++rx.connections;
    const limit = killAfter;
    killAfter = undefined;
    let count = 0;
    let buf: Buffer = Buffer.alloc(0);
    s.on('error', () => undefined);
    s.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      for (;;) {
        const sp = buf.indexOf(0x20);
        if (sp < 0) {
          if (buf.length > 10) fail(`no MSG-LEN in ${JSON.stringify(buf.subarray(0, 20).toString('latin1'))}`);
          return;
        }
        const lenText = buf.subarray(0, sp).toString('latin1');
        if (!/^[1-9]\d{0,8}$/.test(lenText)) return fail(`bad MSG-LEN ${JSON.stringify(lenText)}`);
        const len = Number(lenText);
        if (buf.length < sp + 1 + len) return;
        const bytes = Buffer.from(buf.subarray(sp + 1, sp + 1 + len));
        buf = buf.subarray(sp + 1 + len);
        try {
          rx.frames.push({ connection, declaredLength: len, bytes, ...parseRfc5424(bytes) });
        } catch (e) {
          rx.errors.push(`connection ${connection}: ${(e as Error).message}`);
        }
        if (limit !== undefined && ++count >= limit) {
          s.destroy();
          return;
        }
      }
    });
    const fail = (why: string) => {
      rx.errors.push(`connection ${connection}: ${why}`);
      s.destroy();
    };
  };
  const server = opts.tls ? tls.createServer({ ...opts.tls, minVersion: 'TLSv1.2' }, onSocket) : net.createServer(onSocket);
  server.on('tlsClientError', (e: Error) => rx.tlsErrors.push(e.message));
  const r = new Restartable(server);
  await r.start();
  const rx: SyslogReceiver = {
    port: r.port,
    frames: [],
    errors: [],
    tlsErrors: [],
    connections: 0,
    killNextConnectionAfter: (n) => {
      killAfter = n;
    },
    waitForFrames: (n, timeoutMs = 5000) => waitUntil(`${n} syslog frames (have ${rx.frames.length})`, () => rx.frames.length >= n, timeoutMs),
    stop: () => r.stop(),
    restart: () => r.restart(),
  };
  return rx;
}

// ---------------------------------------------------------------------------------------------- HTTP

export interface ScriptedResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The status we answered. */
  status: number;
}

export interface HttpReceiver<R extends ReceivedRequest = ReceivedRequest> {
  url: string;
  port: number;
  requests: R[];
  /** Answer the next requests with these, in order, before handling them normally. */
  script(...responses: ScriptedResponse[]): void;
  /** Answer 413 to any body over this many bytes. */
  maxBodyBytes?: number;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, body: string) => ScriptedResponse;

/** `describe` adds receiver-specific fields to every record, scripted answers included. */
async function startHttpReceiver<R extends ReceivedRequest>(
  tlsKeys: ServerKeys | undefined,
  handle: Handler,
  describe: (req: http.IncomingMessage, body: string) => Omit<R, keyof ReceivedRequest>,
): Promise<HttpReceiver<R>> {
  const scripted: ScriptedResponse[] = [];
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      let out: ScriptedResponse;
      if (scripted.length) out = scripted.shift() as ScriptedResponse;
      else if (rx.maxBodyBytes !== undefined && raw.length > rx.maxBodyBytes) out = { status: 413, body: '{"text":"Content too large","code":413}' };
      else out = handle(req, body);
      rx.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, status: out.status, ...describe(req, body) } as R);
      res.writeHead(out.status, { 'Content-Type': 'application/json', ...out.headers });
      res.end(out.body ?? '');
    });
  };
  const server = tlsKeys ? https.createServer({ ...tlsKeys, minVersion: 'TLSv1.2' }, onRequest) : http.createServer(onRequest);
  const r = new Restartable(server);
  await r.start();
  const rx: HttpReceiver<R> = {
    url: `${tlsKeys ? 'https' : 'http'}://127.0.0.1:${r.port}`,
    port: r.port,
    requests: [],
    script: (...responses) => void scripted.push(...responses),
    stop: () => r.stop(),
    restart: () => r.restart(),
  };
  return rx;
}

export interface WebhookRequest extends ReceivedRequest {
  /** X-Reauth-Signature matched HMAC-SHA256(secret, timestamp + "." + body). */
  verified: boolean;
  /** The parsed JSON array (undefined when the body was not JSON). */
  items?: unknown[];
}

export type WebhookReceiver = HttpReceiver<WebhookRequest>;

/** POST to any path: records the body and whether its signature verified; 401 when a secret is set and it does not. */
export async function startWebhookReceiver(opts: { secret?: string; tls?: ServerKeys } = {}): Promise<WebhookReceiver> {
  const verify = (req: http.IncomingMessage, body: string): boolean => {
    const ts = req.headers['x-reauth-timestamp'];
    const sig = req.headers['x-reauth-signature'];
    if (!opts.secret || typeof ts !== 'string' || typeof sig !== 'string') return false;
    const want = Buffer.from(`sha256=${createHmac('sha256', opts.secret).update(`${ts}.${body}`).digest('hex')}`);
    const got = Buffer.from(sig);
    return got.length === want.length && timingSafeEqual(got, want);
  };
  const parse = (body: string): unknown[] | undefined => {
    try {
      return JSON.parse(body) as unknown[];
    } catch {
      return undefined;
    }
  };
  return startHttpReceiver<WebhookRequest>(
    opts.tls,
    (req, body) => (opts.secret && !verify(req, body) ? { status: 401, body: '{"error":"bad signature"}' } : { status: 200, body: '{"ok":true}' }),
    (req, body) => ({ verified: verify(req, body), items: parse(body) }),
  );
}

export interface HecReceiver extends HttpReceiver {
  /** Every event of every 200 answer, parsed, with the ackId it was given (when acks are on). */
  events: Array<{ ackId?: number; channel?: string; event: Record<string, unknown> }>;
  /** The event endpoint returns ackIds [default true]. */
  acks: boolean;
  /** An ack becomes true this long after its events arrived [default 0]. */
  ackDelayMs: number;
  /** Acks never become true (the indexer lost the events, or the ack was lost). */
  loseAcks: boolean;
  /** The ack endpoint answers 400 code 14 "ACK is disabled". */
  ackEndpointDisabled: boolean;
  ackPolls: number;
}

/** Splits concatenated JSON objects (`{...}{...}`), as HEC accepts them. */
function splitObjects(body: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}') {
      if (--depth === 0) out.push(body.slice(start, i + 1));
    } else if (depth === 0 && !/\s/.test(c)) throw new Error(`unexpected ${c} between events`);
  }
  if (depth !== 0 || inString) throw new Error('truncated event');
  return out;
}

/** /services/collector/event and /services/collector/ack, with Splunk's answers and codes. */
export async function startHecReceiver(opts: { token: string; tls?: ServerKeys }): Promise<HecReceiver> {
  let nextAckId = 0;
  const given = new Map<number, number>();
  const handle: Handler = (req, body) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization;
    if (!auth) return { status: 401, body: '{"text":"Token is required","code":2}' };
    if (auth !== `Splunk ${opts.token}`) return { status: 403, body: '{"text":"Invalid token","code":4}' };
    const channel = (req.headers['x-splunk-request-channel'] as string | undefined) ?? url.searchParams.get('channel') ?? undefined;
    if (url.pathname === '/services/collector/ack') {
      rx.ackPolls++;
      if (rx.ackEndpointDisabled) return { status: 400, body: '{"text":"ACK is disabled","code":14}' };
      if (!channel) return { status: 400, body: '{"text":"Data channel is missing","code":10}' };
      const ids = (JSON.parse(body) as { acks: number[] }).acks;
      const acks: Record<string, boolean> = {};
      for (const id of ids) {
        const at = given.get(id);
        acks[id] = !rx.loseAcks && at !== undefined && Date.now() - at >= rx.ackDelayMs;
      }
      return { status: 200, body: JSON.stringify({ acks }) };
    }
    if (url.pathname !== '/services/collector/event') return { status: 404, body: '{"text":"The requested URL was not found on this server.","code":404}' };
    if (rx.acks && !channel) return { status: 400, body: '{"text":"Data channel is missing","code":10}' };
    let events: Record<string, unknown>[];
    try {
      events = splitObjects(body).map((t) => JSON.parse(t) as Record<string, unknown>);
    } catch {
      return { status: 400, body: '{"text":"Invalid data format","code":6}' };
    }
    if (!events.length) return { status: 400, body: '{"text":"No data","code":5}' };
    if (events.some((e) => e.event === undefined)) return { status: 400, body: '{"text":"Event field is required","code":12}' };
    if (!rx.acks) {
      for (const event of events) rx.events.push({ channel, event });
      return { status: 200, body: '{"text":"Success","code":0}' };
    }
    const ackId = nextAckId++;
    given.set(ackId, Date.now());
    for (const event of events) rx.events.push({ ackId, channel, event });
    return { status: 200, body: JSON.stringify({ text: 'Success', code: 0, ackId }) };
  };
  const rx: HecReceiver = Object.assign(await startHttpReceiver<ReceivedRequest>(opts.tls, handle, () => ({})), {
    events: [],
    acks: true,
    ackDelayMs: 0,
    loseAcks: false,
    ackEndpointDisabled: false,
    ackPolls: 0,
  });
  return rx;
}
