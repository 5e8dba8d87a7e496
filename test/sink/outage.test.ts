import { EventHubConsumerClient, earliestEventPosition } from '@azure/event-hubs';
import { startDce } from '../../pipeline/devhub/dce';
import { makeCerts, startHecReceiver, startSyslogReceiver, type TestCerts } from '../../pipeline/devhub/receivers';
import { startDevHub } from '../../pipeline/devhub/server';
import type { SinkConfig } from '../../pipeline/sink/config';
import { Dispatcher, type SinkEvent } from '../../pipeline/sink/deliver';
import { sampleAlert } from '../support/alert-samples';
import { until } from '../support/services';
import { tempDir } from '../support/tmp';

/**
 * Every network sink through its outbox while its receiver is down, then back (R11): every alert arrives, at
 * most twice, the outbox never holds more than it was given, and the failures were retried, not dropped.
 */
const tmp = tempDir();
let certs: TestCerts;
beforeAll(async () => {
  certs = await makeCerts(tmp.path);
});
afterAll(() => tmp.cleanup());
let n = 0;

interface Receiver {
  sink: SinkConfig;
  down: () => Promise<void>;
  up: () => Promise<void>;
  /** event_id of every alert the receiver accepted, repeats included. */
  received: () => Promise<string[]>;
  close: () => Promise<void>;
}

async function outage(r: Receiver): Promise<void> {
  const events: SinkEvent[] = [];
  await r.down();
  const d = await Dispatcher.open({ sinks: [r.sink], retry: { initialMs: 100, maxMs: 500 }, outbox: { maxAlerts: 1000 } }, tmp.sub(`outbox-${++n}`), (e) => events.push(e));
  try {
    const alerts = Array.from({ length: 40 }, (_, i) => sampleAlert(n * 1000 + i));
    for (let i = 0; i < 40; i += 10) await d.publish(alerts.slice(i, i + 10));
    // Down long enough for the sink to fail and back off twice.
    await until('two failed attempts', async () => events.filter((e) => e.event === 'sink_error').length >= 2, 20_000);
    expect(d.depth()[r.sink.name]).toBe(40);
    await r.up();
    expect(await d.drain(30_000)).toBe(true);
    const counts = new Map<string, number>();
    for (const id of await r.received()) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(alerts.map((a) => a.event_id).sort());
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(2);
    expect(events.some((e) => e.event === 'sink_dropped' || e.event === 'sink_rejected')).toBe(false);
  } finally {
    await d.close();
    await r.close();
  }
}

test('syslog over TLS', async () => {
  const rx = await startSyslogReceiver({ tls: certs.good });
  await outage({
    sink: { name: 'syslog', type: 'syslog', host: '127.0.0.1', port: rx.port, caFile: certs.caFile, format: 'cef' },
    down: () => rx.stop(),
    up: () => rx.restart(),
    received: async () => rx.frames.map((f) => f.sd['reauth@32473'].event_id),
    close: () => rx.stop(),
  });
});

test('Splunk HEC with indexer acknowledgement', async () => {
  const rx = await startHecReceiver({ token: 'outage-token' });
  await outage({
    sink: { name: 'hec', type: 'splunk-hec', url: rx.url, token: 'outage-token', ackTimeoutMs: 2000 },
    down: () => rx.stop(),
    up: () => rx.restart(),
    received: async () => rx.events.map((e) => String((e.event.fields as { event_id: string }).event_id)),
    close: () => rx.stop(),
  });
});

test('Microsoft Sentinel (Logs Ingestion API)', async () => {
  const rx = await startDce({ token: 'outage-dce-token', certs });
  process.env.REAUTH_TEST_DCE_TOKEN = rx.token;
  await outage({
    sink: { name: 'sentinel', type: 'sentinel', endpoint: rx.endpoint, ruleId: 'dcr-outage', caFile: certs.caFile, credential: { kind: 'token', tokenEnv: 'REAUTH_TEST_DCE_TOKEN' } },
    down: () => rx.stop(),
    up: () => rx.restart(),
    received: async () => rx.rows('dcr-outage', 'Custom-ReauthLoops_CL').map((row) => String(row.EventId)),
    close: () => rx.close(),
  });
});

test('Azure Event Hubs (the producer against the local hub)', async () => {
  // The hub is down until it starts on the port the sink was given.
  const probe = await startDevHub({ port: 0, hubs: [{ name: 'alerts', partitions: 2 }], log: () => undefined });
  const { port } = probe;
  const connectionString = probe.connectionString('alerts');
  await probe.close();
  let hub: Awaited<ReturnType<typeof startDevHub>> | undefined;
  await outage({
    sink: { name: 'hub', type: 'eventhubs', connectionString },
    down: async () => undefined,
    up: async () => {
      hub = await startDevHub({ port, hubs: [{ name: 'alerts', partitions: 2 }], log: () => undefined });
    },
    received: async () => {
      const consumer = new EventHubConsumerClient('$Default', connectionString);
      const ids: string[] = [];
      const total = hub!.stats().reduce((s, p) => s + p.events, 0);
      await new Promise<void>((resolve) => {
        const sub = consumer.subscribe(
          {
            processEvents: async (evs) => {
              for (const e of evs) ids.push(String(e.properties?.event_id));
              if (ids.length >= total) void sub.close().then(resolve);
            },
            processError: async () => undefined,
          },
          { startPosition: earliestEventPosition, maxWaitTimeInSeconds: 1 },
        );
      });
      await consumer.close();
      return ids;
    },
    close: async () => hub?.close(),
  });
});
