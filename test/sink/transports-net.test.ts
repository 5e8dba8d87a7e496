import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type { SplunkHecSinkConfig, SyslogSinkConfig, WebhookSinkConfig } from '../../pipeline/sink/config';
import { createSplunkHecTransport } from '../../pipeline/sink/transports/splunk-hec';
import { SYSLOG_SD_ID, createSyslogTransport, type SyslogTransportOptions } from '../../pipeline/sink/transports/syslog';
import { createWebhookTransport } from '../../pipeline/sink/transports/webhook';
import type { Alert, AlertSeverity } from '../../pipeline/domain/findings';
import { DeliveryError, type OutMessage, type Transport } from '../../pipeline/sink/types';
import { makeCerts, startHecReceiver, startSyslogReceiver, startWebhookReceiver, type TestCerts } from '../../pipeline/devhub/receivers';

/**
 * The syslog, webhook and Splunk HEC transports against real local receivers (pipeline/devhub/receivers.ts):
 * what arrives is parsed back and compared with what was sent; failures are produced by the receivers.
 */

let dir: string;
let certs: TestCerts;
const open: Array<{ close?: () => Promise<void>; stop?: () => Promise<void> }> = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'reauth-net-'));
  certs = await makeCerts(dir);
});

afterEach(async () => {
  for (const x of open.splice(0)) await (x.close ?? x.stop)?.();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function track<T extends { close?: () => Promise<void>; stop?: () => Promise<void> }>(x: T): T {
  open.push(x);
  return x;
}

const SEVERITIES: AlertSeverity[] = ['medium', 'high', 'critical'];

/** A minimal Alert; the texts are built by hand so these tests do not depend on sink/formats.ts. */
function alert(i: number, over: Partial<Alert> = {}): Alert {
  const subject = `loop-${String(i).padStart(4, '0')}`;
  return {
    schema: 'reauth-loops.alert/1',
    event_id: `${subject}.v1`,
    kind: 'loop',
    subject_id: subject,
    version: 1,
    action: 'opened',
    severity: SEVERITIES[i % 3],
    title: `Reauthentication loop: user${i}@contoso.com, Outlook Mobile on iOS (${10 + i} prompts)`,
    reason: 'prompted 14 times in 9 minutes',
    emitted_at: new Date(Date.UTC(2026, 3, 14, 9, 41, 0, i)).toISOString(),
    first_emitted_at: '2026-04-14T09:41:00.000Z',
    tenant_id: 'contoso',
    ...over,
  };
}

function jsonMessage(a: Alert): OutMessage {
  return { eventId: a.event_id, text: JSON.stringify(a), alert: a };
}

function batchOf(from: number, n: number): OutMessage[] {
  return Array.from({ length: n }, (_, k) => jsonMessage(alert(from + k)));
}

/** What the caller (sink/deliver.ts) does: try again after a short wait until the batch is acknowledged. */
async function sendWithRetries(t: Transport, batch: OutMessage[], deadlineMs = 10_000): Promise<number> {
  const deadline = Date.now() + deadlineMs;
  for (let failures = 0; ; failures++) {
    try {
      await t.send(batch);
      return failures;
    } catch (e) {
      expect(e).toBeInstanceOf(DeliveryError);
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function failure(p: Promise<unknown>): Promise<DeliveryError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DeliveryError);
  return e as DeliveryError;
}

function syslogCfg(port: number, over: Partial<SyslogSinkConfig> = {}): SyslogSinkConfig {
  return { type: 'syslog', name: 'siem', host: '127.0.0.1', port, tls: false, hostname: 'collector host', appName: 'reauth-loops', ...over };
}

function syslog(port: number, over: Partial<SyslogSinkConfig> = {}, opts: SyslogTransportOptions = {}): Transport {
  return track(createSyslogTransport(syslogCfg(port, over), { connectTimeoutMs: 2000, ...opts }));
}

describe('syslog', () => {
  test('a batch arrives as RFC 5424 messages with the alert fields', async () => {
    const rx = track(await startSyslogReceiver());
    const batch = batchOf(0, 12);
    await syslog(rx.port).send(batch);
    await rx.waitForFrames(12);
    expect(rx.errors).toEqual([]);
    rx.frames.forEach((f, k) => {
      const a = batch[k].alert;
      expect(f.declaredLength).toBe(f.bytes.length);
      expect(f).toMatchObject({
        version: 1,
        facility: 10,
        severity: { critical: 2, high: 3, medium: 4 }[a.severity],
        timestamp: a.emitted_at,
        hostname: 'collector_host',
        appName: 'reauth-loops',
        procId: String(process.pid),
        msgId: 'loop',
        bom: true,
      });
      expect(f.sd).toEqual({ [SYSLOG_SD_ID]: { event_id: a.event_id, subject_id: a.subject_id, version: '1', action: 'opened' } });
      expect(JSON.parse(f.msg)).toEqual(a);
    });
  });

  test('the receiver reassembles frames split across reads and several frames in one read', async () => {
    const rx = track(await startSyslogReceiver());
    const one = (s: string) => Buffer.concat([Buffer.from(`${Buffer.byteLength(s)} `), Buffer.from(s)]);
    const stream = Buffer.concat([one('<84>1 - h a - m - é'), one('<84>1 - h a - m [x@1 k="v\\]"] two'), one('<84>1 - h a - m - three')]);
    const c = net.connect(rx.port, '127.0.0.1');
    for (let i = 0; i < stream.length; i += 7) {
      c.write(stream.subarray(i, i + 7));
      await new Promise((r) => setTimeout(r, 1));
    }
    c.end();
    await rx.waitForFrames(3);
    expect(rx.frames.map((f) => f.msg)).toEqual(['é', 'two', 'three']);
    expect(rx.frames[1].sd).toEqual({ 'x@1': { k: 'v]' } });
  });

  test('1,000 hostile messages: one frame each, exact MSG-LEN, no raw LF/CR/NUL, SD values round-trip', async () => {
    const rx = track(await startSyslogReceiver());
    const hostile = ['line\nbreak', 'carriage\rreturn', 'nul\0byte', 'sep\u2028arator', 'para\u2029graph', 'crlf\r\n<13>1 - forged - - - - x', ']"\\ [x@1 a="b"]', 'ünïcødé 🔁'];
    const msgs: OutMessage[] = [];
    for (let i = 0; i < 1000; i++) {
      const h = hostile[i % hostile.length];
      const a = alert(i, { subject_id: `s${i} "q" \\b\\ ]end[ =`, event_id: `s${i}.v1`, title: h, reason: `${h} ${h}` });
      // Every 4th text is a CEF-like line with raw control characters, as a buggy format would hand over.
      msgs.push(i % 4 === 3 ? { eventId: a.event_id, text: `CEF:0|reauth|loops|1|loop|${h}|5|msg=${h}`, alert: a } : jsonMessage(a));
    }
    const t = syslog(rx.port);
    for (let i = 0; i < msgs.length; i += 100) await t.send(msgs.slice(i, i + 100));
    await rx.waitForFrames(1000);
    expect(rx.errors).toEqual([]);
    expect(rx.frames).toHaveLength(1000);
    const escaped = (s: string) => s.replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\0/g, '\\u0000');
    rx.frames.forEach((f, i) => {
      expect(f.declaredLength).toBe(f.bytes.length);
      expect(f.bytes.includes(0x0a) || f.bytes.includes(0x0d) || f.bytes.includes(0x00)).toBe(false);
      const m = msgs[i];
      expect(f.sd[SYSLOG_SD_ID].subject_id).toBe(m.alert.subject_id);
      expect(f.sd[SYSLOG_SD_ID].event_id).toBe(m.eventId);
      if (i % 4 === 3) expect(f.msg).toBe(escaped(m.text));
      else expect(JSON.parse(f.msg)).toEqual(m.alert);
    });
  });

  test('a message over maxMessageBytes is refused as tooLarge before anything is sent', async () => {
    const rx = track(await startSyslogReceiver());
    const t = syslog(rx.port, { maxMessageBytes: 4096 });
    expect(t.limits.maxMessageBytes).toBeLessThan(4096);
    const big = jsonMessage(alert(1, { reason: 'x'.repeat(5000) }));
    const e = await failure(t.send([jsonMessage(alert(0)), big]));
    expect(e.tooLarge).toBe(true);
    expect(rx.connections).toBe(0);
  });

  test('TLS with the CA in caFile delivers; TLS 1.2 is the floor', async () => {
    const rx = track(await startSyslogReceiver({ tls: certs.good }));
    await syslog(rx.port, { tls: true, caFile: certs.caFile }).send(batchOf(0, 5));
    await rx.waitForFrames(5);
    expect(rx.frames.map((f) => f.sd[SYSLOG_SD_ID].event_id)).toEqual(batchOf(0, 5).map((m) => m.eventId));
    // servername: the certificate also holds "localhost".
    await syslog(rx.port, { tls: true, caFile: certs.caFile, servername: 'localhost' }).send(batchOf(5, 1));
    await rx.waitForFrames(6);

    const old = tls.createServer({ ...certs.good, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }, (s) => s.resume());
    await new Promise<void>((r) => old.listen(0, '127.0.0.1', r));
    try {
      const e = await failure(syslog((old.address() as net.AddressInfo).port, { tls: true, caFile: certs.caFile }).send(batchOf(0, 1)));
      expect(e.permanent).toBeFalsy();
      expect(e.message).toMatch(/TLS/);
    } finally {
      old.close();
    }
  });

  test.each([
    ['an unrelated self-signed certificate', 'bad', { caFile: 'ca' }],
    ['a private-CA certificate without caFile', 'good', {}],
    ['a certificate for another name', 'good', { caFile: 'ca', servername: 'siem.example.com' }],
  ] as const)('TLS refuses %s: send throws, the receiver gets nothing', async (_, which, over) => {
    const rx = track(await startSyslogReceiver({ tls: certs[which] }));
    const cfg: Partial<SyslogSinkConfig> = { tls: true, ...over, caFile: 'caFile' in over ? certs.caFile : undefined };
    const e = await failure(syslog(rx.port, cfg).send(batchOf(0, 3)));
    expect(e.message).toMatch(/certificate was refused/);
    expect(e.permanent).toBeFalsy();
    await new Promise((r) => setTimeout(r, 50));
    expect(rx.frames).toEqual([]);
  });

  test('tlsVerify: false (lab only) accepts any certificate', async () => {
    const rx = track(await startSyslogReceiver({ tls: certs.bad }));
    await syslog(rx.port, { tls: true, tlsVerify: false }).send(batchOf(0, 2));
    await rx.waitForFrames(2);
  });

  test('receiver killed mid-stream and restarted: every message arrives, none more than twice', async () => {
    const rx = track(await startSyslogReceiver());
    const t = syslog(rx.port);
    const sent: OutMessage[] = [];
    const send = async (from: number) => {
      const b = batchOf(from, 10);
      sent.push(...b);
      await sendWithRetries(t, b);
    };
    // 1. The collector drops its first connection after 25 frames: what it had not read yet is lost. The client
    //    sees the loss only after its writes succeeded, so the next send reconnects and resends the tail.
    rx.killNextConnectionAfter(25);
    for (let i = 0; i < 10; i++) await send(i * 10);
    await new Promise((r) => setTimeout(r, 50));
    await send(100);
    // 2. Later the collector process dies while batches flow, and is back on the same port 300 ms later.
    const flowing = (async () => {
      for (let i = 11; i < 20; i++) {
        await send(i * 10);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await rx.waitForFrames(rx.frames.length + 15);
    await rx.stop();
    await new Promise((r) => setTimeout(r, 300));
    await rx.restart();
    await flowing;
    // 3. A later alert: a loss seen since the last send is covered by the resend before it.
    await new Promise((r) => setTimeout(r, 50));
    await send(200);
    await rx.waitForFrames(sent.length);
    await new Promise((r) => setTimeout(r, 100));

    expect(rx.errors).toEqual([]);
    expect(rx.connections).toBeGreaterThanOrEqual(3);
    const counts = new Map<string, number>();
    for (const f of rx.frames) counts.set(f.sd[SYSLOG_SD_ID].event_id, (counts.get(f.sd[SYSLOG_SD_ID].event_id) ?? 0) + 1);
    const missing = sent.filter((m) => !counts.has(m.eventId)).map((m) => m.eventId);
    expect(missing).toEqual([]);
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(2);
  });

  test('a collector that is down gives a retryable DeliveryError that says what to check', async () => {
    const rx = await startSyslogReceiver();
    await rx.stop();
    const e = await failure(syslog(rx.port).send(batchOf(0, 1)));
    expect(e.message).toMatch(/connection refused.*listening/);
    expect(e.permanent).toBeFalsy();
  });
});

describe('webhook', () => {
  const SECRET = 'whsec-canary-7f3a9c1e';
  const ENV_NAME = 'REAUTH_TEST_WEBHOOK_SECRET';
  beforeEach(() => {
    process.env[ENV_NAME] = SECRET;
  });
  afterEach(() => {
    delete process.env[ENV_NAME];
  });

  function webhook(url: string, over: Partial<WebhookSinkConfig> = {}): Transport {
    return track(createWebhookTransport({ type: 'webhook', name: 'hook', url: `${url}/alerts?tenant=contoso`, secretEnv: ENV_NAME, timeoutMs: 2000, ...over }));
  }

  test('a batch arrives as one signed JSON array that verifies on the receiver', async () => {
    const rx = track(await startWebhookReceiver({ secret: SECRET, tls: certs.good }));
    const batch = [...batchOf(0, 4), { eventId: 'loop-9.v1', text: 'CEF:0|reauth|loops|1|loop|title|5|msg=a\\=b', alert: alert(9) }];
    const t = webhook(rx.url, { caFile: certs.caFile, headers: { 'X-Tenant': 'contoso' } });
    await t.send(batch);
    await t.send(batch);
    expect(rx.requests).toHaveLength(2);
    const [r1, r2] = rx.requests;
    expect(r1).toMatchObject({ method: 'POST', path: '/alerts?tenant=contoso', status: 200, verified: true });
    expect(r1.headers['content-type']).toBe('application/json');
    expect(r1.headers['x-tenant']).toBe('contoso');
    expect(r1.items).toEqual([...batch.slice(0, 4).map((m) => m.alert), batch[4].text]);
    // A retry of the same batch carries the same Idempotency-Key.
    expect(r1.headers['idempotency-key']).toMatch(/^[0-9a-f]{64}$/);
    expect(r2.headers['idempotency-key']).toBe(r1.headers['idempotency-key']);
  });

  test('a wrong secret: 401 is retryable, tells the operator to check it, and never quotes it', async () => {
    const rx = track(await startWebhookReceiver({ secret: 'another-secret' }));
    const e = await failure(webhook(rx.url).send(batchOf(0, 1)));
    expect(rx.requests[0].verified).toBe(false);
    expect(e.permanent).toBeFalsy();
    expect(e.message).toMatch(/secret/);
    expect(`${e.message}\n${e.stack}`).not.toContain(SECRET);
  });

  test('503 with Retry-After gives retryAfterMs; the batch goes through once the receiver is back', async () => {
    const rx = track(await startWebhookReceiver({ secret: SECRET }));
    rx.script(...Array.from({ length: 3 }, () => ({ status: 503, headers: { 'Retry-After': '1' } })));
    const t = webhook(rx.url);
    for (let i = 0; i < 3; i++) {
      const e = await failure(t.send(batchOf(0, 2)));
      expect(e.retryAfterMs).toBe(1000);
      expect(e.permanent || e.tooLarge).toBeFalsy();
    }
    await t.send(batchOf(0, 2));
    expect(rx.requests.map((r) => r.status)).toEqual([503, 503, 503, 200]);
    expect(rx.requests.every((r) => r.verified)).toBe(true);

    rx.script({ status: 429, headers: { 'Retry-After': new Date(Date.now() + 5000).toUTCString() } });
    const e = await failure(t.send(batchOf(0, 1)));
    expect(e.retryAfterMs).toBeGreaterThan(3000);
    expect(e.retryAfterMs).toBeLessThanOrEqual(5000);
  });

  test('413 is tooLarge, 400 and 422 are permanent, 500 and network errors are retryable', async () => {
    const rx = track(await startWebhookReceiver({ secret: SECRET }));
    const t = webhook(rx.url);
    rx.maxBodyBytes = 2000;
    expect((await failure(t.send(batchOf(0, 10)))).tooLarge).toBe(true);
    await t.send(batchOf(0, 1));
    rx.script({ status: 400, body: '{"error":"bad field"}' }, { status: 422 }, { status: 500 });
    const bad = await failure(t.send(batchOf(0, 1)));
    expect(bad.permanent).toBe(true);
    expect(bad.message).toContain('bad field');
    expect((await failure(t.send(batchOf(0, 1)))).permanent).toBe(true);
    expect((await failure(t.send(batchOf(0, 1)))).permanent).toBeFalsy();
    await rx.stop();
    const down = await failure(t.send(batchOf(0, 1)));
    expect(down.permanent).toBeFalsy();
    expect(down.message).not.toContain('tenant=contoso');
  });

  test('HTTPS to a certificate the CA did not sign is refused', async () => {
    const rx = track(await startWebhookReceiver({ secret: SECRET, tls: certs.bad }));
    const e = await failure(webhook(rx.url, { caFile: certs.caFile }).send(batchOf(0, 1)));
    expect(e.message).toMatch(/certificate was refused/);
    expect(rx.requests).toEqual([]);
  });
});

describe('splunk-hec', () => {
  const TOKEN = 'c4n4ry-7d1e-4f4b-9a55-5e2d3b1f0a9c';

  function hec(url: string, over: Partial<SplunkHecSinkConfig> = {}, ackPollMs = 25): Transport {
    return track(createSplunkHecTransport({ type: 'splunk-hec', name: 'splunk', url, token: TOKEN, timeoutMs: 2000, ...over }, { ackPollMs, hostname: 'detector-1' }));
  }

  test('send resolves only once the indexer ack is true; events carry token, channel and fields', async () => {
    const rx = track(await startHecReceiver({ token: TOKEN, tls: certs.good }));
    rx.ackDelayMs = 300;
    const batch = [...batchOf(0, 3), { eventId: 'loop-7.v1', text: 'CEF:0|reauth|loops|1|loop|t|5|msg=x', alert: alert(7) }];
    const started = Date.now();
    await hec(rx.url, { caFile: certs.caFile, index: 'security' }).send(batch);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(rx.ackPolls).toBeGreaterThan(1);
    const eventReq = rx.requests.find((r) => r.path === '/services/collector/event');
    const ackReq = rx.requests.find((r) => r.path.startsWith('/services/collector/ack'));
    expect(eventReq?.headers.authorization).toBe(`Splunk ${TOKEN}`);
    const channel = eventReq?.headers['x-splunk-request-channel'];
    expect(channel).toMatch(/^[0-9a-f-]{36}$/);
    expect(ackReq?.path).toBe(`/services/collector/ack?channel=${channel}`);
    expect(rx.events.map((e) => e.event)).toEqual(
      batch.map((m) => ({
        time: Date.parse(m.alert.emitted_at) / 1000,
        host: 'detector-1',
        source: 'reauth-loops',
        sourcetype: 'reauth-loops:alert',
        index: 'security',
        fields: { event_id: m.eventId, subject_id: m.alert.subject_id },
        event: m.text.startsWith('{') ? m.alert : m.text,
      })),
    );
  });

  test('a lost ack throws a retryable error after ackTimeoutMs; the resend uses the same event ids', async () => {
    const rx = track(await startHecReceiver({ token: TOKEN }));
    rx.loseAcks = true;
    const t = hec(rx.url, { ackTimeoutMs: 300 });
    const started = Date.now();
    const e = await failure(t.send(batchOf(0, 2)));
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(e.permanent || e.tooLarge).toBeFalsy();
    expect(e.message).toMatch(/did not confirm indexing.*resent/);
    rx.loseAcks = false;
    await t.send(batchOf(0, 2));
    const ids = rx.events.map((x) => (x.event.fields as { event_id: string }).event_id);
    expect(ids).toEqual(['loop-0000.v1', 'loop-0001.v1', 'loop-0000.v1', 'loop-0001.v1']);
  });

  test('without an ackId, or with "ACK is disabled" (code 14), the 200 is the acknowledgement', async () => {
    const rx = track(await startHecReceiver({ token: TOKEN }));
    rx.acks = false;
    await hec(rx.url).send(batchOf(0, 2));
    expect(rx.ackPolls).toBe(0);
    rx.acks = true;
    rx.ackEndpointDisabled = true;
    await hec(rx.url).send(batchOf(2, 2));
    expect(rx.ackPolls).toBe(1);
    rx.ackEndpointDisabled = false;
    rx.ackDelayMs = 10_000;
    await hec(rx.url, { ack: false }).send(batchOf(4, 1));
    expect(rx.ackPolls).toBe(1);
    expect(rx.events).toHaveLength(5);
  });

  test('429 and 503 (code 9) honour Retry-After; 413 is tooLarge; 400 code 6 is permanent', async () => {
    const rx = track(await startHecReceiver({ token: TOKEN }));
    const t = hec(rx.url);
    rx.script(
      { status: 429, headers: { 'Retry-After': '2' }, body: '{"text":"Too many requests","code":9}' },
      { status: 503, headers: { 'Retry-After': '1' }, body: '{"text":"Server is busy","code":9}' },
      { status: 413, body: '{"text":"Content too large","code":413}' },
      { status: 400, body: '{"text":"Invalid data format","code":6,"invalid-event-number":0}' },
      { status: 400, body: '{"text":"Incorrect index","code":7,"invalid-event-number":1}' },
    );
    const tooMany = await failure(t.send(batchOf(0, 1)));
    expect(tooMany).toMatchObject({ retryAfterMs: 2000 });
    expect(tooMany.permanent).toBeFalsy();
    expect((await failure(t.send(batchOf(0, 1)))).retryAfterMs).toBe(1000);
    expect((await failure(t.send(batchOf(0, 1)))).tooLarge).toBe(true);
    expect((await failure(t.send(batchOf(0, 1)))).permanent).toBe(true);
    const index = await failure(t.send(batchOf(0, 1)));
    expect(index.permanent).toBeFalsy();
    expect(index.message).toMatch(/index/);
    await t.send(batchOf(0, 1));
    expect(rx.events).toHaveLength(1);
  });

  test('the token never appears in an error: wrong token, lost ack, receiver down', async () => {
    const rx = track(await startHecReceiver({ token: 'the-right-token' }));
    const messages: string[] = [];
    const wrong = await failure(hec(rx.url).send(batchOf(0, 1)));
    expect(wrong.permanent).toBeFalsy();
    expect(wrong.message).toMatch(/check the token/);
    messages.push(`${wrong.message}\n${wrong.stack}`);

    process.env.REAUTH_TEST_HEC_TOKEN = TOKEN;
    try {
      const viaEnv = await failure(hec(rx.url, { token: undefined, tokenEnv: 'REAUTH_TEST_HEC_TOKEN' }).send(batchOf(0, 1)));
      expect(viaEnv.message).toContain('REAUTH_TEST_HEC_TOKEN');
      messages.push(`${viaEnv.message}\n${viaEnv.stack}`);
    } finally {
      delete process.env.REAUTH_TEST_HEC_TOKEN;
    }

    const ok = track(await startHecReceiver({ token: TOKEN }));
    ok.loseAcks = true;
    const lost = await failure(hec(ok.url, { ackTimeoutMs: 100 }).send(batchOf(0, 1)));
    messages.push(`${lost.message}\n${lost.stack}`);

    await rx.stop();
    const down = await failure(hec(rx.url).send(batchOf(0, 1)));
    messages.push(`${down.message}\n${down.stack}\n${String(down.cause)}`);
    for (const m of messages) expect(m).not.toContain(TOKEN);
  });

  test('a missing token environment variable fails at creation and names the variable', () => {
    expect(() => createSplunkHecTransport({ type: 'splunk-hec', name: 'splunk', url: 'https://127.0.0.1:1', tokenEnv: 'REAUTH_TEST_NO_SUCH_VAR' })).toThrow(/REAUTH_TEST_NO_SUCH_VAR/);
  });
});
