import { promises as fsp, constants as fsc } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWrite, fsyncDir, releasePidLock, tryPidLock } from '../lake/lake';
import type { Alert } from '../domain/findings';

/**
 * One bounded disk outbox per sink (reliability.md §1.6, R11/R12). Detection appends alerts; the delivery loop
 * (sink/deliver.ts) peeks the oldest, sends them and acks them. An alert leaves only when acked, dropped by the
 * full policy (counted, reported through onDrop) or rejected (kept in rejected.ndjson with its reason).
 *
 * On disk, one folder per sink:
 *
 *   seg-<first seq>.ndjson   entries, one line each: {"seq":N,"alert":{...}}; a new segment every ~8 MB
 *   journal-<gen>.ndjson     one line per append/ack/reject call: the call's commit record
 *   state.json               checkpoint of the journals before journal-<gen> (atomic write)
 *   rejected.ndjson          {"at","reason","seq","alert"} per rejected entry
 *   lock                     pid of the process that has the outbox open
 *
 * A call is done when its journal line is fsynced; an append first fsyncs its lines into the segment and its
 * journal line records the segment's new committed end. On open, whatever lies past that end (a torn or
 * unfinished append) is cut off: that append never resolved, so its caller redoes it, and event_id dedupe keeps
 * the redo from doubling anything that did land. An entry is pending until a journal line names its seq.
 */

export interface OutboxEntry {
  seq: number;
  eventId: string;
  alert: Alert;
  /** UTF-8 length of the serialized alert. */
  bytes: number;
}

export interface OutboxLimits {
  maxAlerts: number;
  maxBytes: number;
  full: 'drop-oldest' | 'drop-newest';
}

export interface OutboxOptions {
  /** Called after an append that dropped entries became durable, with the dropped entries. */
  onDrop?: (dropped: OutboxEntry[]) => void;
  /** Recovery notes on open (torn tails cut off...) [default console.warn]. */
  onWarn?: (message: string) => void;
}

/** Persisted across restarts. Always appended = pending + acked + dropped + rejected. */
export interface OutboxCounters {
  appended: number;
  acked: number;
  dropped: number;
  rejected: number;
  skipped: number;
}

export interface OutboxDepth {
  alerts: number;
  bytes: number;
  /** emitted_at of the oldest pending alert. */
  oldest?: string;
}

export interface OutboxStatus extends OutboxDepth {
  counters: OutboxCounters;
  /** The last lines of rejected.ndjson, oldest first. */
  rejectedTail: string[];
}

const SEGMENT_BYTES = 8 * 1024 * 1024;
/** Past this size the journal is folded into state.json, so open replays little. */
const JOURNAL_BYTES = 1024 * 1024;
const RECENT_IDS = 10_000;
const REJECTED_TAIL = 10;
const STATE = 'state.json';
const REJECTED = 'rejected.ndjson';
const LOCK = 'lock';

interface Checkpoint {
  version: 1;
  /** The journal that continues this checkpoint. */
  journal: number;
  lastSeq: number;
  /** Finished seqs as [from, to] ranges: every seq up to lastSeq outside them is pending. */
  done: [number, number][];
  segment: string | null;
  end: number;
  counters: OutboxCounters;
  recentIds: string[];
}

type JournalRecord =
  /** Seqs after the previous `last` up to `last` were given out: written to `segment` (now committed up to `end`) or dropped. */
  | { op: 'append'; last: number; segment: string | null; end: number; dropped: number[]; ids: string[]; skipped: number }
  | { op: 'ack' | 'reject'; seqs: number[]; ids: string[] };

/** What the checkpoint and journal say, replayed. */
class Ledger {
  lastSeq = 0;
  segment: string | null = null;
  end = 0;
  counters: OutboxCounters = { appended: 0, acked: 0, dropped: 0, rejected: 0, skipped: 0 };
  /** event_ids of the last finished (acked, dropped, rejected) entries, oldest first. */
  readonly recent = new Set<string>();

  static from(cp: Checkpoint): Ledger {
    const l = new Ledger();
    l.lastSeq = cp.lastSeq;
    l.segment = cp.segment;
    l.end = cp.end;
    l.counters = { ...cp.counters };
    l.remember(cp.recentIds);
    return l;
  }

  apply(rec: JournalRecord): void {
    if (rec.op === 'append') {
      this.counters.appended += rec.last - this.lastSeq;
      this.counters.dropped += rec.dropped.length;
      this.counters.skipped += rec.skipped;
      this.lastSeq = rec.last;
      this.segment = rec.segment;
      this.end = rec.end;
    } else if (rec.op === 'ack') {
      this.counters.acked += rec.seqs.length;
    } else {
      this.counters.rejected += rec.seqs.length;
    }
    this.remember(rec.ids);
  }

  private remember(ids: readonly string[]): void {
    for (const id of ids) {
      this.recent.delete(id);
      this.recent.add(id);
    }
    for (const id of this.recent) {
      if (this.recent.size <= RECENT_IDS) break;
      this.recent.delete(id);
    }
  }
}

interface Segment {
  name: string;
  first: number;
  /** Pending entries in it; a segment other than the current one is deleted at 0. */
  live: number;
}

/** The folder read back without changing it: what open() starts from and inspect() reports. */
interface Loaded {
  ledger: Ledger;
  journal: number;
  /** Length of the journal's whole lines, and of the file. */
  journalGood: number;
  journalSize: number;
  pending: OutboxEntry[];
  segments: Segment[];
  /** Segments past the current one: started by an append that never committed. */
  uncommitted: string[];
  /** Bytes past the current segment's committed end; unreadable lines in committed data. */
  tornBytes: number;
  badLines: number;
}

export class Outbox {
  private readonly pending = new Map<number, OutboxEntry>();
  private readonly pendingIds = new Set<string>();
  private pendingBytes = 0;
  private segHandle: FileHandle | null = null;
  private journalHandle!: FileHandle;
  private journalSize = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private waiters: (() => void)[] = [];
  private closed = false;
  /** Set when a write failed half-way: memory and disk may disagree until the outbox is reopened. */
  private failed: Error | null = null;

  private constructor(
    readonly dir: string,
    private readonly limits: OutboxLimits,
    private readonly opts: OutboxOptions,
    private ledger: Ledger,
    private journal: number,
    private segments: Segment[],
  ) {}

  static async open(dir: string, limits: OutboxLimits, opts: OutboxOptions = {}): Promise<Outbox> {
    checkLimits(limits);
    await fsp.mkdir(dir, { recursive: true });
    const lockPath = join(dir, LOCK);
    await takeLock(lockPath, dir);
    try {
      const loaded = await load(dir);
      const ob = new Outbox(dir, limits, opts, loaded.ledger, loaded.journal, loaded.segments);
      await ob.recover(loaded);
      return ob;
    } catch (e) {
      await releasePidLock(lockPath);
      throw e;
    }
  }

  /** Read-only: depth, counters and the last rejections, for `sinks status` while another process delivers. */
  static async inspect(dir: string): Promise<OutboxStatus> {
    // The owner may fold its journal or delete a segment while we read: read again.
    if (!(await fsp.stat(dir).catch(() => null))) return { alerts: 0, bytes: 0, counters: { ...new Ledger().counters }, rejectedTail: [] };
    for (let attempt = 1; ; attempt++) {
      try {
        const loaded = await load(dir);
        const bytes = loaded.pending.reduce((n, e) => n + e.bytes, 0);
        return {
          alerts: loaded.pending.length,
          bytes,
          oldest: loaded.pending[0]?.alert.emitted_at,
          counters: { ...loaded.ledger.counters },
          rejectedTail: await tailLines(join(dir, REJECTED), REJECTED_TAIL),
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw e;
      }
    }
  }

  /**
   * Durable before it resolves. Skips alerts whose event_id is pending or among the last ~10,000 finished ones
   * (so a redo after a crash does not duplicate), then applies the full policy.
   */
  append(alerts: Alert[]): Promise<{ added: number; skipped: number; dropped: number }> {
    return this.exclusive(async () => {
      if (!alerts.length) return { added: 0, skipped: 0, dropped: 0 };
      const { maxAlerts, maxBytes, full } = this.limits;
      const kept: { entry: OutboxEntry; line: string }[] = [];
      let keptHead = 0; // kept[..keptHead] were dropped again by later alerts of this same call
      const dropped: OutboxEntry[] = [];
      const older = this.pending.values();
      const seen = new Set<string>();
      let seq = this.ledger.lastSeq;
      let skipped = 0;
      let count = this.pending.size;
      let total = this.pendingBytes;
      for (const alert of alerts) {
        const id = alert.event_id;
        if (this.pendingIds.has(id) || this.ledger.recent.has(id) || seen.has(id)) {
          skipped++;
          continue;
        }
        seen.add(id);
        const json = JSON.stringify(alert);
        const entry: OutboxEntry = { seq: ++seq, eventId: id, alert: JSON.parse(json) as Alert, bytes: Buffer.byteLength(json) };
        const fits = () => count + 1 <= maxAlerts && total + entry.bytes <= maxBytes;
        // Larger than the whole outbox: dropping it beats wedging the sink.
        if (entry.bytes > maxBytes || (full === 'drop-newest' && !fits())) {
          dropped.push(entry);
          continue;
        }
        while (!fits()) {
          const old = older.next();
          const victim = old.done ? kept[keptHead++].entry : old.value;
          dropped.push(victim);
          count--;
          total -= victim.bytes;
        }
        kept.push({ entry, line: `{"seq":${entry.seq},"alert":${json}}\n` });
        count++;
        total += entry.bytes;
      }
      const added = kept.slice(keptHead);
      let segment = this.ledger.segment;
      let end = this.ledger.end;
      if (added.length) {
        if (!this.segHandle || end >= SEGMENT_BYTES) {
          segment = segmentName(added[0].entry.seq);
          await this.segHandle?.close();
          this.segHandle = null;
          this.segHandle = await fsp.open(join(this.dir, segment), fsc.O_RDWR | fsc.O_CREAT | fsc.O_TRUNC);
          end = 0;
          await fsyncDir(this.dir); // the journal line below must not outlive the segment's name
          this.segments.push({ name: segment, first: added[0].entry.seq, live: 0 });
        }
        end = await writeAt(this.segHandle, end, added.map((a) => a.line).join(''));
      }
      const rec: JournalRecord = { op: 'append', last: seq, segment, end, dropped: dropped.map((e) => e.seq), ids: dropped.map((e) => e.eventId), skipped };
      await this.commit(rec);
      for (const e of dropped) this.forget(e);
      for (const { entry } of added) {
        this.pending.set(entry.seq, entry);
        this.pendingIds.add(entry.eventId);
        this.pendingBytes += entry.bytes;
        this.segments[this.segments.length - 1].live++;
      }
      await this.tidy();
      if (this.pending.size) this.wake();
      if (dropped.length) this.opts.onDrop?.(dropped);
      return { added: added.length, skipped, dropped: dropped.length };
    });
  }

  /** The oldest pending entries in seq order: at most `max`, and about `maxBytes` (always one if any). Removes nothing. */
  peek(max: number, maxBytes = Infinity): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    let bytes = 0;
    for (const e of this.pending.values()) {
      if (out.length >= max || (out.length && bytes + e.bytes > maxBytes)) break;
      out.push(e);
      bytes += e.bytes;
    }
    return out;
  }

  /** Removes delivered entries durably. Entries no longer pending (dropped meanwhile, acked twice) are ignored. */
  ack(entries: OutboxEntry[]): Promise<void> {
    return this.exclusive(async () => {
      const live = this.stillPending(entries);
      if (!live.length) return;
      await this.commit({ op: 'ack', seqs: live.map((e) => e.seq), ids: live.map((e) => e.eventId) });
      for (const e of live) this.forget(e);
      await this.tidy();
    });
  }

  /** Sets entries aside in rejected.ndjson with the reason (a permanent failure); counted as rejected, not dropped. */
  reject(entries: OutboxEntry[], reason: string): Promise<void> {
    return this.exclusive(async () => {
      const live = this.stillPending(entries);
      if (!live.length) return;
      const at = new Date().toISOString();
      const text = live.map((e) => JSON.stringify({ at, reason, seq: e.seq, alert: e.alert }) + '\n').join('');
      // A crash between these two writes leaves the entry pending and rejects it again later: a repeated line, no loss.
      const fh = await fsp.open(join(this.dir, REJECTED), 'a');
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.commit({ op: 'reject', seqs: live.map((e) => e.seq), ids: live.map((e) => e.eventId) });
      for (const e of live) this.forget(e);
      await this.tidy();
    });
  }

  depth(): OutboxDepth {
    return { alerts: this.pending.size, bytes: this.pendingBytes, oldest: this.pending.values().next().value?.alert.emitted_at };
  }

  counters(): OutboxCounters {
    return { ...this.ledger.counters };
  }

  /** Resolves once an entry is pending, or the outbox is closed: the delivery loop waits on it instead of polling. */
  whenNonEmpty(): Promise<void> {
    if (this.pending.size || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Folds the journal into state.json (a faster next open) and releases the lock. A second close is a no-op. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.exclusive(async () => {
      if (this.journalSize && !this.failed) await this.checkpoint();
      await this.segHandle?.close();
      await this.journalHandle.close();
      this.closed = true;
      this.wake();
      await releasePidLock(join(this.dir, LOCK));
    }, true);
  }

  /** Cuts off what crashed writers left, deletes leftovers, and takes the loaded state as the live one. */
  private async recover(loaded: Loaded): Promise<void> {
    const warn = this.opts.onWarn ?? ((m: string) => console.warn(m));
    for (const e of loaded.pending) {
      this.pending.set(e.seq, e);
      this.pendingIds.add(e.eventId);
      this.pendingBytes += e.bytes;
    }
    if (loaded.tornBytes) warn(`outbox ${this.dir}: cut off ${loaded.tornBytes} bytes of an append that never finished (its caller redoes it)`);
    if (loaded.badLines) warn(`outbox ${this.dir}: skipped ${loaded.badLines} unreadable line(s) in committed segments`);
    for (const name of loaded.uncommitted) await fsp.rm(join(this.dir, name), { force: true });
    for (const name of await fsp.readdir(this.dir)) {
      const stale = (name.startsWith('journal-') && name !== journalName(this.journal)) || name.endsWith('.tmp');
      if (stale) await fsp.rm(join(this.dir, name), { force: true });
    }
    if (this.ledger.segment) {
      this.segHandle = await fsp.open(join(this.dir, this.ledger.segment), 'r+');
      await this.segHandle.truncate(this.ledger.end);
      await this.segHandle.sync();
    }
    this.journalHandle = await fsp.open(join(this.dir, journalName(this.journal)), fsc.O_RDWR | fsc.O_CREAT);
    if (loaded.journalSize > loaded.journalGood) {
      warn(`outbox ${this.dir}: cut off a torn journal line (an ack or append that never resolved)`);
      await this.journalHandle.truncate(loaded.journalGood);
      await this.journalHandle.sync();
    }
    this.journalSize = loaded.journalGood;
    for (const s of this.segments) s.live = 0;
    for (const e of this.pending.values()) this.segments[segmentIndex(this.segments, e.seq)].live++;
    await this.tidy();
  }

  /** Runs mutations one at a time; after a failed write, refuses until reopened. */
  private exclusive<T>(fn: () => Promise<T>, closing = false): Promise<T> {
    const run = async () => {
      if (this.closed) throw new Error(`outbox ${this.dir} is closed`);
      if (this.failed && !closing) throw new Error(`outbox ${this.dir} stopped after a failed write (${this.failed.message}); reopen it`);
      try {
        return await fn();
      } catch (e) {
        this.failed ??= e as Error;
        throw e;
      }
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Makes a call durable: its journal line, fsynced. Memory changes only after this. */
  private async commit(rec: JournalRecord): Promise<void> {
    this.journalSize = await writeAt(this.journalHandle, this.journalSize, JSON.stringify(rec) + '\n');
    this.ledger.apply(rec);
  }

  private stillPending(entries: OutboxEntry[]): OutboxEntry[] {
    const out = new Map<number, OutboxEntry>();
    for (const e of entries) {
      const p = this.pending.get(e.seq);
      if (p) out.set(p.seq, p);
    }
    return [...out.values()];
  }

  private forget(e: OutboxEntry): void {
    if (!this.pending.delete(e.seq)) return; // dropped from this same append before it was ever pending
    this.pendingIds.delete(e.eventId);
    this.pendingBytes -= e.bytes;
    this.segments[segmentIndex(this.segments, e.seq)].live--;
  }

  /** Deletes finished segments (never the current one) and folds a long journal into state.json. */
  private async tidy(): Promise<void> {
    const current = this.segments[this.segments.length - 1];
    const gone = this.segments.filter((s) => s !== current && s.live === 0);
    for (const s of gone) await fsp.rm(join(this.dir, s.name), { force: true });
    if (gone.length) this.segments = this.segments.filter((s) => !gone.includes(s));
    if (this.journalSize > JOURNAL_BYTES) await this.checkpoint();
  }

  /** New empty journal, then state.json naming it (the switch), then the old journal goes. */
  private async checkpoint(): Promise<void> {
    const next = this.journal + 1;
    const fh = await fsp.open(join(this.dir, journalName(next)), fsc.O_RDWR | fsc.O_CREAT | fsc.O_TRUNC);
    try {
      await fsyncDir(this.dir);
      const cp: Checkpoint = {
        version: 1,
        journal: next,
        lastSeq: this.ledger.lastSeq,
        done: doneRanges(this.pending.keys(), this.ledger.lastSeq),
        segment: this.ledger.segment,
        end: this.ledger.end,
        counters: this.ledger.counters,
        recentIds: [...this.ledger.recent],
      };
      await atomicWrite(join(this.dir, STATE), JSON.stringify(cp));
    } catch (e) {
      await fh.close();
      throw e;
    }
    await this.journalHandle.close();
    await fsp.rm(join(this.dir, journalName(this.journal)), { force: true });
    this.journalHandle = fh;
    this.journal = next;
    this.journalSize = 0;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }
}

function checkLimits(l: OutboxLimits): void {
  if (!Number.isInteger(l.maxAlerts) || l.maxAlerts < 1) throw new Error(`outbox maxAlerts must be a whole number ≥ 1, not ${l.maxAlerts}`);
  if (!(l.maxBytes > 0)) throw new Error(`outbox maxBytes must be > 0, not ${l.maxBytes}`);
  if (l.full !== 'drop-oldest' && l.full !== 'drop-newest') throw new Error(`outbox full policy must be drop-oldest or drop-newest, not ${String(l.full)}`);
}

async function takeLock(path: string, dir: string): Promise<void> {
  for (;;) {
    const holder = await tryPidLock(path);
    if (holder === null) return;
    // 0: another process is writing its pid this instant; tryPidLock calls it stale after 5 s.
    if (holder !== 0) throw new Error(`another reauth-loops process (pid ${holder}) is delivering to this sink (${dir}); stop it or use another outbox dir`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function load(dir: string): Promise<Loaded> {
  const cp = await readCheckpoint(join(dir, STATE));
  const ledger = Ledger.from(cp);
  const finished = new Set<number>();
  const jtext = await fsp.readFile(join(dir, journalName(cp.journal))).catch((e: NodeJS.ErrnoException) => {
    // Only a fresh outbox has no journal yet; a checkpoint names one that exists.
    if (e.code === 'ENOENT' && cp.journal === 0) return Buffer.alloc(0);
    throw e;
  });
  let journalGood = 0;
  for (const line of wholeLines(jtext)) {
    const rec = parseJson(line.text) as JournalRecord | undefined;
    const whole = rec?.op === 'append' ? Array.isArray(rec.dropped) : Array.isArray(rec?.seqs) && (rec?.op === 'ack' || rec?.op === 'reject');
    if (!rec || !whole) break; // a torn tail: that call never resolved
    ledger.apply(rec);
    for (const s of rec.op === 'append' ? rec.dropped : rec.seqs) finished.add(s);
    journalGood = line.next;
  }
  const isDone = (seq: number) => finished.has(seq) || inRanges(cp.done, seq);

  const names = (await fsp.readdir(dir)).filter((n) => /^seg-\d+\.ndjson$/.test(n)).sort((a, b) => segmentFirst(a) - segmentFirst(b));
  const current = ledger.segment === null ? -1 : segmentFirst(ledger.segment);
  const out: Loaded = { ledger, journal: cp.journal, journalGood, journalSize: jtext.length, pending: [], segments: [], uncommitted: [], tornBytes: 0, badLines: 0 };
  for (const name of names) {
    const first = segmentFirst(name);
    if (first > current) {
      out.uncommitted.push(name);
      continue;
    }
    let data = await fsp.readFile(join(dir, name));
    if (name === ledger.segment) {
      if (data.length < ledger.end) throw new Error(`outbox ${dir}: ${name} is shorter than its committed length (${data.length} < ${ledger.end} bytes); the disk lost synced data. Move the folder aside to start it empty`);
      out.tornBytes += Math.max(0, data.length - ledger.end);
      data = data.subarray(0, ledger.end);
    }
    out.segments.push({ name, first, live: 0 });
    let used = 0;
    for (const line of wholeLines(data)) {
      used = line.next;
      const row = parseJson(line.text) as { seq?: unknown; alert?: Alert } | undefined;
      if (!row || typeof row.seq !== 'number' || typeof row.alert?.event_id !== 'string') {
        out.badLines++;
        continue;
      }
      if (row.seq > ledger.lastSeq || isDone(row.seq)) continue;
      out.pending.push({ seq: row.seq, eventId: row.alert.event_id, alert: row.alert, bytes: Buffer.byteLength(JSON.stringify(row.alert)) });
    }
    if (used < data.length) out.badLines++;
  }
  return out;
}

async function readCheckpoint(path: string): Promise<Checkpoint> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    return { version: 1, journal: 0, lastSeq: 0, done: [], segment: null, end: 0, counters: { appended: 0, acked: 0, dropped: 0, rejected: 0, skipped: 0 }, recentIds: [] };
  }
  const cp = parseJson(text) as Checkpoint | undefined;
  if (cp?.version !== 1) throw new Error(`${path} is damaged or from another version; move the outbox folder aside to start it empty`);
  return cp;
}

function* wholeLines(buf: Buffer): Generator<{ text: string; next: number }> {
  let start = 0;
  for (let nl = buf.indexOf(10, start); nl >= 0; nl = buf.indexOf(10, start)) {
    yield { text: buf.toString('utf8', start, nl), next: nl + 1 };
    start = nl + 1;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Writes all of `text` at `pos` and fsyncs; returns the new end. Positional, so a failed earlier write is overwritten. */
async function writeAt(fh: FileHandle, pos: number, text: string): Promise<number> {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) off += (await fh.write(buf, off, buf.length - off, pos + off)).bytesWritten;
  await fh.sync();
  return pos + buf.length;
}

function doneRanges(pendingSeqs: Iterable<number>, lastSeq: number): [number, number][] {
  const out: [number, number][] = [];
  let prev = 0;
  for (const s of pendingSeqs) {
    if (s > prev + 1) out.push([prev + 1, s - 1]);
    prev = s;
  }
  if (lastSeq > prev) out.push([prev + 1, lastSeq]);
  return out;
}

function inRanges(ranges: readonly [number, number][], seq: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (seq < ranges[mid][0]) hi = mid - 1;
    else if (seq > ranges[mid][1]) lo = mid + 1;
    else return true;
  }
  return false;
}

function segmentIndex(segments: readonly Segment[], seq: number): number {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (segments[mid].first <= seq) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

const segmentName = (first: number) => `seg-${String(first).padStart(12, '0')}.ndjson`;
const segmentFirst = (name: string) => Number(name.slice(4, -7));
const journalName = (gen: number) => `journal-${gen}.ndjson`;

async function tailLines(path: string, n: number): Promise<string[]> {
  const fh = await fsp.open(path, 'r').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  if (!fh) return [];
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, 256 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n').filter(Boolean);
    // The first line of a cut window may be partial.
    return (len < size ? lines.slice(1) : lines).slice(-n);
  } finally {
    await fh.close();
  }
}
