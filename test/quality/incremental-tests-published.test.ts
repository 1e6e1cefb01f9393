/**
 * Data tests on an update that lean on the published run's verdicts (src/quality/incremental-tests.ts,
 * passedWhenPublished and the as_of-monotone declaration): a warn test whose published run found no
 * failing row, and a test declared monotone in as_of, read the delta alone; as_of moved back, a
 * failing row published by a warn test, or no recorded result runs them in full. Each case records
 * a published run's results over the published rows (as a run does before it publishes), then runs
 * the tests of the update in full and on the delta, and compares.
 */
import { describe, expect, it } from 'vitest';
import type { SchemaNames } from '../../src/config.ts';
import { type Client, ident } from '../../src/db/client.ts';
import { runTests, type TestResult } from '../../src/quality/index.ts';
import { readingPublished } from '../../src/transform/compile.ts';
import { loadProject, type Project } from '../../src/transform/index.ts';
import { createTable, layOutUpdate, useFixture } from './tables.ts';
import { caught, modelYml, newRun, removeProject, SOURCES, writeProject } from '../transform/helpers.ts';

let client: Client;
let schemas: SchemaNames;
let project: Project;

/** customer_id (the partition column), line_id, amount. */
type Line = [number | null, number, number];
const LINES = 'customer_id int, line_id int, amount int';
/** Days from 2020-01-01 to as_of: a line passes the as_of tests when its amount is below it. */
const DAYS = "(current_setting('medallion.as_of')::date - date '2020-01-01')";

const FILES = {
  'silver/customers.sql': 'select cst_id::int as customer_id from bronze.cust_info',
  'silver/customers.yml': modelYml('customers'),
  'gold/lines.sql': 'select c.customer_id, 1 as line_id, 1 as amount from silver.customers as c',
  'gold/lines.yml': modelYml(
    'lines',
    `
description: lines, by customer.
config: { materialized: incremental, partition_by: customer_id }
data_tests:
  - dbt_utils.expression_is_true:
      name: lines_before_as_of
      expression: "amount < ${DAYS}"
      # monotone: an amount below the days to as_of is below the days to every later as_of
      config: { meta: { monotone_in_as_of: true } }
  - dbt_utils.expression_is_true: { name: lines_before_as_of_undeclared, expression: "amount < ${DAYS}" }
  - dbt_utils.expression_is_true: { name: lines_amount_small, expression: "amount < 100", config: { severity: warn } }
  - dbt_utils.expression_is_true: { name: lines_amount_positive, expression: "amount > 0" }
`,
  ),
};

useFixture('qpub', FILES, (f) => {
  ({ client, schemas, project } = f);
}, dropAll);

const updateSchema = () => `${schemas.staging.gold}_u1`;

async function dropAll(): Promise<void> {
  for (const s of [schemas.gold, schemas.staging.gold, updateSchema()]) await client.query(`drop schema if exists ${ident(s)} cascade`);
}

interface Case {
  /** The published rows of gold.lines; the update recomputes customers 1 and 2. */
  lines: Line[];
  delta: Line[];
  /** The published run's as_of, and this run's. */
  asOf: [string, string];
  /** Run after the published run recorded its results: e.g. remove one. */
  afterPublish?: (publishedRun: number) => Promise<void>;
}

/** The published run's results over the published rows; then the update's tests in full and on the delta, by name. */
async function runBoth(c: Case): Promise<{ published: Map<string, TestResult>; full: Map<string, TestResult>; incremental: Map<string, TestResult> }> {
  const [asOfBefore, asOfNow] = c.asOf;
  await dropAll();
  for (const s of [schemas.gold, schemas.staging.gold]) await client.query(`create schema ${ident(s)}`);
  await createTable(client, schemas.gold, 'lines', LINES, c.lines);
  const lines = { ...project, models: project.models.filter((m) => m.name === 'gold.lines') };
  const byName = (r: TestResult[]) => new Map(r.map((x) => [x.name, x]));

  const publishedRun = await newRun(client, schemas);
  const published = byName((await runTests({ client, ledger: client, schemas: readingPublished(schemas, ['gold.lines']), project: lines, runId: publishedRun, asOf: asOfBefore })).results);
  await client.query(`update ${ident(schemas.etl)}.runs set published_at = clock_timestamp(), as_of = $2 where run_id = $1`, [publishedRun, asOfBefore]);
  await c.afterPublish?.(publishedRun);

  const update = await layOutUpdate(client, schemas, { layer: 'gold', name: 'lines', column: 'customer_id', updateSchema: updateSchema(), columns: LINES, partitions: [1, 2], delta: c.delta });
  const run = async (updates?: Map<string, typeof update>) =>
    byName((await runTests({ client, ledger: client, schemas, project: lines, runId: await newRun(client, schemas), asOf: asOfNow, ...(updates ? { updates } : {}) })).results);
  const full = await run();
  const incremental = await run(new Map([['gold.lines', update]]));
  return { published, full, incremental };
}

/**
 * Same verdicts, counts and failing rows both ways; `onDelta` names the tests that read the delta
 * alone, besides the volume guard (counts, whatever was published).
 */
function expectSame(full: Map<string, TestResult>, incremental: Map<string, TestResult>, onDelta: readonly string[]): void {
  expect([...incremental.keys()].sort()).toEqual([...full.keys()].sort());
  for (const [name, f] of full) {
    const i = incremental.get(name)!;
    expect(f.status, `${name}: ${f.message}`).not.toBe('error');
    expect({ name, status: i.status, failingRows: i.failingRows, sample: i.sample }).toEqual({ name, status: f.status, failingRows: f.failingRows, sample: f.sample });
    if ([...onDelta, 'row_count_change_gold_lines'].includes(name)) expect(i.message ?? '', name).toContain('on the delta of gold.lines');
    else expect(i.message ?? '', name).not.toContain('on the delta');
    // the volume guard's counts, whatever they were computed from
    if (f.kind === 'row_count_change') expect((i.message ?? '').replace(/; on the delta.*$/, ''), name).toBe(f.message);
  }
}

// customers 1..4; customer 3's line has amount 15: below the days to as_of from 2020-01-17 on
const PUBLISHED: Line[] = [
  [1, 1, 5],
  [2, 2, 5],
  [3, 3, 15],
  [4, 4, 5],
];

describe('data tests on an update, from the published run verdicts', () => {
  it('a test monotone in as_of and a warn test that passed read the delta alone as as_of moves forward, and find the delta failing rows', async () => {
    // at 2020-01-20 (19 days) the delta's amount 30 fails the as_of tests, 150 the warn test too
    const delta: Line[] = [
      [1, 1, 5],
      [2, 2, 30],
      [2, 5, 150],
    ];
    const { published, full, incremental } = await runBoth({ lines: PUBLISHED, delta, asOf: ['2020-01-17', '2020-01-20'] });
    expect([...published.values()].filter((r) => r.status !== 'pass')).toEqual([]);
    expect(full.get('lines_before_as_of')).toMatchObject({ status: 'fail', failingRows: 2 });
    expect(full.get('lines_amount_small')).toMatchObject({ status: 'warn', failingRows: 1 });
    expectSame(full, incremental, ['lines_before_as_of', 'lines_amount_small', 'lines_amount_positive']);
    // the published count is the one the published run measured
    expect(incremental.get('row_count_change_gold_lines')!.message).toMatch(/^4 rows published, 5 rows now .*measured by the published run/);

    // as_of unchanged: the same
    const same = await runBoth({ lines: PUBLISHED, delta, asOf: ['2020-01-20', '2020-01-20'] });
    expectSame(same.full, same.incremental, ['lines_before_as_of', 'lines_amount_small', 'lines_amount_positive']);
  });

  it('as_of moved back runs the monotone test in full: a published row outside the partitions that fails now is found', async () => {
    // customer 3's amount 15 passed at 2020-01-20 (19 days) and fails at 2020-01-12 (11 days)
    const { published, full, incremental } = await runBoth({ lines: PUBLISHED, delta: [[1, 1, 5]], asOf: ['2020-01-20', '2020-01-12'] });
    expect(published.get('lines_before_as_of')!.status).toBe('pass');
    expect(full.get('lines_before_as_of')).toMatchObject({ status: 'fail', failingRows: 1 });
    expect(full.get('lines_before_as_of')!.sample).toEqual([{ customer_id: 3, line_id: 3, amount: 15 }]);
    expectSame(full, incremental, ['lines_amount_small', 'lines_amount_positive']);
    expect(incremental.get('lines_before_as_of')!.sample).toEqual(full.get('lines_before_as_of')!.sample);
    expect(incremental.get('lines_before_as_of')!.message).toMatch(/; read the whole of gold\.lines: monotone in as_of, which moved back \(2020-01-20 published, 2020-01-12 now\)$/);
  });

  it('a failing row published by a warn test, or no recorded result of a test, runs it in full', async () => {
    // customer 3's amount 150 fails the warn test in the published run and outside the partitions now
    const lines: Line[] = [...PUBLISHED.slice(0, 2), [3, 3, 150], PUBLISHED[3]!];
    const warned = await runBoth({ lines, delta: [[1, 1, 5]], asOf: ['2020-01-17', '2020-01-20'] });
    expect(warned.published.get('lines_amount_small')).toMatchObject({ status: 'warn', failingRows: 1 });
    expect(warned.full.get('lines_amount_small')).toMatchObject({ status: 'warn', failingRows: 1 });
    // (the as_of tests fail on the published row too: they run in full as well)
    expectSame(warned.full, warned.incremental, ['lines_amount_positive']);
    expect(warned.incremental.get('lines_amount_small')!.message).toMatch(/; read the whole of gold\.lines: a warn test that the published run did not record with no failing row$/);

    // the published run did not record the monotone test (it kept the model, tested at another run's
    // as_of), nor the warn test: both run in full, however clean the rows; nor the volume guard: it
    // counts the published rows
    const unrecorded = await runBoth({
      lines: PUBLISHED,
      delta: [[1, 1, 5]],
      asOf: ['2020-01-17', '2020-01-20'],
      afterPublish: async (run) => {
        await client.query(`delete from ${ident(schemas.etl)}.test_results where run_id = $1 and test_name in ('lines_before_as_of', 'lines_amount_small', 'row_count_change_gold_lines')`, [run]);
      },
    });
    expectSame(unrecorded.full, unrecorded.incremental, ['lines_amount_positive']);
    expect(unrecorded.incremental.get('row_count_change_gold_lines')!.message).not.toContain('measured by the published run');
  });

  it('the volume guard of a table built whole takes the published count from the published run record, and counts it without one', async () => {
    // the record says 10 published rows where the table holds 4: a guard that reads the record says 10
    const recorded = await runBoth({
      lines: PUBLISHED,
      delta: [[1, 1, 5]],
      asOf: ['2020-01-17', '2020-01-20'],
      afterPublish: async (run) => {
        await client.query(
          `update ${ident(schemas.etl)}.test_results set measured = jsonb_build_object('new_rows', '10') where run_id = $1 and test_name = 'row_count_change_gold_lines'`,
          [run],
        );
      },
    });
    expect(recorded.published.get('row_count_change_gold_lines')!.message).toMatch(/^no baseline|^4 rows published, 4 rows now/);
    expect(recorded.full.get('row_count_change_gold_lines')).toMatchObject({ status: 'fail', failingRows: 7, sample: [{ baseline_rows: 10, new_rows: 3, max_drop: 0.5 }] });
    const unrecorded = await runBoth({
      lines: PUBLISHED,
      delta: [[1, 1, 5]],
      asOf: ['2020-01-17', '2020-01-20'],
      afterPublish: async (run) => {
        await client.query(`delete from ${ident(schemas.etl)}.test_results where run_id = $1 and test_name = 'row_count_change_gold_lines'`, [run]);
      },
    });
    expect(unrecorded.full.get('row_count_change_gold_lines')!.message).toMatch(/^4 rows published, 3 rows now/);
  });

  it('reads the declaration, and refuses one that is not a boolean or an unknown key', async () => {
    const test = project.models.find((m) => m.name === 'gold.lines')!.tests.find((t) => t.name === 'lines_before_as_of');
    expect(test).toMatchObject({ kind: 'expression', monotoneInAsOf: true });
    const bad = await writeProject({
      ...FILES,
      'gold/lines.yml': modelYml(
        'lines',
        'description: lines.\ndata_tests:\n  - dbt_utils.expression_is_true: { name: a, expression: "amount > 0", config: { meta: { monotone_in_as_of: yes please, monotone: true } } }\n',
      ),
    });
    try {
      const err = await caught(loadProject({ sqlDir: bad, sources: SOURCES }));
      expect(err.message).toContain("config.meta.monotone: unknown key 'monotone' (expected one of monotone_in_as_of)");
      expect(err.message).toContain("config.meta.monotone_in_as_of: expected true or false, got 'yes please'");
    } finally {
      await removeProject(bad);
    }
  });
});
