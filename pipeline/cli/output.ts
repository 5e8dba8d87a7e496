/**
 * Printing query results (rows from DuckDB) as table / ndjson / json / csv / arrow.
 *
 * Every value may come from attacker-controlled log fields (user agents, display
 * names, app names), so each format escapes for its consumer:
 *  - table: C0/C1 controls, ESC, DEL, bidi controls and other invisible format
 *    characters are shown as `\xNN` / `\uNNNN` so nothing can drive the terminal;
 *  - ndjson/json: JSON.stringify plus escaping of U+2028/2029, NEL, C1 and bidi
 *    controls, so line-based readers never split a record and a raw `cat` is safe;
 *  - csv: RFC 4180 quoting plus OWASP formula defusing for non-numeric columns;
 *  - arrow: typed columns, values carried verbatim.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as nodePath from 'node:path';
import {
  Bool,
  Data,
  DataType,
  Field,
  Float64,
  Int64,
  List,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimeUnit,
  Timestamp,
  Utf8,
  makeBuilder,
  makeData,
  tableToIPC,
} from 'apache-arrow';

export type Format = 'table' | 'ndjson' | 'json' | 'csv' | 'arrow';
export type ColumnKind =
  | 'string'
  | 'integer'
  | 'double'
  | 'boolean'
  | 'timestamp'
  | 'string[]'
  | 'integer[]'
  | 'json';
export interface Column {
  name: string;
  kind: ColumnKind;
}
/** values: string | number | bigint | boolean | null | string[] | number[] | (nested JSON for 'json'); timestamps arrive as ISO strings */
export type Row = Record<string, unknown>;

export interface FormatOptions {
  /** table only: cells wider than this (in terminal columns) are cut with `…`. Default 60. */
  maxCellWidth?: number;
}

export const FORMATS: readonly Format[] = ['table', 'ndjson', 'json', 'csv', 'arrow'];
const DEFAULT_MAX_CELL_WIDTH = 60;

/** 'table' on a terminal, 'ndjson' when piped. */
export function defaultFormat(isTTY: boolean): Format {
  return isTTY ? 'table' : 'ndjson';
}

// ---------------------------------------------------------------------------
// Value normalisation (one canonical JS value per kind, shared by all formats)
// ---------------------------------------------------------------------------

type Canon =
  | { k: 'string'; v: string | null }
  | { k: 'integer'; v: bigint | null }
  | { k: 'double'; v: number | null }
  | { k: 'boolean'; v: boolean | null }
  | { k: 'timestamp'; v: string | null }
  | { k: 'string[]'; v: (string | null)[] | null }
  | { k: 'integer[]'; v: (bigint | null)[] | null }
  | { k: 'json'; v: unknown };

function cellOf(row: Row, name: string): unknown {
  // Own properties only: a column called "constructor" must not read Object.prototype.
  return Object.prototype.hasOwnProperty.call(row, name) ? row[name] : undefined;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'object') return v === null ? 'null' : Array.isArray(v) ? 'array' : 'object';
  return `${typeof v} ${String(v)}`;
}

function kindError(col: string, kind: ColumnKind, v: unknown): TypeError {
  return new TypeError(`column ${JSON.stringify(col)} (${kind}): cannot represent ${describe(v)}`);
}

const INTEGER_RE = /^[+-]?\d+$/;
const DOUBLE_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;

function toInteger(col: string, kind: ColumnKind, v: unknown): bigint | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && INTEGER_RE.test(v.trim())) return BigInt(v.trim());
  throw kindError(col, kind, v);
}

function toDouble(col: string, v: unknown): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string') {
    const s = v.trim();
    if (DOUBLE_RE.test(s)) return Number(s);
    const l = s.toLowerCase();
    if (l === 'nan') return NaN;
    if (l === 'inf' || l === 'infinity' || l === '+inf' || l === '+infinity') return Infinity;
    if (l === '-inf' || l === '-infinity') return -Infinity;
  }
  throw kindError(col, 'double', v);
}

function toText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
  return jsonText(v, undefined);
}

function canon(col: Column, raw: unknown): Canon {
  const name = col.name;
  switch (col.kind) {
    case 'string':
      return { k: 'string', v: toText(raw) };
    case 'integer':
      return { k: 'integer', v: toInteger(name, 'integer', raw) };
    case 'double':
      return { k: 'double', v: toDouble(name, raw) };
    case 'boolean': {
      if (raw === null || raw === undefined) return { k: 'boolean', v: null };
      if (typeof raw === 'boolean') return { k: 'boolean', v: raw };
      if (raw === 'true' || raw === 'false') return { k: 'boolean', v: raw === 'true' };
      throw kindError(name, 'boolean', raw);
    }
    case 'timestamp': {
      if (raw === null || raw === undefined) return { k: 'timestamp', v: null };
      if (typeof raw === 'string') return { k: 'timestamp', v: raw };
      if (raw instanceof Date && !Number.isNaN(raw.getTime())) return { k: 'timestamp', v: raw.toISOString() };
      throw kindError(name, 'timestamp', raw);
    }
    case 'string[]': {
      if (raw === null || raw === undefined) return { k: 'string[]', v: null };
      if (!Array.isArray(raw)) throw kindError(name, 'string[]', raw);
      return { k: 'string[]', v: raw.map((e) => toText(e)) };
    }
    case 'integer[]': {
      if (raw === null || raw === undefined) return { k: 'integer[]', v: null };
      if (!Array.isArray(raw)) throw kindError(name, 'integer[]', raw);
      return { k: 'integer[]', v: raw.map((e) => toInteger(name, 'integer[]', e)) };
    }
    case 'json':
      return { k: 'json', v: raw === undefined ? null : raw };
    default: {
      const never: never = col.kind;
      throw new TypeError(`column ${JSON.stringify(name)}: unknown kind ${String(never)}`);
    }
  }
}

function isNumericKind(kind: ColumnKind): boolean {
  return kind === 'integer' || kind === 'double' || kind === 'integer[]';
}

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

/**
 * Characters JSON.stringify leaves raw that can still hurt: U+2028/2029 and NEL
 * split lines for some readers, C1 controls (e.g. U+009B = CSI) and bidi controls
 * can drive or mislead a terminal when the JSON is simply `cat`-ed. Escaping them
 * as \uXXXX is semantically identical JSON. They can only occur inside strings.
 */
const JSON_UNSAFE_RE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
function escapeJsonText(s: string): string {
  return s.replace(JSON_UNSAFE_RE, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

function bigintJson(b: bigint): number | string {
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b.toString();
}

function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? bigintJson(value) : value;
}

/** JSON text of an arbitrary (nested) value; bigint handled, never `undefined`. */
function jsonText(v: unknown, indent: number | undefined): string {
  const s = JSON.stringify(v, jsonReplacer, indent);
  return escapeJsonText(s === undefined ? 'null' : s);
}

function canonJson(c: Canon, indent: number | undefined): string {
  if (c.v === null) return 'null';
  switch (c.k) {
    case 'integer':
      return JSON.stringify(bigintJson(c.v));
    case 'integer[]':
      return jsonText(c.v.map((e) => (e === null ? null : bigintJson(e))), undefined);
    case 'string[]':
      return jsonText(c.v, undefined);
    case 'json':
      return jsonText(c.v, indent);
    default:
      return jsonText(c.v, undefined); // NaN/±Infinity become null, as JSON requires
  }
}

/** One JSON object, keys in column order (built by hand: JS objects reorder integer-like keys and treat __proto__ specially). */
function jsonObject(row: Row, columns: readonly Column[], pretty: boolean): string {
  if (columns.length === 0) return '{}';
  if (!pretty) {
    return '{' + columns.map((col) => jsonText(col.name, undefined) + ':' + canonJson(canon(col, cellOf(row, col.name)), undefined)).join(',') + '}';
  }
  const inner = '    ';
  const parts = columns.map((col) => {
    const value = canonJson(canon(col, cellOf(row, col.name)), 2).replace(/\n/g, '\n' + inner);
    return inner + jsonText(col.name, undefined) + ': ' + value;
  });
  return '  {\n' + parts.join(',\n') + '\n  }';
}

function* ndjsonChunks(rows: readonly Row[], columns: readonly Column[]): Generator<string> {
  for (const row of rows) yield jsonObject(row, columns, false) + '\n';
}

function* jsonChunks(rows: readonly Row[], columns: readonly Column[]): Generator<string> {
  if (rows.length === 0) {
    yield '[]\n';
    return;
  }
  yield '[\n';
  for (let i = 0; i < rows.length; i++) {
    yield jsonObject(rows[i]!, columns, true) + (i === rows.length - 1 ? '\n' : ',\n');
  }
  yield ']\n';
}

// ---------------------------------------------------------------------------
// CSV (RFC 4180 + OWASP formula defusing)
// ---------------------------------------------------------------------------

const FORMULA_TRIGGERS = new Set(['=', '+', '-', '@', '\t', '\r', '\0', '\uff1d', '\uff0b', '\uff0d', '\uff20']);

function defuse(s: string): string {
  return s.length > 0 && FORMULA_TRIGGERS.has(s[0]!) ? "'" + s : s;
}

function csvQuote(s: string): string {
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

function csvCellText(c: Canon): string | null {
  if (c.v === null) return null;
  switch (c.k) {
    case 'string[]':
      return c.v.map((e) => e ?? '').join(';');
    case 'integer[]':
      return c.v.map((e) => (e === null ? '' : e.toString())).join(';');
    case 'json':
      return jsonText(c.v, undefined);
    default:
      return String(c.v);
  }
}

/** null -> empty field; empty string -> `""` (so the two stay distinguishable). */
function csvField(text: string | null, numeric: boolean): string {
  if (text === null) return '';
  if (text === '') return '""';
  return csvQuote(numeric ? text : defuse(text));
}

function* csvChunks(rows: readonly Row[], columns: readonly Column[]): Generator<string> {
  yield columns.map((col) => csvField(col.name, false)).join(',') + '\r\n';
  for (const row of rows) {
    yield columns
      .map((col) => csvField(csvCellText(canon(col, cellOf(row, col.name))), isNumericKind(col.kind)))
      .join(',') + '\r\n';
  }
}

// ---------------------------------------------------------------------------
// Table (terminal)
// ---------------------------------------------------------------------------

/** A unit of terminal output that must not be split by truncation. */
interface Piece {
  text: string;
  width: number;
}

function hex2(cp: number): string {
  return '\\x' + cp.toString(16).padStart(2, '0');
}
function hex4(cp: number): string {
  return '\\u' + cp.toString(16).padStart(4, '0');
}

/** Characters shown escaped in the table: controls, bidi controls, invisible format characters, lone surrogates. */
function escapeForTerminal(cp: number): string | null {
  if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return hex2(cp);
  if (
    cp === 0x061c || // ARABIC LETTER MARK
    cp === 0x200b || // ZERO WIDTH SPACE
    cp === 0x200e || // LRM
    cp === 0x200f || // RLM
    cp === 0x2028 || // LINE SEPARATOR
    cp === 0x2029 || // PARAGRAPH SEPARATOR
    (cp >= 0x202a && cp <= 0x202e) || // LRE RLE PDF LRO RLO
    (cp >= 0x2060 && cp <= 0x2064) || // word joiner, invisible operators
    (cp >= 0x2066 && cp <= 0x2069) || // LRI RLI FSI PDI
    cp === 0xfeff || // BOM / ZWNBSP
    (cp >= 0xfff9 && cp <= 0xfffb) || // interlinear annotation controls
    (cp >= 0xd800 && cp <= 0xdfff) || // lone surrogate
    (cp >= 0xe0000 && cp <= 0xe007f) // tag characters ("ASCII smuggling")
  ) {
    return hex4(cp);
  }
  return null;
}

/** Zero-width: combining marks, ZWNJ/ZWJ, variation selectors. */
function isZeroWidth(cp: number): boolean {
  return (
    (cp >= 0x0300 && cp <= 0x036f) ||
    (cp >= 0x0483 && cp <= 0x0489) ||
    (cp >= 0x0591 && cp <= 0x05bd) ||
    (cp >= 0x0610 && cp <= 0x061a) ||
    (cp >= 0x064b && cp <= 0x065f) ||
    (cp >= 0x1ab0 && cp <= 0x1aff) ||
    (cp >= 0x1dc0 && cp <= 0x1dff) ||
    cp === 0x200c ||
    cp === 0x200d ||
    (cp >= 0x20d0 && cp <= 0x20ff) ||
    (cp >= 0xfe00 && cp <= 0xfe0f) ||
    (cp >= 0xfe20 && cp <= 0xfe2f) ||
    (cp >= 0xe0100 && cp <= 0xe01ef)
  );
}

/** East Asian Wide/Fullwidth and emoji, approximately. */
function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x231a && cp <= 0x231b) ||
    (cp >= 0x2329 && cp <= 0x232a) ||
    (cp >= 0x23e9 && cp <= 0x23ec) ||
    cp === 0x23f0 ||
    cp === 0x23f3 ||
    (cp >= 0x25fd && cp <= 0x25fe) ||
    (cp >= 0x2614 && cp <= 0x2615) ||
    (cp >= 0x2648 && cp <= 0x2653) ||
    cp === 0x267f ||
    cp === 0x2693 ||
    cp === 0x26a1 ||
    (cp >= 0x26aa && cp <= 0x26ab) ||
    (cp >= 0x26bd && cp <= 0x26be) ||
    (cp >= 0x26c4 && cp <= 0x26c5) ||
    cp === 0x26ce ||
    cp === 0x26d4 ||
    cp === 0x26ea ||
    (cp >= 0x26f2 && cp <= 0x26f3) ||
    cp === 0x26f5 ||
    cp === 0x26fa ||
    cp === 0x26fd ||
    cp === 0x2705 ||
    (cp >= 0x270a && cp <= 0x270b) ||
    cp === 0x2728 ||
    cp === 0x274c ||
    cp === 0x274e ||
    (cp >= 0x2753 && cp <= 0x2755) ||
    cp === 0x2757 ||
    (cp >= 0x2795 && cp <= 0x2797) ||
    cp === 0x27b0 ||
    cp === 0x27bf ||
    (cp >= 0x2b1b && cp <= 0x2b1c) ||
    cp === 0x2b50 ||
    cp === 0x2b55 ||
    (cp >= 0x2e80 && cp <= 0x303e) ||
    (cp >= 0x3041 && cp <= 0x33ff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xa960 && cp <= 0xa97f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe10 && cp <= 0xfe19) ||
    (cp >= 0xfe30 && cp <= 0xfe6f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x16fe0 && cp <= 0x18cff) ||
    (cp >= 0x1b000 && cp <= 0x1b2ff) ||
    cp === 0x1f004 ||
    cp === 0x1f0cf ||
    cp === 0x1f18e ||
    (cp >= 0x1f191 && cp <= 0x1f19a) ||
    (cp >= 0x1f200 && cp <= 0x1f251) ||
    (cp >= 0x1f300 && cp <= 0x1f320) ||
    (cp >= 0x1f32d && cp <= 0x1f335) ||
    (cp >= 0x1f337 && cp <= 0x1f37c) ||
    (cp >= 0x1f37e && cp <= 0x1f393) ||
    (cp >= 0x1f3a0 && cp <= 0x1f3ca) ||
    (cp >= 0x1f3cf && cp <= 0x1f3d3) ||
    (cp >= 0x1f3e0 && cp <= 0x1f3f0) ||
    cp === 0x1f3f4 ||
    (cp >= 0x1f3f8 && cp <= 0x1f43e) ||
    cp === 0x1f440 ||
    (cp >= 0x1f442 && cp <= 0x1f4fc) ||
    (cp >= 0x1f4ff && cp <= 0x1f53d) ||
    (cp >= 0x1f54b && cp <= 0x1f54e) ||
    (cp >= 0x1f550 && cp <= 0x1f567) ||
    cp === 0x1f57a ||
    (cp >= 0x1f595 && cp <= 0x1f596) ||
    cp === 0x1f5a4 ||
    (cp >= 0x1f5fb && cp <= 0x1f64f) ||
    (cp >= 0x1f680 && cp <= 0x1f6c5) ||
    cp === 0x1f6cc ||
    (cp >= 0x1f6d0 && cp <= 0x1f6d2) ||
    (cp >= 0x1f6d5 && cp <= 0x1f6d7) ||
    (cp >= 0x1f6dc && cp <= 0x1f6df) ||
    (cp >= 0x1f6eb && cp <= 0x1f6ec) ||
    (cp >= 0x1f6f4 && cp <= 0x1f6fc) ||
    (cp >= 0x1f7e0 && cp <= 0x1f7eb) ||
    cp === 0x1f7f0 ||
    (cp >= 0x1f90c && cp <= 0x1f93a) ||
    (cp >= 0x1f93c && cp <= 0x1f945) ||
    (cp >= 0x1f947 && cp <= 0x1f9ff) ||
    (cp >= 0x1fa70 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x2fffd) ||
    (cp >= 0x30000 && cp <= 0x3fffd)
  );
}

/** Display width of a single code point (after escaping; never called on controls). */
export function codePointWidth(cp: number): number {
  if (isZeroWidth(cp)) return 0;
  return isWide(cp) ? 2 : 1;
}

/** Split text into terminal-safe pieces: escapes for dangerous characters, otherwise the code point itself. */
function terminalPieces(s: string): Piece[] {
  const pieces: Piece[] = [];
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    const esc = escapeForTerminal(cp);
    if (esc !== null) pieces.push({ text: esc, width: esc.length });
    else pieces.push({ text: ch, width: codePointWidth(cp) });
  }
  return pieces;
}

/** Escaped text for the terminal. Exported for callers printing single values (e.g. error messages). */
export function sanitizeForTerminal(s: string): string {
  return terminalPieces(s)
    .map((p) => p.text)
    .join('');
}

/** Display width (terminal columns) of text that is already terminal-safe. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += codePointWidth(ch.codePointAt(0)!);
  return w;
}

interface Cell {
  text: string;
  width: number;
}

function tableCell(s: string, maxWidth: number): Cell {
  const pieces = terminalPieces(s);
  let total = 0;
  for (const p of pieces) total += p.width;
  if (total <= maxWidth) return { text: pieces.map((p) => p.text).join(''), width: total };
  // Truncate: keep whole pieces up to maxWidth - 1, then the ellipsis (width 1).
  let width = 0;
  let text = '';
  for (const p of pieces) {
    if (width + p.width > maxWidth - 1) break;
    text += p.text;
    width += p.width;
  }
  return { text: text + '…', width: width + 1 };
}

function tableText(c: Canon): string {
  if (c.v === null) return 'NULL';
  switch (c.k) {
    case 'string[]':
      return c.v.map((e) => e ?? 'NULL').join(', ');
    case 'integer[]':
      return c.v.map((e) => (e === null ? 'NULL' : e.toString())).join(', ');
    case 'json':
      return jsonText(c.v, undefined);
    default:
      return String(c.v);
  }
}

function checkMaxCellWidth(opts: FormatOptions | undefined): number {
  const w = opts?.maxCellWidth ?? DEFAULT_MAX_CELL_WIDTH;
  if (!Number.isInteger(w) || w < 1) throw new RangeError(`maxCellWidth must be a positive integer, got ${String(w)}`);
  return w;
}

function pad(cell: Cell, width: number, right: boolean): string {
  const fill = ' '.repeat(Math.max(0, width - cell.width));
  return right ? fill + cell.text : cell.text + fill;
}

function* tableChunks(rows: readonly Row[], columns: readonly Column[], opts: FormatOptions | undefined): Generator<string> {
  const maxWidth = checkMaxCellWidth(opts);
  if (rows.length === 0) {
    yield '(no rows)\n';
    return;
  }
  const header = columns.map((col) => tableCell(col.name, maxWidth));
  const body = rows.map((row) => columns.map((col) => tableCell(tableText(canon(col, cellOf(row, col.name))), maxWidth)));
  const widths = header.map((h, i) => body.reduce((w, r) => Math.max(w, r[i]!.width), h.width));
  const rightAlign = columns.map((col) => col.kind === 'integer' || col.kind === 'double');
  const line = (cells: Cell[], forceLeft: boolean): string =>
    cells
      .map((c, i) => pad(c, widths[i]!, rightAlign[i]! && !forceLeft))
      .join(' | ')
      .replace(/ +$/, '') + '\n';
  yield line(header, false);
  yield widths.map((w) => '-'.repeat(w)).join('-+-') + '\n';
  for (const r of body) yield line(r, false);
  yield `${rows.length} rows\n`;
}

// ---------------------------------------------------------------------------
// Arrow IPC stream
// ---------------------------------------------------------------------------

const MICROS_PER_MS = BigInt(1000);
// DuckDB's own int64 encodings of ±infinity timestamps.
const TS_INFINITY = BigInt('9223372036854775807');
const TS_NEG_INFINITY = BigInt('-9223372036854775807');
const INT64_MIN = -(BigInt(1) << BigInt(63));
const INT64_MAX = (BigInt(1) << BigInt(63)) - BigInt(1);

const TS_RE =
  /^(-?\d{4,})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?$/i;

/** Parse an ISO-ish timestamp (DuckDB `2024-01-02 03:04:05.123456[+00]`, or `...T...Z`) to epoch microseconds, UTC when no offset. */
export function parseTimestampMicros(s: string): bigint {
  const t = s.trim();
  const lower = t.toLowerCase();
  if (lower === 'infinity') return TS_INFINITY;
  if (lower === '-infinity') return TS_NEG_INFINITY;
  const m = TS_RE.exec(t);
  if (!m) throw new RangeError(`not a timestamp: ${JSON.stringify(s.slice(0, 60))}`);
  const [, ys, mos, ds, hs, mis, ss, frac, tz] = m;
  const year = Number(ys);
  const month = Number(mos);
  const day = Number(ds);
  const hour = Number(hs ?? 0);
  const minute = Number(mis ?? 0);
  const second = Number(ss ?? 0);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 24 || minute > 59 || second > 60) {
    throw new RangeError(`not a timestamp: ${JSON.stringify(s.slice(0, 60))}`);
  }
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day); // setUTCFullYear: years 0..99 are not shifted to 19xx
  d.setUTCHours(hour, minute, second, 0);
  const ms = d.getTime();
  if (Number.isNaN(ms) || d.getUTCDate() !== day) throw new RangeError(`not a timestamp: ${JSON.stringify(s.slice(0, 60))}`);
  let micros = BigInt(ms) * MICROS_PER_MS;
  if (frac) micros += BigInt(frac.padEnd(6, '0').slice(0, 6)); // sub-microsecond digits are truncated
  if (tz && tz.toUpperCase() !== 'Z') {
    const sign = tz[0] === '-' ? -1 : 1;
    const digits = tz.slice(1).replace(/:/g, '');
    const offSeconds = Number(digits.slice(0, 2)) * 3600 + Number(digits.slice(2, 4) || 0) * 60 + Number(digits.slice(4, 6) || 0);
    micros -= BigInt(sign * offSeconds) * BigInt(1_000_000);
  }
  return micros;
}

function checkInt64(col: string, v: bigint): bigint {
  if (v < INT64_MIN || v > INT64_MAX) throw new RangeError(`column ${JSON.stringify(col)}: ${v} does not fit in Int64`);
  return v;
}

function buildColumn(col: Column, rows: readonly Row[]): { type: DataType; data: Data } {
  const values = rows.map((row) => canon(col, cellOf(row, col.name)));
  const build = <T extends DataType>(type: T, vals: unknown[]): Data<T> => {
    const b = makeBuilder({ type, nullValues: [null, undefined] });
    for (const v of vals) b.append(v as never);
    return b.finish().flush() as Data<T>;
  };
  switch (col.kind) {
    case 'string':
      return { type: new Utf8(), data: build(new Utf8(), values.map((c) => c.v)) };
    case 'json':
      return { type: new Utf8(), data: build(new Utf8(), values.map((c) => (c.v === null ? null : jsonText(c.v, undefined)))) };
    case 'integer':
      return {
        type: new Int64(),
        data: build(new Int64(), values.map((c) => (c.v === null ? null : checkInt64(col.name, c.v as bigint)))),
      };
    case 'double':
      return { type: new Float64(), data: build(new Float64(), values.map((c) => c.v)) };
    case 'boolean':
      return { type: new Bool(), data: build(new Bool(), values.map((c) => c.v)) };
    case 'timestamp': {
      // Build exact int64 microseconds, then reinterpret the buffers as Timestamp(µs, UTC):
      // the Timestamp builder takes float milliseconds and would lose sub-ms precision.
      const type = new Timestamp(TimeUnit.MICROSECOND, 'UTC');
      const micros = build(new Int64(), values.map((c) => (c.v === null ? null : parseTimestampMicros(c.v as string))));
      const data = makeData({
        type,
        offset: micros.offset,
        length: micros.length,
        nullCount: micros.nullCount,
        nullBitmap: micros.nullBitmap,
        data: micros.values,
      });
      return { type, data };
    }
    case 'string[]': {
      const type = new List(new Field('item', new Utf8(), true));
      return { type, data: build(type, values.map((c) => c.v)) };
    }
    case 'integer[]': {
      const type = new List(new Field('item', new Int64(), true));
      const vals = values.map((c) =>
        c.v === null ? null : (c.v as (bigint | null)[]).map((e) => (e === null ? null : checkInt64(col.name, e))),
      );
      return { type, data: build(type, vals) };
    }
    default: {
      const never: never = col.kind;
      throw new TypeError(`unknown kind ${String(never)}`);
    }
  }
}

function arrowBytes(rows: readonly Row[], columns: readonly Column[]): Uint8Array {
  const built = columns.map((col) => ({ col, ...buildColumn(col, rows) }));
  const fields = built.map((b) => new Field(b.col.name, b.type, true));
  const schema = new Schema(fields);
  const struct = makeData({
    type: new Struct(fields),
    length: rows.length,
    nullCount: 0,
    children: built.map((b) => b.data),
  });
  const batch = new RecordBatch(schema, struct);
  return tableToIPC(new Table(schema, [batch]), 'stream');
}

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

function checkFormat(format: Format): void {
  if (!FORMATS.includes(format)) throw new RangeError(`unknown format ${JSON.stringify(format)}; expected one of ${FORMATS.join(', ')}`);
}

/** Text formats as a sequence of chunks (so large outputs never need one giant string). */
function textChunks(rows: readonly Row[], columns: readonly Column[], format: Exclude<Format, 'arrow'>, opts?: FormatOptions): Iterable<string> {
  switch (format) {
    case 'table':
      return tableChunks(rows, columns, opts);
    case 'ndjson':
      return ndjsonChunks(rows, columns);
    case 'json':
      return jsonChunks(rows, columns);
    case 'csv':
      return csvChunks(rows, columns);
  }
}

const WRITE_BATCH_CHARS = 64 * 1024;

/** Chunks as UTF-8 buffers of roughly 64 KiB. */
function* byteChunks(rows: readonly Row[], columns: readonly Column[], format: Format, opts?: FormatOptions): Generator<Uint8Array> {
  checkFormat(format);
  if (format === 'arrow') {
    yield arrowBytes(rows, columns);
    return;
  }
  let pending: string[] = [];
  let size = 0;
  for (const chunk of textChunks(rows, columns, format, opts)) {
    pending.push(chunk);
    size += chunk.length;
    if (size >= WRITE_BATCH_CHARS) {
      yield Buffer.from(pending.join(''), 'utf8');
      pending = [];
      size = 0;
    }
  }
  if (pending.length > 0) yield Buffer.from(pending.join(''), 'utf8');
}

/** Serialise rows to bytes in the given format: a string for text formats, bytes for 'arrow'. */
export function formatRows(
  rows: readonly Row[],
  columns: readonly Column[],
  format: Format,
  opts?: { maxCellWidth?: number /* table, default 60 */ },
): Uint8Array | string {
  checkFormat(format);
  if (format === 'arrow') return arrowBytes(rows, columns);
  return Array.from(textChunks(rows, columns, format, opts)).join('');
}

/** Write to a stream (stdout or a file stream), respecting backpressure. Does not end the stream. */
export async function writeRows(
  out: NodeJS.WritableStream,
  rows: readonly Row[],
  columns: readonly Column[],
  format: Format,
  opts?: FormatOptions,
): Promise<void> {
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const fail = (err: Error): void => {
    failure ??= err;
    wake?.();
  };
  const onError = (err: Error): void => fail(err);
  const onClose = (): void => fail(new Error('output stream closed before all rows were written'));
  const onDrain = (): void => wake?.();
  const waitFor = (done: () => boolean): Promise<void> =>
    new Promise<void>((resolve) => {
      if (done() || failure) return resolve();
      wake = resolve;
    }).finally(() => {
      wake = null;
    });
  out.on('error', onError);
  out.on('close', onClose);
  out.on('drain', onDrain);
  try {
    let pendingCallbacks = 0;
    for (const chunk of byteChunks(rows, columns, format, opts)) {
      if (failure) throw failure;
      pendingCallbacks++;
      const ok = out.write(chunk, (err?: Error | null) => {
        pendingCallbacks--;
        if (err) fail(err);
        else if (pendingCallbacks === 0) wake?.();
      });
      if (!ok) await waitFor(() => false); // resolved by 'drain', an error, or 'close'
    }
    // Wait until every chunk has been handed to the underlying resource (or failed).
    while (pendingCallbacks > 0 && !failure) await waitFor(() => pendingCallbacks === 0);
    if (failure) throw failure;
  } finally {
    out.removeListener('error', onError);
    out.removeListener('close', onClose);
    out.removeListener('drain', onDrain);
  }
}

async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, off, chunk.length - off, null);
    if (bytesWritten <= 0) throw new Error('short write');
    off += bytesWritten;
  }
}

/** Write to a file atomically: temp name in the same folder, fsync, rename; on failure remove the temp file. */
export async function writeRowsToFile(
  path: string,
  rows: readonly Row[],
  columns: readonly Column[],
  format: Format,
  opts?: FormatOptions,
): Promise<void> {
  checkFormat(format);
  const target = nodePath.resolve(path);
  const dir = nodePath.dirname(target);
  const temp = nodePath.join(dir, `.${nodePath.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | null = null;
  try {
    handle = await fsp.open(temp, 'wx');
    for (const chunk of byteChunks(rows, columns, format, opts)) {
      await writeAll(handle, chunk);
    }
    await handle.sync();
    await handle.close();
    handle = null;
    await fsp.rename(temp, target);
  } catch (err) {
    if (handle) await handle.close().catch(() => undefined);
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
  // Make the rename itself durable. Not all platforms allow fsync on a directory.
  try {
    const dh = await fsp.open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    /* best effort */
  }
}

// ---------------------------------------------------------------------------
// DuckDB type -> ColumnKind
// ---------------------------------------------------------------------------

const INTEGER_TYPES = new Set([
  'TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT',
  'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT', 'UHUGEINT',
  'INT1', 'INT2', 'INT4', 'INT8', 'INT', 'SHORT', 'LONG', 'SIGNED',
]);
const DOUBLE_TYPES = new Set(['FLOAT', 'DOUBLE', 'REAL', 'FLOAT4', 'FLOAT8', 'NUMERIC']);
const TIMESTAMP_TYPES = new Set([
  'TIMESTAMP', 'TIMESTAMP WITH TIME ZONE', 'TIMESTAMPTZ', 'TIMESTAMP_S', 'TIMESTAMP_MS', 'TIMESTAMP_NS', 'TIMESTAMP_US', 'DATETIME',
]);
const STRING_TYPES = new Set(['VARCHAR', 'TEXT', 'STRING', 'CHAR', 'BPCHAR', 'UUID']);

function scalarKind(t: string): ColumnKind | null {
  if (t === 'BOOLEAN' || t === 'BOOL') return 'boolean';
  if (INTEGER_TYPES.has(t)) return 'integer';
  if (DOUBLE_TYPES.has(t) || t.startsWith('DECIMAL')) return 'double';
  if (TIMESTAMP_TYPES.has(t)) return 'timestamp';
  if (t === 'JSON') return 'json';
  if (STRING_TYPES.has(t) || /^VARCHAR(?:\s*\(\d+\)|\s+COLLATE\b.*)$/.test(t) || /^ENUM\(.*\)$/.test(t)) return 'string';
  return null;
}

/** Map a DuckDB type (from @duckdb/node-api's DuckDBType, via its `typeId` / toString()) to ColumnKind. */
export function columnKindOf(duckdbType: { toString(): string }): ColumnKind {
  const t = duckdbType.toString().trim().toUpperCase();
  const list = /^(.*)\[\d*\]$/.exec(t);
  if (list) {
    const inner = scalarKind(list[1]!.trim());
    if (inner === 'integer') return 'integer[]';
    if (inner === 'string') return 'string[]';
    return 'json'; // lists of doubles, booleans, timestamps, structs, nested lists
  }
  if (/^(STRUCT|MAP|UNION)\s*\(/.test(t)) return 'json';
  // DATE, TIME, INTERVAL, BLOB, BIT, ... are shown as their text form.
  return scalarKind(t) ?? 'string';
}
