import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { openDuckDB } from '../sql/duckdb';
import type { HubCoordinates, LineBatch } from '../sources/files';
import type { BatchResult } from '../normalize/batch';
import { NormalizePool } from '../normalize/pool';
import { formatMicros } from '../normalize/time';
import { atomicWrite, Lake } from './lake';
import { QuarantineFile } from './quarantine';
import { SignInWriter } from './writer';

/** One event as the consumer hands it over: the body's bytes, untouched, and where it sat on the hub. */
export interface HubEvent {
  partitionId: string;
  sequenceNumber: number;
  offset: string;
  enqueuedTimeUtc: Date;
  body: Uint8Array;
}

/** The last event of a partition that a commit made durable: what a checkpoint may move to. */
export interface Position {
  partitionId: string;
  sequenceNumber: number;
  offset: string;
}

export interface StreamTotals {
  events: number;
  /** Records and unreadable bodies, counted as `import` counts items. */
  read: number;
  landed: number;
  duplicates: number;
  quarantined: number;
  files: number;
  commits: number;
}

export interface CommitResult {
  events: number;
  read: number;
  landed: number;
  duplicates: number;
  quarantined: number;
  files: string[];
  positions: Position[];
  seconds: number;
  /** Enqueued → committed, per event, in milliseconds. */
  latenciesMs: number[];
}

export interface StreamOptions {
  /** Written into each row's `source`, e.g. eventhub://ns/hub/partition. */
  sourceOf: (partitionId: string) => string;
  /** Commit when the buffered bodies reach this many bytes (default 32 MiB). */
  rollBytes?: number;
  /** ... or when the oldest buffered event has waited this long (default 60 s). */
  rollSeconds?: number;
  workers?: number;
  memoryLimit?: string;
  /** How long a commit waits for another writer (an import) to finish landing (default 30 min). */
  lockWaitMs?: number;
  onLockWait?: (holder: number) => void;
  now?: () => Date;
}

/** Bodies are normalized in chunks of about this size, so both cores share a commit. */
const CHUNK_BYTES = 1 << 20;

/**
 * The streaming side of the lake: takes raw Event Hub bodies, and on commit() runs them through exactly
 * the import's path (normalize/batch.ts on worker threads, then SignInWriter: dedupe, Parquet, fsync,
 * rename) and returns, per partition, the last event that is now durable. Only then may the caller move a
 * checkpoint (sources/checkpoints.ts). Commits run one at a time and in arrival order, so positions only grow.
 *
 * Several consumers may share one lake folder: each lands under the lake lock, so the dedupe anti-join
 * always sees what the others landed.
 */
export class StreamIngest {
  readonly totals: StreamTotals = { events: 0, read: 0, landed: 0, duplicates: 0, quarantined: 0, files: 0, commits: 0 };
  private buffer: HubEvent[] = [];
  private bytes = 0;
  private firstBufferedAt: number | null = null;
  private committing: Promise<CommitResult | null> = Promise.resolve(null);
  private closed = false;
  private readonly rollBytes: number;
  private readonly rollMs: number;
  private readonly now: () => Date;

  private constructor(
    readonly streamId: string,
    readonly lake: Lake,
    private readonly opts: StreamOptions,
    private readonly pool: NormalizePool,
    private readonly db: { close: () => void },
    private readonly writer: SignInWriter,
    private readonly quarantine: QuarantineFile,
    private readonly startedAt: Date,
  ) {
    this.rollBytes = opts.rollBytes ?? 32 << 20;
    this.rollMs = (opts.rollSeconds ?? 60) * 1000;
    this.now = opts.now ?? (() => new Date());
  }

  static async open(lakeDir: string, opts: StreamOptions): Promise<StreamIngest> {
    const now = opts.now ?? (() => new Date());
    const started = now();
    const streamId = `str-${started.toISOString().replace(/[-:.]/g, '').replace('T', '-').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
    const lake = new Lake(lakeDir);
    await lake.ensure();
    await lake.clearStaging();
    const quarantine = new QuarantineFile(lake.quarantine, streamId, now);
    const pool = new NormalizePool(started.toISOString().replace('T', ' ').replace('Z', ''), opts.workers);
    const db = await openDuckDB({ memoryLimit: opts.memoryLimit ?? '1GB' });
    const lock = () => lake.lock({ waitMs: opts.lockWaitMs ?? 30 * 60_000, onWait: opts.onLockWait });
    const writer = new SignInWriter(lake, db.conn, streamId, quarantine, 250_000, lock);
    return new StreamIngest(streamId, lake, opts, pool, db, writer, quarantine, started);
  }

  /** Buffer events; nothing is durable (and no checkpoint may move) until commit(). */
  add(events: readonly HubEvent[]): void {
    if (this.closed) throw new Error('stream ingest is closed');
    if (events.length === 0) return;
    this.firstBufferedAt ??= Date.now();
    for (const e of events) {
      this.buffer.push(e);
      this.bytes += e.body.length;
    }
  }

  get bufferedEvents(): number {
    return this.buffer.length;
  }

  /** Size or age says it is time to write a file. */
  needsRoll(): boolean {
    if (this.buffer.length === 0) return false;
    return this.bytes >= this.rollBytes || Date.now() - (this.firstBufferedAt ?? Date.now()) >= this.rollMs;
  }

  /** Make everything buffered so far durable. Calls queue behind each other; each takes what was buffered when it began. */
  commit(): Promise<CommitResult | null> {
    const next = this.committing.then(() => this.commitNow());
    this.committing = next.catch(() => null);
    return next;
  }

  private async commitNow(): Promise<CommitResult | null> {
    const events = this.buffer;
    if (events.length === 0) return null;
    this.buffer = [];
    this.bytes = 0;
    this.firstBufferedAt = null;
    const t0 = Date.now();
    const before = { landed: this.writer.landed, duplicates: this.writer.duplicates, quarantined: this.quarantine.count, files: this.writer.files.length };
    let read = 0;
    const chunks = chunk(events, this.opts.sourceOf);
    const results = chunks.map((c) => this.pool.submit(c.batch));
    try {
      for (let i = 0; i < chunks.length; i++) {
        const r: BatchResult = await results[i];
        read += r.read;
        for (const q of r.rejects) {
          // line numbers the document inside the chunk (see LineBatch.ends): its event's coordinates.
          const e = chunks[i].events[(q.line ?? 1) - 1];
          this.quarantine.add({ ...q, line: null, byte_offset: null, eh_partition: e.partitionId, eh_sequence_number: e.sequenceNumber, eh_offset: e.offset, eh_enqueued_time: e.enqueuedTimeUtc.toISOString() });
        }
        for (const row of r.rows) this.writer.add(row);
      }
      await this.writer.flush();
    } catch (e) {
      await Promise.allSettled(results);
      await this.writer.idle();
      throw e;
    }
    const landed = this.writer.landed - before.landed;
    const duplicates = this.writer.duplicates - before.duplicates;
    const quarantined = this.quarantine.count - before.quarantined;
    if (read !== landed + duplicates + quarantined) {
      throw new Error(`accounting broke in commit: read ${read} != landed ${landed} + duplicates ${duplicates} + quarantined ${quarantined}`);
    }
    const done = Date.now();
    const last = new Map<string, HubEvent>();
    for (const e of events) {
      const seen = last.get(e.partitionId);
      if (!seen || e.sequenceNumber > seen.sequenceNumber) last.set(e.partitionId, e);
    }
    Object.assign(this.totals, {
      events: this.totals.events + events.length,
      read: this.totals.read + read,
      landed: this.totals.landed + landed,
      duplicates: this.totals.duplicates + duplicates,
      quarantined: this.totals.quarantined + quarantined,
      files: this.writer.files.length,
      commits: this.totals.commits + 1,
    });
    await this.writeSummary();
    return {
      events: events.length,
      read,
      landed,
      duplicates,
      quarantined,
      files: this.writer.files.slice(before.files),
      positions: [...last.values()].map((e) => ({ partitionId: e.partitionId, sequenceNumber: e.sequenceNumber, offset: e.offset })),
      seconds: (done - t0) / 1000,
      latenciesMs: events.map((e) => done - e.enqueuedTimeUtc.getTime()),
    };
  }

  /** _imports/<stream-id>.json: the running totals, rewritten after every commit. */
  private async writeSummary(): Promise<void> {
    const finished = this.now();
    await atomicWrite(
      join(this.lake.imports, `${this.streamId}.json`),
      JSON.stringify(
        {
          import_id: this.streamId,
          lake: this.lake.root,
          kind: 'stream',
          started_at: this.startedAt.toISOString(),
          updated_at: finished.toISOString(),
          ...this.totals,
          quarantined_by_reason: Object.fromEntries(this.quarantine.byReason),
          quarantine_file: this.quarantine.count ? this.quarantine.path : null,
        },
        null,
        2,
      ) + '\n',
    );
  }

  /** Drop what is buffered but not committed (after a failure, or when stopping without a final commit). */
  discard(): number {
    const n = this.buffer.length;
    this.buffer = [];
    this.bytes = 0;
    this.firstBufferedAt = null;
    return n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.committing;
    await this.writer.idle();
    await this.quarantine.close();
    await this.pool.close();
    this.db.close();
  }
}

interface Chunk {
  batch: LineBatch;
  events: HubEvent[];
}

/** Events of one partition, in order, as multi-document batches of about CHUNK_BYTES. */
function chunk(events: readonly HubEvent[], sourceOf: (partitionId: string) => string): Chunk[] {
  const byPartition = new Map<string, HubEvent[]>();
  for (const e of events) {
    const list = byPartition.get(e.partitionId);
    if (list) list.push(e);
    else byPartition.set(e.partitionId, [e]);
  }
  const out: Chunk[] = [];
  for (const [partition, list] of byPartition) {
    for (let i = 0; i < list.length; ) {
      const part: HubEvent[] = [];
      let size = 0;
      while (i < list.length && (part.length === 0 || size + list[i].body.length <= CHUNK_BYTES)) {
        part.push(list[i]);
        size += list[i++].body.length;
      }
      const bytes = new Uint8Array(size); // its own buffer: moved, not copied, to a worker
      const ends: number[] = [];
      const coords: HubCoordinates[] = [];
      let at = 0;
      for (const e of part) {
        bytes.set(e.body, at);
        at += e.body.length;
        ends.push(at);
        coords.push({ partition, sequenceNumber: e.sequenceNumber, enqueuedTime: formatMicros(e.enqueuedTimeUtc.getTime() * 1000) });
      }
      out.push({ batch: { kind: 'lines', source: sourceOf(partition), bytes, firstLine: 1, byteOffset: 0, ends, events: coords }, events: part });
    }
  }
  return out;
}
