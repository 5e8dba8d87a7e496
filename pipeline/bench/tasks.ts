/**
 * The measured steps. Each runs in its own child process (see run.ts), so its peak RSS is its own and a
 * crash or an out-of-memory kill of one step does not take the others down.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { importFiles } from '../lake/ingest';
import { Lake, partitionKeyOfDir, readLakeSql } from '../lake/lake';
import { SIGN_IN_COLUMNS } from '../normalize/columns';
import { detect, detectInto, runLayers } from '../detect/detect';
import { loadRegistry } from '../detect/registry';
import { userTimelineResults } from '../report/user';
import { explainLoop } from '../workbench/explain';
import { withDetection, workbenchQuery } from '../workbench/run';
import { queriesDir } from '../sql/queries';
import { quoteString, stringList, withDuckDB } from '../sql/duckdb';
import { ceilingCopySql, rawJsonViewSql } from './jsonsql';
import { lakeDays, writeReport } from '../report/write';

export type Task =
  | { kind: 'import'; file: string; lake: string }
  | { kind: 'ceiling'; file: string; out: string; raw: boolean; memoryLimit: string; tempDirectory: string }
  | { kind: 'build-lake'; source: string; lake: string; target: number; memoryLimit: string; tempDirectory: string }
  | { kind: 'detect'; lake: string; memoryLimit: string; tempDirectory: string }
  | { kind: 'minimal-loops'; lake: string; memoryLimit: string; tempDirectory: string }
  | { kind: 'update-hour'; lake: string; memoryLimit: string; tempDirectory: string }
  | { kind: 'workbench'; command: 'loops' | 'clusters' | 'explain' | 'user'; lake: string; memoryLimit: string; tempDirectory: string }
  | { kind: 'report'; lake: string; out: string; memoryLimit: string; tempDirectory: string }
  | { kind: 'detect-json'; file: string; raw: boolean; memoryLimit: string; tempDirectory: string };

const now = () => performance.now();
const since = (t0: number) => (now() - t0) / 1000;

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await fsp.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await fsp.stat(join(e.parentPath, e.name))).size;
  }
  return total;
}

export async function runTask(task: Task): Promise<Record<string, unknown>> {
  switch (task.kind) {
    case 'import': {
      await fsp.rm(task.lake, { recursive: true, force: true });
      const t0 = now();
      const s = await importFiles([task.file], task.lake);
      const seconds = since(t0);
      return {
        seconds,
        summary_seconds: s.seconds,
        read: s.read,
        landed: s.landed,
        duplicates: s.duplicates,
        quarantined: s.quarantined,
        parquet_files: s.parquet_files,
        records_per_second: s.read / seconds,
        lake_bytes: await dirBytes(new Lake(task.lake).signIns),
      };
    }
    case 'ceiling': {
      await fsp.rm(task.out, { force: true });
      return withDuckDB({ memoryLimit: task.memoryLimit, tempDirectory: task.tempDirectory }, async (conn) => {
        // The usual DuckDB advice for a big COPY; the ceiling is meant to be DuckDB at its fastest.
        await conn.run('set preserve_insertion_order = false');
        const t0 = now();
        await conn.run(ceilingCopySql(task.file, task.out, task.raw));
        const seconds = since(t0);
        const rows = Number((await conn.runAndReadAll(`select count(*) from read_parquet(${quoteString(task.out)})`)).getRows()[0][0]);
        const bytes = (await fsp.stat(task.out)).size;
        return { seconds, rows, records_per_second: rows / seconds, parquet_bytes: bytes };
      });
    }
    case 'build-lake':
      return buildLake(task);
    case 'detect': {
      const t0 = now();
      const r = await detect(task.lake, {}, { memoryLimit: task.memoryLimit, tempDirectory: task.tempDirectory });
      const seconds = since(t0);
      return { seconds, sign_ins: r.signIns, files: r.files, flagged: r.flagged.rows.length, clusters: r.clusters.rows.length, ...tally(r.flagged.rows) };
    }
    case 'minimal-loops':
      return minimalLoops(task);
    case 'workbench':
      return workbenchCommand(task);
    case 'update-hour': {
      // The store as it was before the lake's last hour landed, then that hour lands: the update of the
      // store is timed (detectInto, as every command runs it; not the printing of every loop after it).
      const db = { memoryLimit: task.memoryLimit, tempDirectory: task.tempDirectory };
      // The last hour of ordinary size (the bench's last copy is trimmed, so its last hour may hold a few rows).
      const dirs = (await new Lake(task.lake).partitionDirs()).sort();
      const sizes = await Promise.all(dirs.map(async (d) => (await Promise.all((await fsp.readdir(d)).map(async (f) => (await fsp.stat(join(d, f))).size))).reduce((a, b) => a + b, 0)));
      const median = [...sizes].sort((a, b) => a - b)[Math.floor(sizes.length / 2)];
      const last = dirs[sizes.map((z, i) => (z >= median ? i : -1)).filter((i) => i >= 0).at(-1)!];
      const aside = join(task.tempDirectory, 'aside-hour');
      await fsp.rm(aside, { recursive: true, force: true });
      await fsp.rename(last, aside);
      await detect(task.lake, {}, db, { rebuild: true });
      await fsp.rename(aside, last);
      return withDuckDB({ memoryLimit: task.memoryLimit, tempDirectory: task.tempDirectory }, async (conn) => {
        const t0 = now();
        const r = await detectInto(conn, task.lake);
        const seconds = since(t0);
        const sign_ins = Number((await conn.runAndReadAll(`select count(*) from read_parquet(${quoteString(join(last, '*.parquet'))})`)).getRows()[0][0]);
        return { seconds, mode: r.mode, from: r.from, hour: partitionKeyOfDir(last), hour_sign_ins: sign_ins, flagged: r.manifest?.loops ?? null };
      });
    }
    case 'report': {
      // The nightly report for the lake's one day, every file (HTML with its charts included), as `report` writes it.
      const days = await lakeDays(task.lake);
      if (!days) throw new Error(`no sign-ins in ${task.lake}`);
      await fsp.rm(task.out, { recursive: true, force: true });
      const t0 = now();
      const r = await writeReport(task.lake, { date: days.first, out: task.out, db: { memoryLimit: task.memoryLimit, tempDirectory: task.tempDirectory } });
      const seconds = since(t0);
      return { seconds, date: days.first, files: r.files.length, sign_ins: r.data.totals.sign_ins, loops: r.data.totals.loops, clusters: r.data.totals.clusters, html_bytes: (await fsp.stat(join(task.out, 'report.html'))).size };
    }
    case 'detect-json': {
      return withDuckDB({ memoryLimit: task.memoryLimit, tempDirectory: task.tempDirectory }, async (conn) => {
        const t0 = now();
        await conn.run(rawJsonViewSql(task.file, task.raw));
        // as attachLake does
        await conn.run(`create or replace temp table error_codes as select * from read_csv(${quoteString(join(queriesDir(), 'reference', 'error_codes.csv'))}, header = true, columns = {'error_code': 'INTEGER', 'outcome': 'VARCHAR', 'meaning': 'VARCHAR'})`);
        await loadRegistry(conn, null); // no lake: no ids found before
        await runLayers(conn, {});
        const flaggedRows = (await conn.runAndReadAll('select kind from flagged_sessions')).getRowObjectsJson() as { kind: string }[];
        const clusters = Number((await conn.runAndReadAll('select count(*) from loop_clusters')).getRows()[0][0]);
        const signIns = Number((await conn.runAndReadAll('select count(*) from sign_ins')).getRows()[0][0]);
        const seconds = since(t0);
        return { seconds, sign_ins: signIns, flagged: flaggedRows.length, clusters, ...tally(flaggedRows) };
      });
    }
  }
}

function tally(rows: Record<string, unknown>[]): { by_kind: Record<string, number> } {
  const by: Record<string, number> = {};
  for (const r of rows) by[String(r.kind)] = (by[String(r.kind)] ?? 0) + 1;
  return { by_kind: by };
}

/**
 * A bigger lake from the imported one: copy k re-keys users, devices and ids with "-k" (different users,
 * same timeline), raw is NULL, and the last copy is trimmed so the total is exactly `target`.
 */
async function buildLake(task: Extract<Task, { kind: 'build-lake' }>): Promise<Record<string, unknown>> {
  const { files } = await new Lake(task.source).files();
  if (!files.length) throw new Error(`no Parquet files in ${task.source}`);
  const dest = new Lake(task.lake);
  await fsp.rm(task.lake, { recursive: true, force: true });
  await fsp.mkdir(task.lake, { recursive: true });
  const out = join(task.lake, '_build');
  await fsp.mkdir(out, { recursive: true });
  return withDuckDB({ memoryLimit: task.memoryLimit, tempDirectory: task.tempDirectory }, async (conn) => {
    const t0 = now();
    await conn.run(`create temp table base as
      select * replace (cast(null as JSON) as raw), row_number() over (order by created_at, record_key) as bench_rn
      from ${readLakeSql(files)}`);
    const n = Number((await conn.runAndReadAll('select count(*) from base')).getRows()[0][0]);
    const copies = Math.ceil(task.target / n);
    const last = task.target - (copies - 1) * n;
    const KEYS = ['user_id', 'user_principal_name', 'sign_in_id', 'record_key', 'correlation_id', 'device_id'];
    const rekey = (k: number) => KEYS.map((c) => `case when ${c} is null then null else ${c} || '-${k}' end as ${c}`).join(',\n            ');
    const derived = SIGN_IN_COLUMNS.filter((c) => c.sql).map((c) => `${c.sql} as ${c.name}`).join(', ');
    let produced = 0;
    // One COPY per copy, each sorted by time like an import batch: many files per hour, as a real lake has.
    for (let k = 0; k < copies; k++) {
      const part = join(out, String(k));
      // Keys the lake derives from the re-keyed columns are derived again, as landing would.
      await conn.run(`copy (
          select * replace (${derived})
          from (
            select * exclude (bench_rn) replace (
              ${rekey(k)})
            from base
            ${k === copies - 1 ? `where bench_rn <= ${last}` : ''}
          )
          order by created_at
        ) to ${quoteString(part)} (format parquet, compression zstd, partition_by (date, hour), filename_pattern ${quoteString(`part-bench-${k}-{i}`)})`);
      produced += (await dest.adopt(part)).length;
    }
    const seconds = since(t0);
    await fsp.rm(out, { recursive: true, force: true });
    const check = await new Lake(task.lake).files();
    const rows = Number((await conn.runAndReadAll(`select count(*) from read_parquet(${stringList(check.files)})`)).getRows()[0][0]);
    if (rows !== task.target) throw new Error(`built ${rows} rows, wanted ${task.target}`);
    return { seconds, rows, base_rows: n, copies, last_copy_rows: last, files: produced, lake_bytes: await dirBytes(dest.signIns) };
  });
}

/**
 * The baseline detection is measured against: the smallest loop query one could write on the same lake, a
 * gaps-and-islands pass (interactive user rows per session key, a new island after a 299 s gap, islands of
 * 3 or more rows). No flows, episodes, evidence, kinds, clusters or output contract: what the SQL layers
 * add is priced by the ratio.
 */
async function minimalLoops(task: { lake: string; memoryLimit: string; tempDirectory: string }): Promise<Record<string, unknown>> {
  const { files } = await new Lake(task.lake).files();
  if (!files.length) throw new Error(`no Parquet files in ${task.lake}`);
  return withDuckDB({ memoryLimit: task.memoryLimit, tempDirectory: task.tempDirectory }, async (conn) => {
    const t0 = now();
    const r = await conn.runAndReadAll(`
      with rows as (
        select session_key, created_at,
          case when created_at - lag(created_at) over (partition by session_key order by created_at) <= interval 299 second then 0 else 1 end as starts
        from ${readLakeSql(files)}
        where principal_kind = 'user' and is_interactive
      ),
      islands as (
        select session_key, sum(starts) over (partition by session_key order by created_at rows unbounded preceding) as island
        from rows
      )
      select count(*) from (select session_key, island from islands group by all having count(*) >= 3)`);
    return { seconds: since(t0), islands: Number(r.getRows()[0][0]) };
  });
}

/**
 * One analyst command as the CLI runs it, on a lake `detect` has just stored findings for: `loops` and
 * `clusters` (their filtered queries), `explain` of the longest loop, `user` of that loop's user.
 */
async function workbenchCommand(task: Extract<Task, { kind: 'workbench' }>): Promise<Record<string, unknown>> {
  const db = { memoryLimit: task.memoryLimit, tempDirectory: task.tempDirectory };
  const longest = await withDetection(task.lake, {}, db, async (conn) =>
    (await conn.runAndReadAll('select loop_id, user_principal_name from flagged_sessions order by prompt_count desc, loop_id limit 1')).getRows()[0]);
  if (!longest) throw new Error(`no loops in ${task.lake}`);
  const t0 = now();
  let rows = 0;
  let fromStore = false;
  if (task.command === 'loops' || task.command === 'clusters') {
    await withDetection(task.lake, {}, db, async (conn, info) => {
      fromStore = info.fromStore;
      rows = (await workbenchQuery(conn, task.command === 'loops' ? 'filtered_loops' : 'filtered_clusters')).rows.length;
    });
  } else if (task.command === 'explain') {
    rows = (await explainLoop(task.lake, String(longest[0]), { db })).steps.length;
  } else {
    rows = (await userTimelineResults(task.lake, String(longest[1]), { db })).timeline.events.length;
  }
  return { seconds: since(t0), rows, from_store: task.command === 'loops' || task.command === 'clusters' ? fromStore : null };
}
