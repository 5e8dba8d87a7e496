import type { EventDataBatch, EventHubProducerClient } from '@azure/event-hubs';
import { listInputFiles, readFile } from '../sources/files';
import { unwrap } from '../normalize/containers';
import type { Json, JsonObject } from '../normalize/fields';
import { normalizeRecord, Rejected, type RecordShape } from '../normalize/record';

export interface PublishOptions {
  /** Replay speed against the records' own times: 1 = real time, 60 = an hour a minute, 0 = as fast as possible. */
  speed?: number;
  /** Largest body to build (default 256 KiB; a hub takes up to 1 MB per event on Standard, 256 KB on Basic). */
  maxBodyBytes?: number;
  /** Send every input line (or document) as one body, untouched, broken ones too: replays a captured stream. */
  asIs?: boolean;
  /** Send to this partition only (default: spread over all). */
  partitionId?: string;
  onProgress?: (p: PublishSummary) => void;
  signal?: AbortSignal;
}

export interface PublishSummary {
  files: number;
  /** Records sent (lines sent, with asIs). */
  records: number;
  events: number;
  batches: number;
  bytes: number;
  /** Lines that held no JSON (sent anyway with asIs), and records too big for one event: never silent. */
  skipped: { reason: string; source: string; line: number | null }[];
  seconds: number;
}

/**
 * Sends sign-in logs to a hub the way diagnostic settings do: bodies of {"records":[...]} up to a size,
 * several bodies per AMQP batch. Records keep their own shape (a Log Analytics row or Graph item travels
 * inside records[] as it is); the consumer classifies each record, as import does.
 */
export async function publish(paths: readonly string[], producer: EventHubProducerClient, opts: PublishOptions = {}): Promise<PublishSummary> {
  const t0 = Date.now();
  const maxBody = opts.maxBodyBytes ?? 256 * 1024;
  const speed = opts.speed ?? 0;
  const files = await listInputFiles(paths);
  const sum: PublishSummary = { files: files.length, records: 0, events: 0, batches: 0, bytes: 0, skipped: [], seconds: 0 };

  let batch: EventDataBatch | null = null;
  const send = async () => {
    if (!batch || batch.count === 0) return;
    await producer.sendBatch(batch, { abortSignal: opts.signal });
    sum.batches++;
    sum.events += batch.count;
    batch = null;
    opts.onProgress?.(sum);
  };
  const addBody = async (body: Buffer, where: { source: string; line: number | null }) => {
    batch ??= await producer.createBatch(opts.partitionId ? { partitionId: opts.partitionId } : {});
    if (batch.tryAdd({ body })) {
      sum.bytes += body.length;
      return;
    }
    await send();
    batch = await producer.createBatch(opts.partitionId ? { partitionId: opts.partitionId } : {});
    if (batch.tryAdd({ body })) sum.bytes += body.length;
    else sum.skipped.push({ reason: `an event of ${body.length} bytes is over the hub's limit of ${batch.maxSizeInBytes}`, ...where });
  };

  // Body being built: serialized records, and the event time (ms) of its first record for pacing.
  let parts: string[] = [];
  let partsBytes = 0;
  let where = { source: '', line: null as number | null };
  const flushBody = async () => {
    if (parts.length === 0) return;
    await addBody(Buffer.from(`{"records":[${parts.join(',')}]}`, 'utf8'), where);
    parts = [];
    partsBytes = 0;
  };
  // Real-time replay: the first record's time is "now"; later ones wait for their offset / speed.
  let firstEventMs: number | null = null;
  const pace = async (eventMs: number | null) => {
    if (speed <= 0 || eventMs === null) return;
    firstEventMs ??= eventMs;
    const due = t0 + (eventMs - firstEventMs) / speed;
    if (due - Date.now() > 5) {
      await flushBody();
      await send();
      await new Promise((r) => setTimeout(r, due - Date.now()));
    }
  };

  for (const file of files) {
    for await (const item of readFile(file)) {
      if (opts.signal?.aborted) break;
      if (item.kind === 'bad') {
        sum.skipped.push({ reason: `${item.reason}: ${item.detail}`, source: item.source, line: item.line });
        continue;
      }
      const text = Buffer.from(item.bytes).toString('utf8').replace(/^\uFEFF/, '');
      const units = item.document ? [text] : text.split('\n');
      for (let i = 0; i < units.length; i++) {
        const unit = units[i].replace(/\r$/, '');
        if (unit.trim() === '') continue;
        const here = { source: item.source, line: item.document ? item.firstLine : item.firstLine + i };
        let value: Json | undefined;
        try {
          value = JSON.parse(unit) as Json;
        } catch (e) {
          if (!opts.asIs) {
            sum.skipped.push({ reason: `not JSON (${(e as Error).message}); publish --as-is sends such lines unchanged`, ...here });
            continue;
          }
        }
        if (opts.asIs || value === undefined) {
          // Paced by the first record the line holds, if it holds one.
          if (speed > 0 && value !== undefined) await pace(firstRecordMs(value));
          await addBody(Buffer.from(unit, 'utf8'), here);
          sum.records++;
          continue;
        }
        for (const u of unwrap(value)) {
          if ('rejected' in u) {
            sum.skipped.push({ reason: `${u.rejected.reason}: ${u.rejected.detail}`, ...here });
            continue;
          }
          const json = JSON.stringify(u.record);
          if (speed > 0) await pace(recordMs(u.record, u.shape));
          const size = Buffer.byteLength(json);
          if (partsBytes + size + 16 > maxBody) await flushBody(); // 16: the {"records":[]} around them
          if (parts.length === 0) where = here;
          parts.push(json);
          partsBytes += size + 1;
          sum.records++;
        }
      }
    }
  }
  await flushBody();
  await send();
  sum.seconds = (Date.now() - t0) / 1000;
  return sum;
}

/** A record's event time in ms, read by the normalizer (so every shape and time quirk is understood). */
function recordMs(record: JsonObject, shape: RecordShape): number | null {
  const n = normalizeRecord(record, shape, { source: '', ingestedAt: '' });
  return n instanceof Rejected ? null : Math.floor(n.micros / 1000);
}

function firstRecordMs(value: Json): number | null {
  for (const u of unwrap(value)) if (!('rejected' in u)) return recordMs(u.record, u.shape);
  return null;
}
