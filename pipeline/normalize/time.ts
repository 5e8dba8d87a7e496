/**
 * Timestamp parsing for sign-in logs. Done here rather than in DuckDB because a DuckDB TIMESTAMP
 * cast silently drops a UTC offset and `%f` rejects Entra's 7-digit fractions (signin-logs.md §8).
 *
 * Accepted (signin-logs.md §5.3, Elastic's corner cases):
 *   2026-04-14T09:41:00.1234567Z, ...+02:00, ...-0500, with no zone (taken as UTC), 1-9 fraction digits
 *   4/14/2026 9:41:00 AM, 04/14/2026 21:41:00, 4/14/2026, 9:41:00.221 PM +01:00  (US order, 12 or 24 hour)
 * Anything else, or an impossible date, is null: the caller quarantines the record.
 */

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|z|[+-]\d{2}:?\d{2})?$/;
const US =
  /^(\d{1,2})\/(\d{1,2})\/(\d{4}),?\s+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:\s*([AaPp][Mm]))?(?:\s*(Z|[+-]\d{2}:?\d{2}))?$/;

const MIN_YEAR = 1970;
const MAX_YEAR = 2199;

/** Microseconds since the Unix epoch, UTC. Safe as a double until year 2255. */
export type EpochMicros = number;

export function parseTimestamp(value: unknown): EpochMicros | null {
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (text.length === 0 || text.length > 64) return null;
  let m = ISO.exec(text);
  if (m) return build(+m[1], +m[2], +m[3], +m[4], +m[5], m[6] ? +m[6] : 0, m[7], m[8]);
  m = US.exec(text);
  if (m) {
    let hour = +m[4];
    const ampm = m[8]?.toUpperCase();
    if (ampm) {
      if (hour < 1 || hour > 12) return null;
      hour = (hour % 12) + (ampm === 'PM' ? 12 : 0);
    }
    return build(+m[3], +m[1], +m[2], hour, +m[5], m[6] ? +m[6] : 0, m[7], m[9]);
  }
  return null;
}

function build(
  year: number, month: number, day: number, hour: number, minute: number, second: number,
  fraction: string | undefined, zone: string | undefined,
): EpochMicros | null {
  if (year < MIN_YEAR || year > MAX_YEAR || month < 1 || month > 12 || day < 1) return null;
  if (hour > 23 || minute > 59 || second > 60) return null; // 60: a leap second, folded below
  const ms = Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59));
  // Date.UTC rolls 31 Feb into March; reject instead of inventing a date.
  const d = new Date(ms);
  if (d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return null;
  let offsetMinutes = 0;
  if (zone && zone !== 'Z' && zone !== 'z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const oh = +digits.slice(0, 2);
    const om = +digits.slice(2, 4);
    if (oh > 18 || om > 59) return null;
    offsetMinutes = sign * (oh * 60 + om);
  }
  const micros = fraction ? Math.floor(+fraction.padEnd(9, '0') / 1000) : 0;
  return (ms - offsetMinutes * 60_000) * 1000 + micros;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `YYYY-MM-DD HH:MM:SS.ffffff`, what DuckDB reads as TIMESTAMP. */
export function formatMicros(us: EpochMicros): string {
  const ms = Math.floor(us / 1000);
  const d = new Date(ms);
  const frac = us - Math.floor(us / 1_000_000) * 1_000_000;
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(frac, 6)}`
  );
}

/** ISO 8601 UTC with milliseconds, as the output contracts write times. */
export function isoOfMicros(us: EpochMicros): string {
  return new Date(Math.floor(us / 1000)).toISOString();
}

/** Hive partition values for an event time. Only ever derived from a validated timestamp. */
export function partitionOf(us: EpochMicros): { date: string; hour: number } {
  const d = new Date(Math.floor(us / 1000));
  return {
    date: `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`,
    hour: d.getUTCHours(),
  };
}
