import type { Writable } from 'node:stream';
import type { StdoutSinkConfig } from '../config';
import { DeliveryError, type OutMessage, type Transport } from '../types';
import { assertOneLine } from './file';

/**
 * One alert per line on stdout (containers, `| jq`). send() resolves when the stream has taken the batch
 * (its write callback), so a slow reader slows delivery down instead of filling memory.
 */
export function createStdoutTransport(cfg: StdoutSinkConfig, out: Writable = process.stdout): Transport {
  return {
    limits: { maxMessageBytes: 16 * 1024 * 1024, maxBatchMessages: 1_000, maxBatchBytes: 16 * 1024 * 1024 },
    async send(batch: OutMessage[]): Promise<void> {
      if (batch.length === 0) return;
      assertOneLine(batch, cfg.name);
      const text = batch.map((m) => `${m.text}\n`).join('');
      await new Promise<void>((resolve, reject) =>
        out.write(text, 'utf8', (e) => (e ? reject(new DeliveryError(`Sink ${cfg.name}: cannot write to stdout: ${e.message}. Is the reading end of the pipe still open?`, { cause: e })) : resolve())),
      );
    },
    // stdout belongs to the process: never ended here.
    async close(): Promise<void> {},
  };
}
