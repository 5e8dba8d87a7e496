/**
 * What a sink needs beyond the domain's alerts (domain/findings.ts): every sink gets the same alerts through
 * its own disk outbox (sink/outbox.ts), formats them (sink/formats.ts) and hands them to a transport
 * (sink/transports/*).
 */
import type { Alert } from '../domain/findings';

export type FormatName = 'json' | 'cef' | 'ecs' | 'ocsf' | 'sentinel';

/** An alert rendered for one sink. `text` is a JSON document (json, ecs, ocsf, sentinel) or a CEF line. */
export interface OutMessage {
  eventId: string;
  text: string;
  alert: Alert;
}

export interface TransportLimits {
  /** Largest single rendered message (`text`, UTF-8 bytes) the transport accepts. */
  maxMessageBytes: number;
  /** Most messages per send(). */
  maxBatchMessages: number;
  /** Most bytes of `text` per send(). */
  maxBatchBytes: number;
}

/**
 * A connection to one SIEM endpoint. send() resolves only once the receiver has acknowledged every message
 * of the batch (HTTP 2xx, HEC indexer ack, AMQP accept, written to a TCP/TLS socket...), and otherwise throws
 * a DeliveryError. The caller (sink/deliver.ts) owns retries, backoff and the outbox; a transport never retries
 * on its own for longer than one attempt's timeout and never drops a message silently.
 */
export interface Transport {
  readonly limits: TransportLimits;
  send(batch: OutMessage[]): Promise<void>;
  close(): Promise<void>;
}

export class DeliveryError extends Error {
  /** The receiver asked us to wait this long (Retry-After, HEC busy...). */
  retryAfterMs?: number;
  /** The batch was too big (HTTP 413 ...): split it; a single message this big must be truncated. */
  tooLarge?: boolean;
  /** Retrying the same bytes cannot succeed (HTTP 400 on this content): the message is set aside with this reason. */
  permanent?: boolean;
  constructor(message: string, opts: { retryAfterMs?: number; tooLarge?: boolean; permanent?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'DeliveryError';
    this.retryAfterMs = opts.retryAfterMs;
    this.tooLarge = opts.tooLarge;
    this.permanent = opts.permanent;
  }
}
