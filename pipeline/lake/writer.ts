import { closeSync, mkdirSync, openSync, writeSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { duckdbColumnsLiteral, SIGN_IN_COLUMNS } from '../normalize/columns';
import type { StagedRow } from '../normalize/batch';
import { quoteString, stringList } from '../sql/duckdb';
import type { Lake } from './lake';
import type { QuarantineFile } from './quarantine';

export interface LandResult {
  rows: number;
  landed: number;
  duplicates: number;
  files: string[];
}

/** Staged text is written in chunks of about this size, so a batch never sits in memory whole. */
const CHUNK_CHARS = 4 << 20;

/** Two line-aligned NDJSON files under _staging/: the rows, and each row's raw source record. */
class StagedBatch {
  readonly rowsPath: string;
  readonly rawPath: string;
  private readonly rowsFd: number;
  private readonly rawFd: number;
  private rowsBuf: string[] = [];
  private rawBuf: string[] = [];
  private bufChars = 0;
  rows = 0;
  longest = 0;
  /** `date/hour` of every staged row; turned into (validated) folders once per partition, not per row. */
  readonly partitions = new Set<string>();

  constructor(readonly dir: string) {
    this.rowsPath = join(dir, 'rows.ndjson');
    this.rawPath = join(dir, 'raw.ndjson');
    this.rowsFd = openSync(this.rowsPath, 'w');
    this.rawFd = openSync(this.rawPath, 'w');
  }

  add(line: string, raw: string, partition: string): void {
    this.rowsBuf.push(line);
    this.rawBuf.push(raw);
    this.bufChars += line.length + raw.length;
    this.longest = Math.max(this.longest, line.length, raw.length);
    this.partitions.add(partition);
    this.rows++;
    if (this.bufChars >= CHUNK_CHARS) this.drain();
  }

  private drain(): void {
    if (this.rowsBuf.length === 0) return;
    writeSync(this.rowsFd, this.rowsBuf.join('\n') + '\n');
    writeSync(this.rawFd, this.rawBuf.join('\n') + '\n');
    this.rowsBuf = [];
    this.rawBuf = [];
    this.bufChars = 0;
  }

  close(): void {
    this.drain();
    closeSync(this.rowsFd);
    closeSync(this.rawFd);
  }
}

/**
 * Collects normalized rows and lands them as Parquet, one batch at a time:
 *   1. stage the batch as NDJSON under _staging/ (DuckDB parses it on both cores), the raw records in a
 *      second, line-aligned file so they are never escaped inside another JSON string;
 *   2. drop rows whose record_key is already in the batch (first copy wins, in memory) or in the lake's
 *      files for the same hours (the copy already landed wins, in SQL): re-imports and redeliveries add nothing;
 *   3. COPY to zstd Parquet partitioned by date/hour, still under _staging/ (2 and 3 are one statement);
 *   4. fsync each file, rename it into sign_ins/date=/hour=/, fsync the folders.
 * Quarantine entries gathered with the batch are synced before step 4, so a landed batch never has
 * its rejects still in memory.
 */
export class SignInWriter {
  private batch: StagedBatch | null = null;
  /** Keys staged in this batch: the first copy of a key in the input wins, deterministically. */
  private keys = new Set<string>();
  private batchDuplicates = 0;
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
    /** Taken around each landing when other writers may land beside this one (stream consumers). */
    private readonly landingLock?: () => Promise<() => Promise<void>>,
    /** Before the anti-join: bring in files other machines landed in these partitions (a Blob lake's spool). */
    private readonly beforeDedupe?: (partitionDirs: string[]) => Promise<void>,
  ) {}

  get pending(): number {
    return this.batch?.rows ?? 0;
  }

  /** Stage one normalized row (see normalize/batch.ts); a key already staged in this batch is a duplicate. */
  add(row: StagedRow): void {
    if (this.keys.has(row.key)) {
      this.batchDuplicates++;
      return;
    }
    this.keys.add(row.key);
    this.batch ??= new StagedBatch(this.workDir(this.batchNo));
    this.batch.add(row.json, row.raw, `${row.date}/${row.hour}`);
  }

  private workDir(n: number): string {
    const dir = this.lake.stagingDir(`${this.batchId}-${n}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  private landing: Promise<LandResult> | null = null;

  /**
   * Close the current batch and start landing it, without waiting: DuckDB writes Parquet while the
   * normalizers fill the next batch. At most one landing runs at a time; waiting here for the previous one
   * is the back-pressure, and is also where a failed landing stops the import.
   */
  async rotate(): Promise<void> {
    if (this.landing) {
      const previous = this.landing;
      this.landing = null;
      await previous;
    }
    await this.quarantine.sync();
    const batch = this.batch;
    const dups = this.batchDuplicates;
    this.batch = null;
    this.keys = new Set();
    this.batchDuplicates = 0;
    this.duplicates += dups;
    if (!batch) return;
    const landing = this.land(batch, this.batchNo++);
    landing.catch(() => undefined); // observed by the next rotate() or flush()
    this.landing = landing;
  }

  /** Land everything staged so far and wait for it. */
  async flush(): Promise<void> {
    await this.rotate();
    const last = this.landing;
    this.landing = null;
    if (last) await last;
  }

  /** Wait for a landing in flight to end, however it ends (before the DuckDB connection is closed on error). */
  async idle(): Promise<void> {
    if (this.landing) await this.landing.catch(() => undefined);
  }

  private async land(batch: StagedBatch, n: number): Promise<LandResult> {
    let unlock: (() => Promise<void>) | undefined;
    try {
      batch.close();
      // The anti-join below must see every file landed before this one, so landings take turns.
      unlock = await this.landingLock?.();
      const dirs = [...batch.partitions].map((p) => {
        const [date, hour] = p.split('/');
        return this.lake.partitionDir(date, Number(hour));
      });
      await this.beforeDedupe?.(dirs);
      const { files: existing } = await this.lake.files(dirs);
      // DuckDB sizes its read buffers from maximum_object_size, so ask only for what this batch needs.
      const maxObject = Math.max(16 << 20, batch.longest * 4 + 1024);
      // One pass: parse the staged rows, drop keys the lake already has, write Parquet. Rows are not sorted:
      // the hour partition already bounds time, and sorting wide rows (raw) cost more than all else here.
      const already = existing.length
        ? `where record_key not in (select record_key from read_parquet(${stringList(existing)}, hive_partitioning = false))`
        : '';
      const out = join(batch.dir, 'out');
      // raw.ndjson holds each row's source record on the same line number; a positional join puts it back.
      const copied = await this.conn.run(`copy (select ${selectList()} from read_json(${quoteString(batch.rowsPath)}, format = 'newline_delimited', columns = ${duckdbColumnsLiteral()}, maximum_object_size = ${maxObject}) as row
            positional join read_ndjson_objects(${quoteString(batch.rawPath)}, maximum_object_size = ${maxObject}) as src ${already})
          to ${quoteString(out)} (format parquet, compression zstd, partition_by (date, hour), filename_pattern ${quoteString(`part-${this.batchId}-${n}-{i}`)})`);
      const landed = Number(copied.rowsChanged);
      const moved = landed > 0 ? await this.lake.adopt(out) : [];
      this.files.push(...moved);
      this.landed += landed;
      this.duplicates += batch.rows - landed;
      return { rows: batch.rows, landed, duplicates: batch.rows - landed, files: moved };
    } finally {
      await unlock?.();
      await fsp.rm(batch.dir, { recursive: true, force: true });
    }
  }
}

/** Columns in lake order: `raw` from the positional side, keys computed here. Names and expressions are ours (columns.ts), never input. */
function selectList(): string {
  return [...SIGN_IN_COLUMNS.map((c) => (c.name === 'raw' ? 'src.json as raw' : c.sql ? `${c.sql} as ${c.name}` : `row.${c.name}`)), 'row.date', 'row.hour'].join(', ');
}
