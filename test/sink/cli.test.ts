import { readFileSync, writeFileSync } from 'node:fs';
import { EventHubProducerClient } from '@azure/event-hubs';
import type { Alert } from '../../pipeline/domain/findings';
import { lines, mfaFlow } from '../support/records';
import { makeCerts, startSyslogReceiver, startWebhookReceiver, type SyslogReceiver, type TestCerts, type WebhookReceiver } from '../../pipeline/devhub/receivers';
import { parseCef } from '../support/cef-parse';
import { schemaErrors } from '../support/schemas';
import { spawnCli, startServices, until, type Services } from '../support/services';
import { tempDir } from '../support/tmp';

/**
 * The commands as an operator runs them: `consume --sinks` against the local hub and Azurite, alerts into a
 * TLS syslog collector (CEF), a signed webhook and a file; then `sinks status`, `sinks test` and `watch`.
 */
const tmp = tempDir();
let svc: Services;
let certs: TestCerts;
let syslog: SyslogReceiver;
let badSyslog: SyslogReceiver;
let hook: WebhookReceiver;
const SECRET = 'hook-canary-secret-5f1e9a';

beforeAll(async () => {
  svc = await startServices({ partitions: 2 });
  certs = await makeCerts(tmp.path);
  syslog = await startSyslogReceiver({ tls: certs.good });
  badSyslog = await startSyslogReceiver({ tls: certs.bad });
  hook = await startWebhookReceiver({ secret: SECRET });
});
afterAll(async () => {
  await Promise.all([syslog?.stop(), badSyslog?.stop(), hook?.stop()]);
  await svc?.stop();
  tmp.cleanup();
});

async function send(text: string) {
  const producer = new EventHubProducerClient(svc.eventHubConnectionString);
  try {
    const batch = await producer.createBatch();
    for (const l of text.split('\n').filter(Boolean)) batch.tryAdd({ body: { records: [JSON.parse(l)] } });
    await producer.sendBatch(batch);
  } finally {
    await producer.close();
  }
}

const hookAlerts = () => hook.requests.filter((r) => r.status < 300).flatMap((r) => (r.items ?? []) as Alert[]);

test('consume --sinks alerts a loop to syslog (TLS, CEF), a signed webhook and a file, closes it, and a restart does not alert it again', async () => {
  const lake = tmp.sub('lake');
  const file = tmp.sub('alerts.ndjson');
  const sinksFile = tmp.sub('sinks.json');
  writeFileSync(
    sinksFile,
    JSON.stringify({
      sinks: [
        { name: 'soc-syslog', type: 'syslog', host: '127.0.0.1', port: syslog.port, caFile: certs.caFile, format: 'cef' },
        { name: 'hook', type: 'webhook', url: `${hook.url}/reauth`, secretEnv: 'HOOK_SECRET' },
        { name: 'archive', type: 'file', path: file },
        { name: 'bad-cert', type: 'syslog', host: '127.0.0.1', port: badSyslog.port, caFile: certs.caFile, enabled: false },
      ],
    }),
  );
  const env = { ...svc.env, HOOK_SECRET: SECRET };
  const args = ['consume', '--lake', lake, '--sinks', sinksFile, '--json', '--checkpoint-container', 'alerts-e2e', '--detect-seconds', '1'];
  const c = spawnCli(args, env);
  await c.waitFor((e) => e.event === 'started');
  await send(lines([...mfaFlow(0), ...mfaFlow(30), ...mfaFlow(60), ...mfaFlow(90), ...mfaFlow(0, { user: 'bob' })]));
  const opened = await c.waitFor((e) => e.event === 'alert' && e.action === 'opened');
  expect(opened.title).toMatch(/^Reauthentication loop: ana@contoso\.example, Outlook Mobile on Ios \(4 prompts\)$/);
  await until('the webhook and syslog to get it', async () => hookAlerts().length >= 1 && syslog.frames.length >= 1, 20_000);
  expect(hook.requests.every((r) => r.verified)).toBe(true);
  const frame = syslog.frames[0];
  const cef = parseCef(frame.msg);
  expect(Object.fromEntries(cef.extension).suser).toBe('ana@contoso.example');
  expect(frame.sd['reauth@32473']).toMatchObject({ event_id: opened.event_id, action: 'opened', version: '1' });

  // Another user's sign-in an hour later moves the data past ana's loop: it is closed.
  await send(lines(mfaFlow(3600, { user: 'cem' })));
  await c.waitFor((e) => e.event === 'alert' && e.action === 'closed');
  await until('the close at every sink', async () => hookAlerts().some((a) => a.action === 'closed') && readFileSync(file, 'utf8').includes('"action":"closed"'), 20_000);
  c.proc.kill('SIGTERM');
  expect((await c.exited).code).toBe(0);
  // The secret never appears in what the consumer printed; every log line has its schema.
  expect(c.lines.join('\n') + c.stderr.join('')).not.toContain(SECRET);
  for (const l of c.lines) expect(schemaErrors('consume-log.schema.json', JSON.parse(l))).toEqual([]);

  const archived = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Alert);
  expect(archived.map((a) => `${a.action} v${a.version}`)).toEqual(['opened v1', 'closed v2']);
  expect(new Set(archived.map((a) => a.subject_id)).size).toBe(1);

  // A restart re-reads nothing new and alerts nothing again.
  const again = spawnCli([...args, '--stop-when-idle', '2'], env);
  expect((await again.exited).code).toBe(0);
  expect(again.lines.filter((l) => (JSON.parse(l) as { event: string }).event === 'alert')).toEqual([]);
  expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(2);

  // sinks status: nothing waiting, what each sink took.
  const status = spawnCli(['sinks', 'status', '--sinks', sinksFile, '--lake', lake, '--json'], env);
  expect((await status.exited).code).toBe(0);
  const rows = status.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(rows.filter((r) => r.enabled)).toEqual([
    expect.objectContaining({ sink: 'soc-syslog', waiting: 0, delivered: 2, dropped: 0, rejected: 0, last_error: null }),
    expect.objectContaining({ sink: 'hook', waiting: 0, delivered: 2, dropped: 0, rejected: 0, last_error: null }),
    expect.objectContaining({ sink: 'archive', waiting: 0, delivered: 2, dropped: 0, rejected: 0, last_error: null }),
  ]);

  // sinks test: straight to the sink, acknowledged; a collector with a certificate we do not trust is refused.
  const ok = spawnCli(['sinks', 'test', 'hook', '--sinks', sinksFile], env);
  expect((await ok.exited).code).toBe(0);
  expect(ok.lines.join('\n')).toMatch(/^sink hook: test alert test-\S+ acknowledged in \d+ ms$/);
  expect(hookAlerts().some((a) => a.kind === 'test')).toBe(true);
  const bad = spawnCli(['sinks', 'test', 'bad-cert', '--sinks', sinksFile], env);
  expect((await bad.exited).code).toBe(1);
  expect(bad.stderr.join('')).toMatch(/sink bad-cert: test alert failed: .*certificate/i);
  expect(badSyslog.frames).toEqual([]);

  // watch on the same lake with a fresh state: the loop's alerts as NDJSON on stdout.
  const w = spawnCli(['watch', '--lake', lake, '--state-dir', tmp.sub('watch-state'), '--once'], env);
  expect((await w.exited).code).toBe(0);
  const watched = w.lines.map((l) => JSON.parse(l) as Alert);
  for (const a of watched) expect(schemaErrors('alert.schema.json', a)).toEqual([]);
  expect(watched.filter((a) => a.kind === 'loop').map((a) => a.loop!.user_principal_name)).toContain('ana@contoso.example');
}, 120_000);

test('a sinks file with a mistake is refused with what to fix', async () => {
  const f = tmp.sub('bad-sinks.json');
  writeFileSync(f, JSON.stringify({ sinks: [{ name: 'splunk', type: 'splunk-hec', url: 'https://splunk:8088', tokenEnv: 'NOPE_NOT_SET' }, { name: 'x', type: 'syslog', hots: 'typo' }] }));
  const r = spawnCli(['sinks', 'status', '--sinks', f, '--lake', tmp.sub('none')], {});
  expect((await r.exited).code).toBe(2);
  expect(r.stderr.join('')).toMatch(/not valid[\s\S]*hots/);
  writeFileSync(f, JSON.stringify({ sinks: [{ name: 'splunk', type: 'splunk-hec', url: 'https://splunk:8088', tokenEnv: 'NOPE_NOT_SET' }] }));
  const r2 = spawnCli(['sinks', 'test', 'splunk', '--sinks', f], {});
  expect((await r2.exited).code).toBe(2);
  expect(r2.stderr.join('')).toContain('NOPE_NOT_SET, which is not set');
});
