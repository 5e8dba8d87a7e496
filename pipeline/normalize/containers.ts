import { isObject, type Json, type JsonObject } from './fields';
import { classify, Rejected, type RecordShape } from './record';

/**
 * Unwraps whatever a line or document holds into single records:
 *   {"records":[...]}                         Azure Monitor diagnostic settings (Event Hub body, archives)
 *   {"value":[...], "@odata.context":...}     Microsoft Graph signIn page
 *   {"tables":[{"columns":[...],"rows":[...]}]}  Log Analytics query API
 *   [ ... ]                                   a JSON array of any of these
 *   { ... }                                   one record (diagnostic record, Log Analytics row, Graph item)
 * Each item is yielded with its index inside the container, so quarantine entries can point at it.
 */
export interface UnwrappedRecord {
  record: JsonObject;
  shape: RecordShape;
  index: number;
}
export interface UnwrapRejection {
  rejected: Rejected;
  index: number | null;
  value: Json;
}
export type Unwrapped = UnwrappedRecord | UnwrapRejection;

const MAX_DEPTH = 3;

export function* unwrap(value: Json, depth = 0, base = 0): Generator<Unwrapped> {
  if (Array.isArray(value)) {
    if (depth >= MAX_DEPTH) return yield { rejected: new Rejected('unknown_shape', 'arrays nested too deep'), index: null, value };
    for (let i = 0; i < value.length; i++) yield* item(value[i], depth + 1, base + i);
    return;
  }
  if (!isObject(value)) return yield { rejected: new Rejected('not_an_object', `a JSON ${typeof value} is not a sign-in record`), index: null, value };
  if ('records' in value) {
    const records = value.records;
    if (!Array.isArray(records)) return yield { rejected: new Rejected('records_not_array', `"records" is ${records === null ? 'null' : typeof records}, not an array`), index: null, value };
    for (let i = 0; i < records.length; i++) yield* item(records[i], depth + 1, i);
    return;
  }
  if ('value' in value && ('@odata.context' in value || Array.isArray(value.value))) {
    const items = value.value;
    if (!Array.isArray(items)) return yield { rejected: new Rejected('value_not_array', `"value" is ${typeof items}, not an array`), index: null, value };
    for (let i = 0; i < items.length; i++) yield* item(items[i], depth + 1, i);
    return;
  }
  if (Array.isArray(value.tables)) {
    yield* logAnalyticsTables(value.tables);
    return;
  }
  yield* item(value, depth, base);
}

function* item(v: Json, depth: number, index: number): Generator<Unwrapped> {
  if (isObject(v) && !('records' in v) && !('tables' in v) && !('value' in v && '@odata.context' in v)) {
    const shape = classify(v);
    if (shape) yield { record: v, shape, index };
    else yield { rejected: new Rejected('unknown_shape', `no sign-in fields among keys ${Object.keys(v).slice(0, 8).join(', ')}`), index, value: v };
    return;
  }
  if (isObject(v) || Array.isArray(v)) {
    if (depth >= MAX_DEPTH) return yield { rejected: new Rejected('unknown_shape', 'containers nested too deep'), index, value: v };
    yield* unwrap(v, depth, index);
    return;
  }
  yield { rejected: new Rejected('not_an_object', `item is a JSON ${v === null ? 'null' : typeof v}`), index, value: v };
}

/** Query API result: column names plus positional rows; rebuild objects so the normal LA path applies. */
function* logAnalyticsTables(tables: Json[]): Generator<Unwrapped> {
  let index = 0;
  for (const t of tables) {
    const cols = isObject(t) && Array.isArray(t.columns) ? t.columns.map((c) => (isObject(c) && typeof c.name === 'string' ? c.name : null)) : null;
    const rows = isObject(t) && Array.isArray(t.rows) ? t.rows : null;
    if (!cols || !rows || cols.includes(null)) {
      yield { rejected: new Rejected('unknown_shape', 'a "tables" entry without columns[].name and rows[]'), index: index++, value: t };
      continue;
    }
    for (const r of rows) {
      if (!Array.isArray(r)) {
        yield { rejected: new Rejected('not_an_object', 'a Log Analytics row that is not an array'), index: index++, value: r };
        continue;
      }
      const rec: JsonObject = {};
      cols.forEach((c, i) => (rec[c as string] = r[i] ?? null));
      yield* item(rec, MAX_DEPTH, index++);
    }
  }
}

export function isRejection(u: Unwrapped): u is UnwrapRejection {
  return 'rejected' in u;
}
