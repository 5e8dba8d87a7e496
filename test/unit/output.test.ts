import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { tableFromIPC } from 'apache-arrow';
import {
  Column,
  Row,
  columnKindOf,
  defaultFormat,
  formatRows,
  writeRows,
  writeRowsToFile,
} from '../../pipeline/cli/output';

/** Independent, deliberately simple RFC 4180 parser: returns records of fields (null for an unquoted empty field). */
function parseCsv(text: string): (string | null)[][] {
  const records: (string | null)[][] = [];
  let record: (string | null)[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    let field: string | null;
    if (text[i] === '"') {
      i++;
      let v = '';
      for (;;) {
        if (i >= n) throw new Error('unterminated quoted field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            v += '"';
            i += 2;
          } else {
            i++;
            break;
          }
        } else {
          v += text[i++];
        }
      }
      field = v;
    } else {
      let v = '';
      while (i < n && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') {
        if (text[i] === '"') throw new Error(`bare quote in unquoted field at ${i}`);
        v += text[i++];
      }
      field = v === '' ? null : v;
    }
    record.push(field);
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text.startsWith('\r\n', i)) {
      i += 2;
      records.push(record);
      record = [];
      continue;
    }
    if (i >= n) break;
    throw new Error(`unexpected ${JSON.stringify(text[i])} at ${i} (line ends must be CRLF)`);
  }
  if (record.length > 0) records.push(record);
  return records;
}

const HOSTILE = [
  'plain',
  'has "quotes" inside',
  'comma, separated',
  'line1\r\nline2',
  'lone\nlf',
  "=cmd|' /C calc'!A0",
  '@SUM(1)',
  '+1+1',
  '-2',
  '\tTAB',
  '\rCR',
  '＝fullwidth',
  '\u001b]0;owned\u0007',
  '',
];

describe('csv', () => {
  const columns: Column[] = [
    { name: 'id', kind: 'integer' },
    { name: 'value', kind: 'string' },
    { name: 'score', kind: 'double' },
    { name: 'apps', kind: 'string[]' },
  ];

  it('round-trips hostile values through an RFC 4180 parser, defusing formulas only in non-numeric columns', () => {
    const rows: Row[] = HOSTILE.map((v, i) => ({ id: i === 3 ? -2 : i, value: v, score: -1.5, apps: ['x', v] }));
    rows.push({ id: null, value: null, score: null, apps: null });
    const out = formatRows(rows, columns, 'csv');
    expect(typeof out).toBe('string');
    const text = out as string;
    expect(text.endsWith('\r\n')).toBe(true);

    const parsed = parseCsv(text);
    expect(parsed).toHaveLength(rows.length + 1);
    expect(parsed[0]).toEqual(['id', 'value', 'score', 'apps']);

    const defusedExpect = (v: string): string => (/^[=+\-@\t\r\0＝＋－＠]/.test(v) ? "'" + v : v);
    HOSTILE.forEach((v, i) => {
      const rec = parsed[i + 1]!;
      expect(rec).toHaveLength(4);
      expect(rec[0]).toBe(i === 3 ? '-2' : String(i)); // integer column: never defused
      expect(rec[1]).toBe(defusedExpect(v)); // string column: defused, otherwise exact
      expect(rec[2]).toBe('-1.5');
      expect(rec[3]).toBe(`x;${v}`); // list joined with ';', cell starts with 'x' so not defused
    });
    const byValue = new Map(HOSTILE.map((v, i) => [v, parsed[i + 1]![1]]));
    expect(byValue.get("=cmd|' /C calc'!A0")).toBe("'=cmd|' /C calc'!A0");
    expect(byValue.get('@SUM(1)')).toBe("'@SUM(1)");
    expect(byValue.get('-2')).toBe("'-2");
    expect(byValue.get('plain')).toBe('plain');
    expect(byValue.get('comma, separated')).toBe('comma, separated');
    expect(byValue.get('line1\r\nline2')).toBe('line1\r\nline2');
    // empty string and null stay distinguishable
    expect(byValue.get('')).toBe('');
    expect(parsed[parsed.length - 1]).toEqual([null, null, null, null]);
  });

  it('prints -2 in an integer column bare and "-2" in a string column defused', () => {
    const text = formatRows([{ n: -2, s: '-2' }], [
      { name: 'n', kind: 'integer' },
      { name: 's', kind: 'string' },
    ], 'csv') as string;
    expect(text).toBe("n,s\r\n-2,'-2\r\n");
  });

  it('defuses a list cell whose first element is a formula', () => {
    const text = formatRows([{ l: ['=1+1', 'b'] }], [{ name: 'l', kind: 'string[]' }], 'csv') as string;
    expect(parseCsv(text)[1]).toEqual(["'=1+1;b"]);
  });
});

describe('table', () => {
  const columns: Column[] = [
    { name: 'user', kind: 'string' },
    { name: 'count', kind: 'integer' },
    { name: 'apps', kind: 'string[]' },
  ];
  const hostile = 'evil\u001b[2J\u001b]0;title\u0007\rover\u202Eexe.txt\u2066x\u2069\u009b31m\u007f\u0000';

  it('escapes control, ESC, DEL, C1 and bidi characters', () => {
    const out = formatRows([{ user: hostile, count: 1, apps: ['a\u001bb', 'c'] }], columns, 'table', { maxCellWidth: 200 }) as string;
    const bytes = Buffer.from(out, 'utf8');
    expect(bytes.includes(0x1b)).toBe(false);
    expect(out.includes('\r')).toBe(false);
    expect(out.includes('\u202E')).toBe(false);
    expect(out.includes('\u2066')).toBe(false);
    expect(out.includes('\u0007')).toBe(false);
    expect(out.includes('\u007f')).toBe(false);
    expect(out.includes('\u009b')).toBe(false);
    expect(out.includes('\u0000')).toBe(false);
    for (const ch of out) {
      const cp = ch.codePointAt(0)!;
      if (ch !== '\n') expect(cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)).toBe(false);
    }
    expect(out).toContain('evil\\x1b[2J\\x1b]0;title\\x07\\x0dover\\u202eexe.txt\\u2066x\\u2069\\x9b31m\\x7f\\x00');
    expect(out).toContain('a\\x1bb, c');
  });

  it('aligns columns by display width (CJK and emoji count 2) and prints a footer', () => {
    const rows: Row[] = [
      { user: 'alice', count: 3, apps: ['Outlook', 'Teams'] },
      { user: '日本語', count: 12345, apps: [] },
      { user: 'emoji😀x', count: -1, apps: null },
    ];
    const out = formatRows(rows, columns, 'table') as string;
    const lines = out.split('\n');
    expect(lines[lines.length - 1]).toBe('');
    expect(lines[lines.length - 2]).toBe('3 rows');
    const grid = lines.slice(0, 5); // header, rule, 3 rows
    const width = (s: string): number => {
      let w = 0;
      for (const ch of s) {
        const cp = ch.codePointAt(0)!;
        w += (cp >= 0x3000 && cp <= 0x9fff) || cp >= 0x1f300 ? 2 : 1;
      }
      return w;
    };
    // the column separators line up in display columns on every line
    const sepCols = (s: string): number[] => {
      const cols: number[] = [];
      let w = 0;
      for (const ch of s) {
        if (ch === '|' || ch === '+') cols.push(w);
        w += width(ch);
      }
      return cols;
    };
    const expected = sepCols(grid[1]!);
    expect(expected).toHaveLength(2);
    for (const l of grid) expect(sepCols(l)).toEqual(expected);
    expect(grid[0]).toMatch(/^user +\| +count \| apps$/);
    expect(grid[2]).toContain('Outlook, Teams');
    expect(grid[3]).toMatch(/^日本語 +\| +12345 \|$/);
    expect(grid[4]).toContain('NULL');
  });

  it('truncates long cells with … at maxCellWidth, never splitting an escape', () => {
    const out = formatRows([{ user: 'x'.repeat(100), count: 1, apps: null }], columns, 'table', { maxCellWidth: 10 }) as string;
    expect(out.split('\n')[2]).toMatch(/^x{9}… \| +1 \| NULL$/);
    const esc = formatRows([{ user: 'abcdefgh\u001bzz', count: 1, apps: null }], columns, 'table', { maxCellWidth: 10 }) as string;
    expect(esc.split('\n')[2]!.startsWith('abcdefgh…')).toBe(true);
    const wide = formatRows([{ user: '日本語日本語', count: 1, apps: null }], columns, 'table', { maxCellWidth: 6 }) as string;
    expect(wide.split('\n')[2]!.startsWith('日本… |')).toBe(true);
  });

  it('prints (no rows) for an empty result', () => {
    expect(formatRows([], columns, 'table')).toBe('(no rows)\n');
  });
});

describe('ndjson / json', () => {
  const columns: Column[] = [
    { name: 'z_first', kind: 'string' },
    { name: '1', kind: 'integer' },
    { name: 'big', kind: 'integer' },
    { name: 'payload', kind: 'json' },
    { name: 'ids', kind: 'integer[]' },
  ];
  const rows: Row[] = [
    { z_first: 'multi\nline', '1': 1, big: BigInt('9007199254740993'), payload: { a: [1, 'b'] }, ids: [BigInt(1), null] },
    { z_first: 'sep\u2028and\u2029para\u0085nel', '1': BigInt(42), big: -5, payload: null, ids: null },
    { z_first: null, '1': null, big: null, payload: 'str', ids: [] },
  ];

  it('writes one line per row, keys in column order, bigints as numbers or strings', () => {
    const out = formatRows(rows, columns, 'ndjson') as string;
    expect(out.endsWith('\n')).toBe(true);
    const lines = out.slice(0, -1).split('\n');
    expect(lines).toHaveLength(rows.length);
    // no raw line separators that a line-based reader could split on
    expect(/[\u2028\u2029\u0085\r]/.test(out)).toBe(false);
    expect(out.split(/\r\n|\r|\n|\u2028|\u2029|\u0085/)).toHaveLength(rows.length + 1);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed[0]).toEqual({ z_first: 'multi\nline', '1': 1, big: '9007199254740993', payload: { a: [1, 'b'] }, ids: [1, null] });
    expect(parsed[1]).toEqual({ z_first: 'sep\u2028and\u2029para\u0085nel', '1': 42, big: -5, payload: null, ids: null });
    expect(parsed[2]).toEqual({ z_first: null, '1': null, big: null, payload: 'str', ids: [] });
    // column order kept even for integer-like keys
    expect(lines[0]!.startsWith('{"z_first":')).toBe(true);
  });

  it('writes an empty string for zero rows', () => {
    expect(formatRows([], columns, 'ndjson')).toBe('');
  });

  it('json is one pretty array with the same values', () => {
    const out = formatRows(rows, columns, 'json') as string;
    expect(out.startsWith('[\n  {\n    "z_first": ')).toBe(true);
    expect(/[\u2028\u2029]/.test(out)).toBe(false);
    const ndjson = (formatRows(rows, columns, 'ndjson') as string).trim().split('\n').map((l) => JSON.parse(l));
    expect(JSON.parse(out)).toEqual(ndjson);
    expect(formatRows([], columns, 'json')).toBe('[]\n');
  });
});

describe('arrow', () => {
  const columns: Column[] = [
    { name: 'user', kind: 'string' },
    { name: 'n', kind: 'integer' },
    { name: 'score', kind: 'double' },
    { name: 'flag', kind: 'boolean' },
    { name: 'ts', kind: 'timestamp' },
    { name: 'apps', kind: 'string[]' },
    { name: 'ids', kind: 'integer[]' },
    { name: 'extra', kind: 'json' },
  ];
  const rows: Row[] = [
    {
      user: 'a\u001b"b',
      n: BigInt('9007199254740993'),
      score: 1.25,
      flag: true,
      ts: '2024-03-01 12:34:56.789012',
      apps: ['Outlook', null, 'Teams'],
      ids: [1, 2],
      extra: { k: 'v' },
    },
    { user: null, n: null, score: null, flag: null, ts: null, apps: null, ids: null, extra: null },
    { user: '', n: -7, score: -0.5, flag: false, ts: '2024-03-01T10:00:00+02:00', apps: [], ids: [], extra: [1] },
  ];

  it('reads back with tableFromIPC with the same values and types', () => {
    const bytes = formatRows(rows, columns, 'arrow');
    expect(bytes).toBeInstanceOf(Uint8Array);
    const table = tableFromIPC(bytes as Uint8Array);
    expect(table.numRows).toBe(3);
    expect(table.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual([
      'user:Utf8',
      'n:Int64',
      'score:Float64',
      'flag:Bool',
      'ts:Timestamp<MICROSECOND, UTC>',
      'apps:List<Utf8>',
      'ids:List<Int64>',
      'extra:Utf8',
    ]);
    const col = (name: string): unknown[] => table.getChild(name)!.toArray() as unknown as unknown[];
    expect(Array.from({ length: 3 }, (_, i) => table.getChild('user')!.get(i))).toEqual(['a\u001b"b', null, '']);
    expect(Array.from({ length: 3 }, (_, i) => table.getChild('n')!.get(i))).toEqual([BigInt('9007199254740993'), null, BigInt(-7)]);
    expect(Array.from({ length: 3 }, (_, i) => table.getChild('score')!.get(i))).toEqual([1.25, null, -0.5]);
    expect(Array.from({ length: 3 }, (_, i) => table.getChild('flag')!.get(i))).toEqual([true, null, false]);
    expect(Array.from({ length: 3 }, (_, i) => table.getChild('extra')!.get(i))).toEqual(['{"k":"v"}', null, '[1]']);

    // timestamps: exact microseconds in the raw buffer, offset applied, null preserved
    const ts = table.getChild('ts')!;
    expect(ts.nullCount).toBe(1);
    expect(ts.isValid(1)).toBe(false);
    const raw = ts.data[0]!.values as unknown as BigInt64Array;
    expect(raw[0]).toBe(BigInt(Date.UTC(2024, 2, 1, 12, 34, 56, 789)) * BigInt(1000) + BigInt(12));
    expect(raw[2]).toBe(BigInt(Date.UTC(2024, 2, 1, 8, 0, 0)) * BigInt(1000));
    expect(ts.get(0)).toBeCloseTo(Date.UTC(2024, 2, 1, 12, 34, 56, 789) + 0.012, 6);

    const apps = table.getChild('apps')!;
    expect(apps.get(0)!.toArray()).toEqual(['Outlook', null, 'Teams']);
    expect(apps.get(1)).toBeNull();
    expect(apps.get(2)!.length).toBe(0);
    const ids = table.getChild('ids')!;
    expect(Array.from(ids.get(0)!.toArray() as BigInt64Array)).toEqual([BigInt(1), BigInt(2)]);
    expect(ids.get(1)).toBeNull();
    expect(col('user')).toHaveLength(3);
  });

  it('keeps typed columns in order for zero rows', () => {
    const table = tableFromIPC(formatRows([], columns, 'arrow') as Uint8Array);
    expect(table.numRows).toBe(0);
    expect(table.schema.fields.map((f) => f.name)).toEqual(columns.map((c) => c.name));
    expect(String(table.schema.fields[4]!.type)).toBe('Timestamp<MICROSECOND, UTC>');
  });

  it('refuses integers that do not fit in Int64', () => {
    expect(() => formatRows([{ n: BigInt('18446744073709551615') }], [{ name: 'n', kind: 'integer' }], 'arrow')).toThrow(/Int64/);
  });
});

describe('writeRows / writeRowsToFile', () => {
  const columns: Column[] = [
    { name: 'user', kind: 'string' },
    { name: 'n', kind: 'integer' },
  ];
  const rows: Row[] = Array.from({ length: 5000 }, (_, i) => ({ user: `user-${i} "quoted", ${'x'.repeat(i % 50)}`, n: i }));

  let dir: string;
  beforeEach(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'output-test-'));
  });
  afterEach(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('writes exactly formatRows output to a slow stream, respecting backpressure', async () => {
    const chunks: Buffer[] = [];
    let maxBuffered = 0;
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        setImmediate(cb);
      },
    });
    const origWrite = slow.write.bind(slow);
    (slow as unknown as { write: unknown }).write = (...args: Parameters<typeof origWrite>) => {
      const r = origWrite(...args);
      maxBuffered = Math.max(maxBuffered, slow.writableLength);
      return r;
    };
    await writeRows(slow, rows, columns, 'csv');
    expect(Buffer.concat(chunks).toString('utf8')).toBe(formatRows(rows, columns, 'csv'));
    // never more than one ~64 KiB batch buffered beyond the high-water mark
    expect(maxBuffered).toBeLessThan(256 * 1024);
  });

  it('rejects when the stream errors', async () => {
    const broken = new Writable({
      write(_chunk, _enc, cb) {
        cb(new Error('EPIPE-ish'));
      },
    });
    await expect(writeRows(broken, rows, columns, 'ndjson')).rejects.toThrow('EPIPE-ish');
  });

  it('writes arrow bytes to a stream', async () => {
    const pt = new PassThrough();
    const got: Buffer[] = [];
    pt.on('data', (c: Buffer) => got.push(c));
    await writeRows(pt, rows.slice(0, 10), columns, 'arrow');
    expect(Buffer.concat(got).equals(Buffer.from(formatRows(rows.slice(0, 10), columns, 'arrow') as Uint8Array))).toBe(true);
  });

  it.each(['csv', 'ndjson', 'json', 'table', 'arrow'] as const)('writeRowsToFile (%s) writes formatRows output and leaves no temp files', async (format) => {
    const target = path.join(dir, `out.${format}`);
    await fsp.writeFile(target, 'old content');
    await writeRowsToFile(target, rows, columns, format);
    const expected = formatRows(rows, columns, format);
    const actual = await fsp.readFile(target);
    expect(actual.equals(typeof expected === 'string' ? Buffer.from(expected, 'utf8') : Buffer.from(expected))).toBe(true);
    expect(await fsp.readdir(dir)).toEqual([`out.${format}`]);
  });

  it('removes the temp file and keeps the old file when writing fails', async () => {
    const target = path.join(dir, 'out.csv');
    await fsp.writeFile(target, 'old content');
    await expect(writeRowsToFile(target, [{ n: 1.5 }], [{ name: 'n', kind: 'integer' }], 'csv')).rejects.toThrow(TypeError);
    expect(await fsp.readdir(dir)).toEqual(['out.csv']);
    expect(await fsp.readFile(target, 'utf8')).toBe('old content');
  });

  it('removes the temp file when the rename fails', async () => {
    const target = path.join(dir, 'a-directory');
    await fsp.mkdir(target);
    await fsp.writeFile(path.join(target, 'keep'), 'x');
    await expect(writeRowsToFile(target, rows, columns, 'csv')).rejects.toThrow();
    expect((await fsp.readdir(dir)).sort()).toEqual(['a-directory']);
  });
});

describe('columnKindOf / defaultFormat', () => {
  it.each([
    ['VARCHAR', 'string'],
    ['UUID', 'string'],
    ["ENUM('a', 'b')", 'string'],
    ['DATE', 'string'],
    ['INTEGER', 'integer'],
    ['BIGINT', 'integer'],
    ['HUGEINT', 'integer'],
    ['UTINYINT', 'integer'],
    ['DOUBLE', 'double'],
    ['FLOAT', 'double'],
    ['DECIMAL(10,2)', 'double'],
    ['BOOLEAN', 'boolean'],
    ['TIMESTAMP', 'timestamp'],
    ['TIMESTAMP WITH TIME ZONE', 'timestamp'],
    ['TIMESTAMP_NS', 'timestamp'],
    ['VARCHAR[]', 'string[]'],
    ['INTEGER[]', 'integer[]'],
    ['BIGINT[3]', 'integer[]'],
    ['VARCHAR[][]', 'json'],
    ['DOUBLE[]', 'json'],
    ['JSON', 'json'],
    ['STRUCT("a" INTEGER[])', 'json'],
    ['MAP(VARCHAR, INTEGER)', 'json'],
  ])('%s -> %s', (duckdb, kind) => {
    expect(columnKindOf({ toString: () => duckdb })).toBe(kind);
  });

  it('picks table on a terminal and ndjson when piped', () => {
    expect(defaultFormat(true)).toBe('table');
    expect(defaultFormat(false)).toBe('ndjson');
  });
});
