// The Azure transports with the real SDK clients against real local services (the project's DevHub over
// AMQP, an HTTPS Logs Ingestion receiver with a private CA), plus the file and stdout transports.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { EventHubConsumerClient, earliestEventPosition, type ReceivedEventData } from '@azure/event-hubs';
import { startDevHub, type DevHub } from '../../pipeline/devhub/server';
import type { SentinelSinkConfig } from '../../pipeline/sink/config';
import { createEventHubsTransport } from '../../pipeline/sink/transports/eventhubs';
import { createFileTransport } from '../../pipeline/sink/transports/file';
import { createSentinelTransport } from '../../pipeline/sink/transports/sentinel';
import { createStdoutTransport } from '../../pipeline/sink/transports/stdout';
import type { Alert } from '../../pipeline/domain/findings';
import { DeliveryError, type OutMessage, type Transport } from '../../pipeline/sink/types';
import { startDce, type DceReceiver } from '../../pipeline/devhub/dce';

/** A minimal alert and its rendered text: formats.ts is not needed to move bytes. */
function message(subject: number, version: number, extra: Record<string, unknown> = {}): OutMessage {
  const subject_id = `loop-${String(subject).padStart(4, '0')}`;
  const eventId = `${subject_id}.v${version}`;
  const alert = {
    schema: 'reauth-loops.alert/1',
    event_id: eventId,
    kind: 'loop',
    subject_id,
    version,
    action: version === 1 ? 'opened' : 'updated',
    severity: 'high',
    title: `Reauthentication loop ${subject_id}`,
    reason: 'prompted 14 times in 20 minutes',
    emitted_at: '2024-05-01T10:00:00Z',
    first_emitted_at: '2024-05-01T09:00:00Z',
    tenant_id: 'contoso',
  } as Alert;
  const text = JSON.stringify({ EventId: eventId, SubjectId: subject_id, Version: version, Action: alert.action, Title: alert.title, ...extra });
  return { eventId, text, alert };
}

async function deliveryError(p: Promise<unknown>): Promise<DeliveryError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DeliveryError);
    return e as DeliveryError;
  }
  throw new Error('expected send() to fail');
}

describe('Event Hubs transport', () => {
  const HUB = 'alerts';
  const ENV = 'TEST_SINK_EVENTHUB_CS';
  let hub: DevHub;
  let transport: Transport;

  beforeAll(async () => {
    hub = await startDevHub({ port: 0, hubs: [{ name: HUB, partitions: 4 }] });
    process.env[ENV] = hub.connectionString(HUB);
    transport = createEventHubsTransport({ type: 'eventhubs', name: 'eh', connectionStringEnv: ENV });
  });
  afterAll(async () => {
    await transport.close();
    await hub.close();
    delete process.env[ENV];
  });

  async function readAll(expected: number): Promise<{ event: ReceivedEventData; partition: string }[]> {
    const consumer = new EventHubConsumerClient('$Default', hub.connectionString(HUB));
    const got: { event: ReceivedEventData; partition: string }[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${expected} events arrived`)), 15_000);
        const sub = consumer.subscribe(
          {
            processEvents: async (events, ctx) => {
              for (const event of events) got.push({ event, partition: ctx.partitionId });
              if (got.length >= expected) {
                clearTimeout(timer);
                // A moment more, so a duplicate would show up too.
                setTimeout(() => void sub.close().then(() => resolve()), 500);
              }
            },
            processError: async (e) => reject(e),
          },
          { startPosition: earliestEventPosition, maxBatchSize: 100, maxWaitTimeInSeconds: 1, skipParsingBodyAsJson: true },
        );
      });
    } finally {
      await consumer.close();
    }
    return got;
  }

  test('200 alerts in several batches arrive once each, intact, every subject on one partition in version order', async () => {
    // 40 loops × 5 versions, sent version by version in batches of 50, the way deliver.ts drains an outbox.
    const sent: OutMessage[] = [];
    for (let v = 1; v <= 5; v++) for (let s = 0; s < 40; s++) sent.push(message(s, v));
    for (let i = 0; i < sent.length; i += 50) await transport.send(sent.slice(i, i + 50));

    const got = await readAll(sent.length);
    expect(got).toHaveLength(sent.length);
    const byId = new Map(got.map((g) => [g.event.messageId as string, g]));
    expect(byId.size).toBe(sent.length);
    for (const m of sent) {
      const g = byId.get(m.eventId)!;
      expect(Buffer.from(g.event.body as Uint8Array).toString('utf8')).toBe(m.text);
      expect(g.event.contentType).toBe('application/json');
      expect(g.event.correlationId).toBe(m.alert.subject_id);
      expect(g.event.properties).toEqual({ event_id: m.eventId, subject_id: m.alert.subject_id, version: m.alert.version, action: m.alert.action, kind: 'loop' });
      expect(g.event.partitionKey).toBe(m.alert.subject_id);
    }
    const partitionsOf = new Map<string, Set<string>>();
    for (const g of got) {
      const subject = g.event.correlationId as string;
      partitionsOf.set(subject, (partitionsOf.get(subject) ?? new Set()).add(g.partition));
    }
    expect([...partitionsOf.values()].every((p) => p.size === 1)).toBe(true);
    // Keys spread over the hub, and inside a partition each loop's versions come in order.
    expect(new Set(got.map((g) => g.partition)).size).toBeGreaterThan(1);
    for (const subject of partitionsOf.keys()) {
      const versions = got.filter((g) => g.event.correlationId === subject).sort((a, b) => a.event.sequenceNumber - b.event.sequenceNumber).map((g) => g.event.properties!.version);
      expect(versions).toEqual([1, 2, 3, 4, 5]);
    }
  });

  test('a message bigger than one event is tooLarge, and nothing of its batch is sent', async () => {
    const big = message(999, 1, { padding: 'x'.repeat(1_100_000) });
    const err = await deliveryError(transport.send([message(998, 1), big]));
    expect(err.tooLarge).toBe(true);
    expect(err.message).toContain(big.eventId);
  });

  test('CEF goes out as text/plain', async () => {
    const cef = createEventHubsTransport({ type: 'eventhubs', name: 'eh-cef', format: 'cef', connectionString: hub.connectionString(HUB) });
    try {
      await cef.send([{ ...message(500, 1), text: 'CEF:0|reauth-loops|reauth-loops|0.1.0|reauth_loop|Reauthentication loop|7|msg=x' }]);
    } finally {
      await cef.close();
    }
    const got = await readAll(201);
    const e = got.find((g) => g.event.messageId === 'loop-0500.v1')!;
    expect(e.event.contentType).toBe('text/plain');
    // The 200 of the first test, this one, and not the small alert sent beside the oversized one.
    expect(got).toHaveLength(201);
    expect(got.some((g) => g.event.messageId === 'loop-0998.v1')).toBe(false);
  });

  test('with the hub down, send() fails retryable within seconds and leaks no key', async () => {
    await hub.close();
    const t0 = Date.now();
    const err = await deliveryError(transport.send([message(1, 6)]));
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(err.permanent).toBeFalsy();
    expect(err.tooLarge).toBeFalsy();
    expect(err.message).toMatch(/Event Hubs sink eh: .*reachable/);
    expect(err.message).not.toContain('devkey');
  });
});

describe('Sentinel (Logs Ingestion) transport', () => {
  const RULE = 'dcr-00000000000000000000000000000000';
  const STREAM = 'Custom-ReauthLoops_CL';
  const TOKEN_ENV = 'TEST_SINK_DCE_TOKEN';
  let dce: DceReceiver;
  const open: Transport[] = [];
  const sentinel = (over: Partial<SentinelSinkConfig> = {}) => {
    const t = createSentinelTransport({ type: 'sentinel', name: 'sentinel', endpoint: dce.endpoint, ruleId: RULE, caFile: dce.caFile, credential: { kind: 'token', tokenEnv: TOKEN_ENV }, ...over });
    open.push(t);
    return t;
  };
  const batch = (n: number, from = 0, extra: Record<string, unknown> = {}) => Array.from({ length: n }, (_, i) => message(from + i, 1, extra));

  beforeAll(async () => {
    dce = await startDce();
    process.env[TOKEN_ENV] = dce.token;
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
  });
  afterAll(async () => {
    await dce.close();
    delete process.env[TOKEN_ENV];
  });

  test('rows arrive exactly, gzipped, with the bearer token, on the default stream', async () => {
    const sent = batch(25);
    await sentinel().send(sent);
    expect(dce.rows(RULE, STREAM)).toEqual(sent.map((m) => JSON.parse(m.text)));
    const last = dce.requests[dce.requests.length - 1];
    expect(last).toMatchObject({ ruleId: RULE, stream: STREAM, status: 204, rows: 25, authorized: true, apiVersion: '2023-01-01' });
  });

  test('a private CA needs caFile; tlsVerify false is the lab escape hatch', async () => {
    const before = dce.requests.length;
    const err = await deliveryError(sentinel({ caFile: undefined }).send(batch(1, 100)));
    expect(err.permanent).toBeFalsy();
    expect(err.message).toMatch(/caFile/);
    expect(dce.requests.length).toBe(before);
    await sentinel({ caFile: undefined, tlsVerify: false, stream: 'Custom-Lab_CL' }).send(batch(1, 101));
    expect(dce.rows(RULE, 'Custom-Lab_CL')).toHaveLength(1);
  });

  test('a wrong token is refused: retryable, with the role to grant, and no token in the message', async () => {
    process.env.TEST_SINK_DCE_BAD = 'not-the-token-123';
    const err = await deliveryError(sentinel({ credential: { kind: 'token', tokenEnv: 'TEST_SINK_DCE_BAD' } }).send(batch(1, 200)));
    expect(dce.requests[dce.requests.length - 1]).toMatchObject({ status: 401, authorized: false });
    expect(err.permanent).toBeFalsy();
    expect(err.message).toContain('Monitoring Metrics Publisher');
    expect(err.message).not.toContain('not-the-token-123');
    expect(err.message).not.toContain(dce.token);
    delete process.env.TEST_SINK_DCE_BAD;
  });

  test('a scripted 401 is retryable with the role hint', async () => {
    dce.failNext(401);
    const err = await deliveryError(sentinel().send(batch(1, 210)));
    expect(err.permanent).toBeFalsy();
    expect(err.message).toContain('"Monitoring Metrics Publisher" role on DCR');
  });

  test('429 with Retry-After: 1 is waited out by the SDK, then the rows land once', async () => {
    const sent = batch(3, 300);
    dce.failNext(429, 1, 1);
    const t0 = Date.now();
    await sentinel({ stream: 'Custom-Throttle_CL' }).send(sent);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(dce.requests.slice(-2).map((r) => r.status)).toEqual([429, 204]);
    expect(dce.rows(RULE, 'Custom-Throttle_CL')).toEqual(sent.map((m) => JSON.parse(m.text)));
  });

  test('a long Retry-After comes back to the caller as retryAfterMs instead of stalling send()', async () => {
    dce.failNext(429, 1, 120);
    const t0 = Date.now();
    const err = await deliveryError(sentinel().send(batch(1, 310)));
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(err.retryAfterMs).toBe(120_000);
    expect(err.permanent).toBeFalsy();
  });

  test('429 on every retry surfaces retryAfterMs', async () => {
    dce.failNext(429, 3, 1);
    const err = await deliveryError(sentinel().send(batch(1, 320)));
    expect(err.retryAfterMs).toBe(1_000);
    expect(err.message).toMatch(/HTTP 429/);
  });

  test('400 is permanent and points at the table schema', async () => {
    dce.failNext(400);
    const err = await deliveryError(sentinel().send(batch(2, 400)));
    expect(err.permanent).toBe(true);
    expect(err.message).toContain('schemas/mappings/sentinel-table.json');
  });

  test('413 is tooLarge', async () => {
    dce.failNext(413);
    const err = await deliveryError(sentinel().send(batch(2, 500)));
    expect(err.tooLarge).toBe(true);
  });

  test('a batch over 1 MB is split into calls by the SDK and every row arrives', async () => {
    const sent = batch(30, 600, { Detail: 'y'.repeat(50_000) });
    const before = dce.requests.length;
    await sentinel({ stream: 'Custom-Big_CL' }).send(sent);
    const calls = dce.requests.slice(before);
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls.every((c) => c.status === 204 && c.bytes <= 1024 * 1024)).toBe(true);
    const got = dce.rows(RULE, 'Custom-Big_CL');
    expect(got).toHaveLength(sent.length);
    expect(new Set(got.map((r) => r.EventId))).toEqual(new Set(sent.map((m) => m.eventId)));
  });

  test('when one of the calls fails, the error counts the failed rows and the rest have landed', async () => {
    const sent = batch(30, 800, { Detail: 'w'.repeat(50_000) });
    dce.failNext(400);
    const err = await deliveryError(sentinel({ stream: 'Custom-Partial_CL' }).send(sent));
    const m = /(\d+) row\(s\) in 1 call\(s\) failed/.exec(err.message);
    expect(m).not.toBeNull();
    expect(dce.rows(RULE, 'Custom-Partial_CL').length + Number(m![1])).toBe(sent.length);
    expect(err.permanent).toBe(true);
  });

  test('a text that is not a JSON object is refused before sending', async () => {
    const err = await deliveryError(sentinel().send([{ ...message(700, 1), text: 'CEF:0|x' }]));
    expect(err.permanent).toBe(true);
    expect(err.message).toContain('format "sentinel"');
  });
});

describe('file transport', () => {
  const dir = mkdtempSync(join(tmpdir(), 'reauth-file-sink-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('appends NDJSON, rotates at rotateMb, keeps `keep` files of whole lines', async () => {
    const path = join(dir, 'nested', 'alerts.ndjson');
    const t = createFileTransport({ type: 'file', name: 'file', path, rotateMb: 0.001, keep: 2 });
    const sent = Array.from({ length: 40 }, (_, i) => message(i, 1));
    for (let i = 0; i < sent.length; i += 5) {
      await t.send(sent.slice(i, i + 5));
      // Acknowledged means on disk: the last line written is already readable.
      expect(readFileSync(path, 'utf8').trimEnd().split('\n').pop()).toBe(sent[i + 4].text);
    }
    await t.close();
    expect(existsSync(`${path}.1`)).toBe(true);
    expect(existsSync(`${path}.2`)).toBe(true);
    expect(existsSync(`${path}.3`)).toBe(false);
    const files = [`${path}.2`, `${path}.1`, path].map((f) => readFileSync(f, 'utf8'));
    for (const f of files) {
      expect(f.endsWith('\n')).toBe(true);
      expect(Buffer.byteLength(f)).toBeLessThanOrEqual(1048);
      for (const line of f.trimEnd().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    }
    // Oldest kept file first: together they are the tail of what was sent, in order, nothing repeated.
    const kept = files.join('').trimEnd().split('\n');
    expect(kept).toEqual(sent.slice(sent.length - kept.length).map((m) => m.text));
  });

  test('a text with a raw line break is refused, permanently, and nothing is written', async () => {
    const path = join(dir, 'broken.ndjson');
    const t = createFileTransport({ type: 'file', name: 'file', path });
    const err = await deliveryError(t.send([message(1, 1), { ...message(2, 1), text: '{"a":1}\n{"forged":true}' }]));
    expect(err.permanent).toBe(true);
    expect(err.message).toContain('loop-0002.v1');
    await t.close();
    expect(existsSync(path) ? readFileSync(path, 'utf8') : '').toBe('');
  });
});

describe('stdout transport', () => {
  test('writes one line per alert and resolves once written', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const t = createStdoutTransport({ type: 'stdout', name: 'stdout' }, out);
    const sent = [message(1, 1), message(1, 2), message(2, 1)];
    await t.send(sent.slice(0, 2));
    await t.send(sent.slice(2));
    await t.close();
    expect(Buffer.concat(chunks).toString('utf8')).toBe(sent.map((m) => `${m.text}\n`).join(''));
  });

  test('waits for a slow reader (backpressure)', async () => {
    const out = new PassThrough({ highWaterMark: 16 });
    const t = createStdoutTransport({ type: 'stdout', name: 'stdout' }, out);
    let done = false;
    const p = t.send([message(1, 1, { pad: 'z'.repeat(1000) })]).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    out.resume();
    await p;
    expect(done).toBe(true);
  });
});
