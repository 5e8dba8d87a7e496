import type { ContainerClient } from '@azure/storage-blob';
import type { Position } from '../lake/stream';

/** Which consumer group's checkpoints: the same scope BlobCheckpointStore uses. */
export interface CheckpointScope {
  fullyQualifiedNamespace: string;
  eventHubName: string;
  consumerGroup: string;
}

/**
 * The blob BlobCheckpointStore keeps a partition's checkpoint in (its private getBlobPrefix): lowercased
 * `<namespace>/<hub>/<group>/checkpoint/<partition>`, metadata `sequencenumber` and `offset`. Written here in
 * the same layout, so the SDK's load balancer starts a partition right after it.
 */
export function checkpointBlobName(scope: CheckpointScope, partitionId: string): string {
  return `${scope.fullyQualifiedNamespace.toLowerCase()}/${scope.eventHubName.toLowerCase()}/${scope.consumerGroup.toLowerCase()}/checkpoint/${partitionId}`;
}

export type Advance = 'moved' | 'already-there';

/**
 * Moves a partition's checkpoint forward to `pos`, never back. The SDK's updateCheckpoint overwrites
 * blindly, so around a hand-over the old owner's late write could move a checkpoint back and the next owner
 * would re-read (harmless, deduplicated) or, worse, a reader could believe less is committed than is.
 * Here it is compare-and-swap on the blob's etag: read, compare sequence numbers, write only if unchanged.
 * Callers pass only positions whose events are durable (StreamIngest.commit), so a checkpoint never
 * runs ahead of the lake.
 */
export async function advanceCheckpoint(container: ContainerClient, scope: CheckpointScope, pos: Position): Promise<Advance> {
  const blob = container.getBlockBlobClient(checkpointBlobName(scope, pos.partitionId));
  const metadata = { sequencenumber: String(pos.sequenceNumber), offset: pos.offset };
  for (let attempt = 0; attempt < 20; attempt++) {
    const current = await blob.getProperties().catch((e: { statusCode?: number }) => {
      if (e.statusCode === 404) return null;
      throw e;
    });
    try {
      if (current) {
        const seq = Number(current.metadata?.sequencenumber);
        if (Number.isFinite(seq) && seq >= pos.sequenceNumber) return 'already-there';
        await blob.setMetadata(metadata, { conditions: { ifMatch: current.etag } });
      } else {
        await blob.upload('', 0, { metadata, conditions: { ifNoneMatch: '*' } });
      }
      return 'moved';
    } catch (e) {
      // 412/409: another owner wrote in between; read again and compare again.
      const status = (e as { statusCode?: number }).statusCode;
      if (status !== 412 && status !== 409) throw e;
    }
  }
  throw new Error(`checkpoint for partition ${pos.partitionId} kept changing under us (20 tries); another consumer is writing it`);
}

/** Every partition's checkpoint sequence number in a scope (for status, tests and the demo). */
export async function readCheckpoints(container: ContainerClient, scope: CheckpointScope): Promise<Map<string, { sequenceNumber: number; offset: string }>> {
  const prefix = checkpointBlobName(scope, '');
  const out = new Map<string, { sequenceNumber: number; offset: string }>();
  for await (const b of container.listBlobsFlat({ prefix, includeMetadata: true })) {
    const seq = Number(b.metadata?.sequencenumber);
    if (Number.isFinite(seq)) out.set(b.name.slice(prefix.length), { sequenceNumber: seq, offset: b.metadata?.offset ?? '' });
  }
  return out;
}
