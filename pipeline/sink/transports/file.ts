import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import type { FileSinkConfig } from '../config';
import { DeliveryError, type OutMessage, type Transport } from '../types';

/**
 * A line-per-alert sink must never write a raw CR or LF: it would cut one alert into two broken lines
 * (formats escape them; one getting through is a bug, so the batch is set aside, not written).
 */
export function assertOneLine(batch: OutMessage[], sink: string): void {
  const bad = batch.find((m) => /[\r\n]/.test(m.text));
  if (bad) throw new DeliveryError(`Sink ${sink}: alert ${bad.eventId} holds a raw line break, which would break the one-alert-per-line output; this is a formatter bug, please report it.`, { permanent: true });
}

/**
 * NDJSON file: one alert per line, appended and fsynced before send() resolves (an alert counts as
 * delivered once it is on disk). Rotates to <path>.1, <path>.2 ... before a line would take the file past
 * rotateMb, keeping `keep` rotated files.
 */
export function createFileTransport(cfg: FileSinkConfig): Transport {
  const maxBytes = Math.max(1, Math.floor((cfg.rotateMb ?? 64) * 1024 * 1024));
  const keep = Math.max(0, Math.floor(cfg.keep ?? 5));
  let file: { fh: fsp.FileHandle; size: number } | null = null;
  // send() calls run one at a time: appends, sizes and renames must not interleave.
  let queue: Promise<void> = Promise.resolve();

  const open = async () => {
    if (file) return file;
    await fsp.mkdir(dirname(cfg.path), { recursive: true });
    const fh = await fsp.open(cfg.path, 'a');
    file = { fh, size: (await fh.stat()).size };
    return file;
  };
  const closeFile = async () => {
    const f = file;
    file = null;
    await f?.fh.close();
  };
  const rotate = async () => {
    await closeFile();
    await fsp.rm(`${cfg.path}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--) await renameIfExists(`${cfg.path}.${i}`, `${cfg.path}.${i + 1}`);
    if (keep > 0) await fsp.rename(cfg.path, `${cfg.path}.1`);
    else await fsp.rm(cfg.path, { force: true });
  };
  const append = async (chunk: Buffer[]) => {
    const f = await open();
    const data = Buffer.concat(chunk);
    await f.fh.write(data);
    await f.fh.sync();
    f.size += data.length;
  };

  const write = async (batch: OutMessage[]) => {
    assertOneLine(batch, cfg.name);
    let chunk: Buffer[] = [];
    let chunkBytes = 0;
    for (const m of batch) {
      const line = Buffer.from(`${m.text}\n`, 'utf8');
      const f = await open();
      if (f.size + chunkBytes > 0 && f.size + chunkBytes + line.length > maxBytes) {
        if (chunk.length) await append(chunk);
        chunk = [];
        chunkBytes = 0;
        await rotate();
      }
      chunk.push(line);
      chunkBytes += line.length;
    }
    if (chunk.length) await append(chunk);
  };

  return {
    limits: { maxMessageBytes: 16 * 1024 * 1024, maxBatchMessages: 10_000, maxBatchBytes: 64 * 1024 * 1024 },
    send(batch: OutMessage[]): Promise<void> {
      const run = queue.then(() =>
        write(batch).catch(async (e: unknown) => {
          if (e instanceof DeliveryError) throw e;
          // The handle may be broken (disk full, file removed): reopen on the next try.
          await closeFile().catch(() => undefined);
          throw new DeliveryError(`Sink ${cfg.name}: cannot append to ${cfg.path}: ${(e as Error).message}. Check the disk space and permissions of ${dirname(cfg.path)}.`, { cause: e });
        }),
      );
      queue = run.catch(() => undefined);
      return run;
    },
    async close(): Promise<void> {
      await queue;
      await closeFile();
    },
  };
}

async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await fsp.rename(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
