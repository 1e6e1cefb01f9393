/**
 * `npm run bench -- [--scale 1,10] [--repeat 3] [--target bench] [--stages bronze,models,export,build,daily]`
 *
 * Throughput of each stage as a ratio against the physical baseline measured in the same run, on
 * the same machine, interleaved A/B/A/B so that a noisy neighbour hurts both sides alike:
 *   bronze        our load of the six files      vs psql \copy of the same files into identical tables,
 *                 (`--jobs 2`: two files at once)   one file after the other, and in two psql processes at
 *                                                  once (the largest file in one, the rest in the other)
 *   silver+gold   our model build (+ tests)      vs create table as select * from bronze.sales_details order by …
 *                 and the skeleton of bench/floor.sql against the same sorted copies;
 *                 gold.customer_training_set's chain (schedule, customer days, per-customer rows, boundaries, scores) vs
 *                 gold.customer_features' chain (int_customer_orders, int_customer_profiles, scores), each built whole
 *                 from the same published silver (`create table … as` of each model's SQL, the
 *                 build's settings)
 *   export        our fact_sales Parquet export  vs psql \copy (select <exported columns> from gold.fact_sales),
 *                 (`medallion export --tables      and vs DuckDB converting that file to Parquet
 *                  fact_sales`)
 *                 all three gold tables: wall time and peak RSS
 *   build         the whole `medallion build` into a fresh target and a fresh --out folder (what a
 *                 first build does): wall time and peak RSS of our process
 *   daily         the cron's next day (`generate --days 1`): a full build of day-00 into a fresh
 *                 target, then the build of day-01 into the same target (ratio to the first), then
 *                 day-01 again (the no-op run); with what the next day's run loaded, kept, found
 *                 changed and reused
 * ratio = our time / baseline time (lower is better; 1.0 = as fast as the baseline).
 *
 * Every timed run does the whole work its row names: change detection keeps a source file whose
 * bronze table holds it, does nothing when nothing changed since the published run, and links the
 * unchanged month files of the previous export. So each bronze load and each build starts from a
 * fresh target, each transform runs with --full-refresh, each export writes into an emptied --out
 * folder, and the events of each run are checked: a kept file, a no-op or a reused export file in
 * a run that claims the full work stops the bench (`assertFullWork`).
 *
 * `--stages` times only the stages named; a stage that another needs still runs once, untimed.
 * Prints one table and writes bench/results/<date>-<scale>.json (git-ignored; with --stages naming
 * fewer than all stages, <date>-<scale>-<stages>.json, marked partial) with the machine it ran on
 * and the command; `npm run perf-doc` turns the latest complete one of each scale into
 * docs/performance.md.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { bronzeColumns, SOURCE_CONTRACTS } from '../src/bronze/contracts.ts';
import { type SchemaNames, schemaNames } from '../src/config.ts';
import { ident } from '../src/db/index.ts';
import { formatTable } from '../src/runs/output.ts';
import { BUILD_MEMORY, PLANNER_SETTINGS_SQL, setModelPlannerSettings, withLocalSettings } from '../src/sql-runtime/index.ts';
import { compileSql, loadProject, publishedTarget, withoutTrailingSemicolon } from '../src/transform/index.ts';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'bin/medallion.js');

const STAGES = ['bronze', 'models', 'export', 'build', 'daily'] as const;
type Stage = (typeof STAGES)[number];

interface Args {
  scales: number[];
  repeat: number;
  target: string;
  seed: number;
  stages: Set<Stage>;
}

function parseBenchArgs(argv: string[]): Args {
  const args: Args = { scales: [1, 10], repeat: 3, target: 'bench', seed: 42, stages: new Set(STAGES) };
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i]!.split('=');
    const value = inline ?? argv[++i];
    if (name === '--scale') args.scales = value!.split(',').map(Number);
    else if (name === '--repeat') args.repeat = Number(value);
    else if (name === '--target') args.target = value!;
    else if (name === '--seed') args.seed = Number(value);
    else if (name === '--stages') {
      const names = value!.split(',');
      const unknown = names.filter((n) => !(STAGES as readonly string[]).includes(n));
      if (unknown.length) throw new Error(`--stages: unknown ${unknown.join(', ')}; the stages are ${STAGES.join(', ')}`);
      args.stages = new Set(names as Stage[]);
    } else throw new Error(`unknown option ${name}; usage: npm run bench -- [--scale 1,10] [--repeat 3] [--target bench] [--seed 42] [--stages ${STAGES.join(',')}]`);
  }
  if (args.scales.some((s) => !(s > 0)) || !(args.repeat >= 1)) throw new Error('--scale takes numbers above 0, --repeat a whole number >= 1');
  return args;
}

/** One line of a run's JSON log (ETL_LOG_FORMAT=json): its event name and fields. */
type LogEvent = { event: string } & Record<string, unknown>;

interface Timed {
  seconds: number;
  peakRssMb?: number;
  /** The JSON log lines the command printed (stdout and stderr). */
  events: LogEvent[];
}

function logEvents(text: string): LogEvent[] {
  return text.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      const e = JSON.parse(line) as LogEvent;
      return typeof e.event === 'string' ? [e] : [];
    } catch {
      return [];
    }
  });
}

/** What a run left undone, by its events: files kept, the no-op, export files linked from the previous export. */
function skippedWork(events: readonly LogEvent[]): string[] {
  const kept = events.filter((e) => e.event === 'bronze_file_kept').map((e) => String(e.source));
  const noop = events.find((e) => e.event === 'nothing_changed');
  const reused = events.filter((e) => (e.event === 'table_exported' || e.event === 'export_table') && Number(e.reused) > 0).map((e) => `${e.table} (${e.reused} of ${e.files} files)`);
  // model_plan is said only when the run keeps some models as the published run left them
  const plan = events.find((e) => e.event === 'model_plan');
  return [
    ...(kept.length ? [`kept ${kept.join(', ')} (bronze_file_kept)`] : []),
    ...(noop ? [`nothing changed since run ${noop.deferred_to} (nothing_changed)`] : []),
    ...(plan ? [`kept ${plan.kept} models as run ${plan.deferred_to} published them (model_plan)`] : []),
    ...(reused.length ? [`linked unchanged export files of ${reused.join(', ')}`] : []),
  ];
}

/** Stops the bench when a run that a row times as the full work skipped some of it. */
function assertFullWork(what: string, ran: Timed): Timed {
  const skipped = skippedWork(ran.events);
  if (skipped.length) throw new Error(`${what} did not do the full work it is timed for: ${skipped.join('; ')}`);
  return ran;
}

/** Runs a command; with /usr/bin/time available, also reads the peak RSS of the process. */
async function timed(cmd: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<Timed> {
  const useTime = existsSync('/usr/bin/time');
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = useTime ? spawn('/usr/bin/time', ['-f', 'PEAK_RSS_KB=%M', cmd, ...argv], { env }) : spawn(cmd, argv, { env });
    let err = '';
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) return reject(new Error(`${cmd} ${argv.join(' ')} exited ${code}\n${out.slice(-2000)}\n${err.slice(-2000)}`));
      const m = /PEAK_RSS_KB=(\d+)/.exec(err);
      resolve({ seconds, peakRssMb: m ? Number(m[1]) / 1024 : undefined, events: logEvents(`${out}\n${err}`) });
    });
  });
}

/** Wall seconds of `work` in this process (a psql call, a DuckDB conversion). */
async function secondsOf(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface StageResult {
  stage: string;
  baseline: string;
  ours: number[];
  base: number[];
  rows: number;
  bytes: number;
  peakRssMb?: number;
  /** What the runs of this row did, in words (the next day's build: files kept and loaded, changes, reuse). */
  note?: string;
}

/**
 * What bin/medallion.js runs: dist/ when its stamp is at least as new as every file under src/,
 * else the sources through tsx, which start slower and take more memory.
 */
async function cliCode(): Promise<'dist' | 'src through tsx'> {
  const newest = async (dir: string): Promise<number> => {
    let n = 0;
    for (const e of await readdir(dir, { withFileTypes: true })) n = Math.max(n, e.isDirectory() ? await newest(path.join(dir, e.name)) : (await stat(path.join(dir, e.name))).mtimeMs);
    return n;
  };
  const stamp = await stat(path.join(ROOT, 'dist/.stamp')).catch(() => null);
  return stamp && (await newest(path.join(ROOT, 'src'))) <= stamp.mtimeMs ? 'dist' : 'src through tsx';
}

/**
 * Seconds to build a chain of models alone into `schema`, in the order given: `create table … as`
 * (`create view` for a view) of each model's SQL read by the target's published schemas, except
 * the chain's earlier models, read from `schema` (each table analyzed there, as the build analyzes
 * a table), with the build's memory and planner settings and the as_of of the target's last
 * successful run. Each model's relation is named after it (`gold.customer_features` →
 * `<schema>.customer_features`).
 */
async function buildChain(client: pg.Client, target: string, models: readonly string[], schema: string): Promise<number> {
  const asOf = (await client.query(`select as_of::text as as_of from ${target}_etl.runs where status = 'success' and as_of is not null order by run_id desc limit 1`)).rows[0].as_of as string;
  const project = await loadProject({ sqlDir: path.join(ROOT, 'sql') });
  const readFrom = new Map<string, string>();
  const steps: { table: string; sql: string; view: boolean; settings: Readonly<Record<string, string>> | undefined }[] = [];
  for (const name of models) {
    const model = project.models.find((m) => m.name === name);
    if (!model) throw new Error(`no model ${name} in sql/`);
    const schemas = Object.freeze({ ...publishedTarget(schemaNames(target)), readFrom: new Map(readFrom) }) as SchemaNames;
    steps.push({ table: `${ident(schema)}.${ident(model.relation)}`, sql: compileSql(withoutTrailingSemicolon(model.sql), schemas).sql, view: model.materialized === 'view', settings: model.plannerSettings });
    readFrom.set(name, schema);
  }
  for (const { table, view } of [...steps].reverse()) await client.query(`drop ${view ? 'view' : 'table'} if exists ${table} cascade`);
  // one transaction per model, as the build commits each model on its own: a model's planner
  // settings hold for its statement only
  return secondsOf(async () => {
    for (const [i, { table, sql, view, settings }] of steps.entries()) {
      await withLocalSettings(client, BUILD_MEMORY, async () => {
        await client.query(PLANNER_SETTINGS_SQL);
        await setModelPlannerSettings(client, settings);
        await client.query("select set_config('medallion.as_of', $1, true)", [asOf]);
        await client.query(`create ${view ? 'view' : 'table'} ${table} as ${sql}`);
        if (!view && i < steps.length - 1) await client.query(`analyze ${table}`);
      });
    }
  });
}

/**
 * Drops every schema of `target` (bronze, silver, gold, etl, and their staging and previous
 * versions), so that its next run starts from nothing: no bronze load to keep, no published run to
 * defer to. Another target's schemas never match (`bench_daily_bronze` is not `bench`'s).
 */
async function dropTarget(client: pg.Client, target: string): Promise<void> {
  const { rows } = await client.query<{ nspname: string }>('select nspname from pg_namespace where nspname ~ $1', [`^${target}_(bronze|silver|gold|etl)(_|$)`]);
  for (const { nspname } of rows) await client.query(`drop schema if exists ${ident(nspname)} cascade`);
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const f of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, f.name);
    total += f.isDirectory() ? await dirBytes(p) : (await stat(p)).size;
  }
  return total;
}

/** What a build's run did, by its events and its run summary in the ledger: files kept and loaded, the changes found, export files reused. */
async function runDid(client: pg.Client, target: string, ran: Timed): Promise<string> {
  const runId = Number(ran.events.find((e) => e.event === 'run_started')?.run_id);
  const summary = (await client.query(`select summary from ${ident(`${target}_etl`)}.runs where run_id = $1`, [runId])).rows[0]?.summary as
    | { changes?: { source: string; status: string; added: number | null; changed: number | null; removed: number | null; moved: number | null }[] }
    | undefined;
  // the incremental models built whole, and why (the others were updated, kept, or are not incremental)
  const models = (await client.query(`select summary->'models' as models from ${ident(`${target}_etl`)}.runs where run_id = $1`, [runId])).rows[0]?.models as
    | { model: string; built_whole_because?: string }[]
    | undefined;
  const whole = (models ?? []).filter((m) => m.built_whole_because).map((m) => `${m.model} (${m.built_whole_because})`);
  const kept = ran.events.filter((e) => e.event === 'bronze_file_kept').map((e) => String(e.source));
  const loaded = ran.events.filter((e) => e.event === 'bronze_file_loaded').map((e) => String(e.source));
  const changes = (summary?.changes ?? [])
    .filter((c) => c.status !== 'unchanged')
    .map((c) => `${c.source} ${c.status === 'new' ? 'new' : `+${c.added ?? 0} ~${c.changed ?? 0} -${c.removed ?? 0}${c.moved ? ` moved ${c.moved}` : ''}`}`);
  const exported = ran.events.filter((e) => e.event === 'table_exported' || e.event === 'export_table');
  const files = exported.reduce((n, e) => n + Number(e.files), 0);
  const reused = exported.reduce((n, e) => n + Number(e.reused), 0);
  return [
    `run ${runId}: loaded ${loaded.length} file${loaded.length === 1 ? '' : 's'}${loaded.length ? ` (${loaded.join(', ')})` : ''}, kept ${kept.length}${kept.length ? ` (${kept.join(', ')})` : ''}`,
    `changes (added ~changed -removed rows): ${changes.length ? changes.join(', ') : 'none'}`,
    `export: ${files} files, ${reused} of them linked unchanged from the day before, ${files - reused} written`,
    ...(whole.length ? [`built whole: ${whole.join(', ')}`] : []),
  ].join('; ');
}

/**
 * The cron's next days: `generate --days 2` writes day-00, day-01 and day-02; a full build of day-00
 * into a fresh target and a fresh --out folder, then the build of day-01 into the same target and
 * folder (what the nightly run does; ratio to the full build), then day-02 the same way, then day-02
 * again (nothing changed: the no-op run). At seed 42 a cutoff of the training set's schedule enters
 * on day-01 (the per-customer rows of every customer gain a cutoff, about once a month) and none
 * on day-02 (the common day): the two rows show both. Each repeat starts from a fresh target.
 */
async function dailyStage(client: pg.Client, env: NodeJS.ProcessEnv, scale: number, args: Args, step: (what: string) => void): Promise<StageResult[]> {
  const dataDir = path.join(ROOT, 'bench/.cache', `scale-${scale}-seed-${args.seed}-days-2`);
  if (!existsSync(path.join(dataDir, 'day-02', '_manifest.json'))) {
    console.error(`generating scale ${scale}, 2 days after the base, into ${path.relative(ROOT, dataDir)} ...`);
    await run('node', [CLI, 'generate', '--scale', String(scale), '--seed', String(args.seed), '--out', dataDir, '--days', '2', '--manifest'], { env, maxBuffer: 1 << 26 });
  }
  const day = (n: number) => path.join(dataDir, `day-${String(n).padStart(2, '0')}`);
  const target = `${args.target}_daily`;
  const outDir = path.join(os.tmpdir(), `medallion-bench-daily-${scale}`);
  // A cron run starts a day after the last one, when the server and the OS have long written out
  // what it left dirty. Each timed build here starts from that state too (a checkpoint, then sync),
  // whatever the build before it left; the checkpoints its own WAL starts count in its time.
  const settled = async () => {
    await client.query('checkpoint');
    await run('sync', []);
  };
  const build = async (n: number) => {
    await settled();
    return timed('node', [CLI, 'build', '--seeds', day(n), '--target', target, '--out', outDir], env);
  };
  const dayBytes = async (n: number) => (await Promise.all(SOURCE_CONTRACTS.map(async (c) => (await stat(path.join(day(n), c.file))).size))).reduce((a, b) => a + b, 0);
  const full: StageResult = { stage: 'full build (day 0)', baseline: '(wall time)', ours: [], base: [], rows: 0, bytes: await dayBytes(0) };
  const next: StageResult = { stage: "next day's build", baseline: 'full build (day 0)', ours: [], base: full.ours, rows: 0, bytes: await dayBytes(1) };
  const after: StageResult = { stage: '  the day after (no new cutoff)', baseline: 'full build (day 0)', ours: [], base: full.ours, rows: 0, bytes: await dayBytes(2) };
  const again: StageResult = { stage: '  same day again (no-op)', baseline: 'full build (day 0)', ours: [], base: full.ours, rows: 0, bytes: 0 };
  const factRows = async () => Number((await client.query(`select count(*) as n from ${ident(`${target}_gold`)}.fact_sales`)).rows[0].n);
  const incremental = async (n: number, into: StageResult) => {
    const ran = await build(n);
    if (ran.events.some((e) => e.event === 'nothing_changed')) throw new Error(`the build of day-0${n} found nothing changed since the day before: its row would time a no-op`);
    into.ours.push(ran.seconds);
    into.peakRssMb = Math.max(into.peakRssMb ?? 0, ran.peakRssMb ?? 0) || undefined;
    into.rows = await factRows();
    into.note = await runDid(client, target, ran);
  };
  for (let i = 0; i < args.repeat; i++) {
    step(`daily: full build of day-00 into a fresh ${target}, then day-01, day-02, then day-02 again (${i + 1} of ${args.repeat})`);
    await dropTarget(client, target);
    await rm(outDir, { recursive: true, force: true });
    const first = assertFullWork('the full build of day-00', await build(0));
    full.ours.push(first.seconds);
    full.peakRssMb = Math.max(full.peakRssMb ?? 0, first.peakRssMb ?? 0) || undefined;
    full.rows = await factRows();
    await incremental(1, next);
    await incremental(2, after);
    const last = await build(2);
    const noop = last.events.find((e) => e.event === 'nothing_changed');
    if (!noop) throw new Error(`the second build of day-02 was not a no-op: ${(await runDid(client, target, last)) || 'no nothing_changed event'}`);
    again.ours.push(last.seconds);
    again.peakRssMb = Math.max(again.peakRssMb ?? 0, last.peakRssMb ?? 0) || undefined;
    again.note = `nothing changed since run ${noop.deferred_to}: ${(noop.compared as string[]).join(', ')}`;
  }
  await rm(outDir, { recursive: true, force: true });
  return [full, next, after, again];
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2));
  const databaseUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const env = { ...process.env, DATABASE_URL: databaseUrl, ETL_LOG_FORMAT: 'json' };
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const pgVersion = (await client.query('show server_version')).rows[0].server_version as string;
  const sharedBuffers = (await client.query('show shared_buffers')).rows[0].shared_buffers as string;
  const t = args.target;
  const psqlOptions = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', databaseUrl];
  const psql = (sql: string) => [...psqlOptions, '-c', sql];

  for (const scale of args.scales) {
    const startedAt = new Date().toISOString();
    const loadAverageAtStart = os.loadavg()[0];
    const cli = await cliCode();
    // --clean: no malformed records, which psql's \copy (the baseline) cannot skip; the semantic
    // defects that silver repairs are all still there.
    const dataDir = path.join(ROOT, 'bench/.cache', `scale-${scale}-seed-${args.seed}-clean`);
    const results: StageResult[] = [];
    const step = (what: string) => console.error(`[scale ${scale}] ${what}`);
    // The stages that read the clean snapshot: all but daily, which generates its own days.
    const readsSnapshot = (['bronze', 'models', 'export', 'build'] as const).some((s) => args.stages.has(s));
    if (readsSnapshot && !existsSync(path.join(dataDir, '_manifest.json'))) {
      console.error(`generating scale ${scale} into ${path.relative(ROOT, dataDir)} ...`);
      await run('node', [CLI, 'generate', '--scale', String(scale), '--seed', String(args.seed), '--out', dataDir, '--manifest', '--clean'], { env, maxBuffer: 1 << 26 });
    }
    const sourceSizes = new Map(readsSnapshot ? await Promise.all(SOURCE_CONTRACTS.map(async (c) => [c.name, (await stat(path.join(dataDir, c.file))).size] as const)) : []);
    const sourceBytes = [...sourceSizes.values()].reduce((n, size) => n + size, 0);

    // Baseline tables: the same shape as bronze (text columns + lineage columns).
    const baseSchema = `${t}_baseline`;
    await client.query(`drop schema if exists ${baseSchema} cascade; create schema ${baseSchema}`);
    for (const c of SOURCE_CONTRACTS) {
      await client.query(`create table ${baseSchema}.${c.name} (${bronzeColumns(c).map((col) => `${col} text`).join(', ')}, _run_id bigint default 0, _source_file text default '${c.file}', _line_number bigint)`);
    }
    const psqlCopyFiles = async (contracts: readonly (typeof SOURCE_CONTRACTS)[number][]) => {
      for (const c of contracts) {
        await run('psql', psql(`truncate ${baseSchema}.${c.name}`));
        await run('psql', psql(`\\copy ${baseSchema}.${c.name} (${bronzeColumns(c).join(',')}) from '${path.join(dataDir, c.file)}' with (format csv, header true)`));
      }
    };
    // The same split as our load with --jobs 2: the largest file (the sales lines, about two thirds
    // of the bytes) on one connection, the others on the second.
    const bySize = [...SOURCE_CONTRACTS].sort((a, b) => sourceSizes.get(b.name)! - sourceSizes.get(a.name)!);
    const psqlCopyInTwoAtOnce = () => Promise.all([psqlCopyFiles(bySize.slice(0, 1)), psqlCopyFiles(bySize.slice(1))]);

    // Each scale starts from a fresh target: no bronze load for the first load to keep, and no
    // published silver and gold for the volume guard (row_count_change) to compare the first build
    // with (moving from scale 10 to 1 is not a 90% drop).
    await dropTarget(client, t);
    // 1. bronze
    if (args.stages.has('bronze')) {
      step('bronze: medallion load vs psql \\copy, one file after the other and two at once');
      const bronze: StageResult = { stage: 'bronze load', baseline: 'psql \\copy', ours: [], base: [], rows: 0, bytes: sourceBytes };
      const twoAtOnce: StageResult = { stage: '  same, baseline 2 psql at once', baseline: '2 × psql \\copy', ours: bronze.ours, base: [], rows: 0, bytes: sourceBytes };
      for (let i = 0; i < args.repeat; i++) {
        // a fresh target for every load: into the same one, the files its tables hold are kept
        await dropTarget(client, t);
        const ours = assertFullWork('medallion load', await timed('node', [CLI, 'load', '--seeds', dataDir, '--target', t], env));
        bronze.ours.push(ours.seconds);
        bronze.peakRssMb = Math.max(bronze.peakRssMb ?? 0, ours.peakRssMb ?? 0) || undefined;
        bronze.base.push(await secondsOf(() => psqlCopyFiles(SOURCE_CONTRACTS)));
        twoAtOnce.base.push(await secondsOf(psqlCopyInTwoAtOnce));
      }
      bronze.rows = Number((await client.query(`select (${SOURCE_CONTRACTS.map((c) => `(select count(*) from ${t}_bronze.${c.name})`).join(' + ')}) as n`)).rows[0].n);
      twoAtOnce.rows = bronze.rows;
      results.push(bronze, twoAtOnce);
    } else if (args.stages.has('models') || args.stages.has('export')) {
      step('bronze: loaded once, untimed (--stages)');
      await run('node', [CLI, 'load', '--seeds', dataDir, '--target', t], { env, maxBuffer: 1 << 26 });
    }

    // 2. silver + gold
    if (args.stages.has('models')) {
      step('silver+gold: medallion transform vs sorted copy');
      const models: StageResult = { stage: 'silver+gold', baseline: 'sorted copy of sales', ours: [], base: [], rows: 0, bytes: 0 };
      // the same runs, split by the run's own stage timings (etl.runs.stages): the models with their
      // data tests and rule counts (one schedule: each runs once the models it reads are built), and
      // the writing of the rule counts and the quarantine into the ledger
      const modelsOnly: StageResult = { stage: '  of which models+tests', baseline: 'sorted copy of sales', ours: [], base: models.base, rows: 0, bytes: 0 };
      const rulesOnly: StageResult = { stage: '  of which ledger writes', baseline: 'sorted copy of sales', ours: [], base: models.base, rows: 0, bytes: 0 };
      // The sorted copy is timed before and after each transform (its time varies by 10-20% from one
      // minute to the next on a shared 2-core machine), and the ratio takes the median of all of them.
      const sortedCopy = async () => {
        models.base.push(
          await secondsOf(() => run('psql', psql(`drop table if exists ${baseSchema}.sorted_sales; create table ${baseSchema}.sorted_sales as select * from ${t}_bronze.sales_details order by sls_cust_id, sls_order_dt`))),
        );
      };
      await sortedCopy();
      for (let i = 0; i < args.repeat; i++) {
        // --full-refresh: the same sources and models again would otherwise be a no-op
        const ours = assertFullWork('medallion transform', await timed('node', [CLI, 'transform', '--target', t, '--skip-export', '--full-refresh'], env));
        models.ours.push(ours.seconds);
        models.peakRssMb = Math.max(models.peakRssMb ?? 0, ours.peakRssMb ?? 0) || undefined;
        const stages = (await client.query(`select stages from ${t}_etl.runs where command = 'transform' order by run_id desc limit 1`)).rows[0].stages as { stage: string; seconds: number }[];
        modelsOnly.ours.push(stages.find((s) => s.stage === 'models_and_tests')?.seconds ?? Number.NaN);
        rulesOnly.ours.push(stages.find((s) => s.stage === 'rules')?.seconds ?? Number.NaN);
        await sortedCopy();
      }
      models.rows = Number((await client.query(`select count(*) as n from ${t}_gold.fact_sales`)).rows[0].n);
      modelsOnly.rows = models.rows;
      rulesOnly.rows = models.rows;
      // The skeleton of the sales branch (bench/floor.sql, without its own sorted copy): the least
      // work a point-in-time build of these lines can do, against the same sorted copies, so the
      // table shows how much of the silver + gold ratio any implementation would pay.
      const floor: StageResult = { stage: '  floor skeleton', baseline: 'sorted copy of sales', ours: [], base: models.base, rows: models.rows, bytes: 0 };
      for (let i = 0; i < args.repeat; i++) {
        floor.ours.push(await secondsOf(() => run('psql', [...psqlOptions, '-v', `target=${t}`, '-v', 'skip_sorted_copy=1', '-f', path.join(ROOT, 'bench/floor.sql')])));
      }
      // one gold model edited: `--select` rebuilds it and runs its tests against the published others,
      // compared with the whole transform above
      const selected: StageResult = { stage: '  --select gold.sales_daily', baseline: 'whole transform', ours: [], base: models.ours, rows: 0, bytes: 0 };
      for (let i = 0; i < args.repeat; i++) selected.ours.push(assertFullWork('medallion transform --select', await timed('node', [CLI, 'transform', '--target', t, '--skip-export', '--select', 'gold.sales_daily'], env)).seconds);
      selected.rows = Number((await client.query(`select count(*) as n from ${t}_gold.sales_daily`)).rows[0].n);
      // gold.customer_training_set's chain (the schedule silver.int_training_cutoffs, the
      // customers' running days silver.int_customer_days, the per-(customer, cutoff) rows
      // silver.int_customer_cutoffs, the quintile boundaries per cutoff
      // silver.int_training_thresholds, the scored rows) against
      // gold.customer_features' chain (silver.int_customer_orders, silver.int_customer_profiles, the
      // scores), each built whole
      // from the published silver with the build's memory and planner settings and the run's
      // as_of, alternating: the training set's target is a ratio of at most 3 at scale 100 with 12
      // cutoffs
      const trainingChain = ['silver.int_training_cutoffs', 'silver.int_customer_days', 'silver.int_customer_cutoffs', 'silver.int_customer_cutoff_values', 'silver.int_training_thresholds', 'gold.customer_training_set'];
      const featuresChain = ['silver.int_customer_orders', 'silver.int_customer_profiles', 'gold.customer_features'];
      const trainingSet: StageResult = { stage: '  customer_training_set chain', baseline: 'customer_features chain', ours: [], base: [], rows: 0, bytes: 0 };
      for (let i = 0; i < args.repeat; i++) {
        trainingSet.ours.push(await buildChain(client, t, trainingChain, baseSchema));
        trainingSet.base.push(await buildChain(client, t, featuresChain, baseSchema));
      }
      trainingSet.rows = Number((await client.query(`select count(*) as n from ${baseSchema}.customer_training_set`)).rows[0].n);
      // issue #20's gauge of the full build: silver + gold (with every test) against the skeleton
      // measured in the same run, the least work any implementation of these models would do
      const againstFloor: StageResult = { stage: '  silver+gold', baseline: 'floor skeleton', ours: models.ours, base: floor.ours, rows: models.rows, bytes: 0 };
      results.push(models, modelsOnly, rulesOnly, floor, againstFloor, selected, trainingSet);
    } else if (args.stages.has('export')) {
      step('silver+gold: built once, untimed (--stages)');
      await run('node', [CLI, 'transform', '--target', t, '--skip-export', '--full-refresh'], { env, maxBuffer: 1 << 26 });
    }
    const countFactRows = async () => Number((await client.query(`select count(*) as n from ${t}_gold.fact_sales`)).rows[0].n);
    const exportDir = path.join(os.tmpdir(), `medallion-bench-export-${scale}`);
    const csvFile = path.join(os.tmpdir(), `medallion-bench-fact-${scale}.csv`);
    const duckFile = path.join(os.tmpdir(), `medallion-bench-fact-${scale}.parquet`);

    // 3. export
    if (args.stages.has('export')) {
      const factRows = await countFactRows();
      step('export: medallion export vs psql \\copy to csv and DuckDB');
      const exp: StageResult = { stage: 'export fact_sales', baseline: 'psql \\copy to csv', ours: [], base: [], rows: factRows, bytes: 0 };
      const duck: StageResult = { stage: 'export fact_sales', baseline: 'psql csv + DuckDB parquet', ours: [], base: [], rows: factRows, bytes: 0 };
      const { DuckDBInstance } = await import('@duckdb/node-api');
      // The export's target is fact_sales against the same rows through psql and DuckDB: our export
      // of fact_sales alone, with everything a real export does (lock, snapshot, checks, manifest,
      // hashes, atomic switch). The three gold tables together are timed on their own row below.
      const all: StageResult = { stage: 'export all gold tables', baseline: '(wall time)', ours: [], base: [], rows: 0, bytes: 0 };
      for (let i = 0; i < args.repeat; i++) {
        await rm(exportDir, { recursive: true, force: true });
        // an emptied --out folder: into the last export's, its unchanged month files are linked
        const whole = assertFullWork('medallion export', await timed('node', [CLI, 'export', '--target', t, '--out', exportDir], env));
        all.ours.push(whole.seconds);
        all.peakRssMb = Math.max(all.peakRssMb ?? 0, whole.peakRssMb ?? 0) || undefined;
        all.bytes = await dirBytes(exportDir);
        await rm(exportDir, { recursive: true, force: true });
        const ours = assertFullWork('medallion export --tables fact_sales', await timed('node', [CLI, 'export', '--target', t, '--out', exportDir, '--tables', 'fact_sales'], env));
        exp.ours.push(ours.seconds);
        duck.ours.push(ours.seconds);
        exp.peakRssMb = Math.max(exp.peakRssMb ?? 0, ours.peakRssMb ?? 0) || undefined;
        duck.peakRssMb = exp.peakRssMb;
        // the baseline copies the columns the export wrote (the manifest's), not the ones it leaves out
        const manifest = JSON.parse(await readFile(path.join(exportDir, '_manifest.json'), 'utf8')) as { tables: Record<string, { columns: { name: string }[] }> };
        const exported = manifest.tables.fact_sales!.columns.map((c) => `"${c.name.replaceAll('"', '""')}"`).join(', ');
        const copied = await secondsOf(() => run('psql', psql(`\\copy (select ${exported} from ${t}_gold.fact_sales) to '${csvFile}' with (format csv, header true)`)));
        exp.base.push(copied);
        const converted = await secondsOf(async () => {
          const db = await DuckDBInstance.create(':memory:');
          const conn = await db.connect();
          await conn.run(`copy (select * from read_csv('${csvFile}', header = true)) to '${duckFile}' (format parquet, compression zstd)`);
          conn.closeSync();
        });
        duck.base.push(copied + converted);
      }
      exp.bytes = await dirBytes(exportDir);
      duck.bytes = exp.bytes;
      all.rows = Number((await client.query(`select (select count(*) from ${t}_gold.fact_sales) + (select count(*) from ${t}_gold.customer_features) + (select count(*) from ${t}_gold.sales_daily) as n`)).rows[0].n);
      results.push(exp, duck, all);
    }

    // 4. the whole build
    if (args.stages.has('build')) {
      step('medallion build (fresh target, fresh --out folder)');
      const build: StageResult = { stage: 'medallion build', baseline: '(wall time)', ours: [], base: [], rows: 0, bytes: sourceBytes };
      for (let i = 0; i < args.repeat; i++) {
        await dropTarget(client, t);
        await rm(exportDir, { recursive: true, force: true });
        const ours = assertFullWork('medallion build', await timed('node', [CLI, 'build', '--seeds', dataDir, '--target', t, '--out', exportDir], env));
        build.ours.push(ours.seconds);
        build.peakRssMb = Math.max(build.peakRssMb ?? 0, ours.peakRssMb ?? 0) || undefined;
      }
      build.rows = await countFactRows();
      results.push(build);
    }

    // 5. the cron's next day. The stages before leave a whole target, the baseline tables and
    // export files behind (about as large as the machine's memory at scale 100); removed first,
    // they do not compete with the daily target for the page cache.
    if (args.stages.has('daily')) {
      await dropTarget(client, t);
      await client.query(`drop schema if exists ${baseSchema} cascade`);
      await Promise.all([exportDir, csvFile, duckFile].map((file) => rm(file, { recursive: true, force: true })));
      results.push(...(await dailyStage(client, env, scale, args, step)));
    }

    const rows = results.map((r) => {
      const ours = median(r.ours);
      const base = r.base.length ? median(r.base) : Number.NaN;
      return [
        r.stage,
        `${ours.toFixed(2)} s (${Math.min(...r.ours).toFixed(2)}–${Math.max(...r.ours).toFixed(2)})`,
        r.base.length ? `${r.baseline} ${base.toFixed(2)} s (${Math.min(...r.base).toFixed(2)}–${Math.max(...r.base).toFixed(2)})` : r.baseline,
        r.base.length ? (ours / base).toFixed(2) : '-',
        Math.round(r.rows / ours).toLocaleString('en-US'),
        r.bytes ? (r.bytes / 1e6 / ours).toFixed(1) : '-',
        r.peakRssMb ? `${r.peakRssMb.toFixed(0)} MB` : '-',
      ];
    });
    console.log(`\nscale ${scale} (seed ${args.seed}, ${args.repeat} runs each, median (min–max)), ${os.cpus().length} CPUs, Node ${process.version}, PostgreSQL ${pgVersion}`);
    console.log(formatTable(['stage', 'ours', 'baseline', 'ratio', 'rows/s', 'MB/s', 'peak RSS'], rows));
    for (const r of results) if (r.note) console.log(`${r.stage.trim()}: ${r.note}`);
    // A run of some stages only is written beside the complete ones, not over them, and marked
    // partial: perf-doc takes the newest complete run of each scale.
    const partial = STAGES.some((s) => !args.stages.has(s));
    const stagesRun = STAGES.filter((s) => args.stages.has(s));
    const out = path.join(ROOT, 'bench/results', `${new Date().toISOString().slice(0, 10)}-${scale}${partial ? `-${stagesRun.join('+')}` : ''}.json`);
    await mkdir(path.dirname(out), { recursive: true });
    const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryBytes: os.totalmem(), os: `${os.type()} ${os.release()}`, node: process.version, postgres: pgVersion, sharedBuffers };
    const command = ['npm run bench --', ...process.argv.slice(2)].join(' ');
    await writeFile(out, `${JSON.stringify({ scale, seed: args.seed, repeat: args.repeat, command, stages: stagesRun, partial, startedAt, finishedAt: new Date().toISOString(), loadAverageAtStart, cli, ...machine, results: results.map((r) => ({ ...r, oursMedian: median(r.ours), baseMedian: r.base.length ? median(r.base) : null, ratio: r.base.length ? median(r.ours) / median(r.base) : null })) }, null, 2)}\n`);
    console.log(`written ${path.relative(ROOT, out)}`);
    await rm(csvFile, { force: true });
    await rm(duckFile, { force: true });
  }
  await client.end();
}

main().catch((err) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  // main's database client would keep the process alive
  process.exit(1);
});
