import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { importFiles } from '../../pipeline/lake/ingest';
import { withDuckDB, quoteString } from '../../pipeline/sql/duckdb';
import { openSandbox, type Sandbox } from '../../pipeline/sql/sandbox';
import { CliError } from '../../pipeline/errors';
import { REPO, tempDir } from '../support/tmp';

/**
 * Analyst SQL runs in a locked-down DuckDB (design/reliability.md item 9, acceptance test S7): every attack is
 * refused with a message saying what is allowed and leaves no file behind; lake queries work; a query bomb is
 * interrupted on time and the sandbox keeps working.
 */
const tmp = tempDir('reauth-sandbox-');
const lake = tmp.sub('lake');
const outside = tmp.sub('outside');
const CASE = join(REPO, 'data-samples', 'tenant-incident', 'input', 'eventhub-bodies.ndjson.gz');
let box: Sandbox;

/** Every file and folder under a directory, with sizes and times: an attack must change none of them. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const s = statSync(p);
      out.push(`${p} ${s.size} ${s.mtimeMs}`);
      if (s.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

beforeAll(async () => {
  const s = await importFiles([CASE], lake);
  expect(s.landed).toBeGreaterThan(1000);
  // A real Parquet file outside the lake: refusing it must be the lockdown, not "file not found".
  mkdirSync(outside);
  await withDuckDB({}, (conn) => conn.run(`copy (select 42 as answer) to ${quoteString(join(outside, 'other.parquet'))} (format parquet)`));
  box = await openSandbox(lake, { timeoutMs: 20_000 });
});
afterAll(() => {
  box?.close();
  tmp.cleanup();
});

const LITERAL_TMP = ['/tmp/x.csv', '/tmp/x', '/tmp/evil.duckdb', '/tmp/prof.json'];

/** [label, SQL, what the message must say]. */
const ATTACKS: [string, () => string, RegExp][] = [
  ['read_csv /etc/passwd', () => "select * from read_csv('/etc/passwd')", /read_csv\(\) is not allowed/],
  ['read_csv with options', () => "select * from read_csv('/etc/passwd', sep = ':', header = false)", /read_csv\(\) is not allowed/],
  ['read_text table form', () => "select * from read_text('/etc/hostname')", /read_text\(\) is not allowed/],
  ['read_text scalar form', () => "select read_text('/etc/hostname')", /read_text\(\) is not allowed/],
  ['read_blob', () => "select * from read_blob('/etc/hostname')", /read_blob\(\) is not allowed/],
  ['read_json', () => "select * from read_json('/etc/hostname')", /read_json\(\) is not allowed/],
  ['read_parquet outside the lake', () => `select * from read_parquet(${quoteString(join(outside, 'other.parquet'))})`, /outside the lake.*Permission Error/],
  ['read_parquet on a made-up path', () => "select * from read_parquet('/some/other/file.parquet')", /outside the lake.*Permission Error/],
  ['read_parquet escaping the lake with ..', () => `select * from read_parquet(${quoteString(join(lake, 'sign_ins', '..', '..', 'outside', 'other.parquet'))})`, /outside the lake/],
  ['a sibling folder sharing the prefix', () => `select * from read_parquet(${quoteString(join(lake, 'sign_ins_old', 'x.parquet'))})`, /outside the lake/],
  ['replacement scan of a file outside the lake', () => `select * from ${quoteString(join(outside, 'other.parquet'))}`, /outside the lake.*Permission Error/],
  ['glob /etc', () => "select * from glob('/etc/*')", /glob\(\) is not allowed/],
  ['sniff_csv', () => "select * from sniff_csv('/etc/passwd')", /sniff_csv\(\) is not allowed/],
  ['COPY to /tmp', () => "COPY (select 1) TO '/tmp/x.csv'", /COPY is not a read-only query/],
  ['COPY into the lake (allowed_directories admits writes)', () => `COPY (select 1) TO ${quoteString(join(lake, 'sign_ins', 'x.csv'))}`, /COPY is not a read-only query/],
  ['COPY FROM', () => "COPY sign_ins FROM '/etc/passwd'", /COPY is not a read-only query/],
  ['EXPORT DATABASE', () => "EXPORT DATABASE '/tmp/x'", /EXPORT is not a read-only query/],
  ['IMPORT DATABASE', () => "IMPORT DATABASE '/tmp/x'", /IMPORT is not a read-only query/],
  ['ATTACH', () => "ATTACH '/tmp/evil.duckdb'", /ATTACH is not a read-only query/],
  ['ATTACH in the lake', () => `ATTACH ${quoteString(join(lake, 'sign_ins', 'evil.duckdb'))} AS evil`, /ATTACH is not a read-only query/],
  ['INSTALL', () => 'INSTALL httpfs', /INSTALL is not a read-only query/],
  ['INSTALL from community', () => 'INSTALL shellfs FROM community', /INSTALL is not a read-only query/],
  ['LOAD', () => 'LOAD httpfs', /LOAD is not a read-only query/],
  ['SET external access back on', () => 'SET enable_external_access=true', /SET is not a read-only query/],
  ['unlock', () => 'SET lock_configuration=false', /SET is not a read-only query/],
  ['RESET', () => 'RESET enable_external_access', /RESET is not a read-only query/],
  ['SET VARIABLE', () => 'SET VARIABLE x = 1', /SET is not a read-only query/],
  ['PRAGMA that writes profiles to a file', () => "PRAGMA profiling_output='/tmp/prof.json'", /PRAGMA is not a read-only query/],
  ['PRAGMA enable_profiling (locked DuckDB runs it)', () => 'PRAGMA enable_profiling', /PRAGMA is not a read-only query/],
  ['PRAGMA import_database', () => "PRAGMA import_database('/tmp/x')", /PRAGMA is not a read-only query/],
  ['CREATE TABLE AS', () => 'CREATE TABLE x AS select 1', /CREATE is not a read-only query/],
  ['CREATE TEMP TABLE', () => 'CREATE TEMP TABLE x AS select 1', /CREATE is not a read-only query/],
  ['CREATE MACRO', () => 'CREATE MACRO m() AS 1', /CREATE is not a read-only query/],
  ['INSERT', () => 'INSERT INTO error_codes VALUES (1, 2, 3)', /INSERT is not a read-only query/],
  ['DROP', () => 'DROP VIEW sign_ins', /DROP is not a read-only query/],
  ['CALL', () => 'CALL pragma_version()', /CALL is not a read-only query/],
  ['CHECKPOINT', () => 'CHECKPOINT', /CHECKPOINT is not a read-only query/],
  ['EXPLAIN ANALYZE runs its statement', () => "EXPLAIN ANALYZE COPY (select 1) TO '/tmp/x.csv'", /EXPLAIN is not a read-only query/],
  ['two statements', () => 'select 1; select 2', /found 2 statements/],
  ['a query then a write', () => "select 1; COPY (select 1) TO '/tmp/x.csv'", /not a read-only query, or more than one statement/],
  ['a comment then a write', () => "select 1 -- hi\n; COPY (select 1) TO '/tmp/x.csv'", /not a read-only query, or more than one statement/],
  ['a query then a second query that reads a file', () => "select 1; select * from read_csv('/etc/passwd')", /found 2 statements/],
  ['read_csv hidden in a CTE', () => "with a as (select * from read_csv('/etc/passwd')) select * from a", /read_csv\(\) is not allowed/],
  ['read_text hidden in a subquery', () => "select (select count(*) from read_text('/etc/hostname')) as n", /read_text\(\) is not allowed/],
  ['read_csv hidden in a lambda', () => "select list_transform([1], x -> (select count(*) from read_csv('/etc/passwd')))", /read_csv\(\) is not allowed/],
  ['read_csv hidden in DESCRIBE', () => "describe select * from read_csv('/etc/passwd')", /read_csv\(\) is not allowed/],
  ['http URL', () => "select * from read_parquet('http://example.com/x.parquet')", /outside the lake/],
  ['https URL by replacement scan', () => "select * from 'https://example.com/x.csv'", /outside the lake/],
  ['s3 URL', () => "select * from read_parquet('s3://bucket/x.parquet')", /outside the lake/],
  ['getenv', () => "select getenv('HOME')", /getenv\(\) is not allowed/],
  ['enable_profiling as a table function (passes lock_configuration)', () => 'select * from enable_profiling()', /enable_profiling\(\) is not allowed/],
  ['enable_profiling, quoted and qualified', () => 'select * from system.main."ENABLE_PROFILING"()', /enable_profiling\(\) is not allowed/],
  ['enable_logging to a file (bricks the connection)', () => "select * from enable_logging(storage = 'file', storage_path = '/tmp/x')", /enable_logging\(\) is not allowed/],
  ['query() runs unchecked SQL text', () => "select * from query('select * from read_csv(''/etc/passwd'')')", /query\(\) is not allowed/],
  ['checkpoint() as a table function', () => 'select * from checkpoint()', /checkpoint\(\) is not allowed/],
  ['a NUL hides the rest from C', () => "select 1\u0000; COPY (select 1) TO '/tmp/x.csv'", /NUL character/],
];

describe('attacks are refused and write nothing', () => {
  test.each(ATTACKS)('%s', async (_label, sql, message) => {
    const before = tree(tmp.path);
    const literalBefore = LITERAL_TMP.map(existsSync);
    const err = await box.run(sql()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(/^Refused: /);
    expect((err as Error).message).toMatch(message);
    // Says what is allowed, not only what is not.
    expect((err as Error).message).toContain('runs one read-only query');
    expect(tree(tmp.path)).toEqual(before);
    expect(LITERAL_TMP.map(existsSync)).toEqual(literalBefore);
  });

  test('after every attack the lockdown still holds and the sandbox still answers', async () => {
    const r = await box.run(
      "select current_setting('enable_external_access') as ext, current_setting('lock_configuration') as locked, current_setting('autoload_known_extensions') as autoload, current_setting('allow_community_extensions') as community",
    );
    expect(r.rows).toEqual([{ ext: false, locked: true, autoload: false, community: false }]);
    expect(box.lockdown[0]).toMatch(/^SET allowed_directories = /);
    expect(box.lockdown[1]).toBe('SET enable_external_access = false');
    expect(box.lockdown[box.lockdown.length - 1]).toBe('SET lock_configuration = true');
  });
});

describe('lake queries work', () => {
  test("the README's loops-by-app example", async () => {
    const r = await box.run('select app_display_name, count(*) from loops group by 1 order by 2 desc');
    expect(r.columns.map((c) => c.name)).toEqual(['app_display_name', 'count_star()']);
    expect(r.rows.length).toBeGreaterThan(0);
    const counts = r.rows.map((x) => Number(x['count_star()']));
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
  });

  test('a --param is bound as $upn, and a hostile value matches nothing', async () => {
    const [{ upn }] = (await box.run('select user_principal_name as upn from loops limit 1')).rows as { upn: string }[];
    const sql = 'select created_at, app_display_name, error_code, outcome from sign_ins where user_principal_name = $upn order by 1';
    expect((await box.run(sql, { upn })).rows.length).toBeGreaterThan(0);
    expect((await box.run(sql, { upn: "x' or '1'='1" })).rows).toEqual([]);
    expect((await box.run(sql, { upn: "'); COPY (select 1) TO '/tmp/x.csv'; --" })).rows).toEqual([]);
    expect(existsSync('/tmp/x.csv')).toBe(false);
  });

  test('parameters: a missing or unused one is a clear error', async () => {
    await expect(box.run('select count(*) from sign_ins where user_principal_name = $upn')).rejects.toThrow('pass --param upn=VALUE');
    await expect(box.run('select 1', { upm: 'x' })).rejects.toThrow('--param upm is not used by the SQL');
  });

  test('every view the README names, DESCRIBE, SHOW, SUMMARIZE, FROM-first, VALUES, a trailing ;', async () => {
    for (const v of ['sign_ins', 'prompts', 'loops', 'clusters', 'flagged_sessions', 'loop_clusters', 'error_codes', 'lake_sign_ins']) {
      const r = await box.run(`select count(*) as n from ${v}`);
      expect(Number(r.rows[0].n)).toBeGreaterThanOrEqual(0);
    }
    const d = await box.run('describe sign_ins');
    expect(d.rows.map((x) => x.column_name)).toEqual(expect.arrayContaining(['created_at', 'user_principal_name', 'outcome']));
    expect((await box.run('show tables')).rows.map((x) => x.name)).toEqual(expect.arrayContaining(['loops', 'sign_ins']));
    expect((await box.run('summarize select prompt_count from loops')).rows).toHaveLength(1);
    expect((await box.run('from loop_clusters select count(*) as n')).rows).toHaveLength(1);
    expect((await box.run('values (1), (2)')).rows).toHaveLength(2);
    expect((await box.run('with x as (select 1 as a) select * from x;\n')).rows).toEqual([{ a: 1 }]);
  });

  test("read_parquet on the lake's own files is allowed", async () => {
    const glob = join(lake, 'sign_ins', '**', '*.parquet');
    const a = await box.run(`select count(*) as n from read_parquet(${quoteString(glob)})`);
    const b = await box.run('select count(*) as n from lake_sign_ins');
    expect(a.rows).toEqual(b.rows);
  });

  test('a SQL error says so, without refusing', async () => {
    await expect(box.run('select nonsense from nowhere')).rejects.toThrow(/^Your SQL failed: Catalog Error/);
    await expect(box.run('selec 1')).rejects.toThrow(/^Your SQL failed: Parser Error/);
  });
});

describe('resources', () => {
  test('a cross-join bomb is interrupted at the deadline, and the sandbox keeps working', async () => {
    const quick = await openSandbox(lake, { timeoutMs: 2_000, upto: 'staging/sign_ins' });
    try {
      const t0 = Date.now();
      await expect(quick.run('select count(*) from range(1000000000000) a, range(1000000000000) b')).rejects.toThrow(
        /^Stopped: the query ran past the 2-second limit and was interrupted/,
      );
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(1_900);
      expect(took).toBeLessThan(6_000);
      expect((await quick.run('select count(*) as n from sign_ins')).rows[0].n).toBeGreaterThan(1000);
      await expect(quick.run('select sum(a.range * b.range) from range(100000000) a, range(100000000) b')).rejects.toThrow(/^Stopped: /);
      expect((await quick.run('select 42 as n')).rows).toEqual([{ n: 42 }]);
    } finally {
      quick.close();
    }
  });

  test('past memory_limit and the spill cap, the query fails with what to change', async () => {
    const small = await openSandbox(lake, { memoryLimit: '64MB', maxTempGb: 0.1, upto: 'staging/sign_ins' });
    try {
      await expect(small.run("select count(distinct v) from (select md5(range::VARCHAR) || repeat('x', 200) as v from range(10000000))")).rejects.toThrow(
        /raise --memory-limit or --max-temp-gb/,
      );
      expect((await small.run('select 1 as n')).rows).toEqual([{ n: 1 }]);
    } finally {
      small.close();
    }
  });

  test('bad limits are refused before anything runs', async () => {
    await expect(openSandbox(lake, { memoryLimit: 'lots' })).rejects.toThrow(/--memory-limit "lots" is not a size DuckDB accepts/);
    await expect(openSandbox(lake, { timeoutMs: 0 })).rejects.toThrow(/--timeout-seconds must be a positive number/);
  });
});
