import { normalizeRecord, Rejected, classify } from '../../pipeline/normalize/record';
import { unwrap } from '../../pipeline/normalize/containers';
import type { JsonObject } from '../../pipeline/normalize/fields';

/** The quirks of signin-logs.md §5, one record at a time, through the real normalizer. */
const ctx = { source: 'test', ingestedAt: '2026-04-14 10:00:00' };
const norm = (rec: JsonObject) => {
  const shape = classify(rec);
  if (!shape) throw new Error('unclassified');
  const r = normalizeRecord(rec, shape, ctx);
  if (r instanceof Rejected) throw new Error(`${r.reason}: ${r.detail}`);
  return r.row;
};

test('key-case and spacing drift inside properties', () => {
  const row = norm({
    time: '2026-04-14T09:00:00Z',
    category: 'SignInLogs',
    properties: { Id: 'a', CreatedDateTime: '2026-04-14T08:59:59.1234567Z', UserPrincipalName: 'Ana@Contoso.COM', Status: { ErrorCode: '50074' }, DeviceDetail: { OperatingSystem: 'Ios' }, AuthenticationProcessingDetails: [{ key: 'IsCAEToken', value: 'True' }], isinteractive: 'true' },
  });
  expect(row).toMatchObject({ sign_in_id: 'a', created_at: '2026-04-14 08:59:59.123456', user_principal_name: 'ana@contoso.com', error_code: 50074, device_os: 'Ios', is_cae_token: true, is_interactive: true });
});

test('numbers as strings, Level/level, resultType as the only code', () => {
  const row = norm({ time: '11/14/2025 1:48:53 AM', category: 'NonInteractiveUserSignInLogs', resultType: 70044, level: '4', durationMs: '0', properties: { id: 'b', processingTimeInMilliseconds: '239', autonomousSystemNumber: '7545' } });
  expect(row).toMatchObject({ created_at: '2025-11-14 01:48:53.000000', error_code: 70044, processing_time_ms: 239, asn: 7545, is_interactive: false, log_category: 'NonInteractiveUserSignInLogs' });
});

test('JSON held in strings: properties, Log Analytics columns', () => {
  const eh = norm({ time: '2026-04-14T09:00:00Z', category: 'SignInLogs', properties: JSON.stringify({ id: 'c', status: { errorCode: 0 }, deviceDetail: { deviceId: 'd1' } }) });
  expect(eh).toMatchObject({ sign_in_id: 'c', error_code: 0, device_id: 'd1' });
  const la = norm({ TimeGenerated: '2026-04-14T09:00:05Z', CreatedDateTime: '2026-04-14T09:00:00Z', Id: 'e', Type: 'AADNonInteractiveUserSignInLogs', AADTenantId: 't', TenantId: 'workspace', Status: '{"errorCode":50173,"failureReason":"grant revoked"}', LocationDetails: '{"city":"Oslo","countryOrRegion":"NO"}', ProcessingTimeInMs: '12', AuthenticationDetails: '[{"authenticationMethod":"Previously satisfied","succeeded":true}]', ResourceIdentity: 'res' });
  expect(la).toMatchObject({ log_category: 'NonInteractiveUserSignInLogs', tenant_id: 't', error_code: 50173, failure_reason: 'grant revoked', city: 'Oslo', country: 'NO', processing_time_ms: 12, auth_methods: 'Previously satisfied', resource_app_id: 'res', record_time: '2026-04-14 09:00:05.000000', source_shape: 'log_analytics' });
});

test('missing time falls back to createdDateTime; neither is a quarantine reason', () => {
  expect(norm({ category: 'SignInLogs', operationName: 'Sign-in activity', properties: { id: 'f', createdDateTime: '2026-04-14T09:00:00-05:00' } })).toMatchObject({ created_at: '2026-04-14 14:00:00.000000', record_time: null });
  const r = normalizeRecord({ category: 'SignInLogs', properties: { id: 'g' } }, 'eventhub', ctx);
  expect(r).toBeInstanceOf(Rejected);
  expect((r as Rejected).reason).toBe('no_usable_time');
});

test('Graph items: event types give the category; UPN lower case; no tenant', () => {
  const row = norm({ id: 'h', createdDateTime: '2026-04-14T09:00:00Z', userPrincipalName: 'Bob@X.com', signInEventTypes: ['servicePrincipal'], status: { errorCode: 0 } });
  expect(row).toMatchObject({ log_category: 'ServicePrincipalSignInLogs', principal_kind: 'service_principal', user_principal_name: 'bob@x.com', tenant_id: null, source_shape: 'graph' });
});

test('the same sign-in in two shapes gets the same dedupe key', () => {
  const eh = norm({ time: '2026-04-14T09:00:01Z', category: 'SignInLogs', properties: { id: 'k', createdDateTime: '2026-04-14T09:00:00.0000000+00:00', status: { errorCode: 0 } } });
  const la = norm({ TimeGenerated: '2026-04-14T09:00:09Z', CreatedDateTime: '2026-04-14T09:00:00Z', Id: 'K', Type: 'SigninLogs', ResultType: '0' });
  expect(la.record_key).toBe(eh.record_key);
});

test('containers: nested arrays of bodies unwrap; an empty body yields nothing', () => {
  const rec = { time: '2026-04-14T09:00:00Z', category: 'SignInLogs', properties: { id: 'z' } };
  expect([...unwrap([{ records: [rec, rec] }, rec])].length).toBe(3);
  expect([...unwrap({ records: [] })]).toEqual([]);
});
