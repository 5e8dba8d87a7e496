import type { Argv } from 'yargs';
import { EventHubProducerClient } from '@azure/event-hubs';
import { CliError } from '../../errors';
import { publish, type PublishSummary } from '../../publish/publish';
import { credentialFor, CREDENTIAL_KINDS, describeAzureError, ENV, loadSettings, type CredentialKind } from '../../sources/eventhub';
import { note } from '../shared';

export function builder(y: Argv): Argv {
  return y
    .positional('inputs', { type: 'string', array: true, describe: 'Files or folders of sign-in logs (any shape import reads, .gz too)' })
    .option('config', { type: 'string', describe: 'JSON file with eventHubConnectionString (or namespace/eventHub)' })
    .option('event-hub', { type: 'string', describe: 'Event hub name (when the connection string has no EntityPath, or with --namespace)' })
    .option('namespace', { type: 'string', describe: 'Event Hubs namespace: sign in with Microsoft Entra (needs Azure Event Hubs Data Sender)' })
    .option('credential', { choices: CREDENTIAL_KINDS, describe: 'Entra credential with --namespace [default: managed-identity]' })
    .option('speed', { type: 'number', default: 0, describe: 'Replay at this multiple of real time by the records\' own times (1 = real time, 60 = an hour a minute); 0 = as fast as possible' })
    .option('max-body-kb', { type: 'number', default: 256, describe: 'Largest event body to build, in KiB (Standard hubs take up to 1 MB per event, Basic 256 KB)' })
    .option('as-is', { type: 'boolean', describe: 'Send each input line unchanged as one event, broken ones too (replay a captured stream)' })
    .option('partition', { type: 'string', describe: 'Send to this partition only' })
    .option('json', { type: 'boolean', describe: 'Print the summary as JSON' })
    .example(`${ENV.eventHubConnectionString}=... $0 publish day.ndjson --speed 60`, 'replay a day into a hub, an hour per minute')
    .example('$0 simulate --users 500 --out day.ndjson && $0 publish day.ndjson --event-hub signins', 'a simulated incident into a hub')
    .epilog(
      'Builds diagnostic-settings bodies ({"records":[...]}) as Entra does, several per AMQP batch. Records keep their shape, ' +
        'so Log Analytics rows and Graph items travel as they are (consume reads every shape). Lines that are not JSON are counted ' +
        'and listed, not sent, unless --as-is. The connection string comes from the environment or --config, never a flag.',
    );
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const s = await loadSettings(
    { config: args.config as string | undefined, eventHub: args['event-hub'] as string | undefined, namespace: args.namespace as string | undefined, credential: args.credential as CredentialKind | undefined },
    process.env,
    { needCheckpoints: false },
  );
  if (!((args.speed as number) >= 0)) throw new CliError('--speed must be 0 (as fast as possible) or a positive multiple of real time.', 2);
  if (!((args['max-body-kb'] as number) > 0) || (args['max-body-kb'] as number) > 1024) throw new CliError('--max-body-kb must be between 1 and 1024.', 2);
  const producer = s.eventHubConnectionString
    ? s.eventHub
      ? new EventHubProducerClient(s.eventHubConnectionString, s.eventHub)
      : new EventHubProducerClient(s.eventHubConnectionString)
    : new EventHubProducerClient(s.namespace!, s.eventHub!, await credentialFor(s));
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const tty = Boolean(process.stderr.isTTY) && !args.json;
  let sum: PublishSummary;
  try {
    sum = await publish(args.inputs as string[], producer, {
      speed: args.speed as number,
      maxBodyBytes: (args['max-body-kb'] as number) * 1024,
      asIs: Boolean(args['as-is']),
      partitionId: args.partition as string | undefined,
      signal: stop.signal,
      onProgress: tty ? (p) => process.stderr.write(`\r\x1b[K${p.records.toLocaleString('en-US')} records in ${p.events.toLocaleString('en-US')} events`) : undefined,
    });
  } catch (e) {
    if (/does not exist/.test((e as Error).message)) throw new CliError((e as Error).message, 2);
    throw new CliError(`Publishing failed: ${describeAzureError(e)}`, 1);
  } finally {
    if (tty) process.stderr.write('\r\x1b[K');
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await producer.close();
  }
  if (args.json) {
    process.stdout.write(JSON.stringify(sum) + '\n');
    return;
  }
  note(`Published ${sum.records.toLocaleString('en-US')} ${args['as-is'] ? 'line' : 'record'}(s) from ${sum.files} file(s) as ${sum.events.toLocaleString('en-US')} event(s) in ${sum.batches} batch(es), ${(sum.bytes / 1e6).toFixed(1)} MB in ${sum.seconds.toFixed(1)} s.`);
  if (sum.skipped.length) {
    note(`Not sent: ${sum.skipped.length} item(s):`);
    for (const k of sum.skipped.slice(0, 20)) note(`  ${k.source}${k.line ? `:${k.line}` : ''}: ${k.reason}`);
    if (sum.skipped.length > 20) note(`  ... and ${sum.skipped.length - 20} more (--json lists them all)`);
  }
  if (stop.signal.aborted) throw new CliError('Stopped by a signal before all input was sent.', 130);
}
