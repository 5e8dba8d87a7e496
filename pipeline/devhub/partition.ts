// One Event Hubs partition held in memory: an append-only log with sequence numbers, byte offsets and
// enqueued times, plus the selector-filter grammar the SDK uses to say where a receiver starts.
import type { Message } from 'rhea';

/** An event as stored: the publisher's AMQP message plus what the broker stamps on it. */
export interface StoredEvent {
  readonly sequenceNumber: number;
  /** Bytes published to this partition before this event, as a decimal string (see `Partition`). */
  readonly offset: string;
  readonly enqueuedTime: Date;
  readonly partitionKey?: string;
  /**
   * The event exactly as the publisher encoded it (body section, properties, application properties):
   * consumers get it back unchanged, with only the broker's `x-opt-*` annotations added.
   */
  readonly message: Message;
  /** Encoded size of `message` in bytes. */
  readonly size: number;
}

export interface PartitionProperties {
  beginSequenceNumber: number;
  lastSequenceNumber: number;
  lastOffset: string;
  lastEnqueuedTime: Date;
  isEmpty: boolean;
}

/** Where a receiver starts, parsed from `apache.org:selector-filter:string`. */
export type Selector =
  | { on: 'offset'; value: 'earliest' | 'latest' | number; inclusive: boolean }
  | { on: 'sequence-number' | 'enqueued-time'; value: number; inclusive: boolean };

// What partitionReceiver.js / eventPosition.js send, e.g. `amqp.annotation.x-opt-offset > '-1'`.
const SELECTOR = /^\s*amqp\.annotation\.x-opt-(offset|sequence-number|enqueued-time)\s*(>=|>)\s*'([^']*)'\s*$/;

/** Parses a selector filter; undefined when it is not one of the forms the SDK sends. */
export function parseSelector(text: string): Selector | undefined {
  const match = SELECTOR.exec(text);
  if (!match) return undefined;
  const [, on, operator, raw] = match;
  const inclusive = operator === '>=';
  if (on === 'offset') {
    if (raw === '-1') return { on, value: 'earliest', inclusive };
    if (raw === '@latest') return { on, value: 'latest', inclusive };
    return /^\d+$/.test(raw) ? { on, value: Number(raw), inclusive } : undefined;
  }
  if (!/^-?\d+$/.test(raw)) return undefined;
  return { on: on as 'sequence-number' | 'enqueued-time', value: Number(raw), inclusive };
}

/**
 * Offsets are cumulative byte offsets like the real service's: event 0 is at "0", each next event at the
 * previous offset plus the previous event's encoded size. They sort like sequence numbers when compared
 * as numbers, and differ from them from event 1 on, so code that confuses the two fails here too.
 */
export class Partition {
  private readonly events: StoredEvent[] = [];
  private nextSequenceNumber = 0;
  private nextOffset = 0;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly id: string,
    /** Most events kept; the oldest are dropped first. */
    private readonly retention: number,
  ) {}

  get count(): number {
    return this.events.length;
  }

  get lastSequenceNumber(): number {
    return this.nextSequenceNumber - 1;
  }

  /** Appends events in order, then wakes every watcher once. */
  append(items: { message: Message; size: number; partitionKey?: string }[], now = new Date()): void {
    // Keep enqueued times monotonic so time selectors stay consistent if the clock steps back.
    const last = this.events[this.events.length - 1];
    const enqueuedTime = last && last.enqueuedTime > now ? last.enqueuedTime : now;
    for (const item of items) {
      this.events.push({ ...item, sequenceNumber: this.nextSequenceNumber++, offset: String(this.nextOffset), enqueuedTime });
      this.nextOffset += item.size;
    }
    if (this.events.length > this.retention) this.events.splice(0, this.events.length - this.retention);
    for (const listener of [...this.listeners]) listener();
  }

  /** The first retained event with a sequence number ≥ `sequenceNumber`, if any yet. */
  eventFrom(sequenceNumber: number): StoredEvent | undefined {
    const first = this.events[0];
    if (!first) return undefined;
    return this.events[Math.max(0, sequenceNumber - first.sequenceNumber)];
  }

  /** The sequence number a receiver with this selector delivers first (possibly one not yet published). */
  startOf(selector: Selector): number {
    const begin = this.events[0]?.sequenceNumber ?? this.nextSequenceNumber;
    switch (selector.on) {
      case 'sequence-number':
        return Math.max(begin, selector.inclusive ? selector.value : selector.value + 1);
      case 'enqueued-time':
        return this.firstWhere((e) => passes(e.enqueuedTime.getTime(), selector.value, selector.inclusive));
      case 'offset':
        if (selector.value === 'earliest') return begin;
        if (selector.value === 'latest') return this.nextSequenceNumber;
        return this.firstWhere((e) => passes(Number(e.offset), selector.value as number, selector.inclusive));
    }
  }

  properties(): PartitionProperties {
    const last = this.events[this.events.length - 1];
    return {
      beginSequenceNumber: this.events[0]?.sequenceNumber ?? this.nextSequenceNumber,
      lastSequenceNumber: this.lastSequenceNumber,
      lastOffset: last?.offset ?? '-1',
      lastEnqueuedTime: last?.enqueuedTime ?? new Date(0),
      isEmpty: last === undefined,
    };
  }

  /** Calls `listener` after every append until the returned function is called. */
  watch(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sequence number of the first retained event matching a monotonic predicate (binary search). */
  private firstWhere(matches: (event: StoredEvent) => boolean): number {
    let low = 0;
    let high = this.events.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (matches(this.events[middle])) high = middle;
      else low = middle + 1;
    }
    return this.events[low]?.sequenceNumber ?? this.nextSequenceNumber;
  }
}

function passes(value: number, bound: number, inclusive: boolean): boolean {
  return inclusive ? value >= bound : value > bound;
}
