// DevHub: a local, in-memory Azure Event Hubs for tests and demos. It speaks the slice of AMQP 1.0 the
// real @azure/event-hubs SDK uses (design/event-hubs.md §3): $cbs put-token, $management READ,
// publishing (batch envelopes), partition receivers with selector filters, epochs and runtime metrics.
// The SDK connects with `UseDevelopmentEmulator=true`, which means plain TCP and SASL ANONYMOUS.
import type { Server, Socket } from 'node:net';
import { create_container, message as amqpMessage, types as amqpTypes } from 'rhea';
import type { AmqpError, Connection, Delivery, EventContext, Message, Receiver, Sender } from 'rhea';
import { Partition, parseSelector } from './partition';
import { partitionIndexForKey } from './partitionKey';

export interface DevHubOptions {
  host?: string; // default '127.0.0.1' (loopback only by default)
  port?: number; // default 5672; 0 = any free port
  hubs?: { name: string; partitions: number; consumerGroups?: string[] }[]; // default [{name:'signins', partitions:4}]; '$Default' group always exists
  maxMessageSize?: number; // default 1048576 (bytes, per event or per batch)
  retention?: number; // max events kept per partition (oldest dropped, begin_sequence_number moves); default unlimited
  log?: (line: string) => void; // optional one-line connection/link events
}

export interface DevHub {
  readonly host: string;
  readonly port: number;
  connectionString(hub?: string): string; // "Endpoint=sb://127.0.0.1:<port>;SharedAccessKeyName=dev;SharedAccessKey=devkey;EntityPath=<hub>;UseDevelopmentEmulator=true"
  stats(): { hub: string; partition: string; events: number; lastSequenceNumber: number }[];
  /**
   * Fault injection for tests: the next `count` operations of that kind fail (default 1).
   * - 'server-busy-send': a publish is rejected with `com.microsoft:server-busy` (the SDK retries it).
   * - 'detach-receivers': instead of delivering an event, the receiver link is detached with
   *   `amqp:link:detach-forced` (the SDK reattaches after its last received sequence number).
   * - 'close-connections': instead of delivering an event, the receiver's whole connection is closed
   *   with `amqp:connection:forced` (the SDK reconnects and resumes).
   * Receiver faults fire on deliveries, so they land mid-stream at a deterministic point.
   */
  injectFault(f: { kind: 'detach-receivers' | 'server-busy-send' | 'close-connections'; count?: number }): void;
  close(): Promise<void>;
}

type FaultKind = Parameters<DevHub['injectFault']>[0]['kind'];

const BATCH_FORMAT = 0x80013700; // Microsoft's batch envelope: each data section is a whole message
const SELECTOR_FILTER = 'apache.org:selector-filter:string';
const EPOCH = 'com.microsoft:epoch';
const RUNTIME_METRIC = 'com.microsoft:enable-receiver-runtime-metric';
const PARTITION_KEY = 'x-opt-partition-key';
const TOKEN_TYPES = ['servicebus.windows.net:sastoken', 'jwt'];

interface Hub {
  name: string;
  partitions: Partition[];
  /** Lower-cased name → name as configured: groups, like hubs, are case-insensitive. */
  groups: Map<string, string>;
  createdAt: Date;
  nextRoundRobin: number;
}

/** A consumer's partition receiver; on our side an AMQP sender. */
interface Reader {
  link: Sender;
  hub: Hub;
  group: string;
  partition: Partition;
  epoch?: number;
  /** Sequence number to deliver next. */
  next: number;
  runtimeMetrics: boolean;
  unwatch: () => void;
}

/** What a client's sending link (our receiver) is for. */
type Inbound = { kind: 'cbs' } | { kind: 'management' } | { kind: 'publish'; hub: Hub; partition?: Partition };

/** An AMQP error with both fields set. */
interface Failure {
  condition: string;
  description: string;
}

/** A $cbs or $management response. */
interface Status {
  code: number;
  description: string;
  condition?: string;
  body?: Record<string, unknown>;
}

export async function startDevHub(opts: DevHubOptions = {}): Promise<DevHub> {
  const host = opts.host ?? '127.0.0.1';
  const maxMessageSize = opts.maxMessageSize ?? 1048576;
  const retention = opts.retention ?? Infinity;
  const log = opts.log ?? (() => undefined);
  if (!(maxMessageSize > 0)) throw new TypeError(`maxMessageSize must be a positive number of bytes, got ${maxMessageSize}`);
  if (!(retention >= 1)) throw new TypeError(`retention must be at least 1 event, got ${retention}`);
  const hubs = new Map<string, Hub>();
  for (const spec of opts.hubs ?? [{ name: 'signins', partitions: 4 }]) {
    if (!/^[\w.-]+$/.test(spec.name) || hubs.has(spec.name.toLowerCase())) {
      throw new TypeError(`hub names must be unique and made of letters, digits, '.', '_' or '-', got '${spec.name}'`);
    }
    if (!Number.isInteger(spec.partitions) || spec.partitions < 1 || spec.partitions > 1024) {
      throw new TypeError(`hub '${spec.name}' needs 1 to 1024 partitions, got ${spec.partitions}`);
    }
    const groups = new Map(['$Default', ...(spec.consumerGroups ?? [])].map((g) => [g.toLowerCase(), g]));
    const partitions = Array.from({ length: spec.partitions }, (_, i) => new Partition(String(i), retention));
    hubs.set(spec.name.toLowerCase(), { name: spec.name, partitions, groups, createdAt: new Date(), nextRoundRobin: 0 });
  }
  const firstHub = [...hubs.values()][0]?.name ?? 'signins';

  // Our receivers must not auto-accept: publishes can be rejected (size, faults, bad envelopes).
  const container = create_container({ id: 'devhub', receiver_options: { autoaccept: false } });
  const readers = new Set<Reader>();
  const readerOf = new WeakMap<Sender, Reader>();
  const inboundOf = new WeakMap<Receiver, Inbound>();
  /** Our senders for clients' $cbs/$management reply links, with replies waiting for credit. */
  const replyLinks = new WeakMap<Sender, Message[]>();
  const connections = new Set<Connection>();
  const connectionIds = new WeakMap<Connection, string>();
  const faults: Record<FaultKind, number> = { 'detach-receivers': 0, 'server-busy-send': 0, 'close-connections': 0 };
  let connectionCount = 0;
  let port = 0;

  const idOf = (connection: Connection): string => {
    let id = connectionIds.get(connection);
    if (!id) connectionIds.set(connection, (id = `c${++connectionCount}`));
    return id;
  };
  const entityUri = (path: string) => `sb://${host}:${port}/${path}`;
  const notFound = (path: string): Failure => ({
    // The SDK maps "The messaging entity … could not be found" to MessagingEntityNotFoundError.
    condition: 'amqp:not-found',
    description: `The messaging entity '${entityUri(path)}' could not be found.`,
  });
  const outOfRange = (hub: Hub): Failure => ({
    condition: 'com.microsoft:argument-out-of-range',
    description:
      'The specified partition is invalid for an EventHub partition sender or receiver. ' +
      `It should be between 0 and ${hub.partitions.length - 1}.`,
  });
  const takeFault = (kind: FaultKind): boolean => {
    if (faults[kind] === 0) return false;
    faults[kind]--;
    return true;
  };

  const findHub = (name: string): Hub | Failure => hubs.get(name.toLowerCase()) ?? notFound(name);
  const findPartition = (hub: Hub, id: string): Partition | Failure => hub.partitions.find((p) => p.id === id) ?? outOfRange(hub);

  // ---- links ---------------------------------------------------------------------------------------

  /** A client receiver attached: a $cbs/$management reply link, or a partition consumer. */
  function onSenderOpen(link: Sender): void {
    const address = link.source?.address ?? '';
    const id = idOf(link.connection);
    if (address === '$cbs' || address === '$management' || address.endsWith('/$management')) {
      replyLinks.set(link, []);
      echoTermini(link);
      return;
    }
    const match = /^([^/]+)\/ConsumerGroups\/([^/]+)\/Partitions\/([^/]+)$/i.exec(address);
    if (!match) return refuse(link, notFound(address));
    const [, hubName, groupName, partitionId] = match;
    const hub = findHub(hubName);
    if (failed(hub)) return refuse(link, hub);
    const partition = findPartition(hub, partitionId);
    if (failed(partition)) return refuse(link, partition);
    const group = hub.groups.get(groupName.toLowerCase());
    if (!group) return refuse(link, notFound(`${hub.name}/ConsumerGroups/${groupName}`));
    const text = filterText(link.source?.filter?.[SELECTOR_FILTER]);
    const selector = text === undefined ? { on: 'offset' as const, value: 'earliest' as const, inclusive: false } : parseSelector(text);
    if (!selector) {
      return refuse(link, { condition: 'com.microsoft:argument-error', description: `Unsupported selector filter: ${text}` });
    }
    const epoch = toNumber(link.properties?.[EPOCH]);
    if (!claimOwnership(link, hub, group, partition, epoch)) return;

    const runtimeMetrics = capabilities(link.desired_capabilities).includes(RUNTIME_METRIC);
    echoTermini(link);
    if (runtimeMetrics) attachFields(link).offered_capabilities = [RUNTIME_METRIC];
    const reader: Reader = {
      link,
      hub,
      group,
      partition,
      epoch,
      next: partition.startOf(selector),
      runtimeMetrics,
      unwatch: partition.watch(() => pump(reader)),
    };
    readers.add(reader);
    readerOf.set(link, reader);
    log(`${id} consumer attached: ${address} from #${reader.next} (epoch ${epoch ?? 'none'}${runtimeMetrics ? ', runtime metrics' : ''})`);
  }

  /**
   * Owner level: an epoch receiver detaches every receiver with an equal or lower epoch and every
   * non-epoch receiver; a lower epoch, or no epoch while an epoch receiver is attached, is refused.
   * Receivers without epochs coexist. Both sides get `amqp:link:stolen` (ReceiverDisconnectedError).
   */
  function claimOwnership(link: Sender, hub: Hub, group: string, partition: Partition, epoch?: number): boolean {
    dropClosedReaders();
    const rivals = [...readers].filter((r) => r.hub === hub && r.group === group && r.partition === partition);
    const epochs = rivals.flatMap((r) => (r.epoch === undefined ? [] : [r.epoch]));
    const highest = epochs.length ? Math.max(...epochs) : undefined;
    const who = `receiver on partition ${partition.id} of consumer group '${group}'`;
    if (highest !== undefined && (epoch === undefined || epoch < highest)) {
      refuse(link, {
        condition: 'amqp:link:stolen',
        description: `Receiver with epoch '${epoch ?? 'none'}' cannot be created because a ${who} with a higher epoch '${highest}' exists.`,
      });
      return false;
    }
    if (epoch === undefined) return true;
    for (const rival of rivals) {
      drop(rival);
      rival.link.close({
        condition: 'amqp:link:stolen',
        description: `New receiver with higher epoch of '${epoch}' is created hence current ${who} with epoch '${rival.epoch ?? 'none'}' is getting disconnected.`,
      });
      log(`${idOf(rival.link.connection)} consumer stolen: ${rival.hub.name}/${group}/${partition.id} by epoch ${epoch}`);
    }
    return true;
  }

  /** A client sender attached: $cbs/$management requests, or a publisher to a hub or one partition. */
  function onReceiverOpen(link: Receiver): void {
    const address = link.target?.address ?? '';
    const id = idOf(link.connection);
    let inbound: Inbound;
    if (address === '$cbs') inbound = { kind: 'cbs' };
    else if (address === '$management' || address.endsWith('/$management')) inbound = { kind: 'management' };
    else {
      const match = /^([^/]+)(?:\/Partitions\/([^/]+))?$/i.exec(address);
      if (!match) return refuse(link, notFound(address));
      const hub = findHub(match[1]);
      if (failed(hub)) return refuse(link, hub);
      const partition = match[2] === undefined ? undefined : findPartition(hub, match[2]);
      if (partition && failed(partition)) return refuse(link, partition);
      inbound = { kind: 'publish', hub, partition };
      // Advertised so createBatch() sizes batches to what we accept (it becomes maxSizeInBytes).
      attachFields(link).max_message_size = maxMessageSize;
      log(`${id} publisher attached: ${address}`);
    }
    inboundOf.set(link, inbound);
    echoTermini(link);
  }

  function refuse(link: Sender | Receiver, error: AmqpError): void {
    // No source/target is echoed: an attach answered with a null terminus followed by a detach is how AMQP refuses a link.
    link.close(error);
    log(`${idOf(link.connection)} refused ${link.is_sender() ? 'receiver' : 'sender'} '${link.name}': ${error.condition}: ${error.description}`);
  }

  function drop(reader: Reader): void {
    reader.unwatch();
    readers.delete(reader);
  }

  /** Forgets readers whose link, session or connection has gone, however it went. */
  function dropClosedReaders(): void {
    for (const reader of readers) if (!reader.link.is_open()) drop(reader);
  }

  // ---- delivery ------------------------------------------------------------------------------------

  /** Sends events while the consumer has credit; called on attach credit, 'sendable' and each append. */
  function pump(reader: Reader): void {
    const { link, partition } = reader;
    while (readers.has(reader) && link.is_open() && link.sendable()) {
      const event = partition.eventFrom(reader.next);
      if (!event) return;
      if (takeFault('detach-receivers')) {
        drop(reader);
        link.close({ condition: 'amqp:link:detach-forced', description: 'DevHub fault injection: receiver detached, reattach to resume.' });
        log(`${idOf(link.connection)} fault: detached consumer at #${event.sequenceNumber} (amqp:link:detach-forced)`);
        return;
      }
      if (takeFault('close-connections')) {
        link.connection.close({ condition: 'amqp:connection:forced', description: 'DevHub fault injection: connection closed, reconnect to resume.' });
        dropClosedReaders();
        log(`${idOf(link.connection)} fault: closed connection at #${event.sequenceNumber} (amqp:connection:forced)`);
        return;
      }
      const annotations: Record<string, unknown> = {
        ...event.message.message_annotations,
        'x-opt-sequence-number': amqpTypes.wrap_long(event.sequenceNumber),
        'x-opt-offset': event.offset, // a string: SDK v6 requires it
        'x-opt-enqueued-time': event.enqueuedTime,
      };
      if (event.partitionKey !== undefined) annotations[PARTITION_KEY] = event.partitionKey;
      const delivered: Message = {
        ...event.message,
        message_annotations: annotations,
        // A publisher's delivery annotations are not passed on; runtime metrics go here when asked for.
        delivery_annotations: reader.runtimeMetrics ? runtimeInfo(partition) : undefined,
      };
      link.send(delivered);
      reader.next = event.sequenceNumber + 1;
    }
  }

  // ---- inbound messages ----------------------------------------------------------------------------

  function onMessage(context: EventContext): void {
    const link = context.receiver;
    const delivery = context.delivery;
    if (!link || !delivery) return;
    const inbound = inboundOf.get(link);
    if (!inbound) return delivery.reject({ condition: 'amqp:not-allowed', description: 'This link does not accept messages.' });
    // For custom formats rhea hands over the raw bytes instead of a decoded message.
    const payload: Message | Buffer = context.message as Message | Buffer;
    if (inbound.kind === 'publish') return publish(link, inbound, delivery, payload);
    if (Buffer.isBuffer(payload)) return delivery.reject({ condition: 'amqp:decode-error', description: 'Requests must be plain AMQP messages.' });
    delivery.accept();
    const status = inbound.kind === 'cbs' ? putToken(link.connection, payload) : management(payload);
    reply(link.connection, payload, status);
  }

  function publish(link: Receiver, target: Extract<Inbound, { kind: 'publish' }>, delivery: Delivery, payload: Message | Buffer): void {
    const id = idOf(link.connection);
    const reject = (error: Failure, why: string) => {
      log(`${id} rejected a publish: ${why} (${error.condition})`);
      delivery.reject(error);
    };
    if (takeFault('server-busy-send')) {
      return reject({ condition: 'com.microsoft:server-busy', description: 'DevHub fault injection: server busy, retry later.' }, 'fault');
    }
    let events: { message: Message; size: number; partitionKey?: string }[];
    let envelope: Message;
    let size: number;
    try {
      if (delivery.format === BATCH_FORMAT && Buffer.isBuffer(payload)) {
        size = payload.length;
        envelope = decode(payload);
        events = unbatch(envelope);
      } else if (delivery.format === 0 && !Buffer.isBuffer(payload)) {
        size = amqpMessage.encode(payload).length;
        envelope = payload;
        events = [{ message: payload, size, partitionKey: keyOf(payload) }];
      } else {
        throw new Error(`unsupported message format 0x${delivery.format.toString(16)}`);
      }
    } catch (error) {
      return reject({ condition: 'amqp:decode-error', description: `Could not decode the message: ${String(error)}` }, String(error));
    }
    if (size > maxMessageSize) {
      const description = `The received message (size: ${size} bytes) exceeds the limit (${maxMessageSize} bytes) currently allowed on the link.`;
      return reject({ condition: 'amqp:link:message-size-exceeded', description }, `${size} bytes`);
    }
    const { hub } = target;
    const key = keyOf(envelope) ?? events[0]?.partitionKey;
    const partition =
      target.partition ??
      (key !== undefined
        ? hub.partitions[partitionIndexForKey(key, hub.partitions.length)]
        : hub.partitions[hub.nextRoundRobin++ % hub.partitions.length]);
    delivery.accept();
    if (events.length) partition.append(events);
  }

  /** The events inside a batch envelope: one encoded AMQP message per data section. */
  function unbatch(envelope: Message): { message: Message; size: number; partitionKey?: string }[] {
    const body = envelope.body as { typecode?: number; content?: unknown; multiple?: boolean } | undefined;
    if (body?.typecode !== 0x75) throw new Error('a batch envelope needs data sections');
    const sections = (body.multiple ? body.content : [body.content]) as unknown[];
    return sections.map((section) => {
      if (!Buffer.isBuffer(section)) throw new Error('a batch data section must be binary');
      const message = decode(section);
      return { message, size: section.length, partitionKey: keyOf(message) };
    });
  }

  /** CBS: any well-formed token is accepted (nothing is secret here); refreshes simply succeed again. */
  function putToken(connection: Connection, request: Message): Status {
    const props = request.application_properties ?? {};
    if (props.operation !== 'put-token') return badRequest(`Unsupported $cbs operation '${props.operation}'.`);
    if (!TOKEN_TYPES.includes(props.type)) return badRequest(`Unsupported token type '${props.type}'.`);
    if (typeof props.name !== 'string' || !(typeof request.body === 'string' || Buffer.isBuffer(request.body))) {
      return badRequest('put-token needs an audience in "name" and the token as the body.');
    }
    // Audiences look like sb://host:port/<hub>/…; an unknown hub fails here, so every SDK call says "not found".
    const hubName = /^[a-z]+:\/\/[^/]+\/([^/?]+)/i.exec(props.name)?.[1];
    if (hubName && !hubs.has(hubName.toLowerCase())) {
      log(`${idOf(connection)} put-token ${props.type} for unknown entity ${props.name}`);
      return { code: 404, ...notFound(hubName) };
    }
    log(`${idOf(connection)} put-token ${props.type} ${props.name}`);
    return { code: 202, description: 'Accepted' };
  }

  /** $management READ of com.microsoft:eventhub and com.microsoft:partition, as managementClient.js asks. */
  function management(request: Message): Status {
    const props = request.application_properties ?? {};
    if (props.operation !== 'READ') {
      return { code: 501, condition: 'amqp:not-implemented', description: `Unsupported $management operation '${props.operation}'.` };
    }
    if (typeof props.name !== 'string') return badRequest('READ needs the hub name in "name".');
    const hub = findHub(props.name);
    if (failed(hub)) return { code: 404, ...hub };
    if (props.type === 'com.microsoft:eventhub') {
      const body = {
        name: hub.name,
        type: props.type,
        created_at: hub.createdAt,
        partition_count: hub.partitions.length,
        partition_ids: hub.partitions.map((p) => p.id),
      };
      return { code: 200, description: 'OK', body };
    }
    if (props.type === 'com.microsoft:partition') {
      const partition = findPartition(hub, String(props.partition));
      if (failed(partition)) return { code: 400, ...partition };
      const p = partition.properties();
      const body = {
        name: hub.name,
        type: props.type,
        partition: partition.id,
        begin_sequence_number: amqpTypes.wrap_long(p.beginSequenceNumber),
        last_enqueued_sequence_number: amqpTypes.wrap_long(p.lastSequenceNumber),
        last_enqueued_offset: p.lastOffset,
        last_enqueued_time_utc: p.lastEnqueuedTime,
        is_partition_empty: p.isEmpty,
      };
      return { code: 200, description: 'OK', body };
    }
    return badRequest(`Unsupported entity type '${props.type}'.`);
  }

  /** Answers on the client's receiver named by reply_to, queueing if it has no credit yet. */
  function reply(connection: Connection, request: Message, status: Status): void {
    const replyTo = request.reply_to;
    const link: Sender | undefined = connection.find_sender((s: Sender) => replyLinks.has(s) && s.name === replyTo);
    if (!link) {
      log(`${idOf(connection)} dropped a reply: no receiver link named '${replyTo}'`);
      return;
    }
    const application_properties: Record<string, unknown> = {
      'status-code': amqpTypes.wrap_int(status.code),
      'status-description': status.description,
    };
    if (status.condition) application_properties['error-condition'] = status.condition;
    replyLinks.get(link)!.push({ correlation_id: request.message_id, application_properties, body: status.body });
    flushReplies(link);
  }

  function flushReplies(link: Sender): void {
    const queue = replyLinks.get(link);
    while (queue?.length && link.is_open() && link.sendable()) link.send(queue.shift()!);
  }

  // ---- wiring --------------------------------------------------------------------------------------

  const guarded =
    (event: string, handler: (context: EventContext) => void) =>
    (context: EventContext): void => {
      // A bug or a hostile peer must cost that peer its connection, never the server.
      try {
        handler(context);
      } catch (error) {
        log(`${idOf(context.connection)} internal error on ${event}: ${String(error)}; closing the connection`);
        context.connection.close({ condition: 'amqp:internal-error', description: String(error) });
      }
    };
  container.on(
    'connection_open',
    guarded('open', (c) => {
      connections.add(c.connection);
      log(`${idOf(c.connection)} open from ${peer(c.connection)}`);
    }),
  );
  container.on('sender_open', guarded('attach', (c) => onSenderOpen(c.sender!)));
  container.on('receiver_open', guarded('attach', (c) => onReceiverOpen(c.receiver!)));
  container.on('message', guarded('transfer', onMessage));
  container.on(
    'sendable',
    guarded('flow', (c) => {
      const reader = readerOf.get(c.sender!);
      if (reader) pump(reader);
      else flushReplies(c.sender!);
    }),
  );
  container.on('sender_close', (c: EventContext) => {
    const reader = readerOf.get(c.sender!);
    if (reader && readers.has(reader)) log(`${idOf(c.connection)} consumer detached: ${reader.link.source.address}`);
    dropClosedReaders();
  });
  container.on('session_close', () => dropClosedReaders());
  container.on('connection_close', (c: EventContext) => {
    connections.delete(c.connection);
    dropClosedReaders();
    log(`${idOf(c.connection)} closed`);
  });
  container.on('disconnected', (c: EventContext) => {
    connections.delete(c.connection);
    dropClosedReaders();
    log(`${idOf(c.connection)} disconnected${c.error ? `: ${String(c.error)}` : ''}`);
  });
  // rhea emits these with an Error, not a context; without listeners it would throw or print.
  container.on('error', (error: unknown) => log(`error: ${String(error)}`));
  container.on('protocol_error', (error: unknown) => log(`protocol error: ${String(error)}`));
  for (const event of ['connection_error', 'session_error', 'sender_error', 'receiver_error']) {
    container.on(event, (c: EventContext) => log(`${idOf(c.connection)} peer reported ${event}: ${errorOf(c)}`));
  }

  const sockets = new Set<Socket>();
  const server: Server = container.listen({ host, port: opts.port ?? 5672 });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          error.code === 'EADDRINUSE'
            ? `DevHub cannot listen on ${host}:${opts.port ?? 5672}: the port is in use. Stop the other AMQP server or pass port 0 for any free port.`
            : `DevHub cannot listen on ${host}:${opts.port ?? 5672}: ${error.message}`,
        ),
      ),
    );
  });
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : (opts.port ?? 5672);
  log(`listening on ${host}:${port}`);

  return {
    host,
    port,
    connectionString: (hub = firstHub) =>
      `Endpoint=sb://${host}:${port};SharedAccessKeyName=dev;SharedAccessKey=devkey;EntityPath=${hub};UseDevelopmentEmulator=true`,
    stats: () =>
      [...hubs.values()].flatMap((hub) =>
        hub.partitions.map((p) => ({ hub: hub.name, partition: p.id, events: p.count, lastSequenceNumber: p.lastSequenceNumber })),
      ),
    injectFault: ({ kind, count = 1 }) => {
      if (!(kind in faults)) throw new TypeError(`Unknown fault kind '${kind}'`);
      if (!Number.isInteger(count) || count < 1) throw new TypeError(`A fault count must be a positive integer, got ${count}`);
      faults[kind] += count;
      log(`fault armed: ${kind} ×${count}`);
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Politely first, so clients still connected see amqp:connection:forced rather than a reset.
      for (const connection of connections) {
        connection.close({ condition: 'amqp:connection:forced', description: 'DevHub is shutting down.' });
      }
      // Destroying with an error makes rhea clean up (heartbeat timers) as it does for a peer that vanished.
      const deadline = setTimeout(() => sockets.forEach((s) => s.destroy(new Error('DevHub closed'))), 1000);
      await closed;
      clearTimeout(deadline);
      for (const reader of readers) drop(reader);
    },
  };
}

// rhea types decode() with its own body-less Message type.
const decode = (bytes: Buffer): Message => amqpMessage.decode(bytes) as unknown as Message;

const failed = (found: object): found is Failure => 'condition' in found;

/** Read by eventData.js fromRheaMessage into the SDK's lastEnqueuedEventProperties. */
function runtimeInfo(partition: Partition): Record<string, unknown> {
  const last = partition.properties();
  return {
    last_enqueued_sequence_number: amqpTypes.wrap_long(last.lastSequenceNumber),
    last_enqueued_offset: last.lastOffset,
    last_enqueued_time_utc: last.lastEnqueuedTime,
    runtime_info_retrieval_time_utc: new Date(),
  };
}

function badRequest(description: string): Status {
  return { code: 400, condition: 'com.microsoft:argument-error', description };
}

/** The selector text, whether rhea left the described filter wrapped or not. */
function filterText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && 'value' in value) return filterText((value as { value: unknown }).value);
  return undefined;
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (value && typeof value === 'object' && 'value' in value) return toNumber((value as { value: unknown }).value);
  return undefined;
}

function capabilities(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** Fields of our attach frame that rhea has no setter for; written before the frame goes out (next tick). */
function attachFields(link: Sender | Receiver): { max_message_size?: number; offered_capabilities?: string[] } {
  return (link as unknown as { local: { attach: { max_message_size?: number; offered_capabilities?: string[] } } }).local.attach;
}

/** Answer the attach with the client's own addresses, as the service does. */
function echoTermini(link: Sender | Receiver): void {
  if (link.source?.address) link.set_source({ address: link.source.address });
  if (link.target?.address) link.set_target({ address: link.target.address });
}

function keyOf(message: Message): string | undefined {
  const key: unknown = message.message_annotations?.[PARTITION_KEY];
  return typeof key === 'string' ? key : key === undefined || key === null ? undefined : String(key);
}

function peer(connection: Connection): string {
  const socket = connection.socket as Socket | undefined;
  return socket?.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'unknown peer';
}

function errorOf(context: EventContext): string {
  const error = (context.sender ?? context.receiver ?? context.session ?? context.connection)?.error as AmqpError | undefined;
  return error ? `${error.condition}: ${error.description}` : 'no error';
}
