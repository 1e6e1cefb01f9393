/**
 * Build: create every model of the project, in dependency order, in the staging schemas
 * (`schemas.staging`: inside a run the run's own `<silver>__run_<id>`, `<gold>__run_<id>`), which
 * are dropped and recreated first. Nothing readers see is touched here, nor any other run's staging
 * schemas; publish.ts swaps the staging schemas in once the data tests pass.
 * The functions of `sql/functions` are (re)created in the target's etl schema before any model.
 *
 * Each model is one short transaction on a connection: `set local` memory settings,
 * `create table … as <select>` (or `create view … as`), a table's indexes (an incremental table's
 * partition index, src/transform/incremental.ts, and those its .yml declares), `analyze`. The run's date reaches the SQL
 * only through the session setting `medallion.as_of`. With `parallelClients`, models whose inputs
 * are built run at the same time, one per connection (src/schedule/schedule.ts): the customer and the
 * sales branches of the graph overlap, each on its own server process, and the data tests given
 * as `alongside` fill the connections the models leave free.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SchemaNames } from '../config.ts';
import { type Client, ident } from '../db/index.ts';
import { criticalPathFirst, runScheduled, type ScheduledTask } from '../schedule/index.ts';
import { DataError, fromDatabaseError, type MedallionError, UsageError } from '../errors.ts';
import { BUILD_MEMORY, isDatabaseError, memorySettings, type MemorySettings, modelSqlError, PLANNER_SETTINGS_SQL, setModelPlannerSettings, setRunSettings, withLocalSettings } from '../sql-runtime/index.ts';
import { compileSql, errorLocator, stagingSchemas } from './compile.ts';
import { bronzeTablesRead } from './dependencies.ts';
import { columnsOf, createIndex, datesIndexExpression, datesIndexName, type ModelUpdate, type UpdateContext, updateModel } from './incremental.ts';
import { FUNCTION_SCHEMA, readFunctionSql } from './sql-parser.ts';
import type { Materialization, Model, Project, RelationName, StagingSchemas } from './types.ts';

/** The columns (name and type) a quarantine model must return. */
export const QUARANTINE_COLUMNS: Readonly<Record<string, string>> = Object.freeze({
  model: 'text',
  rule: 'text',
  message: 'text',
  source_file: 'text',
  line_number: 'bigint',
  values: 'jsonb',
});

export type BuildEvent =
  | { type: 'build_started'; staging: StagingSchemas; models: number }
  | { type: 'model_started'; model: RelationName; materialized: Materialization }
  | { type: 'model_built'; model: RelationName; materialized: Materialization; rows: number | null; seconds: number; update?: ModelUpdate; builtWholeBecause?: string }
  | { type: 'model_failed'; model: RelationName; seconds: number; error: MedallionError }
  | { type: 'warning'; model: RelationName; file: string; message: string };

export interface BuildOptions {
  /** The build connection; session settings (medallion.as_of) are set on it. */
  client: Client;
  /**
   * More connections to build independent models on at the same time (default none: one model at a
   * time, in project order). Their session settings are set like `client`'s.
   */
  parallelClients?: readonly Client[];
  schemas: SchemaNames;
  project: Project;
  /** The run's date, YYYY-MM-DD. */
  asOf: string;
  /** The as_of the data alone gives (when --as-of pins another day), for `medallion.data_as_of`. */
  dataAsOf?: string | null;
  runId: number;
  onEvent?: (event: BuildEvent) => void;
  /** Checked between models; an aborted signal stops the build with the signal's reason. */
  signal?: AbortSignal;
  /** Memory for each model's statements (default BUILD_MEMORY of src/sql-runtime/session.ts). */
  memory?: Partial<MemorySettings>;
  /**
   * More tasks for the same connections, scheduled with the models and depending on them by model
   * name: the data tests (planTests of src/quality), which then run while later models build.
   */
  alongside?: readonly ScheduledTask<unknown>[];
  /**
   * Expected seconds of each model (the last run's, src/runs/ledger.ts lastTimings): the schedule
   * starts the longest remaining chain of models and tests first (criticalPathFirst). Without
   * them every model and test counts the same, and the longest chain of tasks goes first.
   */
  estimates?: ReadonlyMap<RelationName, number>;
  /**
   * The incremental models the model plan updates (src/transform/model-plan.ts, action `update`):
   * each is computed for its changed partitions only (src/transform/incremental.ts), or built whole
   * when its inputs do not allow it, with the reason in its ModelBuild.
   */
  updates?: ReadonlySet<RelationName>;
  /**
   * Filled with each update as its model is built, before the tasks that read the model start: the
   * data tests given as `alongside` read it (their row-level tests then read the delta alone).
   */
  updated?: Map<RelationName, ModelUpdate>;
  /**
   * Filled with the row count of each table built whole (what its `create table … as` reported),
   * before the tasks that read the model start: nothing else writes a staged table, so the data
   * tests take it as the table's count instead of counting the table again.
   */
  builtRows?: Map<RelationName, number>;
  /** The bronze tables whose `__changes` an update reads (incremental.ts, UpdateContext.bronzeChanges). */
  bronzeChanges?: ReadonlyMap<RelationName, string>;
}

export interface ModelBuild {
  model: RelationName;
  materialized: Materialization;
  /** Rows created (tables); null for views, which are not counted. */
  rows: number | null;
  seconds: number;
  /** The columns of the built relation, in order. */
  columns: { name: string; type: string }[];
  /** Set when the model was updated: its partitions and delta (`rows` then counts the delta). */
  update?: ModelUpdate;
  /** Set when the plan asked for an update and the model was built whole instead: why. */
  builtWholeBecause?: string;
  /** Set when that reason is an input built whole in this run (UpdateContext.builtWhole). */
  builtWholeAfterInput?: true;
}

export interface BuildResult {
  staging: StagingSchemas;
  models: ModelBuild[];
  seconds: number;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

export async function buildModels(options: BuildOptions): Promise<BuildResult> {
  const { client, schemas, project, asOf, runId, onEvent = () => {}, signal } = options;
  checkAsOf(asOf);
  const memory = memorySettings({ ...BUILD_MEMORY, ...options.memory });
  const started = performance.now();
  const staging = stagingSchemas(schemas);
  onEvent({ type: 'build_started', staging, models: project.models.length });

  const clients = [client, ...(options.parallelClients ?? [])];
  for (const c of clients) await setRunSettings(c, { asOf, runId, dataAsOf: options.dataAsOf });
  await createStaging(client, staging);
  await createFunctions(client, schemas, project);
  await analyzeSources(clients, schemas, project);
  const names = new Set(project.models.map((m) => m.name));
  const updated = options.updated ?? new Map<RelationName, ModelUpdate>();
  const builtWhole = new Set<RelationName>();
  const modelTasks: ScheduledTask<ModelBuild>[] = project.models.map((model) => ({
    id: model.name,
    dependsOn: model.dependencies.filter((d) => names.has(d) && d !== model.name),
    cost: options.estimates?.get(model.name),
    run: async (on: Client) => {
      onEvent({ type: 'model_started', model: model.name, materialized: model.materialized });
      const t0 = performance.now();
      try {
        const result = options.updates?.has(model.name) && model.incremental
          ? await updateOrBuildModel(on, schemas, staging, model, memory, { schemas, project, updates: updated, builtWhole, ...(options.bronzeChanges ? { bronzeChanges: options.bronzeChanges } : {}) })
          : await buildModel(on, schemas, staging, model, memory);
        if (result.update) updated.set(model.name, result.update);
        else if (model.incremental && (model.materialized === 'table' || result.builtWholeAfterInput)) builtWhole.add(model.name);
        if (!result.update && result.rows !== null) options.builtRows?.set(model.name, result.rows);
        for (const message of documentationWarnings(model, result.columns)) onEvent({ type: 'warning', model: model.name, file: model.ymlFile, message });
        onEvent({
          type: 'model_built',
          model: model.name,
          materialized: model.materialized,
          rows: result.rows,
          seconds: result.seconds,
          ...(result.update ? { update: result.update } : {}),
          ...(result.builtWholeBecause !== undefined ? { builtWholeBecause: result.builtWholeBecause } : {}),
        });
        return result;
      } catch (err) {
        onEvent({ type: 'model_failed', model: model.name, seconds: (performance.now() - t0) / 1000, error: err as MedallionError });
        throw err;
      }
    },
  }));
  const built = await runScheduled<unknown>(criticalPathFirst([...modelTasks, ...(options.alongside ?? [])]), clients, { signal });
  const models = project.models.map((m) => built.get(m.name) as ModelBuild);
  return { staging, models, seconds: (performance.now() - started) / 1000 };
}

function checkAsOf(asOf: string): void {
  const d = new Date(`${asOf}T00:00:00Z`);
  if (!ISO_DATE.test(asOf) || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== asOf) {
    throw new UsageError('CONFIG_INVALID', [`as_of: expected a date YYYY-MM-DD, got '${asOf}'`]);
  }
}

/**
 * Statistics for the bronze tables the models read, when they have none or are stale: a build right
 * after a load would otherwise be planned before autovacuum gets there (the planner then guesses
 * 2.2M rows for 6M and sizes its hashes and sorts wrong). A sample of 30,000 rows per table, the
 * tables shared out among the run's connections (the first model waits for all of them), largest first.
 */
async function analyzeSources(clients: readonly Client[], schemas: SchemaNames, project: Project): Promise<void> {
  const tables = bronzeTablesRead(project);
  try {
    const { rows } = await clients[0]!.query<{ relname: string }>(
      `select relname from pg_stat_user_tables
        where schemaname = $1 and relname = any($2)
          and (coalesce(last_analyze, last_autoanalyze) is null or n_mod_since_analyze > 0)
        order by pg_relation_size(relid) desc, relname`,
      [schemas.bronze, tables],
    );
    const next = rows.map((r) => r.relname).values();
    // every connection finishes its statement before an error is thrown: none is left busy
    const settled = await Promise.allSettled(clients.map(async (client) => {
      for (const relname of next) await client.query(`analyze ${ident(schemas.bronze)}.${ident(relname)}`);
    }));
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
  } catch (err) {
    throw fromDatabaseError(err, `analyzing the bronze tables in ${schemas.bronze}`);
  }
}

async function createStaging(client: Client, staging: StagingSchemas): Promise<void> {
  try {
    for (const schema of [staging.silver, staging.gold]) {
      await client.query(`drop schema if exists ${ident(schema)} cascade`);
      await client.query(`create schema ${ident(schema)}`);
    }
  } catch (err) {
    throw fromDatabaseError(err, `creating the staging schemas ${staging.silver}, ${staging.gold}`);
  }
}

/**
 * The functions the models call: each `sql/functions/<name>.sql` is one `create or replace function
 * etl.<name>(…)`, compiled like a model (`etl` → the target's etl schema, which no publish renames)
 * and run before any model, in file-name order, on every build: the same text leaves the function
 * as it was.
 */
export async function createFunctions(client: Client, schemas: SchemaNames, project: Project): Promise<void> {
  const dir = path.join(project.dir, 'functions');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // a project without functions
    throw err;
  }
  const problems: string[] = [];
  const functions: { name: string; file: string; sql: string }[] = [];
  for (const f of names) {
    const file = path.join(dir, f);
    const stem = f.slice(0, -'.sql'.length);
    const sql = readFunctionSql(await readFile(file, 'utf8'), file, stem, problems);
    if (sql !== undefined) functions.push({ name: `${FUNCTION_SCHEMA}.${stem}`, file, sql });
  }
  if (problems.length) {
    throw new DataError('MODEL_FILE_INVALID', problems.length === 1 ? problems[0]! : `${problems.length} problems in the function files:\n  - ${problems.join('\n  - ')}`, {
      file: problems[0]!.split(':')[0],
      problems,
      hint: 'Each file of sql/functions is one create or replace function etl.<file name>(…) (sql/README.md).',
    });
  }
  if (!functions.length) return;
  try {
    await client.query(`create schema if not exists ${ident(schemas.etl)}`);
  } catch (err) {
    throw fromDatabaseError(err, `creating the schema ${schemas.etl}`);
  }
  for (const fn of functions) {
    const compiled = compileSql(fn.sql, schemas);
    try {
      await client.query(compiled.sql);
    } catch (err) {
      throw modelSqlError(err, { model: fn.name, file: fn.file, doing: `creating the function ${fn.name}`, locate: errorLocator(fn.sql, compiled) });
    }
  }
}

/** An incremental model's update (src/transform/incremental.ts), or its whole build when it cannot be updated. */
async function updateOrBuildModel(client: Client, schemas: SchemaNames, staging: StagingSchemas, model: Model, memory: MemorySettings, context: UpdateContext): Promise<ModelBuild> {
  const t0 = performance.now();
  const attempt = await withLocalSettings(client, memory, async () => {
    await client.query(PLANNER_SETTINGS_SQL);
    await setModelPlannerSettings(client, model.plannerSettings);
    return updateModel(client, model, context);
  });
  if ('whole' in attempt) return { ...(await buildModel(client, schemas, staging, model, memory)), builtWholeBecause: attempt.whole, ...(attempt.afterWholeInput ? { builtWholeAfterInput: true as const } : {}) };
  const columns = [...(await columnsOf(client, staging[model.layer], model.relation))].map(([name, type]) => ({ name, type }));
  return { model: model.name, materialized: model.materialized, rows: attempt.update.rows, seconds: (performance.now() - t0) / 1000, columns, update: attempt.update };
}

async function buildModel(
  client: Client,
  schemas: SchemaNames,
  staging: StagingSchemas,
  model: Model,
  memory: MemorySettings,
): Promise<ModelBuild> {
  const t0 = performance.now();
  const target = `${ident(staging[model.layer])}.${ident(model.relation)}`;
  const compiled = compileSql(model.sql, schemas);
  // an unlogged table keeps its persistence through the schema swap, a selection's `set schema` and
  // the updates in place; a crash empties it (unlogged.ts finds it and has it rebuilt)
  const prefix = `create ${model.unlogged ? 'unlogged table' : model.materialized} ${target} as\n`;
  const source = { model: model.name, file: model.sqlFile, doing: `building ${model.name}`, locate: errorLocator(model.sql, compiled, prefix.length) };
  try {
    return await withLocalSettings(client, memory, async () => {
      await client.query(PLANNER_SETTINGS_SQL);
      await setModelPlannerSettings(client, model.plannerSettings);
      const result = await client.query(prefix + compiled.sql);
      const rows = model.materialized === 'table' ? (result.rowCount ?? 0) : null;
      if (model.materialized === 'table') {
        await declareNotNull(client, target, model);
        // the day's partitions of an incremental table are read and replaced through its partition
        // index; the declared ones (each once: model-spec.ts) serve readers that filter by another column
        const partitionBy = model.incremental?.partitionBy;
        const declared = (model.indexes ?? []).filter((c) => !(c.length === 1 && c[0] === partitionBy));
        for (const columns of [...(partitionBy !== undefined ? [[partitionBy]] : []), ...declared]) await createIndex(client, staging[model.layer], model.relation, columns);
        // the dates of a date window over its own rows, read by each update (incremental.ts)
        const dates = datesIndexExpression(model);
        if (dates !== undefined) await client.query(`create index ${ident(datesIndexName(model.relation))} on ${target} ((${dates}))`);
        await client.query(`analyze ${target}`);
      }
      const columns = [...(await columnsOf(client, staging[model.layer], model.relation))].map(([name, type]) => ({ name, type }));
      if (model.quarantine) checkQuarantineColumns(model, columns);
      return { model: model.name, materialized: model.materialized, rows, seconds: (performance.now() - t0) / 1000, columns };
    });
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw modelSqlError(err, source);
  }
}

/**
 * The columns a model's tests say can never be NULL (an unconditional not_null or accepted_values
 * test, or the unique_key) are declared NOT NULL on the built table, so that the catalog tells
 * readers and the Parquet export (numpy int64/bool instead of pandas' nullable Int64/boolean). When
 * the data breaks the promise, the constraint is left out and the data test reports the rows.
 */
export function notNullColumns(model: Model): string[] {
  const columns = new Set(model.uniqueKey);
  for (const t of model.tests) {
    if (t.kind === 'not_null' && !t.where) for (const c of t.columns) columns.add(c);
    if (t.kind === 'accepted_values' && !t.where && !t.allowNull) columns.add(t.column);
  }
  return [...columns];
}

async function declareNotNull(client: Client, target: string, model: Model): Promise<void> {
  const columns = notNullColumns(model);
  if (!columns.length) return;
  await client.query('savepoint declare_not_null');
  try {
    // one statement: one scan of the table for all the columns
    await client.query(`alter table ${target} ${columns.map((c) => `alter column ${ident(c)} set not null`).join(', ')}`);
    await client.query('release savepoint declare_not_null');
  } catch (err) {
    if (!isDatabaseError(err) || !['23502', '42703'].includes((err as { code?: string }).code ?? '')) throw err;
    await client.query('rollback to savepoint declare_not_null');
  }
}


function checkQuarantineColumns(model: Model, columns: { name: string; type: string }[]): void {
  const expected = Object.entries(QUARANTINE_COLUMNS);
  const got = new Map(columns.map((c) => [c.name, c.type]));
  const missing = expected.filter(([name]) => !got.has(name)).map(([name]) => name);
  const extra = columns.filter((c) => !(c.name in QUARANTINE_COLUMNS)).map((c) => c.name);
  const wrongType = expected.filter(([name, type]) => got.has(name) && got.get(name) !== type).map(([name, type]) => `${name} is ${got.get(name)}, expected ${type}`);
  if (missing.length + extra.length + wrongType.length === 0) return;
  const parts = [
    missing.length ? `missing ${missing.join(', ')}` : '',
    extra.length ? `unexpected ${extra.join(', ')}` : '',
    wrongType.length ? wrongType.join('; ') : '',
  ].filter(Boolean);
  throw new DataError(
    'MODEL_SQL_FAILED',
    `${model.name} is a quarantine model and must return exactly the columns ${expected.map(([n, t]) => `${n} ${t}`).join(', ')}: ${parts.join('; ')}`,
    { file: model.sqlFile, model: model.name, hint: 'See "Quarantine models" in sql/README.md.' },
  );
}

/** Columns documented in the .yml that the built relation does not have. */
function documentationWarnings(model: Model, columns: { name: string }[]): string[] {
  const names = new Set(columns.map((c) => c.name));
  return model.columns.filter((c) => !names.has(c.name)).map((c) => `column '${c.name}' is documented but ${model.name} has no such column`);
}
