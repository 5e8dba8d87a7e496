import { formatRows, type Column } from './output';

/**
 * One JSON document (not a list of rows), escaped by the output module like every other JSON this tool
 * writes: U+2028/2029, C1 and bidi controls in log fields are written as \u escapes.
 */
export function jsonDocument(doc: object, pretty: boolean): string {
  const row = doc as Record<string, unknown>;
  const columns: Column[] = Object.keys(row).map((name) => ({ name, kind: 'json' }));
  if (!pretty) return formatRows([row], columns, 'ndjson') as string;
  // The json format is an array of rows; the one row, unwrapped and dedented, is the document. Dedenting
  // line by line is safe: JSON strings never hold a raw newline.
  const arr = formatRows([row], columns, 'json') as string;
  return arr.slice(2, -3).replace(/^ {2}/gm, '') + '\n';
}
