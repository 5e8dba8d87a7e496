// Render canonical shape-A records as Event Hub bodies, plain records, Log Analytics rows or Graph pages.
// All shapes carry the same sign-ins; only containers, key case and JSON-in-string columns differ.

import { EhRecord, SignInProps } from './records';
import { Rng, guidFromKey } from './rng';

export type Shape = 'eventhub' | 'records' | 'log-analytics' | 'graph';

export const SHAPES: readonly Shape[] = ['eventhub', 'records', 'log-analytics', 'graph'];

const GRAPH_CONTEXT = 'https://graph.microsoft.com/beta/$metadata#auditLogs/signIns';
const GRAPH_PAGE = 1000;
const EH_MAX_BODY = 50;

const LA_TYPE = {
  SignInLogs: 'SigninLogs',
  NonInteractiveUserSignInLogs: 'AADNonInteractiveUserSignInLogs',
  ServicePrincipalSignInLogs: 'AADServicePrincipalSignInLogs',
} as const;

const EVENT_TYPE = {
  SignInLogs: 'interactiveUser',
  NonInteractiveUserSignInLogs: 'nonInteractiveUser',
  ServicePrincipalSignInLogs: 'servicePrincipal',
} as const;

function zulu(created: string): string {
  return created.endsWith('+00:00') ? created.slice(0, -6) + 'Z' : created;
}

/** Log Analytics row: PascalCase; `TenantId` is the workspace, the Entra tenant is `AADTenantId`. */
export function toLogAnalytics(rec: EhRecord): Record<string, unknown> {
  const p = rec.properties;
  const type = LA_TYPE[rec.category];
  // SigninLogs has dynamic columns; the other tables hold the same JSON as strings.
  const dyn = (v: unknown): unknown => (type === 'SigninLogs' ? v : JSON.stringify(v));
  const created = zulu(p.createdDateTime);
  const row: Record<string, unknown> = {
    TenantId: guidFromKey('workspace', rec.tenantId),
    SourceSystem: 'Azure AD',
    TimeGenerated: created,
    ResourceId: rec.resourceId,
    OperationName: rec.operationName,
    OperationVersion: rec.operationVersion,
    Category: rec.category,
    ResultType: String(p.status.errorCode),
    ResultSignature: 'None',
    ResultDescription: p.status.failureReason ?? '',
    DurationMs: '0',
    CorrelationId: p.correlationId,
    Identity: rec.identity ?? '',
    Level: '4',
    Location: rec.location,
    AADTenantId: rec.tenantId,
    AppDisplayName: p.appDisplayName,
    AppId: p.appId,
    AuthenticationDetails: JSON.stringify(p.authenticationDetails ?? []),
    AuthenticationRequirement: p.authenticationRequirement ?? '',
    ClientAppUsed: p.clientAppUsed ?? '',
    ConditionalAccessPolicies: dyn(p.appliedConditionalAccessPolicies),
    ConditionalAccessStatus: p.conditionalAccessStatus,
    CreatedDateTime: created,
    DeviceDetail: dyn(p.deviceDetail ?? {}),
    IsInteractive: p.isInteractive,
    Id: p.id,
    IPAddress: p.ipAddress,
    LocationDetails: dyn(p.location),
    OriginalRequestId: p.originalRequestId ?? '',
    ResourceDisplayName: p.resourceDisplayName,
    ResourceIdentity: p.resourceId,
    RiskState: p.riskState,
    Status: dyn(p.status),
    TokenIssuerType: p.tokenIssuerType,
    UserAgent: p.userAgent ?? '',
    UserDisplayName: p.userDisplayName ?? '',
    UserId: p.userId ?? '',
    UserPrincipalName: p.userPrincipalName ?? '',
    UserType: p.userType ?? '',
    SessionId: p.sessionId ?? '',
    IncomingTokenType: p.incomingTokenType,
    Type: type,
  };
  if (type === 'AADNonInteractiveUserSignInLogs') row.ProcessingTimeInMs = String(p.processingTimeInMilliseconds);
  else row.ProcessingTimeInMilliseconds = String(p.processingTimeInMilliseconds);
  if (p.servicePrincipalId !== undefined) {
    row.ServicePrincipalId = p.servicePrincipalId;
    row.ServicePrincipalName = p.servicePrincipalName ?? '';
  }
  return row;
}

/** Graph signIn item: the `properties` object with Graph-only conventions. */
export type GraphSignIn = Omit<SignInProps, 'status'> & {
  status: { errorCode: number; failureReason: string | null; additionalDetails: string | null };
  signInEventTypes: string[];
};

export function toGraph(rec: EhRecord): GraphSignIn {
  const p = rec.properties;
  return {
    ...p,
    createdDateTime: zulu(p.createdDateTime),
    ...(p.userPrincipalName !== undefined ? { userPrincipalName: p.userPrincipalName.toLowerCase() } : {}),
    // Graph always returns all three status keys.
    status: { errorCode: p.status.errorCode, failureReason: p.status.failureReason ?? null, additionalDetails: p.status.additionalDetails ?? null },
    signInEventTypes: [EVENT_TYPE[rec.category]],
  };
}

/**
 * Stateful line encoder, so a stream fed in chunks yields exactly the lines that
 * toShape() yields for the whole array.
 */
export class ShapeEncoder {
  private pending: unknown[] = [];
  private target: number;
  private pages = 0;
  // Fixed seed: body sizes are part of the output, and toShape() has no seed argument.
  private readonly rng = new Rng(0x5eed1e55);

  constructor(readonly shape: Shape) {
    this.target = this.nextTarget();
  }

  private nextTarget(): number {
    if (this.shape === 'eventhub') return this.rng.int(1, EH_MAX_BODY);
    return GRAPH_PAGE;
  }

  push(rec: EhRecord, out: string[]): void {
    switch (this.shape) {
      case 'records':
        out.push(JSON.stringify(rec));
        return;
      case 'log-analytics':
        out.push(JSON.stringify(toLogAnalytics(rec)));
        return;
      case 'eventhub':
        this.pending.push(rec);
        if (this.pending.length >= this.target) this.emit(out, false);
        return;
      case 'graph':
        // A full page is only written once another item exists, so that it can carry nextLink.
        if (this.pending.length >= this.target) this.emit(out, true);
        this.pending.push(toGraph(rec));
        return;
    }
  }

  flush(out: string[]): void {
    if (this.pending.length > 0) this.emit(out, false);
  }

  private emit(out: string[], more: boolean): void {
    if (this.shape === 'eventhub') {
      out.push(JSON.stringify({ records: this.pending }));
    } else {
      this.pages++;
      const page: Record<string, unknown> = { '@odata.context': GRAPH_CONTEXT };
      if (more) page['@odata.nextLink'] = `https://graph.microsoft.com/beta/auditLogs/signIns?$skiptoken=${guidFromKey('page', this.pages).replace(/-/g, '')}`;
      page.value = this.pending;
      out.push(JSON.stringify(page));
    }
    this.pending = [];
    this.target = this.nextTarget();
  }
}

export function toShape(records: object[], shape: Shape): string[] {
  const enc = new ShapeEncoder(shape);
  const out: string[] = [];
  for (const rec of records) enc.push(rec as EhRecord, out);
  enc.flush(out);
  return out;
}
