/**
 * Secrets never reach a log line, an error message or a file. Every string we print that could quote
 * a connection string or an SDK error goes through redact(): known secret values are replaced wherever they
 * appear, and anything shaped like a key (SharedAccessKey=, AccountKey=, sig=, SharedAccessSignature, Bearer)
 * is replaced too, for secrets we were never told about.
 */
const known = new Set<string>();

/** Remember a secret value (a whole connection string, and each key inside it) so it is always redacted. */
export function registerSecret(value: string | undefined): void {
  if (!value) return;
  known.add(value);
  for (const m of value.matchAll(/(?:SharedAccessKey|AccountKey|SharedAccessSignature|sig)=([^;&\s]+)/gi)) if (m[1].length >= 4) known.add(m[1]);
}

const PATTERNS: Array<[RegExp, string]> = [
  [/(SharedAccessKey|AccountKey|SharedAccessSignature|ClientSecret)=[^;\s"']*/gi, '$1=***'],
  [/([?&]sig=)[^&\s"']*/gi, '$1***'],
  [/(Bearer\s+)[A-Za-z0-9._~+/=-]+/g, '$1***'],
  [/(SharedAccessSignature\s+)\S+/g, '$1***'],
];

export function redact(text: string): string {
  let out = text;
  // Longest first, so a whole connection string goes before the key inside it.
  for (const s of [...known].sort((a, b) => b.length - a.length)) out = out.split(s).join('***');
  for (const [re, to] of PATTERNS) out = out.replace(re, to);
  return out;
}
