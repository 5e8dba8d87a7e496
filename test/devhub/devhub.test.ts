// The local Event Hubs against the real SDK: every test drives @azure/event-hubs clients (and, for the
// checkpoint store, Azurite) over loopback AMQP. Raw sockets and a bare rhea client appear only to
// play a misbehaving client; the jwt put-token goes through core-amqp's own CBS client because the SDK
// sends jwt only for TokenCredentials, which it connects with TLS.
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import {
  EventHubBufferedProducerClient,
  EventHubConsumerClient,
  EventHubProducerClient,
  earliestEventPosition,
  latestEventPosition,
} from '@azure/event-hubs';
import type { EventPosition, PartitionContext, ReceivedEventData, SubscribeOptions, Subscription } from '@azure/event-hubs';
import { ConnectionConfig, ConnectionContextBase, TokenType } from '@azure/core-amqp';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import { BlobServiceClient } from '@azure/storage-blob';
import { create_container } from 'rhea';
import type { AmqpError, Connection, EventContext, Message } from 'rhea';
import { startDevHub, type DevHub } from '../../pipeline/devhub/server';
import { startAzurite, type Azurite } from '../../pipeline/devhub/azurite';

const fast = { retryDelayInMs: 100, maxRetryDelayInMs: 400, maxRetries: 5 };
const lines: string[] = [];
let hub: DevHub;
let azurite: Azurite;
let blobs: BlobServiceClient;
const openClients: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  [hub, azurite] = await Promise.all([
    startDevHub({
      port: 0,
      log: (line) => lines.push(line),
      hubs: [
        { name: 'mgmt', partitions: 4 },
        { name: 'routing', partitions: 4 },
        { name: 'sizes', partitions: 1 },
        { name: 'positions', partitions: 1 },
        { name: 'bodies', partitions: 2 },
        { name: 'wake', partitions: 4 },
        { name: 'groups', partitions: 2, consumerGroups: ['Audit'] },
        { name: 'epochs', partitions: 1 },
        { name: 'metrics', partitions: 1 },
        { name: 'balance', partitions: 4 },
        { name: 'resume', partitions: 2 },
        { name: 'faults', partitions: 2 },
      ],
    }),
    startAzurite(),
  ]);
  blobs = BlobServiceClient.fromConnectionString(azurite.connectionString);
});

afterEach(async () => {
  await Promise.all(openClients.splice(0).map((client) => client.close().catch(() => undefined)));
});

afterAll(async () => {
  await hub?.close();
  await azurite?.close();
});

function track<T extends { close(): Promise<void> }>(client: T): T {
  openClients.push(client);
  return client;
}

const producerFor = (name: string) => track(new EventHubProducerClient(hub.connectionString(name), { retryOptions: fast }));
const consumerFor = (name: string, group = '$Default') =>
  track(new EventHubConsumerClient(group, hub.connectionString(name), { retryOptions: fast }));

async function until(ready: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const logged = (pattern: RegExp) => lines.filter((line) => pattern.test(line)).length;

interface Collected {
  events: ReceivedEventData[];
  errors: (Error & { code?: string })[];
  closes: string[];
  contexts: PartitionContext[];
  subscription: Subscription;
}

/** Subscribes (to one partition when `partitionId` is given) and records what arrives. */
function collect(client: EventHubConsumerClient, options: SubscribeOptions, partitionId?: string): Collected {
  const events: ReceivedEventData[] = [];
  const errors: Collected['errors'] = [];
  const closes: string[] = [];
  const contexts: PartitionContext[] = [];
  const handlers = {
    processEvents: async (batch: ReceivedEventData[], context: PartitionContext) => {
      events.push(...batch);
      if (batch.length) contexts.push(context);
    },
    processError: async (error: Error) => void errors.push(error),
    processClose: async (reason: string) => void closes.push(reason),
  };
  const subscription =
    partitionId === undefined ? client.subscribe(handlers, options) : client.subscribe(partitionId, handlers, options);
  return { events, errors, closes, contexts, subscription };
}

const sequenceNumbers = (events: ReceivedEventData[]) => events.map((e) => e.sequenceNumber);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('$cbs answers sastoken and jwt put-token requests, and their refreshes, with 202', async () => {
  // sastoken: what every connection-string client sends before its first link.
  await producerFor('mgmt').getEventHubProperties();
  expect(logged(/put-token servicebus\.windows\.net:sastoken sb:\/\/127\.0\.0\.1:\d+\/mgmt\/\$management$/)).toBeGreaterThan(0);

  const context = ConnectionContextBase.create({
    config: ConnectionConfig.create(hub.connectionString('mgmt')),
    connectionProperties: { product: 'devhub-test', version: '0', userAgent: 'devhub-test' },
  });
  try {
    await context.cbsSession.init();
    const audience = `sb://127.0.0.1:${hub.port}/mgmt`;
    // The second jwt is a refresh; negotiateClaim resolves only on a reply correlated to its message_id.
    for (const type of [TokenType.CbsTokenTypeJwt, TokenType.CbsTokenTypeJwt, TokenType.CbsTokenTypeSas]) {
      await expect(context.cbsSession.negotiateClaim(audience, 'header.payload.signature', type)).resolves.toMatchObject({ statusCode: 202 });
    }
    await expect(
      context.cbsSession.negotiateClaim(`sb://127.0.0.1:${hub.port}/nohub`, 'token', TokenType.CbsTokenTypeJwt),
    ).rejects.toMatchObject({ code: 'MessagingEntityNotFoundError' });
  } finally {
    await context.cbsSession.close();
    await context.connection.close();
  }
  expect(logged(/put-token jwt sb:\/\/127\.0\.0\.1:\d+\/mgmt$/)).toBe(2);
}, 20_000);

test('$management READ gives hub and partition properties; a bad partition or hub fails clearly', async () => {
  const producer = producerFor('mgmt');
  const properties = await producer.getEventHubProperties();
  expect(properties).toMatchObject({ name: 'mgmt', partitionIds: ['0', '1', '2', '3'], isGeoDrEnabled: false });
  expect(properties.createdOn).toBeInstanceOf(Date);
  expect(await producer.getPartitionIds()).toEqual(['0', '1', '2', '3']);
  expect(await producer.getPartitionProperties('3')).toMatchObject({
    eventHubName: 'mgmt',
    partitionId: '3',
    isEmpty: true,
    beginningSequenceNumber: 0,
    lastEnqueuedSequenceNumber: -1,
    lastEnqueuedOffset: '-1',
  });

  const before = Date.now();
  await producer.sendBatch([{ body: 'first' }, { body: 'second' }], { partitionId: '3' });
  const after = await producer.getPartitionProperties('3');
  expect(after).toMatchObject({ isEmpty: false, beginningSequenceNumber: 0, lastEnqueuedSequenceNumber: 1 });
  expect(after.lastEnqueuedOffset).toMatch(/^[1-9]\d*$/); // a byte offset, as a string
  expect(after.lastEnqueuedOnUtc.getTime()).toBeGreaterThanOrEqual(before - 1);
  expect(after.lastEnqueuedOnUtc.getTime()).toBeLessThanOrEqual(Date.now());

  await expect(producer.getPartitionProperties('4')).rejects.toMatchObject({ code: 'ArgumentOutOfRangeError' });

  // An unknown EntityPath fails at once (not retried) with the service's "could not be found".
  const stranger = producerFor('nohub');
  const started = Date.now();
  await expect(stranger.getEventHubProperties()).rejects.toMatchObject({
    code: 'MessagingEntityNotFoundError',
    message: expect.stringContaining("/nohub' could not be found"),
  });
  await expect(stranger.sendBatch([{ body: 'x' }])).rejects.toMatchObject({ code: 'MessagingEntityNotFoundError' });
  expect(Date.now() - started).toBeLessThan(3_000);
}, 20_000);

test('producer routes by partitionId, by partitionKey (as the SDK predicts), round robin, and sends arrays', async () => {
  const producer = producerFor('routing');
  const counts = () => new Map(hub.stats().filter((s) => s.hub === 'routing').map((s) => [s.partition, s.events]));
  /** Which partitions grew, and by how much, while `send` ran. */
  const growth = async (send: () => Promise<unknown>) => {
    const before = counts();
    await send();
    return [...counts()].filter(([p, n]) => n !== before.get(p)).map(([p, n]) => [p, n - before.get(p)!]);
  };

  const toTwo = await producer.createBatch({ partitionId: '2' });
  toTwo.tryAdd({ body: 'x' });
  toTwo.tryAdd({ body: 'y' });
  expect(await growth(() => producer.sendBatch(toTwo))).toEqual([['2', 2]]);
  expect(await growth(() => producer.sendBatch([{ body: 1 }, { body: 2 }, { body: 3 }], { partitionId: '1' }))).toEqual([['1', 3]]);

  // A key always lands in one partition: the one EventHubBufferedProducerClient computes for it.
  const buffered = track(
    new EventHubBufferedProducerClient(hub.connectionString('routing'), {
      retryOptions: fast,
      maxWaitTimeInMs: 20,
      onSendEventsErrorHandler: ({ error }) => {
        throw error;
      },
    }),
  );
  const keyed = new Set<string>();
  for (const key of ['alice@contoso.com', 'bob@contoso.com', 'carol@contoso.com', 'dave@contoso.com', 'ünïcödé']) {
    const batch = await producer.createBatch({ partitionKey: key });
    batch.tryAdd({ body: key });
    const viaBatch = await growth(() => producer.sendBatch(batch));
    expect(viaBatch).toHaveLength(1);
    expect(await growth(() => producer.sendBatch([{ body: key }], { partitionKey: key }))).toEqual(viaBatch);
    const predicted = await growth(async () => {
      await buffered.enqueueEvent({ body: key }, { partitionKey: key });
      await buffered.flush();
    });
    expect(predicted).toEqual(viaBatch);
    keyed.add(viaBatch[0][0] as string);
  }
  expect(keyed.size).toBeGreaterThan(1);

  // Neither: each batch goes whole to the next partition in turn.
  const targets: unknown[] = [];
  for (let i = 0; i < 4; i++) {
    const batch = await producer.createBatch();
    batch.tryAdd({ body: 'a' });
    batch.tryAdd({ body: 'b' });
    const grew = await growth(() => producer.sendBatch(batch));
    expect(grew).toHaveLength(1);
    expect(grew[0][1]).toBe(2);
    targets.push(grew[0][0]);
  }
  expect(new Set(targets).size).toBe(4);
}, 20_000);

test('max_message_size bounds createBatch, and an over-size send fails with MessageTooLargeError', async () => {
  const producer = producerFor('sizes');
  const batch = await producer.createBatch();
  expect(batch.maxSizeInBytes).toBe(1048576);
  expect(batch.tryAdd({ body: Buffer.alloc(1_100_000) })).toBe(false);
  expect(batch.tryAdd({ body: Buffer.alloc(900_000) })).toBe(true);
  expect(batch.tryAdd({ body: Buffer.alloc(200_000) })).toBe(false);
  await producer.sendBatch(batch);

  // Arrays skip the client-side check, so this reaches the hub, which rejects the transfer.
  await expect(producer.sendBatch([{ body: Buffer.alloc(1_100_000) }])).rejects.toMatchObject({ code: 'MessageTooLargeError' });
  expect(logged(/rejected a publish: \d+ bytes \(amqp:link:message-size-exceeded\)/)).toBe(1);
  await producer.sendBatch([{ body: 'the link still works' }]);
  expect(hub.stats().find((s) => s.hub === 'sizes')).toMatchObject({ events: 2, lastSequenceNumber: 1 });
}, 20_000);

test('start positions: earliest, latest, sequence number, offset and enqueued time', async () => {
  const producer = producerFor('positions');
  for (let i = 0; i < 10; i++) {
    await producer.sendBatch([{ body: `event ${i}` }]);
    await new Promise((resolve) => setTimeout(resolve, 3)); // distinct enqueued times
  }
  const consumer = consumerFor('positions');
  const read = async (startPosition: EventPosition, count: number) => {
    const got = collect(consumer, { startPosition, maxBatchSize: 20, maxWaitTimeInSeconds: 1 }, '0');
    await until(() => got.events.length >= count, `${count} events from ${JSON.stringify(startPosition)}`);
    await new Promise((resolve) => setTimeout(resolve, 100)); // nothing more should come
    await got.subscription.close();
    expect(got.errors).toEqual([]);
    return got.events;
  };

  const all = await read(earliestEventPosition, 10);
  expect(sequenceNumbers(all)).toEqual(range(0, 9));
  expect(all.map((e) => e.body)).toEqual(range(0, 9).map((i) => `event ${i}`));
  // Offsets: strings, byte positions, increasing; not the sequence numbers.
  expect(all[0].offset).toBe('0');
  expect(all.every((e) => typeof e.offset === 'string')).toBe(true);
  expect(all.map((e) => Number(e.offset))).toEqual([...all.map((e) => Number(e.offset))].sort((a, b) => a - b));
  expect(all[1].offset).not.toBe('1');

  expect(sequenceNumbers(await read({ sequenceNumber: 4 }, 5))).toEqual(range(5, 9));
  expect(sequenceNumbers(await read({ sequenceNumber: 4, isInclusive: true }, 6))).toEqual(range(4, 9));
  expect(sequenceNumbers(await read({ offset: all[6].offset }, 3))).toEqual(range(7, 9));
  expect(sequenceNumbers(await read({ offset: all[6].offset, isInclusive: true }, 4))).toEqual(range(6, 9));
  expect(sequenceNumbers(await read({ enqueuedOn: all[7].enqueuedTimeUtc }, 2))).toEqual(range(8, 9));

  const latest = collect(consumer, { startPosition: latestEventPosition, maxWaitTimeInSeconds: 1 }, '0');
  await until(() => logged(/consumer attached: positions\/ConsumerGroups\/\$Default\/Partitions\/0 from #10 /) === 1, 'the latest receiver');
  await producer.sendBatch([{ body: 'event 10' }, { body: 'event 11' }]);
  await until(() => latest.events.length >= 2, 'events published after attach');
  expect(sequenceNumbers(latest.events)).toEqual([10, 11]);
}, 30_000);

test('bodies arrive byte-identical with skipParsingBodyAsJson, with properties and partition key', async () => {
  const bodies = [
    Buffer.from("{'user': 'a', 'risk': NaN}"), // what Azure services sometimes call JSON
    Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x7b]), // not UTF-8 at all
    Buffer.from('Grüße aus 東京 — 🔐 sign-in', 'utf8'),
    Buffer.from('{"valid": "json", "n": 1}'),
  ];
  const big = randomBytes(900 * 1024);
  const producer = producerFor('bodies');
  const batch = await producer.createBatch({ partitionKey: 'user-42' });
  bodies.forEach((body, i) =>
    expect(batch.tryAdd({ body, properties: { index: i, source: 'test' }, contentType: 'application/octet-stream', messageId: `m${i}`, correlationId: 'c1' })).toBe(true),
  );
  await producer.sendBatch(batch);
  await producer.sendBatch([{ body: big }], { partitionId: '0' });

  const got = collect(consumerFor('bodies'), { startPosition: earliestEventPosition, skipParsingBodyAsJson: true, maxBatchSize: 10, maxWaitTimeInSeconds: 1 });
  await until(() => got.events.length >= 5, 'five events');
  const small = got.events.filter((e) => e.messageId !== undefined).sort((a, b) => a.sequenceNumber - b.sequenceNumber);
  expect(small.map((e) => Buffer.isBuffer(e.body) && e.body.equals(bodies[e.properties!.index as number]))).toEqual([true, true, true, true]);
  for (const [i, event] of small.entries()) {
    expect(event).toMatchObject({ partitionKey: 'user-42', properties: { index: i, source: 'test' }, contentType: 'application/octet-stream', messageId: `m${i}`, correlationId: 'c1' });
    expect(event.enqueuedTimeUtc).toBeInstanceOf(Date);
  }
  const large = got.events.find((e) => e.messageId === undefined)!;
  expect(Buffer.isBuffer(large.body) && large.body.equals(big)).toBe(true);
  expect(large.partitionKey).toBeUndefined();
  expect(got.errors).toEqual([]);
}, 20_000);

test('events published after a consumer attached wake it at once', async () => {
  // A long maxWaitTime: only the hub's wake-up on publish can deliver quickly.
  const got = collect(consumerFor('wake'), { startPosition: latestEventPosition, maxWaitTimeInSeconds: 30 });
  await until(() => logged(/consumer attached: wake\//) === 4, 'four partition receivers');
  const producer = producerFor('wake');
  for (let i = 1; i <= 4; i++) {
    const sent = Date.now();
    await producer.sendBatch([{ body: i }]);
    await until(() => got.events.length === i, `event ${i}`);
    expect(Date.now() - sent).toBeLessThan(1_000); // not the 30 s maxWaitTime
  }
  expect(new Set(got.events.map((e) => e.body))).toEqual(new Set([1, 2, 3, 4]));
}, 20_000);

test('consumer groups are independent and case-insensitive; unknown group or partition is refused', async () => {
  await producerFor('groups').sendBatch([{ body: 'a' }, { body: 'b' }, { body: 'c' }], { partitionId: '0' });
  for (const group of ['$Default', 'Audit', 'AUDIT', '$default']) {
    const got = collect(consumerFor('groups', group), { startPosition: earliestEventPosition, maxBatchSize: 10, maxWaitTimeInSeconds: 1 });
    await until(() => got.events.length >= 3, `three events for group ${group}`);
    expect(got.events.map((e) => e.body)).toEqual(['a', 'b', 'c']);
  }

  const unknownGroup = collect(consumerFor('groups', 'nope'), { maxWaitTimeInSeconds: 1 }, '0');
  await until(() => unknownGroup.errors.length > 0, 'an error for the unknown group');
  expect(unknownGroup.errors[0]).toMatchObject({ code: 'MessagingEntityNotFoundError', message: expect.stringContaining('ConsumerGroups/nope') });

  const unknownPartition = collect(consumerFor('groups'), { maxWaitTimeInSeconds: 1 }, '7');
  await until(() => unknownPartition.errors.length > 0, 'an error for the unknown partition');
  expect(unknownPartition.errors[0]).toMatchObject({ code: 'ArgumentOutOfRangeError' });
}, 20_000);

test('owner level: an equal or higher epoch steals the partition, a lower or missing one is refused', async () => {
  const attached = (epoch: string) => logged(new RegExp(`consumer attached: epochs/.*\\(epoch ${epoch}\\b`));
  const watch = (ownerLevel?: number) =>
    collect(consumerFor('epochs'), { ownerLevel, startPosition: earliestEventPosition, maxWaitTimeInSeconds: 1 }, '0');
  const stolen = (c: Collected) => c.errors.some((e) => e.code === 'ReceiverDisconnectedError');

  const first = watch(1);
  await until(() => attached('1') === 1, 'epoch 1 attached');
  const second = watch(2);
  await until(() => stolen(first), 'epoch 1 losing to epoch 2');
  await until(() => first.closes.includes('OwnershipLost'), 'processClose(OwnershipLost)');
  expect(attached('2')).toBe(1);

  const lower = watch(1);
  await until(() => stolen(lower), 'epoch 1 refused while epoch 2 holds');
  const none = watch(undefined);
  await until(() => stolen(none), 'a receiver without epoch refused while epoch 2 holds');
  expect(attached('1')).toBe(1);
  expect(attached('none')).toBe(0);

  const equal = watch(2);
  await until(() => stolen(second), 'epoch 2 losing to a new epoch 2');
  expect(attached('2')).toBe(2);
  expect(equal.errors).toEqual([]);
  // Done with epochs: stop every subscription before their 10 s retry loops come back.
  await Promise.all([first, second, lower, none, equal].map((c) => c.subscription.close()));

  // Receivers without an epoch share a partition.
  const [a, b] = [watch(undefined), watch(undefined)];
  await until(() => attached('none') === 2, 'two receivers without epoch');
  await producerFor('epochs').sendBatch([{ body: 'for both' }]);
  await until(() => a.events.length === 1 && b.events.length === 1, 'the event at both');
}, 20_000);

test('load balancing with BlobCheckpointStore on Azurite: two consumers split 4 partitions, one takes all when the other leaves', async () => {
  const container = blobs.getContainerClient('balance');
  await container.create();
  const store = new BlobCheckpointStore(container);
  const start = () => {
    const owned = new Set<string>();
    const client = track(
      new EventHubConsumerClient('$Default', hub.connectionString('balance'), store, {
        retryOptions: fast,
        loadBalancingOptions: { updateIntervalInMs: 500, partitionOwnershipExpirationIntervalInMs: 3000 },
      }),
    );
    client.subscribe(
      {
        processInitialize: async (context) => void owned.add(context.partitionId),
        processClose: async (_reason, context) => void owned.delete(context.partitionId),
        processEvents: async () => undefined,
        processError: async () => undefined,
      },
      { startPosition: earliestEventPosition, maxWaitTimeInSeconds: 1 },
    );
    return { client, owned };
  };

  const [a, b] = [start(), start()];
  // During a steal both briefly hold the partition (the old owner's processClose comes after the
  // new owner's processInitialize), so wait for a settled split.
  await until(() => a.owned.size === 2 && b.owned.size === 2 && new Set([...a.owned, ...b.owned]).size === 4, 'two partitions each', 20_000);

  await a.client.close();
  await until(() => b.owned.size === 4, 'the remaining consumer owning all four', 15_000);
}, 40_000);

test('a new consumer resumes exactly after the BlobCheckpointStore checkpoint: nothing skipped or repeated', async () => {
  const container = blobs.getContainerClient('resume');
  await container.create();
  const store = new BlobCheckpointStore(container);
  const producer = producerFor('resume');
  const publish = async (from: number, to: number) => {
    for (const partitionId of ['0', '1']) {
      await producer.sendBatch(range(from, to).map((i) => ({ body: `p${partitionId}-${i}` })), { partitionId });
    }
  };
  const consumer = () =>
    track(
      new EventHubConsumerClient('$Default', hub.connectionString('resume'), store, {
        retryOptions: fast,
        loadBalancingOptions: { strategy: 'greedy', updateIntervalInMs: 500 },
      }),
    );
  await publish(0, 9);

  // The first consumer checkpoints event 4 of each partition, then stops.
  const checkpointed = new Map<string, ReceivedEventData>();
  const first = consumer();
  const subscription = first.subscribe(
    {
      processEvents: async (events, context) => {
        const fifth = events.find((e) => e.sequenceNumber === 4);
        if (fifth && !checkpointed.has(context.partitionId)) {
          await context.updateCheckpoint(fifth);
          checkpointed.set(context.partitionId, fifth);
        }
      },
      processError: async () => undefined,
    },
    { startPosition: earliestEventPosition, maxBatchSize: 3, maxWaitTimeInSeconds: 1 },
  );
  await until(() => checkpointed.size === 2, 'checkpoints on both partitions');
  await subscription.close();
  await first.close();
  const stored = await store.listCheckpoints(first.fullyQualifiedNamespace, 'resume', '$Default');
  expect(stored.map((c) => [c.partitionId, c.sequenceNumber, c.offset]).sort()).toEqual(
    [...checkpointed].map(([p, e]) => [p, 4, e.offset]).sort(),
  );

  await publish(10, 14);
  const second = collect(consumer(), { startPosition: earliestEventPosition, maxBatchSize: 20, maxWaitTimeInSeconds: 1 });
  const of = (p: string) => second.events.filter((e) => (e.body as string).startsWith(`p${p}-`)).map((e) => e.sequenceNumber);
  await until(() => of('0').length >= 10 && of('1').length >= 10, 'events after the checkpoints');
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(of('0')).toEqual(range(5, 14));
  expect(of('1')).toEqual(range(5, 14));
}, 30_000);

test('runtime metrics fill lastEnqueuedEventProperties when trackLastEnqueuedEventProperties is set', async () => {
  const producer = producerFor('metrics');
  await producer.sendBatch(range(0, 4).map((i) => ({ body: i })));
  const latest = await producer.getPartitionProperties('0');
  const got = collect(
    consumerFor('metrics'),
    { startPosition: earliestEventPosition, trackLastEnqueuedEventProperties: true, maxBatchSize: 2, maxWaitTimeInSeconds: 1 },
    '0',
  );
  await until(() => got.contexts.length > 0, 'a first batch');
  expect(logged(/consumer attached: metrics\/.*runtime metrics\)/)).toBe(1);
  expect({ ...got.contexts[0].lastEnqueuedEventProperties }).toEqual({
    sequenceNumber: 4,
    offset: latest.lastEnqueuedOffset,
    enqueuedOn: latest.lastEnqueuedOnUtc,
    retrievedOn: expect.any(Date),
  });

  await until(() => got.events.length === 5, 'all five');
  await producer.sendBatch([{ body: 5 }]);
  await until(() => got.events.length === 6, 'the sixth');
  expect(got.contexts.at(-1)?.lastEnqueuedEventProperties?.sequenceNumber).toBe(5);
}, 20_000);

test('faults: a consumer loses nothing and sees no gap across detached links and closed connections; a busy send is retried', async () => {
  // @azure/event-hubs 6.0.4 leaks a 45-minute token-renewal timer for every reattached receiver
  // (partitionReceiver.js connect() replaces state.authLoop without stopping the old loop), which
  // would keep jest alive after a detach: note the timers made here and clear the long ones at the end.
  const timers = jest.spyOn(global, 'setTimeout');
  const consumer = consumerFor('faults');
  try {
    const producer = producerFor('faults');
    let next = 0;
    const publish = async () => {
      for (const partitionId of ['0', '1']) {
        await producer.sendBatch(range(0, 9).map(() => ({ body: next++ })), { partitionId });
      }
    };
    const got = collect(consumer, { startPosition: earliestEventPosition, maxBatchSize: 5, maxWaitTimeInSeconds: 1 });
    await publish();
    await until(() => got.events.length === 20, 'the first 20');

    hub.injectFault({ kind: 'detach-receivers', count: 2 });
    await publish();
    await until(() => got.events.length === 40, '40 across two detaches');
    expect(logged(/fault: detached consumer .*amqp:link:detach-forced/)).toBe(2);

    hub.injectFault({ kind: 'close-connections' });
    await publish();
    await until(() => got.events.length === 60, '60 across a closed connection');
    expect(logged(/fault: closed connection .*amqp:connection:forced/)).toBe(1);

    hub.injectFault({ kind: 'server-busy-send' });
    await publish();
    await until(() => got.events.length === 80, '80 after a rejected send');
    expect(logged(/rejected a publish: fault \(com\.microsoft:server-busy\)/)).toBe(1);

    // Events 0–9 of each publish round went to partition 0, 10–19 to partition 1.
    const partitionOf = (event: ReceivedEventData) => String(Math.floor((event.body as number) / 10) % 2);
    for (const partitionId of ['0', '1']) {
      expect(got.events.filter((e) => partitionOf(e) === partitionId).map((e) => e.sequenceNumber)).toEqual(range(0, 39));
    }
    expect(new Set(got.events.map((e) => e.body)).size).toBe(80);
  } finally {
    await consumer.close();
    timers.mock.calls.forEach(([, ms], i) => {
      if ((ms ?? 0) >= 10 * 60_000) clearTimeout(timers.mock.results[i].value as NodeJS.Timeout);
    });
    timers.mockRestore();
  }
}, 30_000);

test('retention drops the oldest events and moves the beginning sequence number', async () => {
  const small = await startDevHub({ port: 0, hubs: [{ name: 'tiny', partitions: 1 }], retention: 3 });
  try {
    const producer = track(new EventHubProducerClient(small.connectionString(), { retryOptions: fast }));
    await producer.sendBatch(range(0, 4).map((i) => ({ body: i })));
    expect(await producer.getPartitionProperties('0')).toMatchObject({ beginningSequenceNumber: 2, lastEnqueuedSequenceNumber: 4 });
    const consumer = track(new EventHubConsumerClient('$Default', small.connectionString(), { retryOptions: fast }));
    for (const startPosition of [earliestEventPosition, { sequenceNumber: 0, isInclusive: true }]) {
      const got = collect(consumer, { startPosition, maxBatchSize: 10, maxWaitTimeInSeconds: 1 }, '0');
      await until(() => got.events.length === 3, 'the three retained events');
      expect(got.events.map((e) => e.body)).toEqual([2, 3, 4]);
      expect(Number(got.events[0].offset)).toBeGreaterThan(0);
      await got.subscription.close();
    }
    expect(small.stats()).toEqual([{ hub: 'tiny', partition: '0', events: 3, lastSequenceNumber: 4 }]);
  } finally {
    await Promise.all(openClients.splice(0).map((client) => client.close()));
    await small.close();
  }
}, 20_000);

test('bad clients get AMQP errors or a closed socket, and the server keeps serving the SDK', async () => {
  // Not AMQP at all, then a valid AMQP header followed by garbage frames.
  for (const bytes of [Buffer.from('GET / HTTP/1.1\r\nHost: devhub\r\n\r\n'), Buffer.concat([Buffer.from('AMQP\x00\x01\x00\x00', 'latin1'), randomBytes(256)])]) {
    const socket = tcpConnect(hub.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.resume(); // read (and ignore) the server's AMQP header, or 'close' never comes
    await once(socket, 'connect');
    socket.end(bytes);
    await once(socket, 'close');
  }

  const connection: Connection = create_container().connect({ host: '127.0.0.1', port: hub.port, reconnect: false });
  connection.on('error', () => undefined);
  await once(connection, 'connection_open');
  try {
    const refusal = (address: string) =>
      new Promise<string | undefined>((resolve) => {
        connection
          .open_receiver({ source: { address }, credit_window: 0 })
          .once('receiver_close', (context: EventContext) => resolve((context.receiver!.error as AmqpError | undefined)?.condition));
      });
    expect(await refusal('nohub/ConsumerGroups/$Default/Partitions/0')).toBe('amqp:not-found');
    expect(await refusal('mgmt/ConsumerGroups/$Default/Partitions/99')).toBe('com.microsoft:argument-out-of-range');
    expect(await refusal('mgmt/ConsumerGroups/$Default/Partitions/0 nonsense')).toBe('com.microsoft:argument-out-of-range');
    expect(await refusal('///')).toBe('amqp:not-found');

    const responses = new Map<unknown, Message>();
    const replies = connection.open_receiver({ source: { address: '$management' }, name: 'bad-client-replies' });
    replies.on('message', (context: EventContext) => responses.set(context.message!.correlation_id, context.message!));
    const requests = connection.open_sender({ target: { address: '$management' } });
    await once(requests, 'sendable');
    const ask = async (message_id: string, application_properties?: Record<string, unknown>, body?: unknown) => {
      requests.send({ message_id, reply_to: 'bad-client-replies', application_properties, body });
      await until(() => responses.has(message_id), `a reply to ${message_id}`);
      return responses.get(message_id)!.application_properties;
    };
    expect(await ask('no-properties')).toMatchObject({ 'status-code': 501, 'error-condition': 'amqp:not-implemented' });
    expect(await ask('no-name', { operation: 'READ', type: 'com.microsoft:eventhub' })).toMatchObject({ 'status-code': 400 });
    expect(await ask('bad-type', { operation: 'READ', name: 'mgmt', type: 'com.microsoft:nonsense' })).toMatchObject({ 'status-code': 400 });
    expect(await ask('no-hub', { operation: 'READ', name: 'nohub', type: 'com.microsoft:eventhub' })).toMatchObject({
      'status-code': 404,
      'error-condition': 'amqp:not-found',
    });
    expect(await ask('bad-partition', { operation: 'READ', name: 'mgmt', type: 'com.microsoft:partition', partition: 'x' }, Buffer.from('{'))).toMatchObject({
      'status-code': 400,
      'error-condition': 'com.microsoft:argument-out-of-range',
    });
    // A request nobody can answer (no reply link) is logged and dropped, not fatal.
    requests.send({ message_id: 'lost', reply_to: 'no-such-link', application_properties: { operation: 'READ' }, body: null });
    await until(() => logged(/dropped a reply: no receiver link named 'no-such-link'/) === 1, 'the dropped reply');
  } finally {
    connection.close();
    await once(connection, 'connection_close');
  }
  expect(logged(/protocol error/)).toBeGreaterThan(0);

  const producer = producerFor('mgmt');
  expect((await producer.getEventHubProperties()).name).toBe('mgmt');
  await producer.sendBatch([{ body: 'still serving' }], { partitionId: '0' });
}, 20_000);
