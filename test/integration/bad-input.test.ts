import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { importFiles } from '../../pipeline/lake/ingest';
import { ehRecord } from '../support/records';
import { lakeRows, tempDir } from '../support/tmp';

/** Bad input never stops an import, never vanishes, and never takes its good siblings with it. */
describe('bad input', () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());

  const good = (at: number) => ehRecord({ at, id: `good-${at}` });

  test('broken bodies, wrong types and unknown shapes are quarantined with reasons; good records land', async () => {
    const file = tmp.sub('mixed.ndjson');
    const body = (records: unknown) => JSON.stringify({ records });
    const lines = [
      body([good(1), good(2)]), // fine
      '{"records":[{"time":"2026-04-14T09:00:00Z",', // invalid JSON (cut off)
      body('not an array'), // records is not an array
      body([good(3), { hello: 'world' }, 42, good(4)]), // an unknown shape and a number inside a good body
      body([{ ...good(5), time: 'yesterday', properties: { ...(good(5).properties as object), createdDateTime: 'soon' } }]), // no usable time
      body([{ ...good(6), properties: { ...(good(6).properties as object), status: { errorCode: 'abc' } } }]), // wrong type
      JSON.stringify({ ...good(7), properties: { ...(good(7).properties as object), isInteractive: 'true', status: { errorCode: '50074' } } }), // strings that mean numbers/booleans are fine
      '',
      '   ',
      'null',
    ];
    writeFileSync(file, lines.join('\r\n'));
    const s = await importFiles([file], tmp.sub('lake1'));
    expect(s.landed).toBe(5);
    expect(s.quarantined_by_reason).toEqual({ invalid_json: 1, records_not_array: 1, unknown_shape: 1, not_an_object: 2, no_usable_time: 1, invalid_error_code: 1 });
    expect(s.read).toBe(s.landed + s.duplicates + s.quarantined);
    const q = readFileSync(s.quarantine_file!, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(q).toHaveLength(7);
    const cut = q.find((e) => e.reason === 'invalid_json');
    expect(cut).toMatchObject({ source: file, line: 2 });
    expect(cut.byte_offset).toBe(Buffer.byteLength(lines[0]) + 2);
    expect(cut.raw).toBe(lines[1]);
    const unknown = q.find((e) => e.reason === 'unknown_shape');
    expect(unknown).toMatchObject({ line: 4, record_index: 1 });
    expect(JSON.parse(unknown.raw)).toEqual({ hello: 'world' });
    for (const e of q) expect(e.sha256).toMatch(/^[0-9a-f]{64}$/);
    const rows = await lakeRows(tmp.sub('lake1'));
    expect(rows.map((r) => r.sign_in_id).sort()).toEqual(['good-1', 'good-2', 'good-3', 'good-4', 'good-7']);
    const seven = rows.find((r) => r.sign_in_id === 'good-7')!;
    expect(seven.error_code).toBe(50074);
    expect(seven.is_interactive).toBe(true);
  });

  test('a truncated gzip keeps what came before the damage and says so', async () => {
    const text = Array.from({ length: 2000 }, (_, i) => JSON.stringify(good(100 + i))).join('\n') + '\n';
    const gz = gzipSync(Buffer.from(text));
    const file = tmp.sub('cut.json.gz');
    writeFileSync(file, gz.subarray(0, Math.floor(gz.length * 0.6)));
    const s = await importFiles([file], tmp.sub('lake2'));
    expect(s.quarantined_by_reason).toEqual({ unreadable_input: 1 });
    expect(s.landed).toBeGreaterThan(0);
    expect(s.landed).toBeLessThan(2000);
    const q = JSON.parse(readFileSync(s.quarantine_file!, 'utf8').trim());
    expect(q.detail).toMatch(/gzip stream is truncated/);
  });

  test('a whole gzip, a JSON array, a Graph page and Log Analytics query tables all import', async () => {
    const gzFile = tmp.sub('ok.gz');
    writeFileSync(gzFile, gzipSync(Buffer.from(JSON.stringify({ records: [good(900)] }))));
    const arr = tmp.sub('array.json');
    writeFileSync(arr, JSON.stringify([good(901), good(902)], null, 2)); // pretty-printed over many lines
    const graph = tmp.sub('graph.json');
    writeFileSync(graph, JSON.stringify({ '@odata.context': 'https://graph.microsoft.com/beta/$metadata#auditLogs/signIns', value: [{ ...(good(903).properties as object), signInEventTypes: ['interactiveUser'] }] }));
    const tables = tmp.sub('la-query.json');
    writeFileSync(tables, JSON.stringify({ tables: [{ name: 'PrimaryResult', columns: [{ name: 'TimeGenerated' }, { name: 'CreatedDateTime' }, { name: 'Id' }, { name: 'UserPrincipalName' }, { name: 'ResultType' }, { name: 'Type' }, { name: 'AADTenantId' }, { name: 'TenantId' }, { name: 'DeviceDetail' }], rows: [['2026-04-14T09:15:05.1234567Z', '4/14/2026 9:15:04 AM', 'la-1', 'Ana@Contoso.Example', '50074', 'SigninLogs', 'tenant-x', 'workspace-y', '{"operatingSystem":"Ios","deviceId":"d1"}']] }] }));
    const s = await importFiles([gzFile, arr, graph, tables], tmp.sub('lake3'));
    expect(s).toMatchObject({ landed: 5, quarantined: 0 });
    const la = (await lakeRows(tmp.sub('lake3'), "sign_in_id = 'la-1'"))[0];
    expect(la).toMatchObject({ log_category: 'SignInLogs', tenant_id: 'tenant-x', user_principal_name: 'ana@contoso.example', error_code: 50074, device_os: 'Ios', device_id: 'd1', created_at: '2026-04-14 09:15:04', source_shape: 'log_analytics' });
    const g = (await lakeRows(tmp.sub('lake3'), "source_shape = 'graph'"))[0];
    expect(g).toMatchObject({ sign_in_id: 'good-903', log_category: 'SignInLogs', record_time: null });
  });

  test('a 10 MB line is read whole; an empty records array is nothing to lose', async () => {
    const big = ehRecord({ at: 50, id: 'big-one' });
    (big.properties as Record<string, unknown>).userAgent = 'A'.repeat(10 * 1024 * 1024);
    const file = tmp.sub('big.ndjson');
    writeFileSync(file, JSON.stringify({ records: [big] }) + '\n{"records":[]}\n' + JSON.stringify(good(51)) + '\n');
    const s = await importFiles([file], tmp.sub('lake4'));
    expect(s).toMatchObject({ read: 2, landed: 2, quarantined: 0 });
    const r = (await lakeRows(tmp.sub('lake4'), "sign_in_id = 'big-one'"))[0];
    expect(String(r.user_agent).length).toBe(10 * 1024 * 1024);
  });

  test('an input that does not exist is a clear error', async () => {
    await expect(importFiles([tmp.sub('nope.json')], tmp.sub('lake5'))).rejects.toThrow(/does not exist/);
  });
});

describe('over-long lines', () => {
  const tmp2 = tempDir();
  afterAll(() => tmp2.cleanup());
  test('a line over the limit is quarantined with its head, and the lines around it land', async () => {
    const file = tmp2.sub('long.ndjson');
    const long = JSON.stringify({ records: [ehRecord({ at: 1, id: 'too-long' })], pad: 'x'.repeat(3 << 20) });
    writeFileSync(file, `${JSON.stringify(ehRecord({ at: 0, id: 'before' }))}\n${long}\n${JSON.stringify(ehRecord({ at: 2, id: 'after' }))}\n`);
    const s = await importFiles([file], tmp2.sub('lake'), { maxLineBytes: 1 << 20 });
    expect(s).toMatchObject({ read: 3, landed: 2, quarantined_by_reason: { line_too_long: 1 } });
    const q = JSON.parse(readFileSync(s.quarantine_file!, 'utf8').trim());
    expect(q).toMatchObject({ line: 2, reason: 'line_too_long' });
    expect(q.raw.length).toBe(65536);
    expect(long.startsWith(q.raw)).toBe(true);
    expect(q.byte_offset).toBe(Buffer.byteLength(JSON.stringify(ehRecord({ at: 0, id: 'before' }))) + 1);
    expect((await lakeRows(tmp2.sub('lake'))).map((r) => r.sign_in_id).sort()).toEqual(['after', 'before']);
  });
});
