import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { startDce } from '../devhub/dce';
import { makeCerts, startHecReceiver, startSyslogReceiver, startWebhookReceiver } from '../devhub/receivers';
import { startDevHub } from '../devhub/server';
import type { SinkConfig } from '../sink/config';
import { defaultFormat } from '../sink/config';
import { Dispatcher } from '../sink/deliver';
import { fitToSize } from '../sink/formats';
import { createTransport } from '../sink/transports';
import type { Alert } from '../domain/findings';
import { sampleAlert } from '../simulate/alerts';
import { int } from './common';

/**
 * Alerts/s per sink into real local receivers: through the outbox and delivery loop (what `consume --sinks`
 * does), beside the same transport's send() alone on pre-rendered messages (the baseline: what the outbox,
 * rendering and acknowledgement bookkeeping cost).
 */
export async function throughput(o: { dir: string; alerts: number }): Promise<string[][]> {
  const work = join(o.dir, 'alerts-sinks');
  await fsp.rm(work, { recursive: true, force: true });
  await fsp.mkdir(work, { recursive: true });
  const certs = await makeCerts(work);
  const syslogTcp = await startSyslogReceiver();
  const syslogTls = await startSyslogReceiver({ tls: certs.good });
  const hook = await startWebhookReceiver({ secret: 'bench-secret' });
  const hec = await startHecReceiver({ token: 'bench-token' });
  const dce = await startDce({ token: 'bench-dce-token', certs });
  const hub = await startDevHub({ port: 0, hubs: [{ name: 'alerts', partitions: 4 }], log: () => undefined });
  process.env.REAUTH_BENCH_DCE_TOKEN = dce.token;
  const sinks: SinkConfig[] = [
    { name: 'file', type: 'file', path: join(work, 'alerts.ndjson') },
    { name: 'syslog-tcp-json', type: 'syslog', host: '127.0.0.1', port: syslogTcp.port, tls: false },
    { name: 'syslog-tls-cef', type: 'syslog', host: '127.0.0.1', port: syslogTls.port, caFile: certs.caFile, format: 'cef' },
    { name: 'webhook', type: 'webhook', url: hook.url, secret: 'bench-secret' },
    { name: 'splunk-hec-ack', type: 'splunk-hec', url: hec.url, token: 'bench-token', ackTimeoutMs: 30_000 },
    { name: 'eventhubs', type: 'eventhubs', connectionString: hub.connectionString('alerts') },
    { name: 'sentinel', type: 'sentinel', endpoint: dce.endpoint, ruleId: 'dcr-bench', caFile: certs.caFile, credential: { kind: 'token', tokenEnv: 'REAUTH_BENCH_DCE_TOKEN' } },
  ];
  const rows: string[][] = [];
  try {
    for (const s of sinks) {
      const alerts = Array.from({ length: o.alerts }, (_, i) => sampleAlert(i));
      const base = await baseline(s, alerts.map((_, i) => sampleAlert(i + o.alerts)));
      const d = await Dispatcher.open({ sinks: [s] }, join(work, 'outbox'), () => undefined);
      const t0 = performance.now();
      // As detection hands them over: rounds of 100.
      for (let i = 0; i < alerts.length; i += 100) await d.publish(alerts.slice(i, i + 100));
      const drained = await d.drain(300_000);
      const seconds = (performance.now() - t0) / 1000;
      await d.close();
      if (!drained) throw new Error(`${s.name}: ${o.alerts} alerts not delivered within 5 min`);
      rows.push([`alerts/s, ${s.name}`, `${int(o.alerts / seconds)} through the outbox (${seconds.toFixed(2)} s for ${int(o.alerts)}); send() alone ${int(base)}`]);
      process.stderr.write(`${s.name}: ${int(o.alerts / seconds)} alerts/s\n`);
    }
    const got = { syslog: syslogTcp.frames.length + syslogTls.frames.length, hec: hec.events.length, sentinel: dce.rows('dcr-bench', 'Custom-ReauthLoops_CL').length };
    // Every sink got at least what was sent twice (baseline + outbox run); a shortfall means the figure is wrong.
    if (got.syslog < 4 * o.alerts || got.hec < 2 * o.alerts || got.sentinel < 2 * o.alerts) throw new Error(`receivers are short: ${JSON.stringify(got)}`);
  } finally {
    await Promise.all([syslogTcp.stop(), syslogTls.stop(), hook.stop(), hec.stop(), dce.close(), hub.close()]);
  }
  return rows;
}

/** The same transport with pre-rendered messages, at its own batch size: the ceiling under the outbox. */
async function baseline(s: SinkConfig, alerts: Alert[]): Promise<number> {
  const t = createTransport(s);
  const messages = alerts.map((a) => ({ eventId: a.event_id, text: fitToSize(a, s.format ?? defaultFormat(s), t.limits.maxMessageBytes).text, alert: a }));
  const t0 = performance.now();
  try {
    for (let i = 0; i < messages.length; ) {
      let bytes = 0;
      let j = i;
      while (j < messages.length && j - i < t.limits.maxBatchMessages && bytes + messages[j].text.length <= t.limits.maxBatchBytes) bytes += messages[j++].text.length;
      await t.send(messages.slice(i, Math.max(j, i + 1)));
      i = Math.max(j, i + 1);
    }
    return messages.length / ((performance.now() - t0) / 1000);
  } finally {
    await t.close();
  }
}
