// Partition key → partition, the way the SDK's EventHubBufferedProducerClient predicts the service does
// (@azure/event-hubs dist/esm/impl/partitionKeyToIdMapper.js, MIT): Bob Jenkins' lookup3 hashlittle2
// over the UTF-8 key, low 16 bits of c ^ b as a signed short, modulo the partition count.

/** Index of the partition (ids "0".."n-1") that events with this key land in. */
export function partitionIndexForKey(partitionKey: string, partitionCount: number): number {
  const { b, c } = hashLittle2(Buffer.from(partitionKey, 'utf8'));
  return Math.abs(new Int16Array([c ^ b])[0] % partitionCount);
}

const rotate = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

function hashLittle2(data: Buffer): { b: number; c: number } {
  let a = (0xdeadbeef + data.length) | 0;
  let b = a;
  let c = a;
  let index = 0;
  let size = data.length;
  while (size > 12) {
    a = (a + data.readUInt32LE(index)) | 0;
    b = (b + data.readUInt32LE(index + 4)) | 0;
    c = (c + data.readUInt32LE(index + 8)) | 0;
    // mix(a, b, c)
    a = (a - c) | 0; a ^= rotate(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rotate(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rotate(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rotate(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rotate(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rotate(b, 4); b = (b + a) | 0;
    index += 12;
    size -= 12;
  }
  if (size === 0) return { b: b >>> 0, c: c >>> 0 };
  // The last 1–12 bytes, zero-padded, added little-endian into a, b, c (lookup3's tail switch).
  const tail = Buffer.alloc(12);
  data.copy(tail, 0, index);
  a = (a + tail.readUInt32LE(0)) | 0;
  if (size > 4) b = (b + tail.readUInt32LE(4)) | 0;
  if (size > 8) c = (c + tail.readUInt32LE(8)) | 0;
  // final(a, b, c)
  c ^= b; c = (c - rotate(b, 14)) | 0;
  a ^= c; a = (a - rotate(c, 11)) | 0;
  b ^= a; b = (b - rotate(a, 25)) | 0;
  c ^= b; c = (c - rotate(b, 16)) | 0;
  a ^= c; a = (a - rotate(c, 4)) | 0;
  b ^= a; b = (b - rotate(a, 14)) | 0;
  c ^= b; c = (c - rotate(b, 24)) | 0;
  return { b: b >>> 0, c: c >>> 0 };
}
