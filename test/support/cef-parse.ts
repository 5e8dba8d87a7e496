/**
 * Two independent CEF parsers written from the ArcSight CEF implementation standard, for tests only (they share
 * nothing with pipeline/sink/formats.ts). Both are strict: an escape the standard does not define, a raw `=`
 * inside a value, a repeated key or a missing header field is an error, because any of them in our own output
 * would mean a field could be forged. `parseCef` walks characters; `parseCefRegex` works the way regex-based SIEM
 * parsers do. The tests require them to agree.
 */

export interface CefEvent {
  header: {
    version: string;
    deviceVendor: string;
    deviceProduct: string;
    deviceVersion: string;
    signatureId: string;
    name: string;
    severity: string;
  };
  /** Extension keys in order of appearance, values unescaped. */
  extension: [string, string][];
}

const HEADER_NAMES = ['version', 'deviceVendor', 'deviceProduct', 'deviceVersion', 'signatureId', 'name', 'severity'] as const;

function event(fields: string[], extension: [string, string][]): CefEvent {
  if (!fields[0].startsWith('CEF:')) throw new Error(`not a CEF line: starts with ${JSON.stringify(fields[0].slice(0, 8))}`);
  const seen = new Set<string>();
  for (const [k] of extension) {
    if (seen.has(k)) throw new Error(`key ${k} appears twice`);
    seen.add(k);
  }
  const header = Object.fromEntries(HEADER_NAMES.map((n, i) => [n, i === 0 ? fields[0].slice(4) : fields[i]])) as CefEvent['header'];
  return { header, extension };
}

const EXT_UNESCAPE: Record<string, string> = { '\\': '\\', '=': '=', n: '\n', r: '\r' };
const KEY_AT = /([A-Za-z0-9]+)=/y;

/** Character walk: header fields end at unescaped pipes; an extension value ends at the space before `key=`. */
export function parseCef(line: string): CefEvent {
  if (/[\r\n]/.test(line)) throw new Error('raw line break');
  const fields: string[] = [];
  let cur = '';
  let i = 0;
  while (fields.length < 7) {
    if (i >= line.length) throw new Error(`header has ${fields.length} fields, not 7`);
    const c = line[i];
    if (c === '\\') {
      const n = line[i + 1];
      if (n !== '\\' && n !== '|') throw new Error(`undefined header escape \\${n ?? ''} at ${i}`);
      cur += n;
      i += 2;
    } else if (c === '|') {
      fields.push(cur);
      cur = '';
      i++;
    } else {
      cur += c;
      i++;
    }
  }
  const extension: [string, string][] = [];
  while (i < line.length) {
    KEY_AT.lastIndex = i;
    const m = KEY_AT.exec(line);
    if (!m) throw new Error(`expected key= at ${i}: ${JSON.stringify(line.slice(i, i + 20))}`);
    i = KEY_AT.lastIndex;
    let value = '';
    while (i < line.length) {
      const c = line[i];
      if (c === '\\') {
        const u = EXT_UNESCAPE[line[i + 1]];
        if (u === undefined) throw new Error(`undefined extension escape \\${line[i + 1] ?? ''} at ${i}`);
        value += u;
        i += 2;
        continue;
      }
      if (c === '=') throw new Error(`raw = inside the value of ${m[1]} at ${i}`);
      if (c === ' ') {
        KEY_AT.lastIndex = i + 1;
        if (KEY_AT.test(line)) {
          i++;
          break;
        }
      }
      value += c;
      i++;
    }
    extension.push([m[1], value]);
  }
  return event(fields, extension);
}

const HEADER_FIELD = String.raw`((?:[^\\|]|\\[\\|])*)`;
const LINE = new RegExp(`^(CEF:[^\\\\|]*)\\|${Array(6).fill(HEADER_FIELD).join('\\|')}\\|(.*)$`, 's');
const PAIR = /([A-Za-z0-9]+)=((?:[^\\=]|\\[\\=nr])*?)(?: (?=[A-Za-z0-9]+=)|$)/y;

/** One regex for the header, one sticky regex per key=value pair; the pairs must consume the whole extension. */
export function parseCefRegex(line: string): CefEvent {
  if (/[\r\n]/.test(line)) throw new Error('raw line break');
  const m = LINE.exec(line);
  if (!m) throw new Error('header does not match CEF:v|vendor|product|version|id|name|severity|');
  const fields = m.slice(1, 8).map((f) => f.replace(/\\([\\|])/g, '$1'));
  const ext = m[8];
  const extension: [string, string][] = [];
  PAIR.lastIndex = 0;
  while (PAIR.lastIndex < ext.length) {
    const at = PAIR.lastIndex;
    const p = PAIR.exec(ext);
    if (!p || p[0] === '') throw new Error(`extension does not parse at ${at}: ${JSON.stringify(ext.slice(at, at + 20))}`);
    extension.push([p[1], p[2].replace(/\\([\\=nr])/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c))]);
  }
  return event(fields, extension);
}
