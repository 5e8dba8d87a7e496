import { parentPort } from 'node:worker_threads';
import { normalizeBatch } from './batch';
import type { LineBatch } from '../sources/files';

/** Worker thread entry: normalizes batches of lines sent by NormalizePool, answering each by id. */
parentPort?.on('message', (msg: { id: number; batch: LineBatch; ingestedAt: string }) => {
  try {
    parentPort!.postMessage({ id: msg.id, result: normalizeBatch(msg.batch, msg.ingestedAt) });
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: (e as Error).stack ?? String(e) });
  }
});
