import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { withDuckDB } from '../sql/duckdb';
import { listInputFiles, readFileUnits, type SourceUnit } from '../sources/files';
import { unwrap, isRejection } from '../normalize/containers';
import { normalizeRecord, Rejected, type QuarantineReason } from '../normalize/record';
import { atomicWrite, Lake } from './lake';
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
  now?: () => Date;
}

/**
 * The batch path: files → units (lines or documents) → records → flat rows → Parquet, with every item
 * accounted for: read = landed + duplicates + quarantined, checked before the summary is written.
 */
export async function importFiles(paths: readonly string[], lakeDir: string, opts: ImportOptions = {}): Promise<ImportSummary> {
  const now = opts.now ?? (() => new Date());
  const started = now();
  const importId = `imp-${started.toISOString().replace(/[-:.]/g, '').replace('T', '-').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
  const lake = new Lake(lakeDir);
  const unlock = await lake.lock();
  try {
    await lake.clearStaging();
    const inputs = await listInputFiles(paths);
    const { torn } = await lake.files();
    const quarantine = new QuarantineFile(lake.quarantine, importId, now);
    const ingestedAt = started.toISOString().replace('T', ' ').replace('Z', '');
    let read = 0;
    let lastProgress = 0;
    const writer = await withDuckDB({ memoryLimit: opts.memoryLimit ?? '1GB' }, async (conn) => {
      const w = new SignInWriter(lake, conn, importId, quarantine, opts.batchRows);
      for (let i = 0; i < inputs.length; i++) {
        const file = inputs[i];
        for await (const unit of readFileUnits(file)) {
          read += ingestUnit(unit, w, quarantine, ingestedAt);
          if (w.pending >= w.batchRows) await w.flush();
          if (opts.onProgress && read - lastProgress >= 5000) {
            lastProgress = read;
            opts.onProgress({ filesDone: i, filesTotal: inputs.length, read, currentFile: file });
          }
        }
        opts.onProgress?.({ filesDone: i + 1, filesTotal: inputs.length, read, currentFile: file });
      }
      await w.flush();
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

/** One source unit into rows and quarantine entries; returns how many items it counted as read. */
export function ingestUnit(unit: SourceUnit, writer: SignInWriter, quarantine: QuarantineFile, ingestedAt: string, extra: { source?: string } = {}): number {
  const source = extra.source ?? unit.source;
  if (unit.kind === 'bad') {
    quarantine.add({ reason: unit.reason, detail: unit.detail, source, line: unit.line, byte_offset: unit.byteOffset, record_index: null, raw: unit.text });
    return 1;
  }
  let read = 0;
  for (const u of unwrap(unit.value)) {
    read++;
    if (isRejection(u)) {
      quarantine.add({ reason: u.rejected.reason, detail: u.rejected.detail, source, line: unit.line, byte_offset: unit.byteOffset, record_index: u.index, raw: u.value === unit.value ? unit.text : JSON.stringify(u.value) });
      continue;
    }
    const own = u.record === unit.value ? unit.text : undefined;
    const r = normalizeRecord(u.record, u.shape, { source, ingestedAt }, own);
    if (r instanceof Rejected) {
      quarantine.add({ reason: r.reason, detail: r.detail, source, line: unit.line, byte_offset: unit.byteOffset, record_index: u.index, raw: own ?? JSON.stringify(u.record) });
    } else writer.add(r.row, r.raw);
  }
  if (read === 0) {
    // An empty container ({"records":[]}) holds nothing to lose; it is not an item.
    return 0;
  }
  return read;
}

export async function readSummaries(lakeDir: string): Promise<ImportSummary[]> {
  const dir = new Lake(lakeDir).imports;
  const names = (await fsp.readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).sort();
  return Promise.all(names.map(async (n) => JSON.parse(await fsp.readFile(join(dir, n), 'utf8')) as ImportSummary));
}
