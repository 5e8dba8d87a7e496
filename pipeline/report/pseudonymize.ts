import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CliError } from '../errors';
import type { FlaggedSession } from '../domain/findings';
import type { ClusterRow, RemediationRow, ReportData } from './types';

/**
 * Keyed pseudonyms for a report shared beyond the security team (management, a vendor, a ticket).
 *
 * Replaced, by `<prefix>-<first 16 hex of HMAC-SHA256(key, kind NUL value)>`:
 *   u-    user principal names, and display names (a user's display name takes their UPN's token, so a reader
 *         sees one identity per person; a name without a UPN gets its own n- token)
 *   id-   user object ids. They look anonymous but anyone in the tenant resolves them to a person in one
 *         Graph call, so they are personal data too. The price: a pseudonymized remediation.csv cannot be fed
 *         to Revoke-MgUserSignInSession; the security team runs the report without a key for that, and can
 *         tell who a token is by pseudonymizing its own list with the same key.
 *   ip-   IP addresses
 *   dev-  device ids (resolve to a device, and so to its owner)
 *   s-    sign-in ids (one look-up in the Entra sign-in log names the user)
 *   loop- loop ids (an MD5 of user, app, device and start: with the tenant's object ids a guess can be checked)
 * Kept: tenant id, app names and ids, OS, client, error codes, times, counts, cluster ids (a hash of app,
 * OS, client and start: nothing personal) and the reason sentences (they name apps and clusters, not people).
 *
 * The kind is part of the MAC input, so the same string never gets the same token as a UPN and as an IP;
 * the same key gives the same tokens in every report, so reports of different days can be compared.
 */
export type TokenKind = 'upn' | 'name' | 'user_id' | 'ip' | 'device' | 'sign_in' | 'loop';

export type SessionLike = Omit<FlaggedSession, 'sign_in_ids'> & { sign_in_ids?: string[] };

const PREFIX: Record<TokenKind, string> = { upn: 'u', name: 'n', user_id: 'id', ip: 'ip', device: 'dev', sign_in: 's', loop: 'loop' };

/** Shortest key accepted: below 128 bits the tokens could be brute-forced from a list of the tenant's users. */
export const MIN_KEY_BYTES = 16;

export class Pseudonymizer {
  private readonly cache = new Map<string, string>();

  constructor(private readonly key: Buffer) {
    if (key.length < MIN_KEY_BYTES) {
      throw new CliError(`The pseudonymization key must be at least ${MIN_KEY_BYTES} bytes (got ${key.length}). Create one with: openssl rand -out report.key 32`, 2);
    }
  }

  token(kind: TokenKind, value: string): string {
    const k = `${kind}\u0000${value}`;
    let t = this.cache.get(k);
    if (t === undefined) {
      t = `${PREFIX[kind]}-${createHmac('sha256', this.key).update(k, 'utf8').digest('hex').slice(0, 16)}`;
      this.cache.set(k, t);
    }
    return t;
  }

  /** UPNs are lower-cased in the lake; lower-casing here too keeps one token per user whatever the source. */
  upn(v: string | null): string | null {
    return v === null ? null : this.token('upn', v.toLowerCase());
  }

  opt(kind: TokenKind, v: string | null): string | null {
    return v === null ? null : this.token(kind, v);
  }

  displayName(name: string | null, upn: string | null): string | null {
    if (name === null) return null;
    return upn !== null ? this.upn(upn) : this.token('name', name);
  }

  /** A flagged session, with or without its evidence ids (loops.csv leaves them out). */
  session<T extends SessionLike>(f: T): T {
    const out: T = {
      ...f,
      loop_id: this.token('loop', f.loop_id),
      user_id: this.opt('user_id', f.user_id),
      user_principal_name: this.upn(f.user_principal_name),
      user_display_name: this.displayName(f.user_display_name, f.user_principal_name),
      device_id: this.opt('device', f.device_id),
      ip_addresses: f.ip_addresses.map((ip) => this.token('ip', ip)).sort(),
    };
    if (f.sign_in_ids) out.sign_in_ids = f.sign_in_ids.map((id) => this.token('sign_in', id)).sort();
    return out;
  }

  cluster(c: ClusterRow): ClusterRow {
    return {
      ...c,
      loop_ids: c.loop_ids.map((id) => this.token('loop', id)),
      // sorted again: the tokens' order says nothing about the names'
      users_still_looping: c.users_still_looping.map((u) => this.upn(u) as string).sort(),
    };
  }

  remediation(r: RemediationRow): RemediationRow {
    return { ...r, user_id: this.opt('user_id', r.user_id), user_principal_name: this.upn(r.user_principal_name) };
  }

  report(d: ReportData): ReportData {
    return {
      ...d,
      pseudonymized: true,
      clusters: d.clusters.map((c) => this.cluster(c)),
      worst_loops: d.worst_loops.map((f) => this.session(f)),
      denial_bursts: d.denial_bursts.map((f) => this.session(f)),
      failure_bursts: d.failure_bursts.map((f) => this.session(f)),
      remediation: d.remediation.map((r) => this.remediation(r)),
    };
  }
}

/**
 * Reads a key file: its bytes as they are, less one trailing line break (so `openssl rand -hex 32 > key` and
 * an editor's save give the same key). The file is a secret: it is never printed.
 */
export async function readKeyFile(path: string): Promise<Buffer> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (e) {
    throw new CliError(`Cannot read the pseudonymization key file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}. Create one with: openssl rand -out ${path} 32`, 2);
  }
  let end = raw.length;
  if (end > 0 && raw[end - 1] === 0x0a) end--;
  if (end > 0 && raw[end - 1] === 0x0d) end--;
  const key = raw.subarray(0, end);
  if (key.length < MIN_KEY_BYTES) {
    throw new CliError(`The pseudonymization key file ${path} holds ${key.length} byte(s); at least ${MIN_KEY_BYTES} are needed. Create one with: openssl rand -out ${path} 32`, 2);
  }
  return Buffer.from(key);
}
