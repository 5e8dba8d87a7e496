import { join } from 'node:path';
import type { Argv } from 'yargs';
import { CliError } from '../../errors';
import { LiveDetection } from '../../detect/live';
import { defaultFormat, loadSinksConfig, type SinkConfig } from '../../sink/config';
import { outboxDirOf, readSinkState } from '../../sink/deliver';
import { fitToSize } from '../../sink/formats';
import { Outbox } from '../../sink/outbox';
import { createTransport } from '../../sink/transports';
import type { Alert } from '../../domain/findings';
import { redact } from '../../secrets';
import type { Column } from '../output';
import { emit } from '../shared';

export function builder(y: Argv): Argv {
  return y
    .positional('action', { choices: ['status', 'test'], describe: 'status: each sink\'s outbox and last delivery; test: send one test alert to NAME' })
    .positional('name', { type: 'string', describe: 'Sink name (for test)' })
    .option('sinks', { type: 'string', demandOption: true, describe: 'Sinks config file (schemas/sinks-config.schema.json)' })
    .option('lake', { type: 'string', describe: 'Lake folder whose alert state holds the outboxes' })
    .option('state-dir', { type: 'string', describe: 'Alert state folder [default: <lake>/_alerts]' })
    .option('json', { type: 'boolean', describe: 'status as one JSON object per sink' })
    .example('$0 sinks status --sinks sinks.json --lake /data/lake', 'outbox depth, last success and last error per sink')
    .example('$0 sinks test splunk --sinks sinks.json', 'send a test alert to the sink named splunk now, and say what happened')
    .epilog('`test` sends straight to the sink (not through the outbox) and waits for its acknowledgement, so it also checks credentials and certificates. Exit 1 when it fails.');
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const cfg = await loadSinksConfig(args.sinks as string);
  if (args.action === 'test') return testSink(cfg.sinks, args.name as string | undefined);
  const stateDir = (args['state-dir'] as string | undefined) ?? (args.lake ? LiveDetection.stateDirOf(args.lake as string) : undefined);
  const root = cfg.outbox?.dir ?? (stateDir ? join(stateDir, 'outbox') : undefined);
  if (!root) throw new CliError('Say where the outboxes are: --lake DIR, --state-dir DIR, or outbox.dir in the sinks file.', 2);
  const rows: Record<string, unknown>[] = [];
  for (const s of cfg.sinks) {
    const dir = outboxDirOf(root, s.name);
    const [box, state] = await Promise.all([Outbox.inspect(dir), readSinkState(dir)]);
    rows.push({
      sink: s.name,
      type: s.type,
      enabled: s.enabled !== false,
      waiting: box.alerts,
      waiting_bytes: box.bytes,
      oldest_waiting: box.oldest ?? null,
      delivered: box.counters.acked,
      dropped: box.counters.dropped,
      rejected: box.counters.rejected,
      last_success_at: state?.last_success_at ?? null,
      last_error: state?.last_error ?? null,
      last_error_at: state?.last_error_at ?? null,
      next_retry_at: state?.next_retry_at ?? null,
    });
  }
  const columns: Column[] = Object.keys(rows[0]).map((name) => ({ name, kind: typeof rows[0][name] === 'number' ? 'integer' : typeof rows[0][name] === 'boolean' ? 'boolean' : 'string' }));
  await emit({ format: args.json ? 'ndjson' : undefined }, columns, rows, ['sink', 'type', 'waiting', 'oldest_waiting', 'delivered', 'dropped', 'rejected', 'last_success_at', 'last_error']);
}

async function testSink(sinks: SinkConfig[], name: string | undefined): Promise<void> {
  if (!name) throw new CliError(`Name the sink to test: ${sinks.map((s) => s.name).join(', ')}.`, 2);
  const s = sinks.find((x) => x.name === name);
  if (!s) throw new CliError(`No sink named "${name}"; the file has: ${sinks.map((x) => x.name).join(', ')}.`, 2);
  const now = new Date().toISOString();
  const id = `test-${Date.now().toString(36)}`;
  const alert: Alert = {
    schema: 'reauth-loops.alert/1',
    event_id: `${id}.v1`,
    kind: 'test',
    subject_id: id,
    version: 1,
    action: 'opened',
    severity: 'medium',
    title: 'reauth-loops test alert: not a real loop',
    reason: `Sent by \`reauth-loops sinks test ${name}\` to check the wiring.`,
    emitted_at: now,
    first_emitted_at: now,
    tenant_id: null,
  };
  const transport = createTransport(s);
  const t0 = performance.now();
  try {
    const { text } = fitToSize(alert, s.format ?? defaultFormat(s), transport.limits.maxMessageBytes);
    await transport.send([{ eventId: alert.event_id, text, alert }]);
    process.stdout.write(`sink ${name}: test alert ${alert.event_id} acknowledged in ${Math.round(performance.now() - t0)} ms\n`);
  } catch (e) {
    throw new CliError(`sink ${name}: test alert failed: ${redact((e as Error).message)}`, 1);
  } finally {
    await transport.close().catch(() => undefined);
  }
}
