import net from 'node:net';
import { hostname as osHostname } from 'node:os';
import tls from 'node:tls';
import type { SyslogSinkConfig } from '../config';
import type { AlertSeverity } from '../../domain/findings';
import { DeliveryError, type OutMessage, type Transport } from '../types';
import { describeNetError, tlsClientOptions } from './net';

/**
 * RFC 5424 over TCP (RFC 6587 octet counting) or TLS (RFC 5425). Neither has an application acknowledgement:
 * send() resolves once the frames are handed to the kernel, and frames still in a socket buffer when the
 * connection dies are lost without an error (rainer.gerhards.net, 2008). To cover them, the transport keeps
 * the frames written last and, on the first connection after a loss, writes them again before anything new:
 * a message may then arrive twice, never more than that from this resend. A message can still be lost if the
 * connection carrying the resend dies too before the collector read it; collectors dedupe on event_id.
 */

/** SD-ID with RFC 5612's documentation PEN (32473); to be replaced if the project registers its own. */
export const SYSLOG_SD_ID = 'reauth@32473';

const SEVERITY: Record<AlertSeverity, number> = { critical: 2, high: 3, medium: 4 };
/** RFC 5424 §6.4: a UTF-8 MSG starts with the BOM. */
const BOM = '\uFEFF';
/** Header bytes reserved next to the text, beyond HOSTNAME/APP-NAME/PROCID: PRI, TIMESTAMP, MSGID, the SD-ELEMENT, BOM. */
const HEADER_ROOM = 512;

export interface SyslogTransportOptions {
  /** Give up on a connection attempt after this long [default 10000 ms]. */
  connectTimeoutMs?: number;
  /** Give up when the kernel takes no more bytes for this long (a stalled collector) [default 30000 ms]. */
  writeTimeoutMs?: number;
  /** Most frames kept for the resend after a lost connection [default 256]. */
  tailFrames?: number;
  /** Resend only frames written this long before the loss was seen [default 10000 ms]. */
  tailMs?: number;
  /**
   * Start MSG with the UTF-8 BOM as RFC 5424 asks [default true]. Set false for a collector that keeps the BOM
   * in the message text and then fails to parse the JSON.
   */
  bom?: boolean;
}

/** PRINTUSASCII without spaces, cut to the field's RFC 5424 length; `-` (NILVALUE) when empty. */
function headerField(value: string, max: number): string {
  return value.replace(/[^\x21-\x7e]/g, '_').slice(0, max) || '-';
}

/** The formats already escape line breaks; any that slip through are escaped here so a frame stays one record. */
function escapeControls(s: string): string {
  return s.replace(/[\r\n\0]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\u0000'));
}

/** SD-PARAM value (RFC 5424 §6.3.3): `"`, `\` and `]` get a backslash. */
function sdValue(v: string): string {
  return escapeControls(v.replace(/["\\\]]/g, '\\$&'));
}

function timestamp(iso: string): string {
  const t = Date.parse(iso);
  return new Date(Number.isNaN(t) ? Date.now() : t).toISOString();
}

interface Written {
  frame: Buffer;
  at: number;
}

/**
 * Each alert is one frame `MSG-LEN SP <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [reauth@32473 ...] BOM MSG`:
 * PRI from the alert's severity (critical 2, high 3, medium 4) and the facility; TIMESTAMP is the alert's
 * emitted_at, so a resend is byte-identical; MSGID is the alert kind; MSG is the rendered text (JSON or CEF).
 * Connections open lazily on the next send(); send([]) only (re)connects and flushes the resend tail.
 */
export function createSyslogTransport(cfg: SyslogSinkConfig, opts: SyslogTransportOptions = {}): Transport {
  const useTls = cfg.tls !== false;
  const port = cfg.port ?? (useTls ? 6514 : 514);
  const endpoint = `syslog sink ${cfg.name} (${useTls ? 'tls' : 'tcp'}://${cfg.host}:${port})`;
  const facility = cfg.facility ?? 10;
  if (!Number.isInteger(facility) || facility < 0 || facility > 23) throw new Error(`${endpoint}: facility must be a whole number from 0 to 23, not ${facility}`);
  const maxFrame = cfg.maxMessageBytes ?? 65536;
  if (maxFrame < 2048) throw new Error(`${endpoint}: maxMessageBytes must be at least 2048 (every RFC 5425 collector accepts that), not ${maxFrame}`);
  const host = headerField(cfg.hostname ?? osHostname(), 255);
  const app = headerField(cfg.appName ?? 'reauth-loops', 48);
  const procId = headerField(String(process.pid), 128);
  const bom = opts.bom === false ? '' : BOM;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  const writeTimeoutMs = opts.writeTimeoutMs ?? 30_000;
  const tailFrames = opts.tailFrames ?? 256;
  const tailMs = opts.tailMs ?? 10_000;
  const tlsOptions = useTls ? tlsClientOptions(cfg, cfg.host, endpoint) : undefined;

  let sock: net.Socket | null = null;
  /** Frames written since the last resend, oldest first: the candidates for the next resend. */
  let tail: Written[] = [];
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();

  /** The message bytes (what MSG-LEN counts) for one alert. */
  function message(m: OutMessage): Buffer {
    const a = m.alert;
    const sd = `[${SYSLOG_SD_ID} event_id="${sdValue(m.eventId)}" subject_id="${sdValue(a.subject_id)}" version="${sdValue(String(a.version))}" action="${sdValue(a.action)}"]`;
    const pri = facility * 8 + SEVERITY[a.severity];
    return Buffer.from(`<${pri}>1 ${timestamp(a.emitted_at)} ${host} ${app} ${procId} ${headerField(a.kind, 32)} ${sd} ${bom}${escapeControls(m.text)}`, 'utf8');
  }

  /** A connection has died: keep only the tail frames recent enough that they may not have arrived. */
  function lost(s: net.Socket): void {
    s.destroy();
    if (sock !== s) return;
    sock = null;
    const since = Date.now() - tailMs;
    tail = tail.filter((w) => w.at >= since);
  }

  function connect(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = tlsOptions ? tls.connect({ ...tlsOptions, host: cfg.host, port }) : net.connect({ host: cfg.host, port });
      const timer = setTimeout(() => s.destroy(Object.assign(new Error(`no connection within ${connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })), connectTimeoutMs);
      const onError = (e: Error) => {
        clearTimeout(timer);
        s.destroy();
        reject(e);
      };
      s.once('error', onError);
      // With TLS, secureConnect comes only after the certificate passed verification.
      s.once(tlsOptions ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        s.off('error', onError);
        s.setNoDelay(true);
        s.setKeepAlive(true, 30_000);
        s.on('error', () => lost(s));
        s.on('close', () => lost(s));
        // Collectors send nothing; reading keeps the socket flowing so a peer's FIN shows up as 'end'.
        s.resume();
        resolve(s);
      });
    });
  }

  function write(s: net.Socket, data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => s.destroy(Object.assign(new Error(`the collector took no data for ${writeTimeoutMs} ms`), { code: 'ETIMEDOUT' })), writeTimeoutMs);
      s.write(data, (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  async function sendNow(batch: OutMessage[]): Promise<void> {
    if (closed) throw new DeliveryError(`${endpoint}: the transport is closed`);
    const frames = batch.map((m) => {
      const msg = message(m);
      if (msg.length > maxFrame) throw new DeliveryError(`${endpoint}: alert ${m.eventId} is ${msg.length} bytes as a syslog message, over maxMessageBytes ${maxFrame}`, { tooLarge: true });
      return Buffer.concat([Buffer.from(`${msg.length} `, 'ascii'), msg]);
    });
    let s = sock;
    try {
      if (!s) {
        try {
          s = await connect();
        } catch (e) {
          throw new DeliveryError(describeNetError(e, endpoint), { cause: e });
        }
        sock = s;
        if (tail.length) {
          await write(s, Buffer.concat(tail.map((w) => w.frame)));
          tail = [];
        }
      }
      if (frames.length) await write(s, Buffer.concat(frames));
    } catch (e) {
      if (e instanceof DeliveryError) throw e;
      if (s) lost(s);
      throw new DeliveryError(`${describeNetError(e, endpoint)}; the connection was lost while sending and the batch will be resent`, { cause: e });
    }
    const at = Date.now();
    for (const frame of frames) tail.push({ frame, at });
    if (tail.length > tailFrames) tail.splice(0, tail.length - tailFrames);
  }

  return {
    // 100 frames a batch keeps the last two batches inside the default 256-frame resend tail.
    limits: { maxMessageBytes: maxFrame - HEADER_ROOM - host.length - app.length - procId.length, maxBatchMessages: 100, maxBatchBytes: 1024 * 1024 },
    send(batch) {
      // One send at a time: frames of two batches must not interleave with a reconnect and resend.
      const p = queue.then(() => sendNow(batch));
      queue = p.catch(() => undefined);
      return p;
    },
    async close() {
      closed = true;
      await queue;
      const s = sock;
      if (!s) return;
      sock = null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => s.destroy(), 1000);
        s.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        s.end();
      });
    },
  };
}
