// Static reference data: first-party apps, platforms, networks, names, error texts.
// App ids are the real Microsoft first-party ids so the data looks like a real tenant.

export type ClientKind = 'browser' | 'mobile' | 'desktop';
export type Platform = 'ios' | 'android' | 'windows' | 'mac';

export interface App {
  id: string;
  name: string;
  resourceId: string;
  resourceName: string;
  client: ClientKind;
}

const EXO = { resourceId: '00000002-0000-0ff1-ce00-000000000000', resourceName: 'Office 365 Exchange Online' };
const GRAPH = { resourceId: '00000003-0000-0000-c000-000000000000', resourceName: 'Microsoft Graph' };
const SPO = { resourceId: '00000003-0000-0ff1-ce00-000000000000', resourceName: 'Office 365 SharePoint Online' };
const TEAMS_SVC = { resourceId: 'cc15fd57-2c6c-4117-a88c-83b1d56b4bbe', resourceName: 'Microsoft Teams Services' };
const ASM = { resourceId: '797f4846-ba00-4fd7-ba43-dac1f8f63013', resourceName: 'Windows Azure Service Management API' };

export const APPS = {
  outlookMobile: { id: '27922004-5251-4030-b22d-91ecd9a37ea4', name: 'Outlook Mobile', ...EXO, client: 'mobile' },
  teams: { id: '1fec8e78-bce4-4aaf-ab1b-5451cc387264', name: 'Microsoft Teams', ...TEAMS_SVC, client: 'desktop' },
  teamsMobile: { id: '1fec8e78-bce4-4aaf-ab1b-5451cc387264', name: 'Microsoft Teams', ...TEAMS_SVC, client: 'mobile' },
  exchange: { id: '00000002-0000-0ff1-ce00-000000000000', name: 'Office 365 Exchange Online', ...EXO, client: 'desktop' },
  office: { id: 'd3590ed6-52b3-4102-aeff-aad2292ab01c', name: 'Microsoft Office', ...GRAPH, client: 'desktop' },
  officeHome: { id: '4765445b-32c6-49b0-83e6-1d93765276ca', name: 'OfficeHome', ...GRAPH, client: 'browser' },
  sharepoint: { id: '00000003-0000-0ff1-ce00-000000000000', name: 'Office 365 SharePoint Online', ...SPO, client: 'browser' },
  oneDriveSync: { id: 'ab9b8c07-8f02-4f72-87fa-80105867a763', name: 'OneDrive SyncEngine', ...SPO, client: 'desktop' },
  edge: { id: 'ecd6b820-32c2-49b6-98a6-444530e5a77a', name: 'Microsoft Edge', ...GRAPH, client: 'browser' },
  azurePortal: { id: 'c44b4083-3bb0-49c1-b47d-974e53cbdf3c', name: 'Azure Portal', ...ASM, client: 'browser' },
  windowsSignIn: { id: '38aa3b87-a06d-4817-b275-7a316988d93b', name: 'Windows Sign In', resourceId: '00000002-0000-0000-c000-000000000000', resourceName: 'Windows Azure Active Directory', client: 'desktop' },
  authenticator: { id: '4813382a-8fa7-425e-ab75-3b753aab3abb', name: 'Microsoft Authenticator App', ...GRAPH, client: 'mobile' },
  // Outlook for Windows/Mac (desktop public client); only planted cases use it, background traffic does not.
  outlookDesktop: { id: '5d661950-3475-41cd-a2c3-d671a3162bc1', name: 'Microsoft Outlook', ...EXO, client: 'desktop' },
} as const satisfies Record<string, App>;

/** Apps used on a laptop / on a phone by ordinary background traffic. */
export const LAPTOP_APPS: readonly App[] = [APPS.office, APPS.teams, APPS.oneDriveSync, APPS.officeHome, APPS.sharepoint, APPS.edge];
export const PHONE_APPS: readonly App[] = [APPS.outlookMobile, APPS.teamsMobile, APPS.authenticator];

export const OS_NAME: Record<Platform, string> = { ios: 'Ios', android: 'Android', windows: 'Windows 10', mac: 'MacOs' };

/** User agent for an app on a platform; kept stable so a device looks the same all day. */
export function userAgent(platform: Platform, app: App): string {
  if (app.client === 'browser') {
    switch (platform) {
      case 'windows':
        return 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80';
      case 'mac':
        return 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15';
      case 'ios':
        return 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1';
      case 'android':
        return 'Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36';
    }
  }
  if (app.name === 'Outlook Mobile') {
    return platform === 'android'
      ? 'Mozilla/5.0 (Linux; Android 14; SM-S911B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36 PKeyAuth/1.0 Outlook-Android/2.0'
      : 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 PKeyAuth/1.0 Outlook-iOS/2.0';
  }
  if (app.name === 'Microsoft Teams') {
    switch (platform) {
      case 'mac':
        return 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Teams/24074.2321.2810.3500';
      case 'ios':
        return 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Teams/6.5.0';
      case 'android':
        return 'Dalvik/2.1.0 (Linux; U; Android 14; SM-S911B Build/UP1A.231005.007) Teams/1416/1.0.0.2024082701';
      case 'windows':
        return 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0 Teams/24074.2321.2810.3500';
    }
  }
  if (platform === 'ios' || platform === 'android') {
    return platform === 'ios' ? 'Authenticator/6.8.8 (iPhone; iOS 17.4.1; Scale/3.00)' : 'Dalvik/2.1.0 (Linux; U; Android 14; SM-S911B Build/UP1A.231005.007) PhoneFactor/6.2404.2229';
  }
  return platform === 'mac'
    ? 'Microsoft Office/16.0 (Macintosh; Mac OS X 14.4; Microsoft Outlook 16.84.24041420; Pro)'
    : 'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17531; Pro)';
}

/** deviceDetail.browser as Entra reports it. */
export function browserName(platform: Platform, app: App): string {
  if (app.client === 'browser') {
    switch (platform) {
      case 'windows':
        return 'Edge 124.0.2478';
      case 'mac':
        return 'Safari 17.4.1';
      case 'ios':
        return 'Mobile Safari 17.4';
      case 'android':
        return 'Chrome Mobile 124.0.6367';
    }
  }
  if (platform === 'ios' || platform === 'android') return 'Mobile App';
  return 'Rich Client 4.61.0.0';
}

export function clientAppUsed(app: App): string {
  return app.client === 'browser' ? 'Browser' : 'Mobile Apps and Desktop clients';
}

export interface Net {
  ip: string;
  city: string;
  state: string;
  country: string;
}

/** Office egress points (shared NAT, as in real tenants). Documentation IP ranges only. */
export const OFFICES: readonly Net[] = [
  { ip: '203.0.113.10', city: 'Seattle', state: 'Washington', country: 'US' },
  { ip: '203.0.113.42', city: 'London', state: 'England', country: 'GB' },
  { ip: '203.0.113.77', city: 'Berlin', state: 'Berlin', country: 'DE' },
  { ip: '203.0.113.130', city: 'Amsterdam', state: 'Noord-Holland', country: 'NL' },
  { ip: '203.0.113.201', city: 'Sydney', state: 'New South Wales', country: 'AU' },
];

/** Foreign origins for MFA-fatigue attempts. */
export const FOREIGN: readonly Omit<Net, 'ip'>[] = [
  { city: 'Lagos', state: 'Lagos', country: 'NG' },
  { city: 'Sao Paulo', state: 'Sao Paulo', country: 'BR' },
  { city: 'Hanoi', state: 'Hanoi', country: 'VN' },
  { city: 'Bucharest', state: 'Bucuresti', country: 'RO' },
  { city: 'Jakarta', state: 'Jakarta', country: 'ID' },
];

export const FIRST_NAMES: readonly string[] = [
  'Alex', 'Maria', 'Sam', 'Priya', 'Jonas', 'Chen', 'Fatima', 'Lukas', 'Emma', 'Noah', 'Olivia', 'Mateo',
  'Aisha', 'Kenji', 'Sofia', 'Liam', 'Zoe', 'Ravi', 'Ingrid', 'Diego', 'Hana', 'Omar', 'Clara', 'Tomasz',
];
export const LAST_NAMES: readonly string[] = [
  'Smith', 'Garcia', 'Müller', 'Kowalski', 'Nguyen', 'Patel', 'Johansson', 'Rossi', 'Okafor', 'Tanaka',
  'Dubois', 'Silva', 'Brown', 'Kim', 'Novak', 'Haddad', 'van Dijk', "O'Neill", 'Schmidt', 'Andersen',
];

/** Valid but hostile display names; downstream reports must escape them. */
export const HOSTILE_NAMES: readonly string[] = [
  'Ana "<script>alert(1)</script>" Silva',
  'Bob|=\\ CEF:0|x',
  'Carol\nInjected-Header: yes',
  'دانة \u202Eevil\u202C 🔐 Cohen',
  '=HYPERLINK("http://example.invalid","Dave")',
  "Eve O'Brien, \"the admin\" \t{{7*7}}",
];

export interface ErrorText {
  failureReason: string;
  additionalDetails?: string;
}

export const ERROR_TEXT: Record<number, ErrorText> = {
  0: { failureReason: 'Other.' },
  50074: { failureReason: 'Strong Authentication is required.', additionalDetails: 'MFA required in Azure AD' },
  50140: { failureReason: "This error occurred due to 'Keep me signed in' interrupt when the user was signing-in." },
  50126: { failureReason: 'Error validating credentials due to invalid username or password.', additionalDetails: 'The user didn\'t enter the right credentials.' },
  500121: { failureReason: 'Authentication failed during strong authentication request.', additionalDetails: 'The user didn\'t complete the MFA prompt. They may have decided not to authenticate, timed out while doing other work, or has an issue with their authentication setup.' },
  70044: { failureReason: 'The session has expired or is invalid due to sign-in frequency checks by conditional access.' },
  70043: { failureReason: 'The refresh token has expired or is invalid due to sign-in frequency checks by conditional access.' },
  50173: { failureReason: 'The provided grant has expired due to it being revoked, a fresh auth token is needed.' },
  50133: { failureReason: 'Session is invalid due to expiration or recent password change.' },
  50196: { failureReason: 'The server terminated an operation because it encountered a client request loop. Please contact your app vendor.' },
  70008: { failureReason: 'The provided authorization code or refresh token has expired due to inactivity.' },
  7000215: { failureReason: 'Invalid client secret is provided.' },
};

export const SERVICE_PRINCIPAL_NAMES: readonly string[] = [
  'Terraform-CI', 'backup-runner', 'hr-sync-connector', 'SIEM-Collector', 'PowerBI-Gateway', 'ticketing-integration',
  'intune-reporting', 'payroll-export', 'github-actions-deploy', 'monitoring-agent',
];
