/**
 * `npm run bench`: import and detection figures, each beside a baseline measured in the same run on the
 * same data. Every measured step runs in a fresh child process (this script, forked with a hidden flag),
 * so peak RSS is per step. A failed step is reported and the run goes on; the exit code is then 1.
 *
 *   1. import (Event Hub shape): importFiles vs DuckDB read_ndjson_objects + json_transform + COPY
 *   2. detect at each --sizes: re-keyed copies of the imported lake, detect() with memoryLimit
 *   3. detect on the lake vs the same SQL layers over the raw JSON file
 */
import { fork } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import yargs from 'yargs';
import { writeSimulation } from '../simulate/simulate';
import { withDuckDB } from '../sql/duckdb';
import { leafCount } from './jsonsql';
import { runTask, type Task } from './tasks';

const CHILD_FLAG = '--bench-child';
const REPO = resolve(__dirname, '..', '..', '..'); // dist/pipeline/bench -> repo
const SEED = 42;
/** The ceiling is DuckDB at its fastest: it is given more memory than importFiles' 1GB (which it outgrew with raw kept). */
const CEILING_MEMORY = '4GB';

interface Measured {
  ok: true;
  value: Record<string, unknown>;
  max_rss_mb: number;
  child_wall_seconds: number;
  load_1m: [number, number];
}
interface Failed {
  ok: false;
  error: string;
  max_rss_mb: number | null;
  child_wall_seconds: number;
  load_1m: [number, number];
}
type StepResult = Measured | Failed;

// ---------------------------------------------------------------- child side

async function childMain(): Promise<void> {
  const task = JSON.parse(process.argv[process.argv.indexOf(CHILD_FLAG) + 1]) as Task;
  let msg: { ok: boolean; value?: unknown; error?: string; maxRssKB: number };
  try {
    const value = await runTask(task);
    msg = { ok: true, value, maxRssKB: process.resourceUsage().maxRSS };
  } catch (e) {
    msg = { ok: false, error: e instanceof Error ? `${e.message}` : String(e), maxRssKB: process.resourceUsage().maxRSS };
  }
  process.send!(msg, () => process.exit(0));
}

// ---------------------------------------------------------------- parent side

let stepTimeoutSeconds = 1200;

function runChild(task: Task, cwd: string): Promise<StepResult> {
  const t0 = performance.now();
  const load0 = loadavg()[0];
  return new Promise((done) => {
    let msg: { ok: boolean; value?: Record<string, unknown>; error?: string; maxRssKB: number } | null = null;
    const child = fork(__filename, [CHILD_FLAG, JSON.stringify(task)], { cwd, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, stepTimeoutSeconds * 1000);
    child.on('message', (m) => (msg = m as typeof msg));
    child.on('error', (e) => (msg = msg ?? { ok: false, error: `fork failed: ${e.message}`, maxRssKB: 0 }));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const wall = (performance.now() - t0) / 1000;
      const load: [number, number] = [load0, loadavg()[0]];
      if (msg?.ok) done({ ok: true, value: msg.value ?? {}, max_rss_mb: msg.maxRssKB / 1024, child_wall_seconds: wall, load_1m: load });
      else if (msg) done({ ok: false, error: msg.error ?? 'unknown error', max_rss_mb: msg.maxRssKB ? msg.maxRssKB / 1024 : null, child_wall_seconds: wall, load_1m: load });
      else {
        const why = timedOut ? ` (stopped after the ${stepTimeoutSeconds} s step timeout)` : signal === 'SIGKILL' ? ' (killed: out of memory?)' : '';
        done({ ok: false, error: `child exited with code ${code} signal ${signal}${why} before reporting`, max_rss_mb: null, child_wall_seconds: wall, load_1m: load });
      }
    });
  });
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const fix = (n: number, d = 1) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const mb = (n: number | null) => (n === null ? '? MB' : `${int(n)} MB`);
const num = (v: unknown) => Number(v);
/** DuckDB errors carry a paragraph of advice; the table keeps the first line (bench.json keeps all). */
const firstLine = (s: string) => s.split('\n')[0].trim();

interface Row {
  label: string;
  ours: string;
  baseline: string;
  compare: string;
}

async function main(): Promise<void> {
  const argv = yargs(process.argv.slice(2))
    .scriptName('npm run bench --')
    .usage('$0 [options]\n\nImport and detection benchmark. Each figure is printed beside a baseline measured in the same run, on the same data.')
    .option('dir', { type: 'string', default: join(REPO, '.bench'), describe: 'Work folder (git-ignored by default); bench.json is written here' })
    .option('users', { type: 'number', default: 6000, describe: 'Simulated tenant size for the import figure (~51 records per user)' })
    .option('sizes', { type: 'string', default: '1000000,10000000', describe: 'Detection sizes in sign-ins, comma-separated' })
    .option('memory-limit', { type: 'string', default: '1GB', describe: 'DuckDB memory_limit for detection (the CLI default); spills to the temp folder beyond it' })
    .option('fallback-memory-limit', { type: 'string', default: '6GB', describe: 'If detection at a size fails at --memory-limit, try once more with this limit (reported separately; the failure still counts). Empty string: no retry' })
    .option('step-timeout', { type: 'number', default: 1200, describe: 'Stop a step (child process) that runs longer than this many seconds' })
    .option('keep', { type: 'boolean', default: false, describe: 'Keep the simulated file and lakes at the end' })
    .option('quick', { type: 'boolean', default: false, describe: 'Smoke run: --users 1500 --sizes 200000' })
    .example('npm run bench', 'Full run: 6,000 users, detection at 1M and 10M sign-ins')
    .example('npm run bench -- --quick', 'Smoke run (about a minute)')
    .example('node dist/pipeline/bench/run.js --sizes 2000000 --keep --dir /tmp/bench', 'One size, keep the lakes for inspection')
    .version(false)
    .strict()
    .help()
    .parseSync();

  const users = argv.quick ? 1500 : Math.floor(argv.users);
  const sizes = (argv.quick ? '200000' : argv.sizes).split(',').map((s) => Number(s.trim().replace(/_/g, '')));
  if (!(users >= 1) || sizes.some((s) => !Number.isInteger(s) || s < 1)) throw new Error('--users and --sizes must be positive integers');
  const dir = resolve(argv.dir);
  const memoryLimit = argv['memory-limit'];
  stepTimeoutSeconds = argv['step-timeout'];
  const tmp = join(dir, 'duckdb-tmp');
  await fsp.mkdir(tmp, { recursive: true });

  const started = new Date();
  const loadStart = loadavg();
  const t0 = performance.now();
  const rows: Row[] = [];
  const failures: string[] = [];
  const report: Record<string, unknown> = { started_at: started.toISOString(), options: { dir, users, sizes, memory_limit: memoryLimit, fallback_memory_limit: argv['fallback-memory-limit'], step_timeout_seconds: stepTimeoutSeconds, seed: SEED, quick: argv.quick, keep: argv.keep } };
  const log = (s: string) => process.stderr.write(`[bench ${fix((performance.now() - t0) / 1000)}s] ${s}\n`);
  const fail = (what: string, err: string) => {
    failures.push(`${what}: ${firstLine(err)}`);
    rows.push({ label: what, ours: `FAILED: ${firstLine(err)}`, baseline: '', compare: '' });
    log(`FAILED ${what}: ${err}`);
  };
  const removeIfNotKept = async (p: string) => {
    if (!argv.keep) await fsp.rm(p, { recursive: true, force: true });
  };

  // machine
  let duckdbVersion = '?';
  try {
    duckdbVersion = await withDuckDB({}, async (c) => String((await c.runAndReadAll('select version()')).getRows()[0][0]));
  } catch (e) {
    failures.push(`duckdb version: ${(e as Error).message}`);
  }
  const machine = { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? '?', total_memory_gb: totalmem() / 2 ** 30, node: process.version, duckdb: duckdbVersion, platform: `${process.platform}-${process.arch}` };
  report.machine = machine;

  // simulate
  const file = join(dir, `sim-eventhub-${users}u.ndjson`);
  let simulated: { records: number; bytes: number } | null = null;
  try {
    log(`simulating ${int(users)} users to ${file}`);
    const s0 = performance.now();
    simulated = await writeSimulation({ users, days: 1, seed: SEED, incident: {}, shape: 'eventhub', out: file });
    const secs = (performance.now() - s0) / 1000;
    report.simulation = { ...simulated, seconds: secs, bytes_per_record: simulated.bytes / simulated.records, file };
    log(`simulated ${int(simulated.records)} records, ${fix(simulated.bytes / 2 ** 20)} MiB in ${fix(secs)} s`);
  } catch (e) {
    fail('simulate', (e as Error).message);
  }

  // 1. import vs the DuckDB ceiling
  const lake = join(dir, 'lake-import');
  let imported = false;
  if (simulated) {
    log('import: ours (importFiles)');
    const ours = await runChild({ kind: 'import', file, lake }, dir);
    log('import: ceiling (read_ndjson_objects + json_transform, raw kept)');
    const ceilOut = join(dir, 'ceiling.parquet');
    const ceil = await runChild({ kind: 'ceiling', file, out: ceilOut, raw: true, memoryLimit: CEILING_MEMORY, tempDirectory: tmp }, dir);
    await fsp.rm(ceilOut, { force: true });
    log('import: ceiling without raw');
    const ceilNoRaw = await runChild({ kind: 'ceiling', file, out: ceilOut, raw: false, memoryLimit: CEILING_MEMORY, tempDirectory: tmp }, dir);
    await fsp.rm(ceilOut, { force: true });
    report.import = { ours, ceiling_with_raw: ceil, ceiling_without_raw: ceilNoRaw, ceiling_struct_leaf_fields: leafCount(), ceiling_memory_limit: CEILING_MEMORY, ceiling_preserve_insertion_order: false, ours_memory_limit: '1GB (importFiles default)' };
    const label = `import (eventhub, ${int(simulated.records)} records, ${fix(simulated.bytes / 2 ** 20, 0)} MiB)`;
    if (ours.ok) {
      imported = num(ours.value.landed) > 0;
      const v = ours.value;
      const ceilText = ceil.ok
        ? `ceiling duckdb read_ndjson_objects+json_transform, raw kept: ${int(num(ceil.value.records_per_second))} rec/s (${fix(num(ceil.value.seconds))} s, ${mb(ceil.max_rss_mb)})`
        : `ceiling FAILED: ${firstLine(ceil.error)}`;
      rows.push({
        label,
        ours: `ours ${int(num(v.records_per_second))} rec/s (${fix(num(v.seconds))} s, ${mb(ours.max_rss_mb)}; landed ${int(num(v.landed))}, ${v.parquet_files} files)`,
        baseline: ceilText,
        compare: ceil.ok ? `${fix((100 * num(v.records_per_second)) / num(ceil.value.records_per_second), 0)}% of ceiling` : '',
      });
      if (!ceil.ok) failures.push(`import ceiling: ${firstLine(ceil.error)}`);
    } else {
      fail(label, ours.error);
      if (!ceil.ok) failures.push(`import ceiling: ${firstLine(ceil.error)}`);
    }
    if (ceilNoRaw.ok) {
      rows.push({
        label: '  ceiling without raw (info)',
        ours: '',
        baseline: `same struct, no raw column: ${int(num(ceilNoRaw.value.records_per_second))} rec/s (${fix(num(ceilNoRaw.value.seconds))} s, ${mb(ceilNoRaw.max_rss_mb)})`,
        compare: ours.ok ? `ours = ${fix((100 * num(ours.value.records_per_second)) / num(ceilNoRaw.value.records_per_second), 0)}%` : '',
      });
    } else failures.push(`import ceiling without raw: ${firstLine(ceilNoRaw.error)}`);
  }

  // 3. detect on the lake vs the same SQL over raw JSON (same data, same size)
  if (imported && simulated) {
    log('detect: imported lake');
    const onLake = await runChild({ kind: 'detect', lake, memoryLimit, tempDirectory: tmp }, dir);
    log('detect: same layers over the raw JSON file');
    const onJson = await runChild({ kind: 'detect-json', file, raw: true, memoryLimit, tempDirectory: tmp }, dir);
    report.detect_lake_vs_json = { lake: onLake, raw_json: onJson, memory_limit: memoryLimit, raw_json_view_includes_raw: true };
    const label = `detect lake vs raw JSON (${int(simulated.records)} sign-ins)`;
    if (onLake.ok && onJson.ok) {
      const a = onLake.value;
      const b = onJson.value;
      const match = a.flagged === b.flagged && a.clusters === b.clusters && a.sign_ins === b.sign_ins;
      rows.push({
        label,
        ours: `lake ${fix(num(a.seconds), 2)} s (${mb(onLake.max_rss_mb)}; flagged ${a.flagged}, clusters ${a.clusters}, sign-ins ${int(num(a.sign_ins))})`,
        baseline: `raw JSON view ${fix(num(b.seconds), 2)} s (${mb(onJson.max_rss_mb)}; flagged ${b.flagged}, clusters ${b.clusters}, sign-ins ${int(num(b.sign_ins))})`,
        compare: `speedup ${fix(num(b.seconds) / num(a.seconds), 2)}x (raw JSON time / lake time); counts ${match ? 'match' : 'DIFFER'}`,
      });
      if (!match) failures.push(`detect lake vs raw JSON: counts differ (lake flagged ${a.flagged} clusters ${a.clusters} sign-ins ${a.sign_ins}; json flagged ${b.flagged} clusters ${b.clusters} sign-ins ${b.sign_ins})`);
    } else {
      fail(label, [onLake.ok ? '' : `lake: ${onLake.error}`, onJson.ok ? '' : `raw JSON: ${onJson.error}`].filter(Boolean).join('; '));
    }
  } else if (simulated) fail('detect lake vs raw JSON', 'skipped: the import did not land a lake');

  // 2. detect at each size
  const detectReport: Record<string, unknown>[] = [];
  report.detect_sizes = detectReport;
  for (const size of sizes) {
    const label = `detect ${int(size)} sign-ins`;
    if (!imported) {
      fail(label, 'skipped: the import did not land a lake');
      continue;
    }
    const big = join(dir, `lake-${size}`);
    log(`build ${int(size)}-row lake`);
    const built = await runChild({ kind: 'build-lake', source: lake, lake: big, target: size, memoryLimit: '4GB', tempDirectory: tmp }, dir);
    if (!built.ok) {
      detectReport.push({ size, build: built });
      fail(label, `building the lake: ${built.error}`);
      await removeIfNotKept(big);
      continue;
    }
    log(`detect ${int(size)} (memory_limit ${memoryLimit})`);
    const det = await runChild({ kind: 'detect', lake: big, memoryLimit, tempDirectory: tmp }, dir);
    log(`minimal gaps-and-islands loop query, ${int(size)} (baseline)`);
    const minimal = await runChild({ kind: 'minimal-loops', lake: big, memoryLimit, tempDirectory: tmp }, dir);
    detectReport.push({ size, memory_limit: memoryLimit, build: built, detect: det, minimal, raw_column: 'NULL in the re-keyed copies' });
    const b = built.value;
    if (det.ok) {
      const v = det.value;
      const okMem = det.max_rss_mb < 2048;
      const m = minimal.ok ? num(minimal.value.seconds) : null;
      const ratio = m ? num(v.seconds) / m : null;
      rows.push({
        label,
        ours: `${fix(num(v.seconds), 2)} s, ${mb(det.max_rss_mb)} peak RSS (flagged ${int(num(v.flagged))}, clusters ${v.clusters}; ${v.files} files, ${fix(num(b.lake_bytes) / 2 ** 20, 0)} MiB)`,
        baseline: minimal.ok ? `minimal gaps-and-islands query: ${fix(m!, 2)} s, ${mb(minimal.max_rss_mb)}; target <= 2x and < 2,048 MB` : `minimal query FAILED: ${firstLine(minimal.error)}`,
        compare: `${ratio === null ? 'no ratio' : `${fix(ratio, 2)}x ${ratio <= 2 ? 'ok' : 'OVER'}`}, ${okMem ? 'memory ok' : 'memory OVER'}`,
      });
      // The analyst's commands read the findings detect just stored; before the store each re-ran detection.
      for (const command of ['loops', 'clusters', 'explain', 'user'] as const) {
        log(`${command} on the ${int(size)}-sign-in lake`);
        const wb = await runChild({ kind: 'workbench', command, lake: big, memoryLimit, tempDirectory: tmp }, dir);
        detectReport.push({ size, workbench: command, result: wb });
        if (!wb.ok) {
          fail(`${command}, ${int(size)}-sign-in lake`, wb.error);
          continue;
        }
        rows.push({
          label: `${command}, ${int(size)}-sign-in lake`,
          ours: `${fix(num(wb.value.seconds), 2)} s, ${mb(wb.max_rss_mb)} peak RSS (${int(num(wb.value.rows))} rows)`,
          baseline: `detect on the same lake, same run (what the command re-ran before the store): ${fix(num(v.seconds), 2)} s; target < 1 s`,
          compare: num(wb.value.seconds) < 1 ? 'time ok' : 'time OVER',
        });
      }
      log(`update after one new hour of the ${int(size)}-sign-in day`);
      const upd = await runChild({ kind: 'update-hour', lake: big, memoryLimit, tempDirectory: tmp }, dir);
      detectReport.push({ size, update_hour: upd });
      if (upd.ok) {
        rows.push({
          label: `update, last hour of ${int(size)} landing`,
          ours: `${fix(num(upd.value.seconds), 2)} s (${upd.value.mode} from ${upd.value.from}, for ${int(num(upd.value.hour_sign_ins))} new sign-ins in ${upd.value.hour}; flagged ${int(num(upd.value.flagged))}; the child's peak RSS ${mb(upd.max_rss_mb)} includes the untimed rebuild before it)`,
          baseline: `full detect on the same lake, same run: ${fix(num(v.seconds), 2)} s; target < 2 s`,
          compare: num(upd.value.seconds) < 2 ? 'time ok' : 'time OVER',
        });
      } else fail(`update, last hour of ${int(size)}`, upd.error);
      log(`report for the ${int(size)}-sign-in day`);
      const rep = await runChild({ kind: 'report', lake: big, out: join(dir, `report-${size}`), memoryLimit, tempDirectory: tmp }, dir);
      detectReport.push({ size, report: rep });
      if (rep.ok) {
        const r = rep.value;
        rows.push({
          label: `report, ${int(size)}-sign-in day`,
          ours: `${fix(num(r.seconds), 2)} s, ${mb(rep.max_rss_mb)} peak RSS (${r.files} files, HTML ${fix(num(r.html_bytes) / 1024, 0)} KiB; ${int(num(r.loops))} loops, ${r.clusters} clusters)`,
          baseline: `detect alone on the same lake, same run: ${fix(num(v.seconds), 2)} s; target < 30 s`,
          compare: num(r.seconds) < 30 ? 'time ok' : 'time OVER',
        });
      } else fail(`report, ${int(size)}-sign-in day`, rep.error);
    } else {
      fail(`${label} at memory_limit ${memoryLimit}`, det.error + (det.max_rss_mb !== null ? ` (peak RSS ${mb(det.max_rss_mb)})` : ''));
      const fallback = argv['fallback-memory-limit'];
      if (fallback) {
        log(`detect ${int(size)} again (memory_limit ${fallback})`);
        const retry = await runChild({ kind: 'detect', lake: big, memoryLimit: fallback, tempDirectory: tmp }, dir);
        detectReport.push({ size, memory_limit: fallback, retry_after_failure: true, detect: retry });
        if (retry.ok) {
          const v = retry.value;
          rows.push({
            label: `  retry ${int(size)} at memory_limit ${fallback}`,
            ours: `${fix(num(v.seconds), 2)} s, ${mb(retry.max_rss_mb)} peak RSS (flagged ${int(num(v.flagged))}, clusters ${v.clusters}; ${v.files} files)`,
            baseline: `target < 15 s and < 2,048 MB`,
            compare: `${num(v.seconds) < 15 ? 'time ok' : 'time OVER'}, ${retry.max_rss_mb < 2048 ? 'memory ok' : 'memory OVER'}`,
          });
        } else fail(`  retry ${int(size)} at memory_limit ${fallback}`, retry.error + (retry.max_rss_mb !== null ? ` (peak RSS ${mb(retry.max_rss_mb)})` : ''));
      }
    }
    await removeIfNotKept(big);
  }

  // output
  const total = (performance.now() - t0) / 1000;
  report.total_seconds = total;
  report.failures = failures;
  report.notes = [
    'Each step runs in a fresh child process; MB = that process\'s peak RSS (process.resourceUsage().maxRSS).',
    `Ceiling: one zstd Parquet file, struct columns left nested, no dedupe, no partitions, no validation, no quarantine; memory_limit ${CEILING_MEMORY}, preserve_insertion_order false (importFiles: its default 1GB).`,
    'Detection lakes: re-keyed copies of the imported lake (user, UPN, sign-in id, record key, correlation id, device id suffixed -k), raw set to NULL, last copy trimmed.',
    'Raw JSON view: read_ndjson_objects + json_transform + unnest with our column names, raw kept; created_at truncated to microseconds, offset ignored (the simulator writes +00:00).',
  ];
  console.log('');
  console.log(`reauth-loops bench  ${started.toISOString()}`);
  console.log(`machine: ${machine.cpus} cpus (${machine.cpu_model}), ${fix(machine.total_memory_gb)} GiB RAM, node ${machine.node}, duckdb ${machine.duckdb}, ${machine.platform}`);
  if (simulated) console.log(`data: simulated tenant, ${int(users)} users, 1 day, seed ${SEED}, Event Hub shape: ${int(simulated.records)} records, ${fix(simulated.bytes / simulated.records / 1024, 2)} KiB/record`);
  const loadEnd = loadavg();
  report.load_average = { start: loadStart, end: loadEnd };
  console.log(`load average (1/5/15 min): start ${loadStart.map((l) => fix(l, 2)).join(' ')}, end ${loadEnd.map((l) => fix(l, 2)).join(' ')} (per step in bench.json; other processes on the machine share the cores)`);
  console.log('');
  const w = Math.max(...rows.map((r) => r.label.length));
  for (const r of rows) {
    if (r.ours) console.log(`${r.label.padEnd(w)}   ${r.ours}`);
    if (r.baseline) console.log(`${(r.ours ? '' : r.label).padEnd(w)}   vs ${r.baseline}`);
    if (r.compare) console.log(`${''.padEnd(w)}   => ${r.compare}`);
  }
  console.log('');
  for (const n of report.notes as string[]) console.log(`note: ${n}`);
  console.log(`total wall time ${fix(total)} s`);
  const jsonPath = join(dir, 'bench.json');
  await fsp.writeFile(jsonPath, JSON.stringify(report, null, 2) + '\n');
  console.log(`figures written to ${jsonPath}`);
  if (!argv.keep) {
    await fsp.rm(file, { force: true });
    await fsp.rm(lake, { recursive: true, force: true });
  }
  await fsp.rm(tmp, { recursive: true, force: true });
  if (failures.length) {
    console.log(`\n${failures.length} problem(s):`);
    for (const f of failures) console.log(`  - ${f}`);
    process.exitCode = 1;
  }
}

if (process.argv.includes(CHILD_FLAG)) {
  childMain().catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main().catch((e) => {
    console.error(e instanceof Error ? e.stack ?? e.message : e);
    process.exit(1);
  });
}
