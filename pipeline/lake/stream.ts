import { join } from 'node:path';
import { openDuckDB } from '../sql/duckdb';
import type { HubCoordinates, LineBatch } from '../sources/files';
import type { BatchResult } from '../normalize/batch';
import { NormalizePool } from '../normalize/pool';
import { formatMicros } from '../normalize/time';
import { atomicWrite, Lake, runId } from './lake';
import { QuarantineFile } from './quarantine';
import type { BlobMirror } from './remote';
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
  /** The lake is in Blob Storage: the folder is its local spool, and a file is committed once uploaded. */
  mirror?: BlobMirror;
  now?: () => Date;
}

/** Bodies are normalized in chunks of about this size: big enough to amortize a worker round trip, small enough to spread. */
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
  /** Per partition, the chunk being filled; sealed chunks are already normalizing on the pool. */
  private open = new Map<string, { events: HubEvent[]; bytes: number }>();
  private sealed: Array<{ chunk: Chunk; result: Promise<BatchResult> }> = [];
  private buffered = 0;
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
    const streamId = runId('str', started);
    const lake = new Lake(lakeDir);
    await lake.ensure();
    await lake.clearStaging();
    await opts.mirror?.reconcile(lake);
    const quarantine = new QuarantineFile(lake.quarantine, streamId, now);
    const pool = new NormalizePool(formatMicros(started.getTime() * 1000), opts.workers);
    const db = await openDuckDB({ memoryLimit: opts.memoryLimit ?? '1GB' });
    const lock = () => lake.lock({ waitMs: opts.lockWaitMs ?? 30 * 60_000, onWait: opts.onLockWait });
    const mirror = opts.mirror;
    const fetch = mirror ? async (dirs: string[]) => void (await mirror.fetchPartitions(lake, dirs)) : undefined;
    const writer = new SignInWriter(lake, db.conn, streamId, quarantine, 250_000, lock, fetch);
    return new StreamIngest(streamId, lake, opts, pool, db, writer, quarantine, started);
  }

  /**
   * Buffer events; nothing is durable (and no checkpoint may move) until commit(). Full chunks start
   * normalizing on the worker threads at once, so parsing overlaps receiving and the previous landing.
   */
  add(events: readonly HubEvent[]): void {
    if (this.closed) throw new Error('stream ingest is closed');
    if (events.length === 0) return;
    this.firstBufferedAt ??= Date.now();
    for (const e of events) {
      let o = this.open.get(e.partitionId);
      if (!o) this.open.set(e.partitionId, (o = { events: [], bytes: 0 }));
      o.events.push(e);
      o.bytes += e.body.length;
      this.bytes += e.body.length;
      this.buffered++;
      if (o.bytes >= CHUNK_BYTES) this.seal(e.partitionId);
    }
  }

  private seal(partitionId: string): void {
    const o = this.open.get(partitionId);
    if (!o || o.events.length === 0) return;
    this.open.delete(partitionId);
    const c = chunk(partitionId, o.events, this.opts.sourceOf(partitionId));
    const result = this.pool.submit(c.batch);
    result.catch(() => undefined); // observed in commitNow
    this.sealed.push({ chunk: c, result });
  }

  get bufferedEvents(): number {
    return this.buffered;
  }

  /** Size or age says it is time to write a file. */
  needsRoll(): boolean {
    if (this.buffered === 0) return false;
    return this.bytes >= this.rollBytes || Date.now() - (this.firstBufferedAt ?? Date.now()) >= this.rollMs;
  }

  /** Make everything buffered so far durable. Calls queue behind each other; each takes what was buffered when it began. */
  commit(): Promise<CommitResult | null> {
    const next = this.committing.then(() => this.commitNow());
    this.committing = next.catch(() => null);
    return next;
  }

  private async commitNow(): Promise<CommitResult | null> {
    for (const id of [...this.open.keys()]) this.seal(id);
    const work = this.sealed;
    if (work.length === 0) return null;
    this.sealed = [];
    this.buffered = 0;
    this.bytes = 0;
    this.firstBufferedAt = null;
    const events = work.flatMap((w) => w.chunk.events);
    const t0 = Date.now();
    const before = { landed: this.writer.landed, duplicates: this.writer.duplicates, quarantined: this.quarantine.count, files: this.writer.files.length };
    let read = 0;
    try {
      for (const { chunk: c, result } of work) {
        const r: BatchResult = await result;
        read += r.read;
        for (const q of r.rejects) {
          // line numbers the document inside the chunk (see LineBatch.ends): its event's coordinates.
          const e = c.events[(q.line ?? 1) - 1];
          // A body that did not parse is kept as its bytes too: decoding may have replaced invalid UTF-8.
          const rawB64 = q.reason === 'invalid_json' ? Buffer.from(e.body).toString('base64') : null;
          this.quarantine.add({ ...q, line: null, byte_offset: null, eh_partition: e.partitionId, eh_sequence_number: e.sequenceNumber, eh_offset: e.offset, eh_enqueued_time: e.enqueuedTimeUtc.toISOString(), raw_b64: rawB64 });
        }
        for (const row of r.rows) this.writer.add(row);
      }
      await this.writer.flush();
    } catch (e) {
      await Promise.allSettled(work.map((w) => w.result));
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
    const summary = await this.writeSummary();
    const files = this.writer.files.slice(before.files);
    if (this.opts.mirror) {
      await this.opts.mirror.pushFiles(this.lake, files);
      if (quarantined) await this.opts.mirror.pushReplace(this.lake, this.quarantine.path);
      await this.opts.mirror.pushReplace(this.lake, summary);
    }
    return {
      events: events.length,
      read,
      landed,
      duplicates,
      quarantined,
      files,
      positions: [...last.values()].map((e) => ({ partitionId: e.partitionId, sequenceNumber: e.sequenceNumber, offset: e.offset })),
      seconds: (done - t0) / 1000,
      latenciesMs: events.map((e) => done - e.enqueuedTimeUtc.getTime()),
    };
  }

  /** _imports/<stream-id>.json: the running totals, rewritten after every commit. */
  private async writeSummary(): Promise<string> {
    const finished = this.now();
    const path = join(this.lake.imports, `${this.streamId}.json`);
    await atomicWrite(
      path,
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
    return path;
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

/** Events of one partition, in order, as one multi-document batch: each body a document. */
function chunk(partition: string, events: HubEvent[], source: string): Chunk {
  const bytes = new Uint8Array(events.reduce((n, e) => n + e.body.length, 0)); // its own buffer: moved, not copied, to a worker
  const ends: number[] = [];
  const coords: HubCoordinates[] = [];
  let at = 0;
  for (const e of events) {
    bytes.set(e.body, at);
    at += e.body.length;
    ends.push(at);
    coords.push({ partition, sequenceNumber: e.sequenceNumber, enqueuedTime: formatMicros(e.enqueuedTimeUtc.getTime() * 1000) });
  }
  return { batch: { kind: 'lines', source, bytes, firstLine: 1, byteOffset: 0, ends, events: coords }, events };
}
