import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { QuarantineReason } from '../normalize/record';
import type { Reject } from '../normalize/batch';
import { fsyncDir } from './lake';

/** One rejected item: enough to find it in the source, and the bytes themselves, so nothing vanishes. */
export interface QuarantineEntry extends Reject {
  eh_partition?: string | null;
  eh_sequence_number?: number | null;
  eh_offset?: string | null;
  /** ISO 8601 UTC. */
  eh_enqueued_time?: string | null;
  /** The exact bytes, when `raw` (decoded text) may not be them: an event body that is not valid JSON or UTF-8. */
  raw_b64?: string | null;
  sha256: string;
  import_id: string;
  quarantined_at: string;
}

/**
 * Appends to quarantine/<import-id>.ndjson. `sync()` makes every entry so far durable; the writer calls it
 * before a batch counts as committed, so "quarantined" in a summary (or behind a checkpoint) is on disk.
 */
export class QuarantineFile {
  readonly path: string;
  private fh: fsp.FileHandle | null = null;
  private buffered: string[] = [];
  readonly byReason = new Map<QuarantineReason, number>();
  count = 0;

  constructor(dir: string, readonly importId: string, private readonly now: () => Date) {
    this.path = join(dir, `${importId}.ndjson`);
  }

  add(e: Omit<QuarantineEntry, 'sha256' | 'import_id' | 'quarantined_at'>): void {
    const entry: QuarantineEntry = {
      ...e,
      // Of the exact bytes when we have them, so the hash matches the event as the hub held it.
      sha256: createHash('sha256').update(e.raw_b64 ? Buffer.from(e.raw_b64, 'base64') : Buffer.from(e.raw, 'utf8')).digest('hex'),
      import_id: this.importId,
      quarantined_at: this.now().toISOString(),
    };
    this.buffered.push(JSON.stringify(entry).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029') + '\n');
    this.count++;
    this.byReason.set(e.reason, (this.byReason.get(e.reason) ?? 0) + 1);
  }

  async sync(): Promise<void> {
    if (this.buffered.length === 0) return;
    const text = this.buffered.join('');
    this.buffered = [];
    await this.append(text);
    // `retention` deletes the file of a consumer that has quarantined nothing for weeks; what was just appended to
    // the deleted file would be lost with it, so it is written again, to a new file at the same path.
    if (!(await this.stillAtPath())) {
      await this.fh?.close();
      this.fh = null;
      await this.append(text);
    }
  }

  private async append(text: string): Promise<void> {
    const first = this.fh === null;
    if (!this.fh) this.fh = await fsp.open(this.path, 'a');
    await this.fh.writeFile(text);
    await this.fh.sync();
    if (first) await fsyncDir(join(this.path, '..'));
  }

  private async stillAtPath(): Promise<boolean> {
    const [open, named] = await Promise.all([this.fh!.stat(), fsp.stat(this.path).catch(() => null)]);
    return named !== null && named.ino === open.ino && named.dev === open.dev;
  }

  async close(): Promise<void> {
    await this.sync();
    await this.fh?.close();
    this.fh = null;
  }
}
