import { join } from 'node:path';
import { promises as fsp } from 'node:fs';
import { atomicWrite } from '../lake/lake';
import { redact } from '../secrets';
import type { OutboxConfig, RetryConfig, SinkConfig, SinksConfig } from './config';
import { defaultFormat } from './config';
import { fitToSize } from './formats';
import { Outbox, type OutboxEntry } from './outbox';
import { createTransport } from './transports';
import type { Alert } from '../domain/findings';
import { DeliveryError, type OutMessage, type Transport } from './types';

/**
 * Fans alerts out to every sink. Each sink has its own durable outbox and its own delivery loop, so a sink
 * that is down or slow holds up nothing but itself: publish() only appends to the outboxes.
 *
 * A delivery loop takes the oldest alerts, renders them for the sink (cut to its size limit, with a marker),
 * sends them, and removes them from the outbox only once the sink acknowledged them. On failure it retries
 * the same alerts, with the same event ids, after a capped exponential backoff with full jitter, or after the
 * receiver's Retry-After. A batch the sink finds too large is split; a single alert too large is cut further;
 * an alert the sink refuses as invalid is set aside in the outbox's rejected file with the reason.
 */
export const SEVERITY_RANK = { medium: 1, high: 2, critical: 3 } as const;

export type SinkEvent =
  | { event: 'sink_delivered'; sink: string; alerts: number; attempt: number; ms: number }
  | { event: 'sink_error'; sink: string; message: string; attempt: number; retry_in_ms: number; depth: number }
  | { event: 'sink_dropped'; sink: string; dropped: number; event_ids: string[]; policy: string }
  | { event: 'sink_rejected'; sink: string; event_ids: string[]; reason: string }
  | { event: 'sink_truncated'; sink: string; event_id: string; fields: string[] }
  | { event: 'sink_warning'; sink: string; message: string };

/** What `sinks status` shows, kept in <outbox>/<sink>/status.json by the process delivering. */
export interface SinkState {
  sink: string;
  type: SinkConfig['type'];
  pid: number;
  updated_at: string;
  last_success_at: string | null;
  last_error: string | null;
  last_error_at: string | null;
  consecutive_failures: number;
  next_retry_at: string | null;
}

const DEFAULT_OUTBOX: Required<Omit<OutboxConfig, 'dir'>> = { maxAlerts: 100_000, maxMb: 256, full: 'drop-oldest' };
const DEFAULT_RETRY: Required<RetryConfig> = { initialMs: 500, maxMs: 60_000 };
/** A rendered alert is never cut below this: RFC 5425 collectors must accept 2048 octets. */
const MIN_MESSAGE_BYTES = 2048;

export function outboxDirOf(root: string, sink: string): string {
  return join(root, sink);
}

export class Dispatcher {
  private constructor(private readonly sinks: SinkRunner[]) {}

  static async open(cfg: SinksConfig, outboxRoot: string, log: (e: SinkEvent) => void): Promise<Dispatcher> {
    const runners: SinkRunner[] = [];
    try {
      for (const s of cfg.sinks.filter((x) => x.enabled !== false)) {
        const limits = { ...DEFAULT_OUTBOX, ...cfg.outbox, ...s.outbox };
        const dir = outboxDirOf(outboxRoot, s.name);
        const outbox = await Outbox.open(
          dir,
          { maxAlerts: limits.maxAlerts, maxBytes: Math.round(limits.maxMb * 1024 * 1024), full: limits.full },
          {
            onDrop: (dropped) => log({ event: 'sink_dropped', sink: s.name, dropped: dropped.length, event_ids: dropped.slice(0, 20).map((d) => d.eventId), policy: limits.full }),
            onWarn: (message) => log({ event: 'sink_warning', sink: s.name, message }),
          },
        );
        if ('tlsVerify' in s && s.tlsVerify === false) {
          log({ event: 'sink_warning', sink: s.name, message: 'tlsVerify is false: the receiver\'s certificate is not checked, so anyone on the path can read and forge alerts. Use caFile instead.' });
        }
        runners.push(new SinkRunner(s, dir, outbox, createTransport(s), { ...DEFAULT_RETRY, ...cfg.retry }, log));
      }
    } catch (e) {
      await Promise.all(runners.map((r) => r.close()));
      throw e;
    }
    for (const r of runners) r.start();
    return new Dispatcher(runners);
  }

  /** Durably appends the alerts to every sink's outbox (each sink keeps only those at its minimum severity). */
  async publish(alerts: Alert[]): Promise<void> {
    if (!alerts.length) return;
    await Promise.all(this.sinks.map((s) => s.enqueue(alerts)));
  }

  depth(): Record<string, number> {
    return Object.fromEntries(this.sinks.map((s) => [s.cfg.name, s.outbox.depth().alerts]));
  }

  /** Waits until every outbox is empty, or the time is up; says whether they all emptied. */
  async drain(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (this.sinks.every((s) => s.outbox.depth().alerts === 0)) return true;
      await sleep(50);
    }
    return this.sinks.every((s) => s.outbox.depth().alerts === 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.close()));
  }
}

class SinkRunner {
  private stopped = false;
  /** Resolves once, on close(): every wait in the loop races it, without adding a listener per wait. */
  private readonly closing: Promise<void>;
  private wake!: () => void;
  private loop: Promise<void> = Promise.resolve();
  private state: SinkState;

  constructor(
    readonly cfg: SinkConfig,
    private readonly dir: string,
    readonly outbox: Outbox,
    private readonly transport: Transport,
    private readonly retry: Required<RetryConfig>,
    private readonly log: (e: SinkEvent) => void,
  ) {
    this.closing = new Promise((resolve) => (this.wake = resolve));
    this.state = { sink: cfg.name, type: cfg.type, pid: process.pid, updated_at: new Date().toISOString(), last_success_at: null, last_error: null, last_error_at: null, consecutive_failures: 0, next_retry_at: null };
  }

  start(): void {
    this.loop = this.run().catch((e) => {
      // A bug here must not take detection down; the outbox keeps the alerts for the next start.
      this.log({ event: 'sink_error', sink: this.cfg.name, message: `delivery stopped: ${redact((e as Error).stack ?? String(e))}`, attempt: 0, retry_in_ms: -1, depth: this.outbox.depth().alerts });
    });
  }

  async enqueue(alerts: Alert[]): Promise<void> {
    const min = SEVERITY_RANK[this.cfg.minSeverity ?? 'medium'];
    const mine = alerts.filter((a) => SEVERITY_RANK[a.severity] >= min || a.kind === 'test');
    if (mine.length) await this.outbox.append(mine);
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loop;
    await this.transport.close().catch(() => undefined);
    await this.outbox.close();
  }

  private async run(): Promise<void> {
    let attempt = 0;
    let batchCap = this.transport.limits.maxBatchMessages;
    // Per-alert size budget, halved each time the sink still finds one alert too large.
    const budget = new Map<string, number>();
    await this.saveState();
    while (!this.stopped) {
      if (this.outbox.depth().alerts === 0) {
        await Promise.race([this.outbox.whenNonEmpty(), this.closing]);
        continue;
      }
      const entries = this.outbox.peek(batchCap, this.transport.limits.maxBatchBytes);
      const messages: OutMessage[] = [];
      let unfit: OutboxEntry | undefined;
      for (const e of entries) {
        try {
          messages.push(this.render(e, budget.get(e.eventId) ?? this.transport.limits.maxMessageBytes));
        } catch {
          unfit = e;
          break;
        }
      }
      if (unfit) {
        await this.outbox.reject([unfit], `cannot fit the sink's size limit even when cut to ${MIN_MESSAGE_BYTES} bytes`);
        this.log({ event: 'sink_rejected', sink: this.cfg.name, event_ids: [unfit.eventId], reason: 'too large for the sink' });
        continue;
      }
      const t0 = performance.now();
      try {
        await this.transport.send(messages);
        await this.outbox.ack(entries);
        for (const e of entries) budget.delete(e.eventId);
        this.log({ event: 'sink_delivered', sink: this.cfg.name, alerts: entries.length, attempt: attempt + 1, ms: Math.round(performance.now() - t0) });
        attempt = 0;
        batchCap = this.transport.limits.maxBatchMessages;
        this.state = { ...this.state, last_success_at: new Date().toISOString(), consecutive_failures: 0, next_retry_at: null };
        await this.saveState();
        continue;
      } catch (err) {
        const e = err instanceof DeliveryError ? err : new DeliveryError(String((err as Error)?.message ?? err), { cause: err });
        if (e.tooLarge && entries.length > 1) {
          batchCap = Math.max(1, Math.ceil(entries.length / 2));
          continue;
        }
        if (e.tooLarge) {
          const was = budget.get(entries[0].eventId) ?? this.transport.limits.maxMessageBytes;
          budget.set(entries[0].eventId, Math.max(MIN_MESSAGE_BYTES - 1, Math.floor(Math.min(was, Buffer.byteLength(messages[0].text)) / 2)));
          continue;
        }
        if (e.permanent && entries.length > 1) {
          // Find the one the sink refuses; the others go through.
          batchCap = 1;
          continue;
        }
        if (e.permanent) {
          await this.outbox.reject(entries, redact(e.message));
          this.log({ event: 'sink_rejected', sink: this.cfg.name, event_ids: entries.map((x) => x.eventId), reason: redact(e.message) });
          continue;
        }
        attempt++;
        const wait = e.retryAfterMs ?? backoff(attempt, this.retry);
        const message = redact(e.message);
        this.state = { ...this.state, last_error: message, last_error_at: new Date().toISOString(), consecutive_failures: attempt, next_retry_at: new Date(Date.now() + wait).toISOString() };
        this.log({ event: 'sink_error', sink: this.cfg.name, message, attempt, retry_in_ms: wait, depth: this.outbox.depth().alerts });
        await this.saveState();
        await sleep(wait, this.closing);
      }
    }
  }

  private render(e: OutboxEntry, maxBytes: number): OutMessage {
    if (maxBytes < MIN_MESSAGE_BYTES) throw new Error('too large');
    const fitted = fitToSize(e.alert, this.cfg.format ?? defaultFormat(this.cfg), maxBytes);
    if (fitted.alert.truncated?.length && !e.alert.truncated?.length) {
      this.log({ event: 'sink_truncated', sink: this.cfg.name, event_id: e.eventId, fields: fitted.alert.truncated });
    }
    return { eventId: e.eventId, text: fitted.text, alert: fitted.alert };
  }

  private async saveState(): Promise<void> {
    this.state.updated_at = new Date().toISOString();
    await atomicWrite(join(this.dir, 'status.json'), JSON.stringify(this.state));
  }
}

/** Full jitter (AWS Builders' Library): a random wait up to the capped exponential, so sinks coming back are not stampeded. */
export function backoff(attempt: number, r: Required<RetryConfig>): number {
  const cap = Math.min(r.maxMs, r.initialMs * 2 ** attempt);
  return Math.round(Math.random() * cap);
}

/** `sinks status` from another process: the sink's own status file beside its outbox. */
export async function readSinkState(dir: string): Promise<SinkState | null> {
  try {
    return JSON.parse(await fsp.readFile(join(dir, 'status.json'), 'utf8')) as SinkState;
  } catch {
    return null;
  }
}

function sleep(ms: number, cancel?: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return (cancel ? Promise.race([done, cancel]) : done).finally(() => clearTimeout(timer));
}
