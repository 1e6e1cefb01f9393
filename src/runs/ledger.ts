/**
 * The run ledger in the `etl` schema: one row per run in `runs`, and per run the source files,
 * bronze rejects, silver/gold quarantine, rule counts and test results. The ledger is written on
 * its own connection, outside the load's transaction, so that failed runs are recorded too.
 */
import { currentBronzeLoads } from '../bronze/index.ts';
import type { SchemaNames } from '../config.ts';
import { type Client, ident, literal } from '../db/index.ts';
import { type InputFileRecord, newRunSummary, RUN_SUMMARY_VERSION, type RunSummary, summaryProblems } from './summary.ts';

export function ledgerDdl(schemas: SchemaNames): string {
  const e = ident(schemas.etl);
  return `
create schema if not exists ${e};
create table if not exists ${e}.runs (
  run_id        bigserial primary key,
  target        text,
  command       text not null,
  as_of         date,
  started_at    timestamptz not null default clock_timestamp(),
  finished_at   timestamptz,
  status        text not null default 'running' check (status in ('running', 'success', 'failed', 'interrupted')),
  exit_code     integer,
  error_code    text,
  error_message text,
  stages        jsonb not null default '[]'::jsonb,
  summary       jsonb not null default '{}'::jsonb
);
create table if not exists ${e}.source_files (
  run_id       bigint not null references ${e}.runs (run_id) on delete cascade,
  source       text not null,
  file         text not null,
  sha256       text not null,
  bytes        bigint not null,
  line_ending  text not null,
  encoding     text not null,
  records      bigint not null,
  rows_loaded  bigint not null,
  rejects      bigint not null,
  blank_lines  bigint not null,
  seconds      double precision not null,
  primary key (run_id, source)
);
create table if not exists ${e}.rejects (
  run_id      bigint not null references ${e}.runs (run_id) on delete cascade,
  source      text not null,
  file        text not null,
  line_number bigint not null,
  column_number integer,
  reason      text not null,
  message     text not null,
  -- raw_text is for reading (invalid UTF-8 shown as U+FFFD, NUL as U+2400); raw_bytes is exact
  raw_text    text not null,
  raw_bytes   bytea not null
);
create index if not exists rejects_run_idx on ${e}.rejects (run_id, source);
-- bronze accounting: physical lines of each file (header included); a rejected line keeps at most
-- 64 KiB of its bytes in raw_text/raw_bytes, with its full length and sha256
alter table ${e}.source_files add column if not exists lines bigint;
alter table ${e}.rejects add column if not exists raw_length bigint;
alter table ${e}.rejects add column if not exists raw_sha256 text;
create table if not exists ${e}.rule_counts (
  run_id      bigint not null references ${e}.runs (run_id) on delete cascade,
  model       text not null,
  rule        text not null,
  kind        text not null,
  rows        bigint not null,
  description text,
  primary key (run_id, model, rule)
);
create table if not exists ${e}.quarantine (
  run_id       bigint not null references ${e}.runs (run_id) on delete cascade,
  model        text not null,
  rule         text not null,
  message      text not null,
  source_file  text,
  line_number  bigint,
  values       jsonb
);
create index if not exists quarantine_run_idx on ${e}.quarantine (run_id, model, rule);
create table if not exists ${e}.test_results (
  run_id        bigint not null references ${e}.runs (run_id) on delete cascade,
  test_name     text not null,
  model         text,
  kind          text not null,
  severity      text not null check (severity in ('error', 'warn')),
  status        text not null check (status in ('pass', 'warn', 'fail', 'error')),
  failing_rows  bigint not null,
  sample        jsonb,
  message       text,
  seconds       double precision,
  primary key (run_id, test_name)
);
-- Columns and states added after the first ledger existed: idempotent, so an older ledger is
-- brought up to date by the next run.
alter table ${e}.runs add column if not exists published_at timestamptz;
alter table ${e}.runs add column if not exists exports_version text;
alter table ${e}.runs add column if not exists exports_published_at timestamptz;
alter table ${e}.runs add column if not exists abandoned_by bigint;
-- A ledger from before publications were recorded: its last successful build is the published one.
update ${e}.runs set published_at = finished_at
 where run_id = (select max(run_id) from ${e}.runs where status = 'success' and command in ('build', 'transform'))
   and not exists (select 1 from ${e}.runs where published_at is not null);
-- change detection: the row lines of a load (a kept load's lines reconcile from its row), and the
-- run whose load a run kept instead of loading the same file again
alter table ${e}.source_files add column if not exists row_lines bigint;
alter table ${e}.source_files add column if not exists kept_from_run bigint;
-- the transaction id of a load, which its rows carry as xmin: a row written since carries another
alter table ${e}.source_files add column if not exists load_xid text;
-- a load that appended a file's new tail to the rows of the previous load (src/bronze/append.ts):
-- the lines it reused, and the transaction ids the reused rows carry as xmin beside load_xid
alter table ${e}.source_files add column if not exists reused_lines bigint;
alter table ${e}.source_files add column if not exists reused_xids text[];
-- the --max-field-bytes a file was loaded with: a field over it is a reject, so a load under another
-- limit is not the table this file gives now (null: a load from before it was recorded)
alter table ${e}.source_files add column if not exists max_field_bytes bigint;
-- per run and source: what its load did to the bronze table (src/bronze/changes.ts); counts are
-- keys, null for a new source
create table if not exists ${e}.source_changes (
  run_id      bigint not null references ${e}.runs (run_id) on delete cascade,
  source      text not null,
  status      text not null check (status in ('new', 'unchanged', 'changed')),
  from_sha256 text,
  to_sha256   text not null,
  added       bigint,
  changed     bigint,
  removed     bigint,
  moved       bigint,
  primary key (run_id, source)
);
-- per publication: the hash of each published model's definition (src/transform/project-hash.ts),
-- and of the whole project on the run's row; a run that found nothing changed defers to a run
alter table ${e}.runs add column if not exists project_sha256 text;
alter table ${e}.runs add column if not exists deferred_to bigint;
create table if not exists ${e}.published_models (
  run_id     bigint not null references ${e}.runs (run_id) on delete cascade,
  model      text not null,
  sql_sha256 text not null,
  primary key (run_id, model)
);
-- per published unlogged model: whether its table held rows at the publication (a server crash
-- empties an unlogged table, and a run that finds one empty though recorded with rows rebuilds it:
-- src/transform/unlogged.ts); null for a logged model. Altered only when missing, as below.
do $$ begin
  if not exists (select from pg_attribute where attrelid = ${literal(`${e}.published_models`)}::regclass and attname = 'has_rows' and not attisdropped) then
    alter table ${e}.published_models add column has_rows boolean;
  end if;
end $$;
-- per test: the values its verdict is computed from (a reconciliation's left and right values, a
-- coverage's child and matched rows, as text), which the next run's test adds its changes to
-- (src/quality/incremental-reconciliations.ts). Altered only when the column is missing: an ALTER
-- waits for every lock on the table, and a reader of the results may hold one when a run starts.
do $$ begin
  if not exists (select from pg_attribute where attrelid = ${literal(`${e}.test_results`)}::regclass and attname = 'measured' and not attisdropped) then
    alter table ${e}.test_results add column measured jsonb;
  end if;
end $$;
alter table ${e}.runs drop constraint if exists runs_status_check;
alter table ${e}.runs add constraint runs_status_check
  check (status in ('running', 'success', 'failed', 'interrupted', 'abandoned'));
${migrateSummariesSql(e)}`;
}

/**
 * Brings every run summary without a version to the current one (RUN_SUMMARY_VERSION, summary.ts):
 * the bronze files' keys in snake_case, and the exports of a build (a list of tables) and of
 * `medallion export` (rows by table name, its folder and source run) as one record. Idempotent: a
 * summary with a version is left as it is.
 */
function migrateSummariesSql(e: string): string {
  return `-- run summaries: every row in the shape of run-summary.schema.json version ${RUN_SUMMARY_VERSION}
update ${e}.runs as r
   set summary = (r.summary - 'bronze' - 'export' - 'exports')
       || jsonb_build_object('version', ${RUN_SUMMARY_VERSION})
       || case when jsonb_typeof(r.summary -> 'bronze') = 'array' then jsonb_build_object('bronze', (
            select coalesce(jsonb_agg(
                     (f - 'lineEnding' - 'rowLines' - 'rowsLoaded' - 'rejectsByReason' - 'blankLines')
                     || jsonb_strip_nulls(jsonb_build_object('line_ending', f -> 'lineEnding', 'row_lines', f -> 'rowLines',
                          'rows_loaded', f -> 'rowsLoaded', 'rejects_by_reason', f -> 'rejectsByReason', 'blank_lines', f -> 'blankLines'))
                     order by n), '[]'::jsonb)
              from jsonb_array_elements(r.summary -> 'bronze') with ordinality as bronze_file (f, n)))
          else '{}'::jsonb end
       || case when jsonb_typeof(r.summary -> 'exports') = 'array'
            then jsonb_build_object('exports', jsonb_build_object('source_run_id', r.run_id, 'tables', r.summary -> 'exports'))
          when jsonb_typeof(r.summary -> 'export') = 'object' then jsonb_build_object('exports', jsonb_strip_nulls(jsonb_build_object(
            'dir', r.summary -> 'export' -> 'dir',
            'source_run_id', r.summary -> 'export' -> 'source_run_id',
            'tables', (select coalesce(jsonb_agg(jsonb_build_object('table', exported.key, 'rows', exported.value) order by exported.key), '[]'::jsonb)
                         from jsonb_each(coalesce(r.summary -> 'export' -> 'tables', '{}'::jsonb)) as exported))))
          else '{}'::jsonb end
 where not (r.summary ? 'version');
`;
}

export async function ensureLedger(client: Client, schemas: SchemaNames): Promise<void> {
  await client.query(ledgerDdl(schemas));
}

/**
 * `abandoned`: the run stopped without closing its row (kill -9, lost connection, server restart);
 * the next run that takes the target's lock marks it so (`abandoned_by`).
 */
export type RunStatus = 'running' | 'success' | 'failed' | 'interrupted' | 'abandoned';

export interface StageRecord {
  stage: string;
  status: 'success' | 'failed' | 'skipped';
  seconds: number;
  rows?: number;
}

export async function startRun(client: Client, schemas: SchemaNames, run: { target: string | null; command: string }): Promise<number> {
  const { rows } = await client.query<{ run_id: number }>(
    `insert into ${ident(schemas.etl)}.runs (target, command, summary) values ($1, $2, $3::jsonb) returning run_id`,
    [run.target, run.command, JSON.stringify(newRunSummary())],
  );
  return rows[0]!.run_id;
}

export async function recordAsOf(client: Client, schemas: SchemaNames, runId: number, asOf: string): Promise<void> {
  await client.query(`update ${ident(schemas.etl)}.runs set as_of = $2 where run_id = $1`, [runId, asOf]);
}

/**
 * Closes a run's row, once: a row that is no longer `running` (another run that took the lock has
 * marked it `abandoned`) keeps what it says.
 */
export async function finishRun(
  client: Client,
  schemas: SchemaNames,
  runId: number,
  outcome: { status: RunStatus; exitCode: number; errorCode?: string; errorMessage?: string; stages: StageRecord[]; summary: RunSummary },
): Promise<void> {
  const problems = await summaryProblems(outcome.summary);
  if (problems && outcome.status === 'success') {
    throw new Error(`the run summary does not match src/runs/run-summary.schema.json (${problems}); this is a bug of medallion, please report it`);
  }
  await client.query(
    `update ${ident(schemas.etl)}.runs
        set finished_at = clock_timestamp(), status = $2, exit_code = $3, error_code = $4, error_message = $5,
            stages = $6::jsonb, summary = $7::jsonb
      where run_id = $1 and status = 'running'`,
    [runId, outcome.status, outcome.exitCode, outcome.errorCode ?? null, outcome.errorMessage ?? null, JSON.stringify(outcome.stages), JSON.stringify(outcome.summary)],
  );
}

/** Seconds of each model and each data test in the last run that built them. */
export interface LastTimings {
  models: Map<string, number>;
  tests: Map<string, number>;
}

/**
 * The timings of the latest successful `build` or `transform`: what the scheduler expects each
 * model and test to take this time (src/schedule/schedule.ts, criticalPathFirst). Empty maps when there
 * is no such run yet.
 */
export async function lastTimings(client: Client, schemas: SchemaNames): Promise<LastTimings> {
  const e = ident(schemas.etl);
  const { rows } = await client.query<{ kind: 'model' | 'test'; name: string; seconds: number }>(
    `with last_run as (
       select run_id, summary from ${e}.runs
        where command in ('build', 'transform') and status = 'success' and deferred_to is null
        order by run_id desc
        limit 1
     )
     select 'model' as kind, model ->> 'model' as name, (model ->> 'seconds')::float8 as seconds
       from last_run cross join jsonb_array_elements(coalesce(summary -> 'models', '[]'::jsonb)) as model
     union all
     select 'test', result.test_name, result.seconds
       from last_run join ${e}.test_results as result using (run_id)`,
  );
  const timings: LastTimings = { models: new Map(), tests: new Map() };
  for (const r of rows) if (r.name !== null && Number.isFinite(r.seconds)) timings[r.kind === 'model' ? 'models' : 'tests'].set(r.name, r.seconds);
  return timings;
}

/** The run whose silver and gold are published now: its id, as_of and exports folder version. */
export interface PublishedRun {
  runId: number;
  asOf: string | null;
  /** The export version its publish committed (null: published with --skip-export). */
  exportsVersion: string | null;
  /** The hash of the project it built (src/transform/project-hash.ts); null: a selection, or an older ledger. */
  projectSha256: string | null;
  summary: RunSummary;
}

/**
 * The last run whose publish committed (`published_at` is set in the publishing transaction, so
 * it names exactly the run whose schemas readers see), or null before the first publish.
 */
export async function lastPublishedRun(client: Client, schemas: SchemaNames): Promise<PublishedRun | null> {
  const { rows } = await client.query<{ run_id: string; as_of: string | null; exports_version: string | null; project_sha256: string | null; summary: RunSummary }>(
    `select run_id, to_char(as_of, 'YYYY-MM-DD') as as_of, exports_version, project_sha256, summary
       from ${ident(schemas.etl)}.runs where published_at is not null order by published_at desc, run_id desc limit 1`,
  );
  const r = rows[0];
  return r ? { runId: Number(r.run_id), asOf: r.as_of, exportsVersion: r.exports_version, projectSha256: r.project_sha256, summary: r.summary } : null;
}

/** A run found `running` by the run that took its target's lock, and marked `abandoned`. */
export interface AbandonedRun {
  runId: number;
  command: string;
  startedAt: Date;
}

/**
 * Marks every other `running` run of this ledger `abandoned` (finished now, `abandoned_by` the
 * caller's run). Only the run that holds the target's lock may call it: no other run of the target
 * can then be going, so a `running` row is one whose process or connection died before it closed it.
 */
export async function abandonRunningRuns(client: Client, schemas: SchemaNames, byRunId: number, errorMessage: string): Promise<AbandonedRun[]> {
  const { rows } = await client.query<{ run_id: number; command: string; started_at: Date }>(
    `update ${ident(schemas.etl)}.runs
        set status = 'abandoned', finished_at = clock_timestamp(), abandoned_by = $1, error_code = 'RUN_ABANDONED', error_message = $2
      where status = 'running' and run_id <> $1
      returning run_id, command, started_at`,
    [byRunId, errorMessage],
  );
  return rows.map((r) => ({ runId: Number(r.run_id), command: r.command, startedAt: r.started_at })).sort((a, b) => a.runId - b.runId);
}

/**
 * The commit record of a publish, written inside the publishing transaction: the run whose
 * schemas readers now see, and the export version that goes with them (null: no export). A crash
 * after this commit but before the export folder's switch is finished from this record.
 */
export async function recordPublication(
  client: Client,
  schemas: SchemaNames,
  runId: number,
  exportsVersion: string | null,
  inputs: readonly InputFileRecord[],
  project?: PublishedProject,
): Promise<void> {
  const e = ident(schemas.etl);
  // The inputs go in with the commit: `medallion export` names them even if the run dies next.
  await client.query(
    `update ${e}.runs
        set published_at = clock_timestamp(), exports_version = $2, exports_published_at = case when $2::text is null then null else clock_timestamp() end,
            summary = jsonb_set(summary, '{inputs}', $3::jsonb), project_sha256 = $4
      where run_id = $1`,
    [runId, exportsVersion, JSON.stringify(inputs), project?.projectSha256 ?? null],
  );
  if (!project) return;
  // A selection publishes its own models; the others stay as the previous publication left them.
  await client.query(
    `insert into ${e}.published_models (run_id, model, sql_sha256)
     select $1::bigint, m.model, m.sql_sha256 from unnest($2::text[], $3::text[]) as m (model, sql_sha256)
     union all
     select $1::bigint, p.model, p.sql_sha256 from ${e}.published_models p
      where p.run_id = (select max(run_id) from ${e}.published_models where run_id <> $1::bigint) and p.model <> all($2::text[])`,
    [runId, [...project.models.keys()], [...project.models.values()]],
  );
  if (!project.unlogged?.size) return;
  await client.query(
    `update ${e}.published_models p set has_rows = u.has_rows
       from unnest($2::text[], $3::boolean[]) as u (model, has_rows)
      where p.run_id = $1 and p.model = u.model`,
    [runId, [...project.unlogged.keys()], [...project.unlogged.values()]],
  );
}

/** What a publication built: the project's hash (null for a selection) and the hash of each model it built. */
export interface PublishedProject {
  projectSha256: string | null;
  /** Model (`silver.customers`) → the sha256 of its definition. */
  models: ReadonlyMap<string, string>;
  /**
   * Every unlogged model published now (built or kept) → whether its table holds rows, checked in
   * the publishing transaction (src/transform/unlogged.ts).
   */
  unlogged?: ReadonlyMap<string, boolean>;
}

/**
 * The models published now, each with the sha256 of the definition it was built from
 * (`<etl>.published_models` of the last publication; a selection's row set carries the models it
 * did not build from the publication before). Empty before the first publication that recorded them.
 */
export async function publishedModels(client: Client, schemas: SchemaNames): Promise<Map<string, string>> {
  const e = ident(schemas.etl);
  const { rows } = await client.query<{ model: string; sql_sha256: string }>(
    `select model, sql_sha256 from ${e}.published_models
      where run_id = (select run_id from ${e}.runs where published_at is not null order by published_at desc, run_id desc limit 1)
      order by model`,
  );
  return new Map(rows.map((r) => [r.model, r.sql_sha256]));
}

/**
 * The unlogged models of the last publication, each with whether its table held rows then
 * (`<etl>.published_models.has_rows`). Empty before the first publication that recorded them.
 */
export async function publishedUnlogged(client: Client, schemas: SchemaNames): Promise<Map<string, boolean>> {
  const e = ident(schemas.etl);
  const { rows } = await client.query<{ model: string; has_rows: boolean }>(
    `select model, has_rows from ${e}.published_models
      where run_id = (select run_id from ${e}.runs where published_at is not null order by published_at desc, run_id desc limit 1)
        and has_rows is not null
      order by model`,
  );
  return new Map(rows.map((r) => [r.model, r.has_rows]));
}

/**
 * A run that found nothing to do: it defers to `deferredTo`, the published run whose silver, gold
 * and exports stand for it. It stays `success`; `deferred_to` tells it from a run that built.
 */
export async function recordDeferral(client: Client, schemas: SchemaNames, runId: number, deferredTo: number): Promise<void> {
  await client.query(`update ${ident(schemas.etl)}.runs set deferred_to = $2 where run_id = $1`, [runId, deferredTo]);
}

/** The commit record of `medallion export`: its version is the published export from now on. */
export async function recordExportPublication(client: Client, schemas: SchemaNames, runId: number, exportsVersion: string): Promise<void> {
  await client.query(`update ${ident(schemas.etl)}.runs set exports_version = $2, exports_published_at = clock_timestamp() where run_id = $1`, [runId, exportsVersion]);
}

/** The newest export version that a run committed (a build's publish or `medallion export`), or null. */
export async function lastCommittedExport(client: Client, schemas: SchemaNames): Promise<{ runId: number; path: string } | null> {
  const { rows } = await client.query<{ run_id: string; exports_version: string }>(
    `select run_id, exports_version from ${ident(schemas.etl)}.runs
      where exports_published_at is not null order by exports_published_at desc, run_id desc limit 1`,
  );
  return rows[0] ? { runId: Number(rows[0].run_id), path: rows[0].exports_version } : null;
}

/**
 * The source files the bronze tables there are now were loaded from, each table's own load (its
 * rows' `_run_id`: a load that failed did not replace them, a run that found a file unchanged kept
 * the table), or null when bronze has not been loaded. `medallion transform` builds from these
 * files and records them as its inputs.
 */
export async function loadedInputFiles(client: Client, schemas: SchemaNames): Promise<InputFileRecord[] | null> {
  const loads = await currentBronzeLoads(client, schemas);
  if (!loads.size) return null;
  return [...loads.values()].sort((a, b) => (a.source < b.source ? -1 : 1)).map((l) => ({ file: l.file, sha256: l.sha256, bytes: l.bytes }));
}
