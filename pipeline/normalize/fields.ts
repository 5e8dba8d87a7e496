/**
 * Tolerant field access. Sign-in logs drift in key case (`Level`/`level`), spacing (`Is CAE Token`/`IsCAEToken`),
 * style (camelCase in Event Hub `properties` and Graph, PascalCase in Log Analytics), and type (numbers as strings,
 * JSON objects held as strings). Keys are folded to lower-case alphanumerics so one lookup serves every shape.
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// The same few hundred keys repeat in every record, so each is folded once per process.
const folded = new Map<string, string>();
const fold = (k: string): string => {
  let f = folded.get(k);
  if (f === undefined) {
    f = k.toLowerCase().replace(/[^a-z0-9]/g, '');
    if (folded.size < 10_000) folded.set(k, f); // bounded: hostile input could invent keys forever
  }
  return f;
};

export class Fields {
  private readonly map = new Map<string, Json>();
  constructor(obj: JsonObject | null) {
    if (obj) for (const k of Object.keys(obj)) {
      const f = fold(k);
      // First non-null wins, so `Level: 4` and `level: null` do not fight.
      if (!this.map.has(f) || this.map.get(f) === null) this.map.set(f, obj[k]);
    }
  }
  static of(v: unknown): Fields {
    return new Fields(isObject(v) ? v : isObject(parseJsonString(v)) ? (parseJsonString(v) as JsonObject) : null);
  }
  /** First present, non-null, non-empty value among the folded names. */
  raw(...names: string[]): Json | undefined {
    for (const n of names) {
      const v = this.map.get(n);
      if (v !== undefined && v !== null && v !== '') return v;
    }
    return undefined;
  }
  str(...names: string[]): string | null {
    return toStr(this.raw(...names));
  }
  int(...names: string[]): number | null {
    return toInt(this.raw(...names));
  }
  bool(...names: string[]): boolean | null {
    return toBool(this.raw(...names));
  }
  /** A nested object, also when it arrives as a JSON string (Log Analytics `DeviceDetail`, `Status`, ...). */
  obj(...names: string[]): Fields {
    for (const n of names) {
      const v = this.map.get(n);
      const o = isObject(v) ? v : parseJsonString(v);
      if (isObject(o)) return new Fields(o);
    }
    return EMPTY;
  }
  /** A nested array, also when it arrives as a JSON string. */
  arr(...names: string[]): Json[] | null {
    for (const n of names) {
      const v = this.map.get(n);
      const a = Array.isArray(v) ? v : parseJsonString(v);
      if (Array.isArray(a)) return a;
    }
    return null;
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
}

const EMPTY = new Fields(null);

export function parseJsonString(v: unknown): Json | undefined {
  if (typeof v !== 'string') return undefined;
  const t = v.trimStart();
  if (t[0] !== '{' && t[0] !== '[') return undefined;
  try {
    return JSON.parse(v) as Json;
  } catch {
    return undefined;
  }
}

export function toStr(v: Json | undefined): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

export function toInt(v: Json | undefined): number | null {
  if (typeof v === 'number') return Number.isInteger(v) ? v : null;
  if (typeof v === 'string' && /^\s*-?\d{1,10}\s*$/.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : null;
  }
  return null;
}

export function toBool(v: Json | undefined): boolean | null {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === 'true' || s === '1') return true;
    if (s === 'false' || s === '0') return false;
  }
  if (v === 1) return true;
  if (v === 0) return false;
  return null;
}
