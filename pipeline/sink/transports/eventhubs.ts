import { EventHubProducerClient, RetryMode, parseEventHubConnectionString, type EventData, type EventDataBatch, type EventHubClientOptions } from '@azure/event-hubs';
import { CliError } from '../../errors';
import { registerSecret } from '../../secrets';
import { describeAzureError } from '../../sources/eventhub';
import type { EventHubsSinkConfig } from '../config';
import { DeliveryError, type OutMessage, type Transport } from '../types';
import { sinkCredential } from './credential';

/**
 * The caller (sink/deliver.ts) owns backoff, so one send() gives up after a few seconds instead of the SDK's
 * default of minutes (3 retries, 30 s apart, 60 s per try).
 */
const CLIENT_OPTIONS: EventHubClientOptions = { retryOptions: { mode: RetryMode.Exponential, maxRetries: 2, retryDelayInMs: 300, maxRetryDelayInMs: 2_000, timeoutInMs: 10_000 } };
/** Partition keys sent at once; each key's batches go one after another so its versions stay in order. */
const KEY_CONCURRENCY = 8;

/**
 * Event Hubs: one event per alert, partition key = subject_id, so every version of a loop lands on one
 * partition in order. The body is the rendered text as UTF-8 bytes (a string body would be JSON-quoted by
 * the SDK); EventId, subject and action travel as message id, correlation id and application properties.
 */
export function createEventHubsTransport(cfg: EventHubsSinkConfig): Transport {
  const connectionString = (cfg.connectionStringEnv ? process.env[cfg.connectionStringEnv] : undefined) || cfg.connectionString || undefined;
  registerSecret(connectionString);
  if (connectionString) {
    let entityPath: string | undefined;
    try {
      entityPath = parseEventHubConnectionString(connectionString).eventHubName;
    } catch {
      throw new CliError(`Sink ${cfg.name}: the Event Hubs connection string is not valid (Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...;EntityPath=<hub>).`, 2);
    }
    if (!entityPath && !cfg.eventHub) throw new CliError(`Sink ${cfg.name}: the connection string has no EntityPath: add one, or set eventHub.`, 2);
  } else if (!(cfg.namespace && cfg.eventHub)) {
    const env = cfg.connectionStringEnv ? `the environment variable ${cfg.connectionStringEnv} is empty; ` : '';
    throw new CliError(`Sink ${cfg.name}: ${env}say which hub to send to: connectionStringEnv (or connectionString), or namespace and eventHub with a Microsoft Entra credential.`, 2);
  }
  const contentType = cfg.format === 'cef' ? 'text/plain' : 'application/json';
  let producer: Promise<EventHubProducerClient> | undefined;
  const open = () =>
    (producer ??= connectionString
      ? Promise.resolve(cfg.eventHub ? new EventHubProducerClient(connectionString, cfg.eventHub, CLIENT_OPTIONS) : new EventHubProducerClient(connectionString, CLIENT_OPTIONS))
      : sinkCredential(cfg.credential).then((credential) => new EventHubProducerClient(cfg.namespace!, cfg.eventHub!, credential, CLIENT_OPTIONS)));
  const where = () => (connectionString ? 'the hub of the connection string' : `${cfg.namespace}/${cfg.eventHub}`);

  // Every batch is built before any is sent, so an alert too big for one event fails the send before a
  // single event went out (tryAdd measures the encoded AMQP message against the link's limit).
  const build = async (client: EventHubProducerClient, key: string, events: EventData[]): Promise<EventDataBatch[]> => {
    const batches = [await client.createBatch({ partitionKey: key })];
    for (const event of events) {
      if (batches[batches.length - 1].tryAdd(event)) continue;
      const next = await client.createBatch({ partitionKey: key });
      if (!next.tryAdd(event)) {
        throw new DeliveryError(`Event Hubs sink ${cfg.name}: alert ${event.messageId} (${(event.body as Buffer).length} bytes) does not fit one event of ${next.maxSizeInBytes} bytes on this hub: it must be truncated.`, { tooLarge: true });
      }
      batches.push(next);
    }
    return batches;
  };

  return {
    // Standard tier: 1 MB per event or batch; the rest of the 1,048,576 bytes is left for AMQP headers and
    // properties. A Basic hub (256 KB) is not configured here: its link refuses bigger events, which come
    // back as tooLarge and get truncated.
    limits: { maxMessageBytes: 1_000_000, maxBatchMessages: 1_000, maxBatchBytes: 8_000_000 },
    async send(batch: OutMessage[]): Promise<void> {
      if (batch.length === 0) return;
      const byKey = new Map<string, EventData[]>();
      for (const m of batch) {
        const a = m.alert;
        const event: EventData = {
          body: Buffer.from(m.text, 'utf8'),
          contentType,
          messageId: m.eventId,
          correlationId: a.subject_id,
          properties: { event_id: m.eventId, subject_id: a.subject_id, version: a.version, action: a.action, kind: a.kind },
        };
        const list = byKey.get(a.subject_id);
        if (list) list.push(event);
        else byKey.set(a.subject_id, [event]);
      }
      try {
        const client = await open();
        const work: EventDataBatch[][] = [];
        for (const [key, events] of byKey) work.push(await build(client, key, events));
        // A failure after some keys were sent makes the caller resend the whole batch: those events arrive
        // twice, with the same messageId and event_id for the SIEM to dedupe.
        const worker = async () => {
          for (let batches = work.shift(); batches; batches = work.shift()) for (const b of batches) await client.sendBatch(b);
        };
        const results = await Promise.allSettled(Array.from({ length: Math.min(KEY_CONCURRENCY, work.length) }, worker));
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      } catch (e) {
        throw toDeliveryError(e, cfg, where());
      }
    },
    async close(): Promise<void> {
      const p = producer;
      producer = undefined;
      if (p) await (await p).close();
    },
  };
}

function toDeliveryError(e: unknown, cfg: EventHubsSinkConfig, where: string): DeliveryError {
  if (e instanceof DeliveryError) return e;
  if (e instanceof CliError) return new DeliveryError(e.message, { cause: e });
  const err = e as { code?: string; name?: string };
  // Without its final period: a hint follows.
  const what = describeAzureError(e).replace(/\.+$/, '');
  const prefix = `Event Hubs sink ${cfg.name}: ${what}.`;
  if (/CredentialUnavailable|AuthenticationError/.test(err.name ?? '')) {
    return new DeliveryError(`${prefix} No Microsoft Entra token: check this sink's credential setting (${cfg.credential?.kind ?? 'managed-identity'}).`, { cause: e });
  }
  switch (err.code) {
    case 'UnauthorizedError':
      return new DeliveryError(`${prefix} Give this sink's identity the "Azure Event Hubs Data Sender" role on ${where} (or check the connection string's key and its Send claim).`, { cause: e });
    case 'MessagingEntityNotFoundError':
      return new DeliveryError(`${prefix} Check the namespace and hub name (${where}).`, { cause: e });
    case 'MessageTooLargeError':
      return new DeliveryError(`${prefix} The hub refused the batch as too large: send fewer alerts at a time.`, { tooLarge: true, cause: e });
    // Event Hubs asks senders to back off about 4 s when a namespace is busy.
    case 'ServerBusyError':
    case 'QuotaExceededError':
      return new DeliveryError(`${prefix} The namespace is over its throughput units; retrying later.`, { retryAfterMs: 4_000, cause: e });
  }
  return new DeliveryError(`${prefix} Check that ${where} is reachable (AMQP over TLS, port 5671, or 443 with WebSockets).`, { cause: e });
}
