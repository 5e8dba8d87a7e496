import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Dispatcher, type SinkEvent } from '../../pipeline/sink/deliver';
import { Outbox } from '../../pipeline/sink/outbox';
import type { SinksConfig } from '../../pipeline/sink/config';
import type { Alert } from '../../pipeline/domain/findings';
import { startSyslogReceiver, startWebhookReceiver, type WebhookReceiver } from '../../pipeline/devhub/receivers';
import { sampleAlert } from '../support/alert-samples';
import { until } from '../support/services';
import { tempDir } from '../support/tmp';

/**
 * Delivery through the outboxes into real local receivers: down, back, full, slow, refusing, too small.
 * Fast retries (100 ms first, 1 s cap) keep the file short; the policy is the same as with the defaults.
 */
const tmp = tempDir();
afterAll(() => tmp.cleanup());
let n = 0;

function setup(sinks: SinksConfig['sinks'], extra: Partial<SinksConfig> = {}) {
  const root = tmp.sub(`outbox-${++n}`);
  const events: SinkEvent[] = [];
  const cfg: SinksConfig = { sinks, retry: { initialMs: 100, maxMs: 1000 }, ...extra };
  return { root, events, open: () => Dispatcher.open(cfg, root, (e) => events.push(e)) };
}

/** event_id → how many times the webhook receiver got it (from requests it answered 2xx). */
function webhookCounts(rx: WebhookReceiver): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of rx.requests) {
    if (r.status >= 300) continue;
    for (const a of (r.items ?? []) as Alert[]) counts.set(a.event_id, (counts.get(a.event_id) ?? 0) + 1);
  }
  return counts;
}

const alerts = (from: number, count: number) => Array.from({ length: count }, (_, i) => sampleAlert(from + i));

test('receivers down for a while, then back: every alert arrives, at most twice, outboxes bounded; the file sink is not held up', async () => {
  const hook = await startWebhookReceiver({ secret: 'hook-secret-0123' });
  const syslog = await startSyslogReceiver();
  const file = tmp.sub(`alerts-${n}.ndjson`);
  const t = setup(
    [
      { name: 'hook', type: 'webhook', url: `${hook.url}/alerts`, secret: 'hook-secret-0123' },
      { name: 'syslog', type: 'syslog', host: '127.0.0.1', port: syslog.port, tls: false, format: 'cef' },
      { name: 'file', type: 'file', path: file },
    ],
    { outbox: { maxAlerts: 500 } },
  );
  await hook.stop();
  // The syslog collector drops its first connection mid-stream, after 30 frames.
  syslog.killNextConnectionAfter(30);
  const d = await t.open();
  try {
    const sent: Alert[] = [];
    for (let round = 0; round < 10; round++) {
      const batch = alerts(round * 20, 20);
      sent.push(...batch);
      await d.publish(batch);
      await new Promise((r) => setTimeout(r, 100));
    }
    // The file sink got everything while the webhook was down.
    await until('200 lines in the file sink', async () => readFileSync(file, 'utf8').split('\n').filter(Boolean).length === 200, 5000);
    expect(d.depth().hook).toBe(200);
    await hook.restart();
    expect(await d.drain(20_000)).toBe(true);

    const ids = sent.map((a) => a.event_id).sort();
    const hookCounts = webhookCounts(hook);
    expect([...hookCounts.keys()].sort()).toEqual(ids);
    expect(Math.max(...hookCounts.values())).toBeLessThanOrEqual(2);
    expect(hook.requests.every((r) => r.status >= 300 || r.verified)).toBe(true);

    const syslogCounts = new Map<string, number>();
    for (const f of syslog.frames) {
      const id = f.sd['reauth@32473']?.event_id;
      syslogCounts.set(id, (syslogCounts.get(id) ?? 0) + 1);
    }
    expect([...syslogCounts.keys()].sort()).toEqual(ids);
    expect(Math.max(...syslogCounts.values())).toBeLessThanOrEqual(2);
    expect(syslog.errors).toEqual([]);
    expect(syslog.connections).toBeGreaterThanOrEqual(2);

    const fileIds = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as Alert).event_id).sort();
    expect(fileIds).toEqual(ids);

    // Retries back off: the first within 1 s, none past the cap.
    const errs = t.events.filter((e): e is Extract<SinkEvent, { event: 'sink_error' }> => e.event === 'sink_error' && e.sink === 'hook');
    expect(errs.length).toBeGreaterThan(0);
    expect(errs.find((e) => e.attempt === 1)!.retry_in_ms).toBeLessThanOrEqual(1000);
    expect(Math.max(...errs.map((e) => e.retry_in_ms))).toBeLessThanOrEqual(1000);
    expect(errs.every((e) => e.depth <= 500)).toBe(true);
  } finally {
    await d.close();
    await hook.stop();
    await syslog.stop();
  }
});

test('a full outbox drops the oldest, counts and logs every drop; the newest arrive when the sink is back', async () => {
  const hook = await startWebhookReceiver();
  await hook.stop();
  const t = setup([{ name: 'hook', type: 'webhook', url: hook.url }], { outbox: { maxAlerts: 10 } });
  const d = await t.open();
  try {
    for (let i = 0; i < 30; i++) {
      await d.publish([sampleAlert(i)]);
      expect(d.depth().hook).toBeLessThanOrEqual(10);
    }
    const dropped = t.events.filter((e): e is Extract<SinkEvent, { event: 'sink_dropped' }> => e.event === 'sink_dropped');
    expect(dropped.reduce((s, e) => s + e.dropped, 0)).toBe(20);
    expect(dropped.flatMap((e) => e.event_ids)).toEqual(alerts(0, 20).map((a) => a.event_id));
    await hook.restart();
    expect(await d.drain(10_000)).toBe(true);
    expect([...webhookCounts(hook).keys()].sort()).toEqual(alerts(20, 10).map((a) => a.event_id).sort());
  } finally {
    await d.close();
    await hook.stop();
  }
  const status = await Outbox.inspect(join(t.root, 'hook'));
  expect(status.counters).toMatchObject({ appended: 30, dropped: 20, acked: 10 });
});

test('Retry-After is honoured; 413 splits the batch; an alert over the limit is cut with a marker; a refused alert is set aside with its reason', async () => {
  const hook = await startWebhookReceiver();
  const t = setup([{ name: 'hook', type: 'webhook', url: hook.url }]);
  const d = await t.open();
  try {
    hook.script({ status: 503, headers: { 'Retry-After': '1' } });
    const t0 = Date.now();
    await d.publish([sampleAlert(0)]);
    await until('the first alert', async () => webhookCounts(hook).size === 1, 5000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(t.events.find((e) => e.event === 'sink_error')).toMatchObject({ retry_in_ms: 1000 });

    // Bodies over 20 kB are refused with 413: 40 alerts of ~2 kB go through in smaller batches.
    hook.maxBodyBytes = 20_000;
    const forty = alerts(100, 40);
    await d.publish(forty);
    await until('40 alerts in split batches', async () => forty.every((a) => webhookCounts(hook).has(a.event_id)), 10_000);

    // One alert too big for any batch: cut, marked, delivered.
    const huge = sampleAlert(500, 1, { sign_in_ids: Array.from({ length: 5000 }, (_, i) => `id-${i}`), user_display_name: 'x'.repeat(40_000) });
    await d.publish([huge]);
    await until('the cut alert', async () => webhookCounts(hook).has(huge.event_id), 10_000);
    const got = hook.requests.flatMap((r) => (r.status < 300 ? ((r.items ?? []) as Alert[]) : [])).find((a) => a.event_id === huge.event_id)!;
    expect(got.truncated).toEqual(expect.arrayContaining(['loop.sign_in_ids']));
    expect(got.subject_id).toBe(huge.subject_id);
    expect(t.events.some((e) => e.event === 'sink_truncated' && e.event_id === huge.event_id)).toBe(true);

    // The receiver refuses one alert as invalid (400): it is kept aside with the reason; the next goes on.
    hook.maxBodyBytes = undefined;
    hook.script({ status: 400, body: '{"error":"schema mismatch"}' });
    await d.publish([sampleAlert(600)]);
    await d.publish([sampleAlert(601)]);
    await until('the alert after the refused one', async () => webhookCounts(hook).has(sampleAlert(601).event_id), 10_000);
    expect(webhookCounts(hook).has(sampleAlert(600).event_id)).toBe(false);
  } finally {
    await d.close();
    await hook.stop();
  }
  const status = await Outbox.inspect(join(t.root, 'hook'));
  expect(status.counters.rejected).toBe(1);
  expect(status.rejectedTail.join('\n')).toContain(sampleAlert(600).event_id);
  expect(status.rejectedTail.join('\n')).toContain('400');
});

test('alerts waiting when the process stops are delivered by the next one, once', async () => {
  const hook = await startWebhookReceiver();
  await hook.stop();
  const t = setup([{ name: 'hook', type: 'webhook', url: hook.url }]);
  let d = await t.open();
  await d.publish(alerts(0, 25));
  await d.close();
  await hook.restart();
  d = await t.open();
  try {
    // The same alerts again (a crash before the alert state saved): not queued twice.
    await d.publish(alerts(0, 25));
    expect(await d.drain(10_000)).toBe(true);
    const counts = webhookCounts(hook);
    expect(counts.size).toBe(25);
    expect(Math.max(...counts.values())).toBe(1);
  } finally {
    await d.close();
    await hook.stop();
  }
});
