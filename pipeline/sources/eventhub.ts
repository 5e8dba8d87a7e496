import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import {
  EventHubConsumerClient,
  RetryMode,
  earliestEventPosition,
  latestEventPosition,
  type PartitionContext,
  type ReceivedEventData,
  type Subscription,
} from '@azure/event-hubs';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import { ContainerClient } from '@azure/storage-blob';
import type { TokenCredential } from '@azure/identity';
import { CliError } from '../errors';
import { redact, registerSecret } from '../secrets';
import type { CommitResult, HubEvent, Position, StreamIngest } from '../lake/stream';
import { advanceCheckpoint, readCheckpoints, type CheckpointScope } from './checkpoints';

/**
 * Where to read from and where to keep checkpoints. Two ways in, as tenants run it:
 *  - connection strings (Event Hubs and Storage), from the environment or a config file, never a flag;
 *  - Microsoft Entra credentials: namespace + hub + storage account URL, with a managed identity in production.
 */
export interface HubSettings {
  eventHubConnectionString?: string;
  namespace?: string;
  eventHub?: string;
  consumerGroup: string;
  storageConnectionString?: string;
  storageAccountUrl?: string;
  checkpointContainer: string;
  credential?: CredentialKind;
  managedIdentityClientId?: string;
}
export type CredentialKind = 'managed-identity' | 'workload-identity' | 'azure-cli' | 'default';
export const CREDENTIAL_KINDS: CredentialKind[] = ['managed-identity', 'workload-identity', 'azure-cli', 'default'];

export const ENV = {
  eventHubConnectionString: 'REAUTH_EVENTHUB_CONNECTION_STRING',
  storageConnectionString: 'REAUTH_STORAGE_CONNECTION_STRING',
} as const;

/** Settings from (lowest first) a JSON config file, the environment, then flags; secrets only from the first two. */
export async function loadSettings(flags: Partial<HubSettings> & { config?: string }, env: NodeJS.ProcessEnv = process.env, opts = { needCheckpoints: true }): Promise<HubSettings> {
  let file: Partial<HubSettings> = {};
  if (flags.config) {
    const text = await fsp.readFile(flags.config, 'utf8').catch((e: Error) => {
      throw new CliError(`Cannot read the config file ${flags.config}: ${e.message}`, 2);
    });
    try {
      file = JSON.parse(text) as Partial<HubSettings>;
    } catch {
      // The parser's message can quote the file, secrets and all.
      throw new CliError(`The config file ${flags.config} is not valid JSON. Keys: ${SETTING_KEYS.join(', ')}.`, 2);
    }
    const unknown = Object.keys(file).filter((k) => !SETTING_KEYS.includes(k as keyof HubSettings));
    if (unknown.length) throw new CliError(`Unknown key(s) in ${flags.config}: ${unknown.join(', ')}. Known: ${SETTING_KEYS.join(', ')}.`, 2);
  }
  const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== '')) as Partial<HubSettings>;
  const s: HubSettings = {
    consumerGroup: '$Default',
    checkpointContainer: 'reauth-loops-checkpoints',
    ...defined(file),
    ...defined({ eventHubConnectionString: env[ENV.eventHubConnectionString], storageConnectionString: env[ENV.storageConnectionString] }),
    ...defined({ ...flags, config: undefined }),
  };
  registerSecret(s.eventHubConnectionString);
  registerSecret(s.storageConnectionString);
  if (!s.eventHubConnectionString && !(s.namespace && s.eventHub)) {
    throw new CliError(`Say which hub to read: set ${ENV.eventHubConnectionString} (or eventHubConnectionString in --config), or pass --namespace and --event-hub to sign in with Microsoft Entra.`, 2);
  }
  if (opts.needCheckpoints && !s.storageConnectionString && !s.storageAccountUrl) {
    throw new CliError(`Say where checkpoints live: set ${ENV.storageConnectionString} (or storageConnectionString in --config), or pass --storage-account-url to sign in with Microsoft Entra.`, 2);
  }
  return s;
}
const SETTING_KEYS: (keyof HubSettings)[] = ['eventHubConnectionString', 'namespace', 'eventHub', 'consumerGroup', 'storageConnectionString', 'storageAccountUrl', 'checkpointContainer', 'credential', 'managedIdentityClientId'];

export async function credentialFor(s: HubSettings): Promise<TokenCredential> {
  const id = await import('@azure/identity');
  switch (s.credential ?? 'managed-identity') {
    case 'managed-identity':
      return s.managedIdentityClientId ? new id.ManagedIdentityCredential({ clientId: s.managedIdentityClientId }) : new id.ManagedIdentityCredential();
    case 'workload-identity':
      return new id.WorkloadIdentityCredential();
    case 'azure-cli':
      return new id.AzureCliCredential();
    case 'default':
      return new id.DefaultAzureCredential();
  }
}

export interface HubClients {
  consumer: EventHubConsumerClient;
  container: ContainerClient;
  scope: CheckpointScope;
}

export interface BalanceOptions {
  /** 'balanced' (SDK default) claims one partition per interval; 'greedy' claims all free ones at once. */
  strategy?: 'balanced' | 'greedy';
  /** How often each consumer looks at ownership (SDK default 10 s). */
  updateIntervalInMs?: number;
  /** A partition whose owner has not renewed for this long is free to take (SDK default 60 s). */
  partitionOwnershipExpirationIntervalInMs?: number;
}

/** The real SDK clients for these settings; the checkpoint container is created if it is missing. */
export async function openHub(s: HubSettings, opts: { ownerId?: string; balance?: BalanceOptions } = {}): Promise<HubClients> {
  const credential = s.eventHubConnectionString && s.storageConnectionString ? null : await credentialFor(s);
  const container = s.storageConnectionString
    ? new ContainerClient(s.storageConnectionString, s.checkpointContainer)
    : new ContainerClient(`${s.storageAccountUrl!.replace(/\/+$/, '')}/${encodeURIComponent(s.checkpointContainer)}`, credential!);
  try {
    if (!(await container.exists())) await container.create();
  } catch (e) {
    throw new CliError(
      `Cannot use the checkpoint container "${s.checkpointContainer}": ${describeAzureError(e)}. Create it, and give this identity the Storage Blob Data Contributor role on it.`,
      3,
    );
  }
  const store = new BlobCheckpointStore(container);
  const clientOptions = {
    identifier: opts.ownerId ?? `${hostname()}-${process.pid}`,
    // The SDK waits 30 s before its first retry by default; a dropped link should cost a second, not half a minute.
    retryOptions: { mode: RetryMode.Exponential, retryDelayInMs: 500, maxRetryDelayInMs: 30_000, maxRetries: 5 },
    loadBalancingOptions: { strategy: 'balanced' as const, ...opts.balance },
  };
  const consumer = s.eventHubConnectionString
    ? s.eventHub
      ? new EventHubConsumerClient(s.consumerGroup, s.eventHubConnectionString, s.eventHub, store, clientOptions)
      : new EventHubConsumerClient(s.consumerGroup, s.eventHubConnectionString, store, clientOptions)
    : new EventHubConsumerClient(s.consumerGroup, s.namespace!, s.eventHub!, credential!, store, clientOptions);
  return { consumer, container, scope: { fullyQualifiedNamespace: consumer.fullyQualifiedNamespace, eventHubName: consumer.eventHubName, consumerGroup: s.consumerGroup } };
}

/** The `source` of a streamed row: eventhub://<namespace>/<hub>/<partition>, one definition for every consumer. */
export function sourceOf(scope: CheckpointScope): (partitionId: string) => string {
  return (partitionId) => `eventhub://${scope.fullyQualifiedNamespace}/${scope.eventHubName}/${partitionId}`;
}

/** An SDK or REST error in one line, secrets out, with the status or code that tells what to fix. */
export function describeAzureError(e: unknown): string {
  const err = e as { message?: string; statusCode?: number; code?: string; name?: string };
  const parts = [err.code ?? err.name, err.statusCode ? `HTTP ${err.statusCode}` : undefined, (err.message ?? String(e)).split('\n')[0]].filter(Boolean);
  return redact(parts.join(': '));
}

export interface PartitionStatus {
  owned: boolean;
  lastSequenceNumber: number | null;
  lastEnqueuedSequenceNumber: number | null;
  checkpoint: number | null;
}

export type ConsumeEvent =
  | { event: 'started'; owner: string; namespace: string; eventHub: string; consumerGroup: string; lake: string }
  | { event: 'partition_claimed' | 'partition_released'; partition: string; reason?: string }
  | { event: 'commit'; events: number; read: number; landed: number; duplicates: number; quarantined: number; files: number; seconds: number; checkpoints: Record<string, number> }
  | { event: 'status'; events_per_second: number; totals: StreamIngest['totals']; buffered: number; partitions: Record<string, PartitionStatus> }
  | { event: 'warning' | 'error'; message: string; partition?: string }
  | { event: 'compacted'; partitions: Array<{ partition: string; files_before: number; rows: number }> }
  | { event: 'stopped'; reason: string; totals: StreamIngest['totals'] };

export interface ConsumeOptions {
  start: 'earliest' | 'latest';
  /** Events per processEvents call (SDK default 1; thousands are what make it fast). */
  maxBatchSize?: number;
  ownerId?: string;
  balance?: BalanceOptions;
  /**
   * Commit what is buffered once nothing has arrived for this long (default 2 s): Entra delivers in bursts,
   * so waiting out --roll-seconds after a burst would only add latency.
   */
  quietCommitSeconds?: number;
  /** Stop once nothing has arrived for this long and all is committed (demo, tests, catch-up jobs). */
  stopWhenIdleSeconds?: number;
  /** Aborting stops the consumer cleanly: no new events, a last commit, checkpoints, then return. */
  signal?: AbortSignal;
  onEvent?: (e: ConsumeEvent) => void;
  /**
   * After each commit and its checkpoints; `behind` are the hub's partitions that hold events not committed
   * yet (live detection waits for them before judging a loop stopped).
   */
  onCommit?: (r: CommitResult, behind: string[]) => void;
  /** Called with each durable position just before its checkpoint is written (tests check the lake here). */
  beforeCheckpoint?: (pos: Position) => Promise<void>;
  statusEveryMs?: number;
}

/**
 * Event Hubs → lake. The SDK's processEvents hands each partition's events over in order; they are buffered
 * in StreamIngest, which commits by size or age. Only after a commit do checkpoints move, through
 * advanceCheckpoint (compare-and-swap, never back). A commit that fails stops the consumer with the error:
 * nothing after the last checkpoint was acknowledged, so a restart re-reads it, and dedupe drops what had
 * landed. That is the whole recovery story, for a crash too.
 */
export async function consume(hub: HubClients, ingest: StreamIngest, opts: ConsumeOptions): Promise<{ reason: string }> {
  const emit = opts.onEvent ?? (() => undefined);
  const partitions = new Map<string, PartitionStatus>();
  const part = (id: string) => {
    let p = partitions.get(id);
    if (!p) partitions.set(id, (p = { owned: false, lastSequenceNumber: null, lastEnqueuedSequenceNumber: null, checkpoint: null }));
    return p;
  };
  /** Durable positions whose checkpoint write failed: retried on the next tick. */
  const unsaved = new Map<string, { partitionId: string; sequenceNumber: number; offset: string }>();
  let stopping = false;
  let failure: Error | null = null;
  let lastArrival = Date.now();
  let stop!: (reason: string) => void;
  const stopped = new Promise<string>((resolve) => (stop = resolve));

  // One checkpoint writer at a time: a commit and the retry tick must not race each other's positions.
  let saving: Promise<Record<string, number>> = Promise.resolve({});
  const saveCheckpoints = (): Promise<Record<string, number>> => (saving = saving.then(saveNow, saveNow));
  const saveNow = async (): Promise<Record<string, number>> => {
    const moved: Record<string, number> = {};
    for (const pos of [...unsaved.values()]) {
      try {
        await opts.beforeCheckpoint?.(pos);
        await advanceCheckpoint(hub.container, hub.scope, pos);
        if (unsaved.get(pos.partitionId) === pos) unsaved.delete(pos.partitionId);
        part(pos.partitionId).checkpoint = Math.max(part(pos.partitionId).checkpoint ?? -1, pos.sequenceNumber);
        moved[pos.partitionId] = pos.sequenceNumber;
      } catch (e) {
        emit({ event: 'warning', partition: pos.partitionId, message: `checkpoint not saved, will retry (the data is committed): ${describeAzureError(e)}` });
      }
    }
    return moved;
  };

  const commit = async (): Promise<void> => {
    let r: CommitResult | null;
    try {
      r = await ingest.commit();
    } catch (e) {
      failure ??= new CliError(
        `A commit failed, so the consumer stopped without moving any checkpoint past it: ${redact((e as Error).message)}\nNothing is lost: fix the cause (disk space, permissions on the lake) and start it again; it resumes at the last checkpoint.`,
        4,
      );
      stop('commit failed');
      return;
    }
    if (!r) return;
    for (const pos of r.positions) {
      const prev = unsaved.get(pos.partitionId);
      if (!prev || prev.sequenceNumber < pos.sequenceNumber) unsaved.set(pos.partitionId, pos);
    }
    const checkpoints = await saveCheckpoints();
    if (opts.onCommit) {
      // Partitions still to deliver: from the hub and the checkpoint store (partitions not claimed yet count);
      // from what this consumer knows when the hub cannot be asked.
      const mine = [...partitions].filter(([, p]) => hasBacklog(p)).map(([id]) => id);
      opts.onCommit(r, await backlogged(hub).then((all) => [...new Set([...all, ...mine])], () => mine));
    }
    emit({ event: 'commit', events: r.events, read: r.read, landed: r.landed, duplicates: r.duplicates, quarantined: r.quarantined, files: r.files.length, seconds: r.seconds, checkpoints });
  };

  const subscription: Subscription = hub.consumer.subscribe(
    {
      processInitialize: async (ctx: PartitionContext) => {
        part(ctx.partitionId).owned = true;
        emit({ event: 'partition_claimed', partition: ctx.partitionId });
      },
      processClose: async (reason, ctx: PartitionContext) => {
        part(ctx.partitionId).owned = false;
        emit({ event: 'partition_released', partition: ctx.partitionId, reason });
      },
      processEvents: async (events: ReceivedEventData[], ctx: PartitionContext) => {
        const p = part(ctx.partitionId);
        if (ctx.lastEnqueuedEventProperties?.sequenceNumber !== undefined) p.lastEnqueuedSequenceNumber = ctx.lastEnqueuedEventProperties.sequenceNumber;
        // Once stopping, events are left unread: they are past every checkpoint we will write.
        if (stopping || events.length === 0) return;
        lastArrival = Date.now();
        ingest.add(events.map((e) => toHubEvent(e, ctx.partitionId)));
        p.lastSequenceNumber = events[events.length - 1].sequenceNumber;
        // Waiting here holds this partition back while the lake catches up.
        if (ingest.needsRoll()) await commit();
      },
      processError: async (err: Error, ctx: PartitionContext) => {
        emit({ event: 'warning', partition: ctx.partitionId || undefined, message: describeAzureError(err) });
      },
    },
    {
      startPosition: opts.start === 'earliest' ? earliestEventPosition : latestEventPosition,
      maxBatchSize: opts.maxBatchSize ?? 1000,
      maxWaitTimeInSeconds: 1,
      skipParsingBodyAsJson: true,
      trackLastEnqueuedEventProperties: true,
    },
  );
  emit({ event: 'started', owner: hub.consumer.identifier, namespace: hub.scope.fullyQualifiedNamespace, eventHub: hub.scope.eventHubName, consumerGroup: hub.scope.consumerGroup, lake: ingest.lake.root });

  const onAbort = () => stop('signal');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) stop('signal');
  let lastStatus = Date.now();
  let eventsAtStatus = 0;
  let ticking = false;
  const tick = setInterval(() => {
    if (ticking || stopping) return;
    ticking = true;
    void (async () => {
      const quiet = Date.now() - lastArrival >= (opts.quietCommitSeconds ?? 2) * 1000;
      if (ingest.needsRoll() || (quiet && ingest.bufferedEvents > 0)) await commit();
      else if (unsaved.size) await saveCheckpoints();
      const now = Date.now();
      if (now - lastStatus >= (opts.statusEveryMs ?? 1000)) {
        const seen = ingest.totals.events + ingest.bufferedEvents;
        emit({ event: 'status', events_per_second: Math.round(((seen - eventsAtStatus) * 1000) / (now - lastStatus)), totals: { ...ingest.totals }, buffered: ingest.bufferedEvents, partitions: Object.fromEntries(partitions) });
        lastStatus = now;
        eventsAtStatus = seen;
      }
      if (opts.stopWhenIdleSeconds !== undefined && now - lastArrival >= opts.stopWhenIdleSeconds * 1000 && ingest.bufferedEvents === 0 && unsaved.size === 0) {
        if (await caughtUp(hub)) stop('idle');
        else lastArrival = now; // look again after another idle period
      }
    })().finally(() => (ticking = false));
  }, 250);

  const reason = await stopped;
  stopping = true;
  clearInterval(tick);
  opts.signal?.removeEventListener('abort', onAbort);
  // Last commit and checkpoints while we still own the partitions, then let them go.
  if (!failure) await commit();
  if (!failure) await saveCheckpoints();
  await subscription.close().catch((e: unknown) => emit({ event: 'warning', message: `closing the subscription: ${describeAzureError(e)}` }));
  await hub.consumer.close().catch(() => undefined);
  if (failure) throw failure;
  if (unsaved.size) emit({ event: 'warning', message: `${unsaved.size} checkpoint(s) could not be saved; their events are committed and will be read again (and deduplicated) on restart` });
  emit({ event: 'stopped', reason, totals: { ...ingest.totals } });
  return { reason };
}

/** An owned partition with events still in the hub, or received and not yet checkpointed. */
function hasBacklog(p: PartitionStatus): boolean {
  if (!p.owned) return false;
  const received = p.lastSequenceNumber ?? -1;
  return (p.lastEnqueuedSequenceNumber ?? -1) > received || received > (p.checkpoint ?? -1);
}

/** Every partition of the hub is checkpointed up to its last event (or empty): nothing is left to read. */
async function caughtUp(hub: HubClients): Promise<boolean> {
  return (await backlogged(hub)).length === 0;
}

/** The hub's partitions with events past their checkpoint, whoever owns them (another consumer, or none yet). */
async function backlogged(hub: HubClients): Promise<string[]> {
  const checkpoints = await readCheckpoints(hub.container, hub.scope);
  const ids = await hub.consumer.getPartitionIds();
  const props = await Promise.all(ids.map((id) => hub.consumer.getPartitionProperties(id)));
  return props.filter((p) => !p.isEmpty && (checkpoints.get(p.partitionId)?.sequenceNumber ?? -1) < p.lastEnqueuedSequenceNumber).map((p) => p.partitionId);
}

function toHubEvent(e: ReceivedEventData, partitionId: string): HubEvent {
  // skipParsingBodyAsJson gives a Buffer for data sections; an AMQP value body (another producer's choice) is kept as its JSON.
  const b = e.body as unknown;
  const body = b instanceof Uint8Array ? b : typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(JSON.stringify(b ?? null), 'utf8');
  return { partitionId, sequenceNumber: e.sequenceNumber, offset: String(e.offset), enqueuedTimeUtc: e.enqueuedTimeUtc, body };
}
