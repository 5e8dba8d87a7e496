/**
 * Hand-written sign-in records as timelines, for tests' given/expect cases and the alert benchmark's live
 * loops: an Event Hub diagnostic record with only the fields detection reads. `at` is seconds after a base
 * time (a fixed one for tests, "now" for the benchmark).
 */
export const BASE = Date.UTC(2026, 3, 14, 9, 0, 0); // 2026-04-14T09:00:00Z
export const TENANT = '11111111-2222-3333-4444-555555555555';

export interface Rec {
  at: number; // seconds after BASE
  code?: number;
  user?: string; // short name: ana -> ana@contoso.example
  app?: string;
  appId?: string;
  device?: string | null;
  os?: string;
  interactive?: boolean;
  methods?: string[]; // authenticationDetails methods
  corr?: string;
  id?: string;
  ip?: string;
  category?: string;
}

let counter = 0;
export function iso(at: number, base = BASE): string {
  return new Date(base + at * 1000).toISOString().replace('Z', '0000+00:00');
}

export function ehRecord(r: Rec, base = BASE): Record<string, unknown> {
  const user = r.user ?? 'ana';
  const interactive = r.interactive ?? true;
  const code = r.code ?? 0;
  const id = r.id ?? `00000000-0000-4000-8000-${String(++counter).padStart(12, '0')}`;
  const methods = r.methods ?? (interactive && code === 0 ? ['Password', 'Mobile app notification'] : []);
  return {
    time: new Date(base + r.at * 1000 + 30_000).toISOString(),
    resourceId: `/tenants/${TENANT}/providers/Microsoft.aadiam`,
    operationName: 'Sign-in activity',
    category: r.category ?? (interactive ? 'SignInLogs' : 'NonInteractiveUserSignInLogs'),
    tenantId: TENANT,
    resultType: String(code),
    correlationId: r.corr ?? id,
    identity: user,
    Level: 4,
    location: 'NL',
    properties: {
      id,
      createdDateTime: iso(r.at, base),
      userDisplayName: user,
      userPrincipalName: `${user}@contoso.example`,
      userId: `user-${user}`,
      appId: r.appId ?? `app-${(r.app ?? 'Outlook Mobile').toLowerCase().replace(/\W+/g, '-')}`,
      appDisplayName: r.app ?? 'Outlook Mobile',
      ipAddress: r.ip ?? '203.0.113.7',
      status: { errorCode: code },
      clientAppUsed: 'Mobile Apps and Desktop clients',
      userAgent: 'Outlook-iOS/2.0',
      deviceDetail: { deviceId: r.device === null ? '' : r.device ?? `dev-${user}`, operatingSystem: r.os ?? 'Ios' },
      location: { city: 'Amsterdam', countryOrRegion: 'NL' },
      correlationId: r.corr ?? id,
      isInteractive: interactive,
      authenticationDetails: methods.map((m) => ({ authenticationMethod: m, succeeded: code === 0 })),
    },
  };
}

/** One prompt flow: MFA required (50074), then success `secs` later, sharing a correlation id. */
export function mfaFlow(at: number, r: Omit<Rec, 'at' | 'code'> = {}, secs = 5): Rec[] {
  const corr = `corr-${r.user ?? 'ana'}-${at}`;
  return [
    { ...r, at, code: 50074, corr, methods: ['Password'] },
    { ...r, at: at + secs, code: 0, corr },
  ];
}

export function lines(recs: Rec[]): string {
  return recs.map((r) => JSON.stringify(ehRecord(r))).join('\n') + '\n';
}
