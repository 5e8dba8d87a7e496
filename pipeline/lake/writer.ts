import { promises as fsp } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { duckdbColumnsLiteral, SIGN_IN_COLUMNS, type SignInRow } from '../normalize/columns';
import { quoteString, stringList } from '../sql/duckdb';
import { fsyncDir, fsyncFile, type Lake } from './lake';
import type { QuarantineFile } from './quarantine';

export interface LandResult {
  rows: number;
  landed: number;
  duplicates: number;
  files: string[];
}

/**
 * Collects normalized rows and lands them as Parquet, one batch at a time:
 *   1. stage the batch as NDJSON under _staging/ (DuckDB parses it on both cores);
 *   2. drop rows whose record_key is already in the batch (first copy wins, in memory) or in the lake's
 *      files for the same hours (the copy already landed wins, in SQL): re-imports and redeliveries add nothing;
 *   3. COPY to zstd Parquet partitioned by date/hour, still under _staging/ (2 and 3 are one statement);
 *   4. fsync each file, rename it into sign_ins/date=/hour=/, fsync the folders.
 * Quarantine entries gathered with the batch are synced before step 4, so a landed batch never has
 * its rejects still in memory.
 */
export class SignInWriter {
  private lines: string[] = [];
  private raws: string[] = [];
  private longest = 0;
  private partitions = new Set<string>();
  private batchNo = 0;
  landed = 0;
  duplicates = 0;
  readonly files: string[] = [];

  constructor(
    private readonly lake: Lake,
    private readonly conn: DuckDBConnection,
    private readonly batchId: string,
    private readonly quarantine: QuarantineFile,
    readonly batchRows = 100_000,
  ) {}

  get pending(): number {
    return this.lines.length;
  }

  /** Keys staged in this batch: the first copy of a key in the input wins, deterministically. */
  private keys = new Set<string>();
  private batchDuplicates = 0;

  add(row: SignInRow, raw: string): void {
    if (this.keys.has(row.record_key as string)) {
      this.batchDuplicates++;
      return;
    }
    this.keys.add(row.record_key as string);
    const line = JSON.stringify(row);
    const longer = Math.max(line.length, raw.length);
    if (longer > this.longest) this.longest = longer;
    this.lines.push(line);
    this.raws.push(raw);
    this.partitions.add(this.lake.partitionDir(row.date as string, row.hour as number));
  }

  async flush(): Promise<LandResult> {
    await this.quarantine.sync();
    if (this.lines.length === 0) {
      const dups = this.batchDuplicates;
      this.duplicates += dups;
      this.batchDuplicates = 0;
      this.keys = new Set();
      return { rows: dups, landed: 0, duplicates: dups, files: [] };
    }
    const n = this.batchNo++;
    const work = join(this.lake.staging, `${this.batchId}-${n}`);
    await fsp.rm(work, { recursive: true, force: true });
    await fsp.mkdir(work, { recursive: true });
    try {
      const staged = join(work, 'rows.ndjson');
      const stagedRaw = join(work, 'raw.ndjson');
      await fsp.writeFile(staged, this.lines.join('\n'));
      await fsp.writeFile(stagedRaw, this.raws.join('\n'));
      const rows = this.lines.length + this.batchDuplicates;
      this.keys = new Set();
      this.batchDuplicates = 0;
      // DuckDB sizes its read buffers from maximum_object_size, so ask only for what this batch needs.
      const maxObject = Math.max(16 << 20, this.longest * 4 + 1024);
      this.lines = [];
      this.raws = [];
      this.longest = 0;
      const { files: existing } = await this.lake.files([...this.partitions]);
      this.partitions = new Set();

      const c = this.conn;
      // One pass: parse the staged rows, drop keys the lake already has, write Parquet. Rows are not sorted:
      // the hour partition already bounds time, and sorting wide rows (raw) cost more than all else here.
      const already = existing.length
        ? `where record_key not in (select record_key from read_parquet(${stringList(existing)}, hive_partitioning = false))`
        : '';
      const out = join(work, 'out');
      // raw.ndjson holds each row's source record on the same line number; a positional join puts it back
      // beside its row without ever escaping it inside another JSON string.
      const copied = await c.run(`copy (select ${selectList()} from read_json(${quoteString(staged)}, format = 'newline_delimited', columns = ${duckdbColumnsLiteral()}, maximum_object_size = ${maxObject}) as row
            positional join read_ndjson_objects(${quoteString(stagedRaw)}, maximum_object_size = ${maxObject}) as src ${already})
          to ${quoteString(out)} (format parquet, compression zstd, partition_by (date, hour), filename_pattern ${quoteString(`part-${this.batchId}-${n}-{i}`)})`);
      const landed = Number(copied.rowsChanged);
      const produced = landed > 0 ? await listParquet(out) : [];
      for (const f of produced) await fsyncFile(f);
      const moved: string[] = [];
      const touched = new Set<string>();
      for (const f of produced) {
        // DuckDB writes out/date=2026-04-14/hour=9/part-...parquet; our folders pad the hour.
        const parts = relative(out, f).split(sep);
        const date = parts[0].replace(/^date=/, '');
        const hour = Number(parts[1].replace(/^hour=/, ''));
        const dir = this.lake.partitionDir(date, hour);
        await fsp.mkdir(dir, { recursive: true });
        const dest = join(dir, parts[parts.length - 1]);
        await fsp.rename(f, dest);
        touched.add(dir);
        moved.push(dest);
      }
      for (const d of touched) await fsyncDir(d);
      this.files.push(...moved);
      this.landed += landed;
      this.duplicates += rows - landed;
      return { rows, landed, duplicates: rows - landed, files: moved };
    } finally {
      await fsp.rm(work, { recursive: true, force: true });
    }
  }
}

async function listParquet(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.parquet')) out.push(join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
  }
  return out.sort();
}

/** Columns in lake order, `raw` taken from the positional side. Names are ours (columns.ts), never input. */
function selectList(): string {
  return [...SIGN_IN_COLUMNS.map((c) => (c.name === 'raw' ? 'src.json as raw' : `row.${c.name}`)), 'row.date', 'row.hour'].join(', ');
}
