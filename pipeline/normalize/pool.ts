import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { LineBatch } from '../sources/files';
import { normalizeBatch, type BatchResult } from './batch';

/**
 * Runs normalizeBatch on worker threads: parsing and normalizing JSON is the import's CPU cost, and one
 * thread cannot keep DuckDB busy. Results come back in submission order, so "first copy wins" and the
 * quarantine order are the same as with one thread. With `workers: 0`, or when the compiled worker is not
 * there (tests run the TypeScript directly), batches are normalized inline on this thread.
 */
export class NormalizePool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { resolve: (r: BatchResult) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private failed: Error | null = null;

  constructor(private readonly ingestedAt: string, workers = defaultWorkers()) {
    const script = join(__dirname, 'worker.js');
    if (workers <= 0 || !existsSync(script)) return;
    for (let i = 0; i < workers; i++) {
      const w = new Worker(script);
      w.on('message', (m: { id: number; result?: BatchResult; error?: string }) => {
        const p = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (m.error) p?.reject(new Error(`normalizer worker failed: ${m.error}`));
        else p?.resolve(m.result!);
      });
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => code !== 0 && this.fail(new Error(`normalizer worker exited with code ${code}`)));
      this.workers.push(w);
    }
  }

  get threads(): number {
    return this.workers.length;
  }

  /** Normalize one batch; the promise settles when its result is back. */
  submit(batch: LineBatch): Promise<BatchResult> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.workers.length === 0) {
      try {
        return Promise.resolve(normalizeBatch(batch, this.ingestedAt));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const id = this.nextId++;
    const w = this.workers[id % this.workers.length];
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // The bytes are copied per batch by the source, so they can be moved, not cloned.
      w.postMessage({ id, batch, ingestedAt: this.ingestedAt }, [batch.bytes.buffer as ArrayBuffer]);
    });
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const p of this.waiting.values()) p.reject(e);
    this.waiting.clear();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Two cores: one worker per core, and the main thread and DuckDB share them in turn. */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(4, cpus().length));
}
