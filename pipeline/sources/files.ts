import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { Json } from '../normalize/fields';
import type { QuarantineReason } from '../normalize/record';

/**
 * File source: walks files and folders, un-gzips (by magic bytes, not by name), splits lines with their
 * byte offsets, and parses each line as JSON. A file whose first line is not JSON on its own but which
 * parses as a whole (a pretty-printed export) is yielded as one document instead.
 */
export interface ParsedUnit {
  kind: 'parsed';
  source: string;
  line: number; // 1-based line of the unit's first byte
  byteOffset: number; // offset in the (decompressed) stream
  text: string;
  value: Json;
}
export interface BadUnit {
  kind: 'bad';
  source: string;
  line: number | null;
  byteOffset: number | null;
  reason: QuarantineReason;
  detail: string;
  text: string;
}
export type SourceUnit = ParsedUnit | BadUnit;

/** Lines above this are quarantined (first 64 KiB kept) rather than built into a string. */
export const MAX_LINE_BYTES = 256 * 1024 * 1024;
/** Only files up to this size are tried as one pretty-printed document. */
const MAX_DOCUMENT_BYTES = 512 * 1024 * 1024;

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

interface RawLine {
  line: number;
  byteOffset: number;
  text: string | null; // null: too long, see `head`
  head?: string;
  length: number;
}

/** Splits a byte stream into lines without ever holding more than one line (bounded) in memory. */
async function* lines(stream: Readable): AsyncGenerator<RawLine> {
  let parts: Buffer[] = [];
  let partBytes = 0;
  let overflow = false;
  let head = '';
  let lineNo = 1;
  let offset = 0; // offset of the current line's first byte
  let consumed = 0; // bytes of the stream before the current chunk
  const finish = (endExclusive: number, tail: Buffer | null): RawLine => {
    let out: RawLine;
    if (overflow) {
      out = { line: lineNo, byteOffset: offset, text: null, head, length: endExclusive - offset };
    } else {
      const buf = tail ? (parts.length ? Buffer.concat([...parts, tail]) : tail) : Buffer.concat(parts);
      let text = buf.toString('utf8');
      if (text.endsWith('\r')) text = text.slice(0, -1);
      if (lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      out = { line: lineNo, byteOffset: offset, text, length: endExclusive - offset };
    }
    parts = [];
    partBytes = 0;
    overflow = false;
    head = '';
    return out;
  };
  const keep = (b: Buffer) => {
    if (overflow) return;
    if (partBytes + b.length > MAX_LINE_BYTES) {
      overflow = true;
      head = Buffer.concat([...parts, b]).subarray(0, 65536).toString('utf8');
      parts = [];
      return;
    }
    parts.push(b);
    partBytes += b.length;
  };
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let pos = 0;
    for (;;) {
      const nl = chunk.indexOf(10, pos);
      if (nl < 0) break;
      const piece = chunk.subarray(pos, nl);
      if (overflow) keep(piece);
      const l = finish(consumed + nl, overflow ? null : piece);
      yield l;
      lineNo++;
      pos = nl + 1;
      offset = consumed + pos;
    }
    if (pos < chunk.length) keep(Buffer.from(chunk.subarray(pos)));
    consumed += chunk.length;
  }
  if (partBytes > 0 || overflow) yield finish(consumed, null);
}

function tryParse(text: string): { ok: true; value: Json } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) as Json };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

export async function* readFileUnits(path: string): AsyncGenerator<SourceUnit> {
  let stream: Readable;
  try {
    stream = await openMaybeGzip(path);
  } catch (e) {
    yield { kind: 'bad', source: path, line: null, byteOffset: null, reason: 'unreadable_input', detail: (e as Error).message, text: '' };
    return;
  }
  // Document mode candidate: the first non-blank line is not JSON by itself but opens an object/array.
  let pending: RawLine[] | null = null;
  let pendingBytes = 0;
  let sawContent = false;
  const lineUnit = (l: RawLine): SourceUnit => {
    if (l.text === null) {
      return { kind: 'bad', source: path, line: l.line, byteOffset: l.byteOffset, reason: 'line_too_long', detail: `line of ${l.length} bytes exceeds ${MAX_LINE_BYTES}`, text: l.head ?? '' };
    }
    const r = tryParse(l.text);
    if (r.ok) return { kind: 'parsed', source: path, line: l.line, byteOffset: l.byteOffset, text: l.text, value: r.value };
    return { kind: 'bad', source: path, line: l.line, byteOffset: l.byteOffset, reason: 'invalid_json', detail: r.error, text: l.text };
  };
  try {
    for await (const l of lines(stream)) {
      if (l.text !== null && l.text.trim() === '') {
        if (pending) pending.push(l);
        continue;
      }
      if (pending) {
        pending.push(l);
        pendingBytes += l.length;
        if (pendingBytes > MAX_DOCUMENT_BYTES || l.text === null) {
          for (const p of pending) if (p.text === null || p.text.trim() !== '') yield lineUnit(p);
          pending = null;
        }
        continue;
      }
      if (!sawContent) {
        sawContent = true;
        const t = l.text?.trim() ?? '';
        if ((t.startsWith('{') || t.startsWith('[')) && !tryParse(t).ok) {
          pending = [l];
          pendingBytes = l.length;
          continue;
        }
      }
      yield lineUnit(l);
    }
  } catch (e) {
    if (pending) for (const p of pending) if (p.text === null || p.text.trim() !== '') yield lineUnit(p);
    pending = null;
    const err = e as NodeJS.ErrnoException;
    const truncated = err.code === 'Z_BUF_ERROR' || /unexpected end/i.test(err.message);
    yield { kind: 'bad', source: path, line: null, byteOffset: null, reason: 'unreadable_input', detail: truncated ? `gzip stream is truncated or corrupt (${err.message}); records before the damage were read` : err.message, text: '' };
    return;
  }
  if (pending) {
    const doc = pending.map((p) => p.text).join('\n');
    const r = tryParse(doc);
    if (r.ok) yield { kind: 'parsed', source: path, line: pending[0].line, byteOffset: pending[0].byteOffset, text: doc, value: r.value };
    else for (const p of pending) if (p.text === null || p.text.trim() !== '') yield lineUnit(p);
  }
}
