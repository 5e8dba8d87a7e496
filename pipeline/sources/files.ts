import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { QuarantineReason } from '../normalize/record';

/**
 * File source: walks files and folders, un-gzips (by magic bytes, not by name), and cuts the byte stream
 * into batches of whole lines. It does not decode or parse: that happens in the normalizer's workers, so
 * this thread only looks for newline bytes. A file whose first line is not JSON on its own but which
 * parses as a whole (a pretty-printed export) is sent as one document instead.
 */
export interface LineBatch {
  kind: 'lines';
  source: string;
  /** Whole lines, '\n'-separated (a final line may lack its '\n'); CRs and a BOM are the reader's to strip. */
  bytes: Uint8Array;
  /** 1-based line number of the first line in `bytes`. */
  firstLine: number;
  /** Offset of `bytes[0]` in the (decompressed) file. */
  byteOffset: number;
  /** The whole of `bytes` is one JSON document, not lines. */
  document?: boolean;
  /**
   * `bytes` holds several whole documents (Event Hub bodies), the i-th ending at `ends[i]`; `firstLine + i`
   * numbers the i-th, so a reject can be traced back to its event.
   */
  ends?: number[];
  /** With `ends`: where each document came from on the hub, stored with its rows. */
  events?: HubCoordinates[];
}
export interface HubCoordinates {
  partition: string;
  sequenceNumber: number;
  /** UTC, 'YYYY-MM-DD HH:MM:SS.ffffff' like every lake timestamp. */
  enqueuedTime: string | null;
}
export interface BadInput {
  kind: 'bad';
  source: string;
  line: number | null;
  byteOffset: number | null;
  reason: QuarantineReason;
  detail: string;
  text: string;
}
export type SourceItem = LineBatch | BadInput;

/** Lines above this are quarantined (first 64 KiB kept) rather than built into a string. */
export const MAX_LINE_BYTES = 256 * 1024 * 1024;
/** Only files up to this size are tried as one pretty-printed document. */
const MAX_DOCUMENT_BYTES = 512 * 1024 * 1024;
/** Batches are cut at the first line end after this many bytes. */
const BATCH_BYTES = 1 << 20;

export async function listInputFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const st = await fsp.stat(p).catch(() => null);
    if (!st) throw new Error(`Input ${p} does not exist. Pass files or folders of sign-in logs.`);
    if (st.isDirectory()) {
      const entries = (await fsp.readdir(p, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
      const children = entries.filter((e) => !e.name.startsWith('.') && (e.isFile() || e.isDirectory())).map((e) => join(p, e.name));
      out.push(...(await listInputFiles(children)));
    } else if (st.isFile()) out.push(p);
  }
  return out;
}

async function openMaybeGzip(path: string): Promise<Readable> {
  const fh = await fsp.open(path, 'r');
  const magic = Buffer.alloc(2);
  const { bytesRead } = await fh.read(magic, 0, 2, 0);
  await fh.close();
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  if (bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b) {
    const gunzip = createGunzip();
    raw.on('error', (e) => gunzip.destroy(e));
    return raw.pipe(gunzip);
  }
  return raw;
}

/** The first line with content, decoded: enough to decide between line mode and document mode. */
function firstContentLine(buf: Buffer): string | null {
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(10, pos);
    if (nl < 0) return null; // not complete yet
    const text = buf.subarray(pos, nl).toString('utf8').replace(/^\uFEFF/, '').trim();
    if (text) return text;
    pos = nl + 1;
  }
  return null;
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

export async function* readFile(path: string, maxLineBytes = MAX_LINE_BYTES): AsyncGenerator<SourceItem> {
  let stream: Readable;
  try {
    stream = await openMaybeGzip(path);
  } catch (e) {
    yield { kind: 'bad', source: path, line: null, byteOffset: null, reason: 'unreadable_input', detail: (e as Error).message, text: '' };
    return;
  }
  let pending: Buffer[] = []; // bytes after the last cut, not yet ending in '\n'
  let pendingBytes = 0;
  let line = 1; // line number of pending[0]'s first byte
  let offset = 0; // file offset of pending[0]'s first byte
  let mode: 'undecided' | 'lines' | 'document' = 'undecided';
  let skipping: { line: number; offset: number; head: string } | null = null; // inside an over-long line

  const cut = (upTo: number, buf: Buffer): LineBatch => {
    // A copy in its own ArrayBuffer (never Node's shared pool), so it can be moved to a worker thread.
    const bytes = new Uint8Array(upTo);
    bytes.set(buf.subarray(0, upTo));
    const batch: LineBatch = { kind: 'lines', source: path, bytes, firstLine: line, byteOffset: offset };
    for (let i = bytes.indexOf(10); i >= 0; i = bytes.indexOf(10, i + 1)) line++;
    offset += bytes.length;
    return batch;
  };

  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let data = chunk;
      if (skipping) {
        const nl = data.indexOf(10);
        if (nl < 0) {
          offset += data.length;
          continue;
        }
        yield { kind: 'bad', source: path, line: skipping.line, byteOffset: skipping.offset, reason: 'line_too_long', detail: `line of ${offset + nl - skipping.offset} bytes exceeds ${maxLineBytes}`, text: skipping.head };
        skipping = null;
        offset += nl + 1;
        line++;
        data = data.subarray(nl + 1);
      }
      pending.push(data);
      pendingBytes += data.length;
      if (mode === 'document') {
        if (pendingBytes > MAX_DOCUMENT_BYTES) mode = 'lines'; // too big to be one document: read as lines
        else continue;
      }
      if (mode === 'undecided') {
        const first = firstContentLine(Buffer.concat(pending));
        if (first === null && pendingBytes < maxLineBytes) continue;
        mode = first !== null && (first.startsWith('{') || first.startsWith('[')) && !parses(first) ? 'document' : 'lines';
        if (mode === 'document') continue;
      }
      if (pendingBytes < BATCH_BYTES && pendingBytes < maxLineBytes) continue;
      const buf = pending.length === 1 ? pending[0] : Buffer.concat(pending);
      const lastNl = buf.lastIndexOf(10);
      if (lastNl < 0) {
        if (buf.length >= maxLineBytes) {
          skipping = { line, offset, head: buf.subarray(0, 65536).toString('utf8') };
          offset += buf.length;
          pending = [];
          pendingBytes = 0;
        } else {
          pending = [buf];
        }
        continue;
      }
      yield cut(lastNl + 1, buf);
      const rest = buf.subarray(lastNl + 1);
      pending = rest.length ? [Buffer.from(rest)] : [];
      pendingBytes = rest.length;
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const truncated = err.code === 'Z_BUF_ERROR' || /unexpected end/i.test(err.message);
    // What was read before the damage is still sent on; the damaged tail is named in quarantine.
    if (mode !== 'document' && pendingBytes) {
      const buf = Buffer.concat(pending);
      const lastNl = buf.lastIndexOf(10);
      if (lastNl >= 0) yield cut(lastNl + 1, buf);
    }
    yield { kind: 'bad', source: path, line: null, byteOffset: offset, reason: 'unreadable_input', detail: truncated ? `gzip stream is truncated or corrupt (${err.message}); records before the damage were read` : err.message, text: '' };
    return;
  }
  if (skipping) {
    yield { kind: 'bad', source: path, line: skipping.line, byteOffset: skipping.offset, reason: 'line_too_long', detail: `line of ${offset - skipping.offset} bytes exceeds ${maxLineBytes}`, text: skipping.head };
    return;
  }
  if (!pendingBytes) return;
  const buf = Buffer.concat(pending);
  if (mode === 'document' && parses(buf.toString('utf8').replace(/^\uFEFF/, ''))) {
    yield { ...cut(buf.length, buf), document: true };
    return;
  }
  yield cut(buf.length, buf); // lines: each bad one is quarantined on its own
}
