/**
 * Running every data test of the project against the staging schemas, before anything is
 * published. Per test: count the failing rows; when there are some, read up to `sampleSize` of
 * them as JSON. Each result is written to etl.test_results as soon as it is known (history is
 * kept per run), so a run that dies half-way still shows the tests it ran.
 *
 * Status: `pass`; `fail` (an error-severity test with failing rows); `warn` (a warn-severity test
 * with failing rows); `error` (the test's SQL itself failed, e.g. a column that does not exist).
 * A lost connection or server trouble (SQLSTATE classes 53, 57 — a cancelled statement too —, 58,
 * XX; isSqlFault) is not a test result: it is thrown as a DependencyError.
 */
import type { SchemaNames } from '../config.ts';
import { type Client, ident } from '../db/index.ts';
import { criticalPathFirst, runScheduled, type ScheduledTask } from '../schedule/index.ts';
import { fromDatabaseError } from '../errors.ts';
import { BUILD_MEMORY, isSqlFault, memorySettings, type MemorySettings, PLANNER_SETTINGS_SQL, setRunSettings, withLocalSettings } from '../sql-runtime/index.ts';
import { compiledRelation, deltaSchemas, type EqualTest, type ModelUpdate, modelsAmong, type Project, type RelationName, relationsRead, type Severity, type TestDefinition, type TestKind } from '../transform/index.ts';
import { coverageDefinition, type PublishedValues, publishedTestValues, reconciliationForm, sha256, type TestValues } from './incremental-reconciliations.ts';
import { deltaTest, type IncrementalForm, incrementalForm, provingTest, type PublishedVerdicts, sameAsPublishedSql, wholeBuildVolumeForm, wholeModelReason } from './incremental-tests.ts';
import {
  type CoverageTest,
  equalJudgement,
  equalValuesSql,
  failingRowPredicate,
  failingRowsSql,
  failureMessage,
  isMeasuredTest,
  type KeyColumns,
  type Measurement,
  type MeasuredTest,
  measuredFailingRows,
  measuredMessage,
  measurementSql,
  publishedRelation,
  ROW_LEVEL_TEST_KINDS,
} from './test-sql.ts';

export type TestStatus = 'pass' | 'warn' | 'fail' | 'error';

export interface TestResult {
  name: string;
  model: RelationName;
  kind: TestKind;
  severity: Severity;
  status: TestStatus;
  failingRows: number;
  /** Up to `sampleSize` failing rows, as JSON objects. */
  sample: Record<string, unknown>[];
  /** What failed, in one sentence (or the SQL error); null when the test passed. */
  message: string | null;
  seconds: number;
  /** The .yml that declares the test. */
  file: string;
  /**
   * What the verdict is computed from (a reconciliation's values, a coverage's counts), kept in
   * etl.test_results.measured for the next run's incremental form (incremental-reconciliations.ts).
   */
  values?: TestValues;
}

export interface TestSummary {
  results: TestResult[];
  counts: Record<TestStatus, number>;
  /** Error-severity tests that failed or could not run: any of these means "do not publish". */
  blocking: TestResult[];
  /** From planning to the summary: with the models when scheduled with them (each test has its own). */
  seconds: number;
}

export type TestEvent = { type: 'test_started'; test: string; model: RelationName } | { type: 'test_finished'; result: TestResult };

export interface RunTestsOptions {
  /** Reads the staging schemas. */
  client: Client;
  /** More connections to run tests on at the same time (default none: one test at a time). */
  parallelClients?: readonly Client[];
  /** Writes etl.test_results (may be the same connection). */
  ledger: Client;
  schemas: SchemaNames;
  project: Project;
  runId: number;
  /** Set as medallion.as_of on `client` before the tests (tests may read it). */
  asOf?: string;
  onEvent?: (event: TestEvent) => void;
  signal?: AbortSignal;
  /** Failing rows kept per test (default 10). */
  sampleSize?: number;
  /** Memory for each test's queries (default BUILD_MEMORY of src/sql-runtime/session.ts). */
  memory?: Partial<MemorySettings>;
  /**
   * The incremental models updated in this run (in a schedule, filled as each is built, before the
   * tasks that read it start): a test of an updated model reads its delta, and of the published
   * rows only what its verdict needs (incremental-tests.ts).
   */
  updates?: ReadonlyMap<RelationName, ModelUpdate>;
  /**
   * The row count of each table built whole in this run (in a schedule, filled as each is built):
   * its volume guard takes it as the new count instead of counting the table (wholeBuildVolumeForm).
   */
  builtRows?: ReadonlyMap<RelationName, number>;
}

export async function runTests(options: RunTestsOptions): Promise<TestSummary> {
  const clients = [options.client, ...(options.parallelClients ?? [])];
  if (options.asOf !== undefined) for (const c of clients) await setRunSettings(c, { asOf: options.asOf });
  const plan = planTests(options);
  await runScheduled(criticalPathFirst(plan.tasks), clients, { signal: options.signal });
  return plan.summary();
}

export type PlanTestsOptions = Omit<RunTestsOptions, 'client' | 'parallelClients' | 'asOf' | 'signal'> & {
  /**
   * The models built in the same schedule as these tests (task ids are model names): each test
   * task then waits for the models it reads. Default none: the models are already built.
   */
  modelTasks?: ReadonlySet<RelationName>;
  /** Expected seconds of each test, by name (the last run's): the tasks' `cost`. */
  estimates?: ReadonlyMap<string, number>;
};

/** The data tests as tasks for runScheduled, and their summary once the tasks have run. */
export interface TestPlan {
  tasks: ScheduledTask<void>[];
  summary(): TestSummary;
}

/**
 * The data tests as tasks that runScheduled can run beside the model builds (as dbt's `build`
 * does): a test starts as soon as every model it reads is built and a connection is free, so the
 * tests of the early models run while the long models at the end of the graph are still building.
 * Each task's `cost` is the test's last run time when known (criticalPathFirst orders by it).
 *
 * The row-level tests of a model (not_null, accepted_values, expression) are counted together in
 * one scan; only a test that fails there runs again on its own, for its sample rows. At 6M rows
 * this saves one full scan per test. On an update of the model, those that hold on the whole
 * model when they hold on the delta (deltaTest: with what the published run passed, a warn test
 * and a test monotone in as_of too) are counted together over the delta, and the others together
 * over the whole model.
 */
export function planTests(options: PlanTestsOptions): TestPlan {
  const { ledger, schemas, project, runId, onEvent = () => {}, sampleSize = 10, modelTasks = new Set(), estimates } = options;
  const memory = memorySettings({ ...BUILD_MEMORY, ...options.memory });
  const started = performance.now();
  const results: TestResult[] = [];
  const finish = async (result: TestResult) => {
    await recordTestResult(ledger, schemas, runId, result);
    results.push(result);
    onEvent({ type: 'test_finished', result });
  };
  const builtFirst = (tests: TestDefinition[]) => modelsAmong(tests.flatMap(relationsRead), modelTasks);

  /** Per relation built in this run that an incremental form needs unchanged: whether it is (asked once). */
  const unchanged = new Map<RelationName, Promise<boolean>>();
  const allUnchanged = async (on: Client, relations: readonly RelationName[]): Promise<boolean> => {
    for (const r of relations) {
      if (!unchanged.has(r)) unchanged.set(r, sameAsPublished(on, r, schemas, options.updates));
      if (!(await unchanged.get(r))) return false;
    }
    return true;
  };

  /** The published run's test values, read once when an incremental form first needs them. */
  let published: Promise<PublishedValues | undefined> | undefined;
  const runAsOf = async (on: Client): Promise<string | undefined> => {
    const { rows } = await on.query<{ as_of: string | null }>("select nullif(current_setting('medallion.as_of', true), '') as as_of");
    return rows[0]?.as_of ?? undefined;
  };
  const reconciliation = async (on: Client, test: TestDefinition): Promise<IncrementalForm | undefined> => {
    if (!options.updates?.size || !(test.kind === 'equal' || (test.kind === 'relationships' && test.minCoverage !== undefined))) return undefined;
    published ??= publishedTestValues(ledger, schemas);
    return reconciliationForm(test, { schemas, updates: options.updates, project, published: await published, asOf: await runAsOf(on) });
  };
  /** A volume guard of a table built whole: the published count as the published run recorded it (wholeBuildVolumeForm). */
  const materializedAs = new Map(project.models.map((m) => [m.name, m.materialized]));
  const wholeBuildVolume = async (test: TestDefinition): Promise<IncrementalForm | undefined> => {
    if (test.kind !== 'row_count_change' || options.updates?.has(test.model) || materializedAs.get(test.model) !== 'table') return undefined;
    published ??= publishedTestValues(ledger, schemas);
    return wholeBuildVolumeForm(test, schemas, materializedAs.get(test.model), (await published)?.tests.get(test.name)?.new_rows, options.builtRows?.get(test.model));
  };
  /** What the published run passed, and this run's as_of: asked once, when a test of an updated model first needs it. */
  let verdicts: Promise<PublishedVerdicts> | undefined;
  const verdictsFor = async (on: Client, model: RelationName): Promise<PublishedVerdicts | undefined> => {
    if (!options.updates?.has(model)) return undefined;
    verdicts ??= (async () => {
      published ??= publishedTestValues(ledger, schemas);
      const values = await published;
      return { publishedAsOf: values?.asOf ?? null, passed: values?.passed ?? new Set<string>(), measured: values?.tests ?? new Map(), asOf: await runAsOf(on) };
    })();
    return verdicts;
  };

  const passedInBatch = new Set<TestDefinition>();
  /** Counts the failing rows of row-level tests of one model in one scan and records those that pass, each with its message. */
  const countTogether = async (on: Client, tests: TestDefinition[], reading: SchemaNames, messageOf: (test: TestDefinition) => string | null) => {
    const t0 = performance.now();
    const counts = await countFailingRows(on, reading, tests[0]!.model, tests, memory);
    if (!counts) return;
    const each = (performance.now() - t0) / 1000 / tests.length;
    for (const [i, test] of tests.entries()) {
      if (counts[i] !== 0) continue;
      passedInBatch.add(test);
      await finish({ name: test.name, model: test.model, kind: test.kind, severity: test.severity, file: test.file, status: 'pass', failingRows: 0, sample: [], message: messageOf(test), seconds: each });
    }
  };
  const batchOf = new Map<TestDefinition, string>();
  const tasks: ScheduledTask<void>[] = [];
  for (const model of project.models) {
    const rowTests = model.tests.filter((t) => ROW_LEVEL_TEST_KINDS.has(t.kind));
    if (rowTests.length < 2) continue;
    const id = `row tests of ${model.name}`;
    for (const t of rowTests) batchOf.set(t, id);
    const costs = rowTests.map((t) => estimates?.get(t.name));
    tasks.push({
      id,
      dependsOn: builtFirst(rowTests),
      cost: costs.every((c) => c !== undefined) ? costs.reduce((a, b) => a + b, 0) : undefined,
      run: async (on: Client) => {
        // Known only now that the model is built: whether it was updated (an update may have
        // turned into a whole build). The tests that hold on the whole model when they hold on
        // the delta scan the delta together; the others scan the whole model together, so one
        // test that needs the whole model does not take the others with it.
        const update = options.updates?.get(model.name);
        const known = await verdictsFor(on, model.name);
        const onDelta = rowTests.filter((t) => deltaTest(t, update, known));
        const inFull = rowTests.filter((t) => !deltaTest(t, update, known));
        const note = onDelta.length ? (incrementalForm(onDelta[0]!, schemas, options.updates, known)?.note ?? null) : null;
        if (onDelta.length) await countTogether(on, onDelta, deltaSchemas(schemas, update!), () => note);
        // a test alone is no cheaper counted here than by its own task, which also reads its sample
        if (inFull.length > 1) await countTogether(on, inFull, schemas, (t) => wholeModelReason(t, options.updates, known) ?? null);
      },
    });
  }
  for (const test of project.models.flatMap((m) => m.tests)) {
    const batch = batchOf.get(test);
    // a test that another test of this run proves (provingTest) waits for it
    const proof = provingTest(test, project);
    tasks.push({
      id: `test ${test.name}`,
      dependsOn: [...builtFirst([test]), ...(batch ? [batch] : []), ...(proof ? [`test ${proof.name}`] : [])],
      cost: estimates?.get(test.name),
      run: async (on: Client) => {
        if (passedInBatch.has(test)) return;
        onEvent({ type: 'test_started', test: test.name, model: test.model });
        if (proof && results.some((r) => r.name === proof.name && r.status === 'pass')) {
          const of = project.models.find((m) => m.name === test.model)!.projection!.of;
          const columns = test.kind === 'unique' ? test.columns.join(', ') : (test as { column: string }).column;
          const message = `proven: ${test.model} holds one row per row of ${of} with ${columns} copied (projection_of, checked from its SQL), and ${proof.name} passed in this run`;
          await finish({ name: test.name, model: test.model, kind: test.kind, severity: test.severity, file: test.file, status: 'pass', failingRows: 0, sample: [], message, seconds: 0 });
          return;
        }
        const known = await verdictsFor(on, test.model);
        const planned = incrementalForm(test, schemas, options.updates, known) ?? (await reconciliation(on, test)) ?? (await wholeBuildVolume(test));
        const changed = planned?.unchanged && !(await allUnchanged(on, planned.unchanged));
        const form = planned && !changed ? planned : undefined;
        // a test of an updated model that reads it whole says why in its result
        const whole = changed
          ? `read the whole of ${test.model}: ${planned.unchanged!.join(', ')} does not hold its published rows`
          : planned
            ? undefined
            : wholeModelReason(test, options.updates, known);
        const reading = form?.schemas ?? schemas;
        const columns = test.kind === 'unique' ? await keyColumns(on, reading, test.model) : undefined;
        const result = await runTest(on, reading, test, sampleSize, memory, columns, form, whole);
        // an incremental form that cannot run (a key type without a hash, a parent not published
        // yet) leaves the verdict to the full test
        await finish(form && result.status === 'error' ? await runTest(on, schemas, test, sampleSize, memory, test.kind === 'unique' ? await keyColumns(on, schemas, test.model) : undefined) : result);
      },
    });
  }
  return {
    tasks,
    summary() {
      // the project's order, whatever order the connections finished in
      const order = new Map(project.models.flatMap((m) => m.tests).map((t, i) => [t.name, i]));
      const sorted = [...results].sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0));
      return summarize(sorted, (performance.now() - started) / 1000);
    },
  };
}

/**
 * Whether a relation built in this run holds its published rows (sameAsPublishedSql); false when
 * the comparison cannot run (nothing published yet): the test then runs in full.
 */
async function sameAsPublished(client: Client, relation: RelationName, schemas: SchemaNames, updates: ReadonlyMap<RelationName, ModelUpdate> | undefined): Promise<boolean> {
  try {
    const { rows } = await client.query<{ same: boolean | null }>(sameAsPublishedSql(relation, schemas, updates));
    return rows[0]?.same === true;
  } catch (err) {
    if (!isSqlFault(err)) throw fromDatabaseError(err, `comparing ${relation} with its published rows`);
    return false;
  }
}

/**
 * Failing-row counts of several row-level tests of one model, in one scan. Undefined when the
 * combined query fails (one test's SQL is wrong): each test then runs alone, so the error is
 * reported against the test that has it.
 */
async function countFailingRows(client: Client, schemas: SchemaNames, model: RelationName, tests: TestDefinition[], memory: MemorySettings): Promise<number[] | undefined> {
  const columns = tests.map((t, i) => `count(*) filter (where ${failingRowPredicate(t, schemas)}) as f${i}`);
  try {
    const { rows } = await withLocalSettings(client, memory, async () => {
      await client.query(PLANNER_SETTINGS_SQL);
      return client.query<Record<string, number>>(`select ${columns.join(',\n       ')}\n  from ${compiledRelation(model, schemas)} as t`);
    });
    return tests.map((_, i) => Number(rows[0]![`f${i}`]));
  } catch (err) {
    if (!isSqlFault(err)) throw fromDatabaseError(err, `running the data tests of ${model}`);
    return undefined;
  }
}

export function summarize(results: TestResult[], seconds: number): TestSummary {
  const counts: Record<TestStatus, number> = { pass: 0, warn: 0, fail: 0, error: 0 };
  for (const r of results) counts[r.status]++;
  const blocking = results.filter((r) => r.severity === 'error' && (r.status === 'fail' || r.status === 'error'));
  return { results, counts, blocking, seconds };
}

/**
 * The text-like columns of a model, and those of them whose collation is deterministic (see
 * KeyColumns). Empty when the model cannot be read: the test then reports that.
 */
async function keyColumns(client: Client, schemas: SchemaNames, model: RelationName): Promise<KeyColumns> {
  try {
    const { rows } = await client.query<{ name: string; deterministic: boolean }>(
      `select a.attname as name, c.collisdeterministic as deterministic
         from pg_attribute as a join pg_collation as c on c.oid = a.attcollation
        where a.attrelid = to_regclass($1) and a.attnum > 0 and not a.attisdropped`,
      [compiledRelation(model, schemas)],
    );
    return { bytewise: new Set(rows.filter((r) => r.deterministic).map((r) => r.name)), collatable: new Set(rows.map((r) => r.name)) };
  } catch (err) {
    if (!isSqlFault(err)) throw fromDatabaseError(err, `reading the columns of ${model}`);
    return { bytewise: new Set(), collatable: new Set() };
  }
}

/** Runs one test; SQL errors become status `error`, a lost connection is thrown. */
export async function runTest(
  client: Client,
  schemas: SchemaNames,
  test: TestDefinition,
  sampleSize = 10,
  memory = memorySettings(BUILD_MEMORY),
  columns?: KeyColumns,
  form?: IncrementalForm,
  /** Without a form: why the test reads its whole model on an update (wholeModelReason), for its message. */
  whole?: string,
): Promise<TestResult> {
  const t0 = performance.now();
  const base = { name: test.name, model: test.model, kind: test.kind, severity: test.severity, file: test.file };
  // `schemas` are the form's: the full test's SQL over them reads the delta when the form says so
  const formSql = form?.failing?.(columns ?? { bytewise: new Set(), collatable: new Set() });
  const incremental = form && (form.failing === undefined || formSql !== undefined) ? form : undefined;
  /** The result says what the test read when it ran incrementally, or why it read the whole model. */
  const note = incremental?.note ?? whole;
  const noted = (message: string | null) => (note ? (message ? `${message}; ${note}` : note) : message);
  try {
    if (isMeasuredTest(test)) {
      const measured = await runMeasuredTest(client, schemas, test, memory, incremental?.measurement, incremental?.unpublishedMeasurement);
      return { ...base, ...measured, message: noted(measured.message), seconds: (performance.now() - t0) / 1000 };
    }
    if (test.kind === 'equal') {
      const judged = await runEqualTest(client, schemas, test, sampleSize, memory, incremental?.values);
      return { ...base, ...judged, message: judged.status === 'error' ? judged.message : noted(judged.message), seconds: (performance.now() - t0) / 1000 };
    }
    const failing = formSql ?? failingRowsSql(test, schemas, columns);
    // Count and sample in one transaction: the same snapshot, and work_mem for the big hashes.
    const { failingRows, sample } = await withLocalSettings(client, memory, async () => {
      await client.query(PLANNER_SETTINGS_SQL);
      // a unique test groups millions of keys: sorted bytewise, not hashed (see failingRowsSql)
      if (test.kind === 'unique') await client.query("select set_config('enable_hashagg', 'off', true)");
      const { rows } = await client.query<{ n: number }>(`select count(*) as n from (\n${failing}\n) as failing`);
      const n = rows[0]!.n;
      if (n === 0 || sampleSize <= 0) return { failingRows: n, sample: [] as Record<string, unknown>[] };
      const s = await client.query<{ row: Record<string, unknown> }>(`select to_jsonb(failing) as row from (\n${failing}\n) as failing limit ${Math.floor(sampleSize)}`);
      return { failingRows: n, sample: s.rows.map((r) => r.row) };
    });
    const status: TestStatus = failingRows === 0 ? 'pass' : test.severity === 'error' ? 'fail' : 'warn';
    return { ...base, status, failingRows, sample, message: noted(failingRows ? failureMessage(test, failingRows, sample) : null), seconds: (performance.now() - t0) / 1000 };
  } catch (err) {
    // a lost connection, server trouble or a cancelled statement (the schedule stopping after another
    // task failed) is not a result of the test: the error that stopped the run is the one to report
    if (!isSqlFault(err)) throw fromDatabaseError(err, `running the data test ${test.name}`, { file: test.file });
    return { ...base, status: 'error', failingRows: 0, sample: [], message: `the test could not run: ${err.message}`, seconds: (performance.now() - t0) / 1000 };
  }
}

/**
 * A measured test (row_count_change, relationships with min_coverage): one query for its
 * measurements; the message keeps them whether it passes or not, the sample holds them when it fails.
 */
async function runMeasuredTest(
  client: Client,
  schemas: SchemaNames,
  test: MeasuredTest,
  memory: MemorySettings,
  /** The incremental form's measurement (incremental-tests.ts), in place of measurementSql. */
  measurement?: string,
  /** The incremental form's measurement when the model has no published table. */
  unpublishedMeasurement?: string,
): Promise<Pick<TestResult, 'status' | 'failingRows' | 'sample' | 'message'>> {
  const published = test.kind === 'row_count_change' ? publishedRelation(test.model, schemas) : undefined;
  const m = await withLocalSettings(client, memory, async () => {
    await client.query(PLANNER_SETTINGS_SQL);
    const baseline = published === undefined || (await client.query<{ found: boolean }>('select to_regclass($1) is not null as found', [published])).rows[0]!.found;
    const sql = baseline ? (measurement ?? measurementSql(test, schemas)) : (unpublishedMeasurement ?? measurementSql(test, schemas, { baseline }));
    return (await client.query<Measurement>(sql)).rows[0]!;
  });
  const failingRows = measuredFailingRows(test, m);
  const status: TestStatus = !m.fails ? 'pass' : test.severity === 'error' ? 'fail' : 'warn';
  const { fails: _, ...values } = m;
  const sample = m.fails ? [{ ...numbers(values), ...(test.kind === 'row_count_change' ? { max_drop: test.maxDrop } : { min_coverage: test.minCoverage }) }] : [];
  // kept for the next run's incremental form: a coverage's counts, a volume guard's new count (the
  // count of the rows this run publishes)
  const counts =
    test.kind === 'relationships'
      ? { values: { child_rows: String(m.child_rows), matched_rows: String(m.matched_rows), definition_sha256: coverageDefinition(test as CoverageTest) } }
      : { values: { new_rows: String(m.new_rows) } };
  return { status, failingRows, sample, message: measuredMessage(test, m, published?.replaceAll('"', '')), ...counts };
}

/**
 * A scalar_equality: both values in one query (the two queries, or the incremental form's row),
 * judged as failingRowsSql judges them. The values are kept, as text with their types and the
 * sha256 of each side's SQL, for the next run's incremental form. A side the form computes that
 * comes out NULL is an error of the form (the caller runs the test in full).
 */
async function runEqualTest(
  client: Client,
  schemas: SchemaNames,
  test: EqualTest,
  sampleSize: number,
  memory: MemorySettings,
  form?: IncrementalForm['values'],
): Promise<Pick<TestResult, 'status' | 'failingRows' | 'sample' | 'message' | 'values'>> {
  const { differs, difference } = equalJudgement(test);
  const row = await withLocalSettings(client, memory, async () => {
    await client.query(PLANNER_SETTINGS_SQL);
    for (const statement of form?.setup ?? []) await client.query(statement);
    // materialized: each side's query runs once, not once per reference to its value
    const { rows } = await client.query<{ failing: Record<string, unknown>; left_text: string | null; right_text: string | null; left_type: string; right_type: string; fails: boolean }>(
      `with side_values as materialized (\n${form?.sql ?? equalValuesSql(test, schemas)}\n)
       select to_jsonb(x) as failing, x.left_value::text as left_text, x.right_value::text as right_text,
              pg_typeof(x.left_value)::text as left_type, pg_typeof(x.right_value)::text as right_type, coalesce(${differs}, false) as fails
         from (select left_value, right_value, ${difference} as difference from side_values) as x`,
    );
    for (const statement of form?.teardown ?? []) await client.query(statement);
    return rows[0]!;
  });
  const nulls = (form?.exact ?? []).filter((side) => (side === 'left_value' ? row.left_text : row.right_text) === null);
  if (nulls.length) return { status: 'error', failingRows: 0, sample: [], message: `the incremental form found no ${nulls.join(' and ')} (a side that is not a sum)` };
  const values = { left_value: row.left_text, right_value: row.right_text, left_type: row.left_type, right_type: row.right_type, left_sha256: sha256(test.left), right_sha256: sha256(test.right) };
  if (!row.fails) return { status: 'pass', failingRows: 0, sample: [], message: null, values };
  const sample = sampleSize > 0 ? [row.failing] : [];
  return { status: test.severity === 'error' ? 'fail' : 'warn', failingRows: 1, sample, message: failureMessage(test, 1, sample), values };
}

/** bigint counts arrive as strings or numbers depending on the driver's parsers: numbers here. */
function numbers(values: Record<string, unknown>): Record<string, number | null> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v === null || v === undefined ? null : Number(v)]));
}

export async function recordTestResult(ledger: Client, schemas: SchemaNames, runId: number, r: TestResult): Promise<void> {
  try {
    await ledger.query(
      `insert into ${ident(schemas.etl)}.test_results (run_id, test_name, model, kind, severity, status, failing_rows, sample, message, seconds, measured)
       values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11::jsonb)
       on conflict (run_id, test_name) do update set
         model = excluded.model, kind = excluded.kind, severity = excluded.severity, status = excluded.status,
         failing_rows = excluded.failing_rows, sample = excluded.sample, message = excluded.message, seconds = excluded.seconds,
         measured = excluded.measured`,
      [runId, r.name, r.model, r.kind, r.severity, r.status, r.failingRows, r.sample.length ? JSON.stringify(r.sample) : null, r.message, r.seconds, r.values ? JSON.stringify(r.values) : null],
    );
  } catch (err) {
    throw fromDatabaseError(err, `recording the result of test ${r.name} in ${schemas.etl}.test_results`);
  }
}
