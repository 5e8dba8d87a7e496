import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importFiles } from '../../pipeline/lake/ingest';
import { lakeRows, PUBLIC_SAMPLES, tempDir } from '../support/tmp';

/** Real records no one on this team wrote: Elastic's pipeline test inputs and Microsoft's documented example. */
const ELASTIC = join(PUBLIC_SAMPLES, 'elastic-integrations');
const elasticLogs = readdirSync(ELASTIC).filter((f) => f.endsWith('.log')).map((f) => join(ELASTIC, f));
const nonBlankLines = elasticLogs.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()));

describe('public samples', () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());
  let rows: Record<string, unknown>[];

  beforeAll(async () => {
    const s = await importFiles(elasticLogs, tmp.sub('lake'));
    expect(s.quarantined).toBe(0);
    expect(s.duplicates).toBe(0);
    expect(s.read).toBe(nonBlankLines.length);
    rows = await lakeRows(tmp.sub('lake'));
  });

  test('every one of the 45 records lands, none lost', () => {
    expect(nonBlankLines.length).toBe(45);
    expect(rows.length).toBe(45);
  });

  test('ids in the lake are exactly the ids in the files (per category)', () => {
    const want = nonBlankLines.map((l) => JSON.parse(l)).map((r) => `${r.category}|${r.properties?.id ?? ''}`).sort();
    const got = rows.map((r) => `${r.log_category}|${r.sign_in_id ?? ''}`).sort();
    expect(got).toEqual(want);
  });

  test('a 7-digit fraction with a -05:00 offset is moved to UTC, and the raw text is kept', () => {
    const r = rows.find((x) => x.created_at_raw === '2019-10-18T04:45:48.0729893-05:00' && x.log_category === 'SignInLogs');
    expect(r).toBeDefined();
    expect(r!.created_at).toBe('2019-10-18 09:45:48.072989');
    expect(r!.date).toBe('2019-10-18');
    expect(r!.hour).toBe(9);
    expect(r!.error_code).toBe(50140);
    expect(r!.is_interactive).toBe(false);
    expect(r!.device_os).toBe('MacOs');
    expect(r!.country).toBe('FR');
    expect(r!.city).toBe('Champs-Sur-Marne');
    expect(r!.user_principal_name).toBe('test@elastic.co');
  });

  test('all eleven time corner cases mean 2007-01-09 09:41 UTC', () => {
    const corner = rows.filter((r) => String(r.created_at).startsWith('2007-01-09'));
    expect(corner.length).toBe(11);
    for (const r of corner) expect(String(r.created_at).slice(0, 16)).toBe('2007-01-09 09:41');
    expect(corner.map((r) => r.created_at_raw)).toContain('1/9/2007 10:41:00 AM +01:00');
  });

  test('service principal sign-ins land apart from users', () => {
    const sp = rows.filter((r) => /ServicePrincipalSignInLogs$/.test(String(r.log_category)));
    expect(sp.length).toBe(10);
    for (const r of sp) expect(r.principal_kind).toBe('service_principal');
    expect(rows.filter((r) => r.log_category === 'ManagedIdentitySignInLogs').map((r) => r.principal_kind)).toEqual(['managed_identity']);
    // Elastic's fixtures give some SP rows a placeholder user id; the real ones have none.
    for (const r of sp.filter((x) => x.service_principal_name === 'Terraform-Datadog-CLI')) expect(r.user_id).toBeNull();
    const named = sp.find((r) => r.sign_in_id === 'd5935dca-86f2-4ac9-a42c-3593b00af801');
    expect(named).toMatchObject({
      service_principal_name: 'Terraform-Datadog-CLI',
      service_principal_id: 'b029d485-a308-4311-8720-fb3192e5284e',
      resource_display_name: 'Windows Azure Service Management API',
      resource_app_id: '797f4846-ba00-4fd7-ba43-dac1f8f63013',
      city: 'Hyderabad',
    });
  });

  test('fields land in their columns: a full interactive record', () => {
    const r = rows.find((x) => x.sign_in_id === '933f20c0-efdf-477f-9586-e5cc566d2e00');
    expect(r).toMatchObject({
      log_category: 'SignInLogs',
      principal_kind: 'user',
      tenant_id: '4bbb79f7-5724-4c9e-95f3-de075f6ec090',
      user_principal_name: 'mpliftrelastic20210901@outlook.com',
      user_display_name: 'elastic testing',
      user_id: '2ce85a15-8640-465d-b916-d2eac620a717',
      app_id: 'c44b4083-3bb0-49c1-b47d-974e53cbdf3c',
      app_display_name: 'Azure Portal',
      ip_address: '1.128.3.4',
      error_code: 0,
      client_app_used: 'Browser',
      device_os: 'Windows 10',
      device_browser: 'Edge 97.0.1072',
      device_id: null,
      country: 'IN',
      city: 'Nizampet',
      correlation_id: '7532b99a-06da-4c23-91e5-0f062bc0dcb3',
      original_request_id: '933f20c0-efdf-477f-9586-e5cc566d2e00',
      token_issuer_type: 'AzureAD',
      source_shape: 'eventhub',
    });
    expect(String(r!.user_agent)).toContain('Edg/97.0.1072.69');
    expect(r!.record_time).toBe('2022-01-24 05:10:08.681666');
  });

  test('CAE flag from processing details and string numbers are typed', () => {
    const r = rows.find((x) => x.sign_in_id === '66666666-6666-6666-6666-666666666666');
    expect(r?.is_cae_token).toBe(true);
    expect(r?.asn).toBe(7545);
    expect(r?.device_trust_type).toBe('Azure AD registered');
  });

  test('raw keeps the whole source record', () => {
    for (const r of rows) expect(() => JSON.parse(String(r.raw))).not.toThrow();
  });

  test("Microsoft's documented example (pretty-printed JSON) imports as one record", async () => {
    const md = readFileSync(join(PUBLIC_SAMPLES, 'microsoft-docs', 'reference-azure-monitor-sign-ins-log-schema.md'), 'utf8');
    const block = /```json\n([\s\S]*?)```/.exec(md)![1];
    const file = tmp.sub('ms-example.json');
    writeFileSync(file, block);
    const s = await importFiles([file], tmp.sub('lake-ms'));
    expect(s).toMatchObject({ read: 1, landed: 1, quarantined: 0 });
    const [r] = await lakeRows(tmp.sub('lake-ms'));
    expect(r).toMatchObject({
      sign_in_id: '0231f922-93fa-4005-bb11-b344eca03c01',
      created_at: '2019-03-12 16:02:15.552213',
      error_code: 50140,
      user_display_name: 'Timothy Perkins',
      device_id: '8bfcb982-6856-4402-924c-ada2486321cc',
      device_os: 'Windows 10',
      city: 'Bellevue',
      country: 'US',
      is_interactive: true,
    });
    expect(JSON.parse(String(r.ca_policies_json)).length).toBeGreaterThanOrEqual(3);
  });

  test('re-importing the same files adds nothing', async () => {
    const s = await importFiles(elasticLogs, tmp.sub('lake'));
    expect(s).toMatchObject({ read: 45, landed: 0, duplicates: 45, quarantined: 0 });
    expect((await lakeRows(tmp.sub('lake'))).length).toBe(45);
  });
});
