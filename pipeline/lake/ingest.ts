import { join } from 'node:path';
import { withDuckDB } from '../sql/duckdb';
import { listInputFiles, readFile } from '../sources/files';
import type { BatchResult } from '../normalize/batch';
import { NormalizePool } from '../normalize/pool';
import type { QuarantineReason } from '../normalize/record';
import { atomicWrite, Lake, runId } from './lake';
import { formatMicros } from '../normalize/time';
import { QuarantineFile } from './quarantine';
import { SignInWriter } from './writer';

export interface ImportSummary {
  import_id: string;
  lake: string;
  inputs: string[];
  started_at: string;
  finished_at: string;
  seconds: number;
  /** Items read: every record, plus every line or container that could not yield a record. */
  read: number;
  landed: number;
  duplicates: number;
  quarantined: number;
  quarantined_by_reason: Partial<Record<QuarantineReason, number>>;
  parquet_files: number;
  torn_files_quarantined: string[];
  quarantine_file: string | null;
  records_per_second: number;
}

export interface ImportProgress {
  filesDone: number;
  filesTotal: number;
  read: number;
  currentFile: string;
}

export interface ImportOptions {
  batchRows?: number;
  memoryLimit?: string;
  onProgress?: (p: ImportProgress) => void;
  /** Lines longer than this are quarantined unread (default 256 MiB). */
  maxLineBytes?: number;
  /** Normalizer threads; 0 normalizes on this thread. Default: one per core (at most 4). */
  workers?: number;
  now?: () => Date;
}

/**
 * The batch path: files → byte batches of whole lines (sources/files.ts) → records → flat rows on worker
 * threads (normalize/batch.ts) → staged, deduplicated, Parquet (lake/writer.ts). Every item is accounted
 * for: read = landed + duplicates + quarantined, checked before the summary is written.
 */
export async function importFiles(paths: readonly string[], lakeDir: string, opts: ImportOptions = {}): Promise<ImportSummary> {
  const now = opts.now ?? (() => new Date());
  const started = now();
  const importId = runId('imp', started);
  const lake = new Lake(lakeDir);
  const unlock = await lake.lock();
  try {
    await lake.clearStaging();
    const inputs = await listInputFiles(paths);
    const { torn } = await lake.files();
    const quarantine = new QuarantineFile(lake.quarantine, importId, now);
    const ingestedAt = formatMicros(started.getTime() * 1000);
    let read = 0;
    let lastProgress = 0;
    const pool = new NormalizePool(ingestedAt, opts.workers);
    const writer = await withDuckDB({ memoryLimit: opts.memoryLimit ?? '1GB' }, async (conn) => {
      const w = new SignInWriter(lake, conn, importId, quarantine, opts.batchRows);
      // Batches are normalized in parallel but applied in order; a few in flight keep every worker busy.
      const inFlight: Promise<BatchResult>[] = [];
      const apply = async (r: BatchResult) => {
        read += r.read;
        for (const q of r.rejects) quarantine.add(q);
        for (const row of r.rows) w.add(row);
        if (w.pending >= w.batchRows) await w.rotate();
      };
      const drain = async () => {
        while (inFlight.length) await apply(await inFlight.shift()!);
      };
      try {
        for (let i = 0; i < inputs.length; i++) {
          const file = inputs[i];
          for await (const item of readFile(file, opts.maxLineBytes)) {
            if (item.kind === 'bad') {
              await drain(); // keep file order
              quarantine.add({ reason: item.reason, detail: item.detail, source: item.source, line: item.line, byte_offset: item.byteOffset, record_index: null, raw: item.text });
              read++;
              continue;
            }
            inFlight.push(pool.submit(item));
            while (inFlight.length > Math.max(2, pool.threads * 2)) await apply(await inFlight.shift()!);
            if (opts.onProgress && read - lastProgress >= 5000) {
              lastProgress = read;
              opts.onProgress({ filesDone: i, filesTotal: inputs.length, read, currentFile: file });
            }
          }
          await drain();
          opts.onProgress?.({ filesDone: i + 1, filesTotal: inputs.length, read, currentFile: file });
        }
        await w.flush();
      } finally {
        await Promise.allSettled(inFlight);
        await w.idle();
        await pool.close();
      }
      return w;
    });
    await quarantine.close();
    const finished = now();
    const seconds = (finished.getTime() - started.getTime()) / 1000;
    const summary: ImportSummary = {
      import_id: importId,
      lake: lakeDir,
      inputs,
      started_at: started.toISOString(),
      finished_at: finished.toISOString(),
      seconds,
      read,
      landed: writer.landed,
      duplicates: writer.duplicates,
      quarantined: quarantine.count,
      quarantined_by_reason: Object.fromEntries(quarantine.byReason),
      parquet_files: writer.files.length,
      torn_files_quarantined: torn,
      quarantine_file: quarantine.count ? quarantine.path : null,
      records_per_second: seconds > 0 ? Math.round(read / seconds) : read,
    };
    if (summary.read !== summary.landed + summary.duplicates + summary.quarantined) {
      throw new Error(`accounting broke: read ${summary.read} != landed ${summary.landed} + duplicates ${summary.duplicates} + quarantined ${summary.quarantined}`);
    }
    await atomicWrite(join(lake.imports, `${importId}.json`), JSON.stringify(summary, null, 2) + '\n');
    return summary;
  } finally {
    await unlock();
  }
}
