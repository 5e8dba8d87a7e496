// Event-Hub-shape diagnostic records (shape A) and the builder that emits them.

import { APPS, App, Net, OS_NAME, Platform, browserName, clientAppUsed, ERROR_TEXT, userAgent } from './catalog';
import { Rng, guidFromKey } from './rng';

export type Category = 'SignInLogs' | 'NonInteractiveUserSignInLogs' | 'ServicePrincipalSignInLogs';

export interface AuthStep {
  authenticationStepDateTime: string;
  authenticationMethod: string;
  authenticationMethodDetail?: string;
  succeeded: boolean;
  authenticationStepResultDetail: string;
  authenticationStepRequirement: string;
  StatusSequence?: number;
  RequestSequence?: number;
}

export interface DeviceDetail {
  deviceId: string;
  operatingSystem: string;
  browser: string;
  displayName?: string;
  isCompliant?: boolean;
  isManaged?: boolean;
  trustType?: string;
}

export interface Status {
  errorCode: number;
  failureReason?: string;
  additionalDetails?: string;
}

export interface SignInProps {
  id: string;
  createdDateTime: string;
  userDisplayName?: string;
  userPrincipalName?: string;
  userId: string | null;
  userType?: string;
  appId: string;
  appDisplayName: string;
  ipAddress: string;
  status: Status;
  clientAppUsed?: string;
  userAgent?: string;
  deviceDetail?: DeviceDetail;
  location: { city: string; state: string; countryOrRegion: string };
  correlationId: string;
  originalRequestId?: string;
  isInteractive: boolean;
  tokenIssuerType: string;
  authenticationRequirement?: string;
  conditionalAccessStatus: string;
  appliedConditionalAccessPolicies: object[];
  authenticationDetails?: AuthStep[];
  riskState: string;
  processingTimeInMilliseconds: number;
  resourceDisplayName: string;
  resourceId: string;
  servicePrincipalId?: string;
  servicePrincipalName?: string;
  sessionId?: string;
  incomingTokenType: string;
}

/** Shape A record. Quirky fields (level/Level, resultType, durationMs) drift like real feeds do. */
export interface EhRecord {
  time: string;
  resourceId: string;
  operationName: string;
  operationVersion: string;
  category: Category;
  tenantId: string;
  resultType: string | number;
  resultSignature: string;
  resultDescription?: string;
  durationMs: number | string;
  callerIpAddress: string;
  correlationId: string;
  identity?: string;
  Level?: number;
  level?: number;
  location: string;
  properties: SignInProps;
}

/** A record plus its sort key (epoch ms + 100 ns ticks). */
export interface Row {
  t: number;
  ticks: number;
  rec: EhRecord;
}

export interface Device {
  platform: Platform;
  deviceId: string;
  displayName: string;
  isCompliant: boolean;
  isManaged: boolean;
  trustType: string;
}

export interface SimUser {
  idx: number;
  id: string;
  upn: string; // lower case, truth form
  upnAsLogged: string; // a few tenants log mixed-case UPNs outside Graph
  displayName: string;
  laptop: Device;
  phone: Device;
  office: Net;
  mobile: Net;
}

export interface Env {
  seed: number;
  tenantId: string;
  startMs: number;
  days: number;
}

/** One step of an authenticationDetails array, with its offset from the row time in ms. */
export interface AuthSpec {
  method: 'Password' | 'Mobile app notification' | 'Previously satisfied';
  ok: boolean;
  dt?: number;
}

export interface RowOpts {
  t: number;
  app: App;
  device: Device;
  net: Net;
  code: number;
  corr: string;
  interactive: boolean;
  id?: string;
  auth?: AuthSpec[];
  mfa?: boolean;
  incomingTokenType?: string;
}

export const DAY_MS = 86_400_000;
export const MIN_MS = 60_000;

/** ISO with 7 fractional digits, no zone suffix. */
export function iso7(ms: number, ticks: number): string {
  return new Date(ms).toISOString().slice(0, 23) + String(ticks).padStart(4, '0');
}

export function isoMs(ms: number): string {
  return new Date(ms).toISOString();
}

function authStep(spec: AuthSpec, ms: number, ticks: number): AuthStep {
  const at = iso7(ms + (spec.dt ?? 0), ticks) + '+00:00';
  if (spec.method === 'Previously satisfied') {
    return {
      authenticationStepDateTime: at,
      authenticationMethod: 'Previously satisfied',
      succeeded: true,
      authenticationStepResultDetail: 'First factor requirement satisfied by claim in the token',
      authenticationStepRequirement: 'Primary authentication',
    };
  }
  if (spec.method === 'Password') {
    return {
      authenticationStepDateTime: at,
      authenticationMethod: 'Password',
      authenticationMethodDetail: 'Password in the cloud',
      succeeded: spec.ok,
      authenticationStepResultDetail: spec.ok ? 'Correct password' : 'Invalid username or password or Invalid on-premise username or password.',
      authenticationStepRequirement: 'Primary authentication',
    };
  }
  return {
    authenticationStepDateTime: at,
    authenticationMethod: 'Mobile app notification',
    succeeded: spec.ok,
    authenticationStepResultDetail: spec.ok ? 'MFA successfully completed' : 'MFA denied; user declined the authentication',
    authenticationStepRequirement: 'Multi-factor authentication',
  };
}

/** Collects the rows of one user (or of the service principals) in generation order. */
export class RowSink {
  readonly rows: Row[] = [];

  constructor(
    readonly env: Env,
    readonly rng: Rng,
  ) {}

  /** A user sign-in row in shape A. */
  userRow(user: SimUser, o: RowOpts): Row {
    const rng = this.rng;
    const ticks = rng.int(0, 9999);
    const created = iso7(o.t, ticks);
    const id = o.id ?? rng.guid();
    const d = o.device;
    const deviceDetail: DeviceDetail = {
      deviceId: d.deviceId,
      operatingSystem: OS_NAME[d.platform],
      browser: browserName(d.platform, o.app),
    };
    // Entra omits unknown device keys for unregistered devices.
    if (d.deviceId !== '') {
      deviceDetail.displayName = d.displayName;
      deviceDetail.isCompliant = d.isCompliant;
      deviceDetail.isManaged = d.isManaged;
      deviceDetail.trustType = d.trustType;
    }
    const text = ERROR_TEXT[o.code] ?? { failureReason: 'Other.' };
    const status: Status = o.code === 0 ? { errorCode: 0 } : { errorCode: o.code, failureReason: text.failureReason };
    if (o.code === 0 && o.mfa) status.additionalDetails = 'MFA completed in Azure AD';
    else if (o.code !== 0 && text.additionalDetails) status.additionalDetails = text.additionalDetails;
    const auth = (o.auth ?? []).map((a) => authStep(a, o.t, ticks));
    const day = Math.floor((o.t - this.env.startMs) / DAY_MS);
    const props: SignInProps = {
      id,
      createdDateTime: created + '+00:00',
      userDisplayName: user.displayName,
      userPrincipalName: user.upnAsLogged,
      userId: user.id,
      userType: 'Member',
      appId: o.app.id,
      appDisplayName: o.app.name,
      ipAddress: o.net.ip,
      status,
      clientAppUsed: clientAppUsed(o.app),
      userAgent: userAgent(d.platform, o.app),
      deviceDetail,
      location: { city: o.net.city, state: o.net.state, countryOrRegion: o.net.country },
      correlationId: o.corr,
      originalRequestId: id,
      isInteractive: o.interactive,
      tokenIssuerType: 'AzureAD',
      authenticationRequirement: o.mfa ? 'multiFactorAuthentication' : 'singleFactorAuthentication',
      conditionalAccessStatus: o.code === 0 && o.mfa ? 'success' : 'notApplied',
      appliedConditionalAccessPolicies: [],
      authenticationDetails: auth,
      riskState: 'none',
      processingTimeInMilliseconds: o.interactive ? rng.int(40, 900) : rng.int(0, 160),
      resourceDisplayName: o.app.resourceName,
      resourceId: o.app.resourceId,
      // Session per device per day: stable, and costs no generator state.
      sessionId: guidFromKey(this.env.seed, user.id, d.platform, day),
      incomingTokenType: o.incomingTokenType ?? (o.interactive ? 'none' : 'refreshToken'),
    };
    return this.push(o.t, ticks, {
      category: o.interactive ? 'SignInLogs' : 'NonInteractiveUserSignInLogs',
      correlationId: o.corr,
      identity: user.displayName,
      ip: o.net.ip,
      country: o.net.country,
      code: o.code,
      props,
    });
  }

  /** A service principal sign-in: no user, no identity, no device. */
  spRow(t: number, sp: { id: string; appId: string; name: string }, net: Net, code: number): Row {
    const rng = this.rng;
    const ticks = rng.int(0, 9999);
    const corr = rng.guid();
    const resource = rng.chance(0.6) ? APPS.officeHome : APPS.azurePortal;
    const status: Status = code === 0 ? { errorCode: 0 } : { errorCode: code, failureReason: (ERROR_TEXT[code] ?? { failureReason: 'Other.' }).failureReason };
    const props: SignInProps = {
      id: rng.guid(),
      createdDateTime: iso7(t, ticks) + '+00:00',
      userId: null,
      appId: sp.appId,
      appDisplayName: sp.name,
      ipAddress: net.ip,
      status,
      location: { city: net.city, state: net.state, countryOrRegion: net.country },
      correlationId: corr,
      isInteractive: false,
      tokenIssuerType: 'AzureAD',
      conditionalAccessStatus: 'notApplied',
      appliedConditionalAccessPolicies: [],
      riskState: 'none',
      processingTimeInMilliseconds: rng.int(0, 60),
      resourceDisplayName: resource.resourceName,
      resourceId: resource.resourceId,
      servicePrincipalId: sp.id,
      servicePrincipalName: sp.name,
      incomingTokenType: 'none',
    };
    return this.push(t, ticks, { category: 'ServicePrincipalSignInLogs', correlationId: corr, ip: net.ip, country: net.country, code, props });
  }

  private push(
    t: number,
    ticks: number,
    x: { category: Category; correlationId: string; identity?: string; ip: string; country: string; code: number; props: SignInProps },
  ): Row {
    const rng = this.rng;
    // Key order follows the real samples; quirks are drawn per record so they stay seed-stable.
    const resultType: string | number = rng.chance(0.02) ? x.code : String(x.code);
    const durationMs: string | number = rng.chance(0.02) ? '0' : 0;
    const levelKey = rng.chance(0.02) ? 'level' : 'Level';
    const rec: EhRecord = {
      time: iso7(t, ticks) + 'Z',
      resourceId: `/tenants/${this.env.tenantId}/providers/Microsoft.aadiam`,
      operationName: 'Sign-in activity',
      operationVersion: '1.0',
      category: x.category,
      tenantId: this.env.tenantId,
      resultType,
      resultSignature: 'None',
      ...(x.code !== 0 ? { resultDescription: x.props.status.failureReason } : {}),
      durationMs,
      callerIpAddress: x.ip,
      correlationId: x.correlationId,
      ...(x.identity !== undefined ? { identity: x.identity } : {}),
      ...(levelKey === 'Level' ? { Level: 4 } : { level: 4 }),
      location: x.country,
      properties: x.props,
    };
    const row = { t, ticks, rec };
    this.rows.push(row);
    return row;
  }
}

/** Order rows by time; stable, so ties keep generation order. */
export function sortRows(rows: Row[]): Row[] {
  return rows.sort((a, b) => a.t - b.t || a.ticks - b.ticks);
}
