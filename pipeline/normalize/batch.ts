import type { HubCoordinates, LineBatch } from '../sources/files';
import type { QuarantineReason } from './record';
import { normalizeRecord, Rejected } from './record';
import { isRejection, unwrap } from './containers';
import type { Json } from './fields';

/** One row ready for the lake: its staged JSON, its raw record, and what the writer needs to place it. */
export interface StagedRow {
  json: string;
  raw: string;
  key: string;
  date: string;
  hour: number;
}
export interface Reject {
  reason: QuarantineReason;
  detail: string;
  source: string;
  line: number | null;
  byte_offset: number | null;
  record_index: number | null;
  raw: string;
}
export interface BatchResult {
  /** Items read: every record, plus every line or container that could not yield one. */
  read: number;
  rows: StagedRow[];
  rejects: Reject[];
}

const decoder = new TextDecoder('utf-8');

/**
 * The whole per-record path, from bytes to staged rows: decode, parse, unwrap containers, normalize.
 * Pure and self-contained, so it runs the same in a worker thread (normalize/worker.ts) or inline.
 */
export function normalizeBatch(batch: LineBatch, ingestedAt: string): BatchResult {
  const out: BatchResult = { read: 0, rows: [], rejects: [] };
  const bytes = batch.bytes;
  if (batch.document) {
    const text = decoder.decode(bytes).replace(/^\uFEFF/, '');
    unit(out, batch.source, text, batch.firstLine, batch.byteOffset, ingestedAt);
    return out;
  }
  if (batch.ends) {
    let start = 0;
    batch.ends.forEach((end, i) => {
      const text = decoder.decode(bytes.subarray(start, end)).replace(/^\uFEFF/, '');
      unit(out, batch.source, text, batch.firstLine + i, batch.byteOffset + start, ingestedAt, batch.events?.[i]);
      start = end;
    });
    return out;
  }
  let pos = 0;
  let line = batch.firstLine;
  while (pos < bytes.length) {
    let nl = bytes.indexOf(10, pos);
    if (nl < 0) nl = bytes.length;
    let end = nl;
    if (end > pos && bytes[end - 1] === 13) end--; // CRLF
    if (end > pos) {
      let text = decoder.decode(bytes.subarray(pos, end));
      if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text.trim() !== '') unit(out, batch.source, text, line, batch.byteOffset + pos, ingestedAt);
    }
    pos = nl + 1;
    line++;
  }
  return out;
}

function unit(out: BatchResult, source: string, text: string, line: number, byteOffset: number, ingestedAt: string, eh?: HubCoordinates): void {
  let value: Json;
  try {
    value = JSON.parse(text) as Json;
  } catch (e) {
    out.read++;
    out.rejects.push({ reason: 'invalid_json', detail: (e as Error).message, source, line, byte_offset: byteOffset, record_index: null, raw: text });
    return;
  }
  for (const u of unwrap(value)) {
    out.read++;
    if (isRejection(u)) {
      out.rejects.push({ reason: u.rejected.reason, detail: u.rejected.detail, source, line, byte_offset: byteOffset, record_index: u.index, raw: u.value === value ? text : JSON.stringify(u.value) });
      continue;
    }
    const own = u.record === value ? text : undefined;
    const r = normalizeRecord(u.record, u.shape, { source, ingestedAt, eh }, own);
    if (r instanceof Rejected) {
      out.rejects.push({ reason: r.reason, detail: r.detail, source, line, byte_offset: byteOffset, record_index: u.index, raw: own ?? JSON.stringify(u.record) });
    } else {
      out.rows.push({ json: JSON.stringify(r.row), raw: r.raw, key: r.row.record_key as string, date: r.row.date as string, hour: r.row.hour as number });
    }
  }
}
