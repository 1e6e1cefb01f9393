/**
 * The measured data tests (src/quality/test-sql.ts, isMeasuredTest) against a real build and publish:
 * row_count_change, the volume guard every model has by default (this build's rows against the
 * published model's), and relationships with min_coverage (the share of child rows that find a
 * parent). Three builds of the same project on shrinking bronze: the first publishes the baseline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SchemaNames } from '../../src/config.ts';
import { type Client, ident } from '../../src/db/client.ts';
import { runTests, type TestResult, type TestSummary } from '../../src/quality/index.ts';
import { buildModels, loadProject, type Project, publishModels } from '../../src/transform/index.ts';
import { caught, createBronze, dropSchemas, newRun, removeProject, SOURCES, setUpTarget, testClient, uniqueTarget, modelYml, writeProject } from '../transform/helpers.ts';

let client: Client;
let schemas: SchemaNames;
let dir: string;
let project: Project;

const FILES = {
  'silver/customers.sql': 'select cst_id::int as customer_id from bronze.cust_info',
  'silver/customers.yml': modelYml('customers', 'description: customers.\n'),
  'silver/items.sql': 'select sls_ord_num as order_number, sls_cust_id::int as customer_id from bronze.sales_details',
  'silver/items.yml': modelYml('items', `
description: sales lines.
columns:
  - name: customer_id
    data_tests:
      - relationships: { name: items_customer_coverage, to: silver.customers, field: customer_id, min_coverage: 0.75 }
      - relationships: { to: silver.customers, field: customer_id, min_coverage: 1, config: { where: "order_number <> 'SO9'" } }
`),
  'gold/summary.sql': 'select order_number from silver.items',
  'gold/summary.yml': modelYml('summary', 'description: gold, so its implied guard has severity error.\n'),
  'gold/tolerant.sql': 'select order_number from silver.items',
  'gold/tolerant.yml': modelYml('tolerant', `
description: any drop is fine, but not to nothing.
data_tests:
  - row_count_change: { max_drop: 1, config: { severity: warn } }
`),
  'gold/unguarded.sql': 'select order_number from silver.items',
  'gold/unguarded.yml': modelYml('unguarded', `
description: no volume guard.
data_tests:
  - row_count_change: { config: { enabled: false } }
`),
};

async function setSales(rows: [string, string][]): Promise<void> {
  await createBronze(client, schemas, 'sales_details', ['sls_ord_num', 'sls_cust_id'], rows);
}

/** Builds into staging, runs every data test, and publishes when `publish`. */
async function buildAndTest(publish: boolean): Promise<TestSummary> {
  const runId = await newRun(client, schemas);
  await buildModels({ client, schemas, project, asOf: '2024-05-01', runId });
  const summary = await runTests({ client, ledger: client, schemas, project, runId });
  if (publish) await publishModels(client, schemas);
  return summary;
}

function result(summary: TestSummary, name: string): TestResult {
  const r = summary.results.find((x) => x.name === name);
  if (!r) throw new Error(`no result for ${name} among ${summary.results.map((x) => x.name).join(', ')}`);
  return r;
}

let first: TestSummary;
let shrunk: TestSummary;
let emptied: TestSummary;

beforeAll(async () => {
  client = await testClient();
  ({ schemas } = await setUpTarget(client, uniqueTarget('volume')));
  await createBronze(client, schemas, 'cust_info', ['cst_id'], [['1'], ['2']]);
  dir = await writeProject(FILES);
  project = await loadProject({ sqlDir: dir, sources: SOURCES });
  await setSales([
    ['SO1', '1'],
    ['SO2', '1'],
    ['SO3', '2'],
    ['SO9', '3'],
  ]);
  first = await buildAndTest(true);
  await setSales([['SO9', '3']]);
  shrunk = await buildAndTest(false);
  await setSales([]);
  emptied = await buildAndTest(false);
});

afterAll(async () => {
  await dropSchemas(client, schemas);
  await client.end();
  await removeProject(dir);
});

describe('row_count_change: implied for every table that is not a quarantine model', () => {
  it('severity error for gold, warn for silver, max_drop 0.5; declared ones replace it, enabled: false removes it', () => {
    const guards = project.models.flatMap((m) => m.tests).filter((t) => t.kind === 'row_count_change');
    expect(guards.map((t) => [t.name, t.severity, t.kind === 'row_count_change' && t.maxDrop, t.declaredAt])).toEqual([
      ['row_count_change_silver_customers', 'warn', 0.5, 'implied'],
      ['row_count_change_silver_items', 'warn', 0.5, 'implied'],
      ['row_count_change_gold_summary', 'error', 0.5, 'implied'],
      ['row_count_change_gold_tolerant', 'warn', 1, 'models[0].data_tests[0]'],
    ]);
  });

  it('a quarantine model or a view has none unless declared; bad declarations name the file, line and key', async () => {
    const quarantine = await writeProject({
      'silver/kept_out.sql': 'select 1 as x',
      'silver/kept_out.yml': modelYml('kept_out', `
config:
  meta:
    quarantine: true
`),
      'silver/seen.sql': 'select 1 as x',
      'silver/seen.yml': modelYml('seen', 'config:\n  materialized: view\n'),
      'silver/watched.sql': 'select 1 as x',
      'silver/watched.yml': modelYml('watched', `
config:
  materialized: view
data_tests:
  - row_count_change: { max_drop: 0.1 }
`),
    });
    try {
      const p = await loadProject({ sqlDir: quarantine, sources: SOURCES });
      expect(p.models.map((m) => m.tests.map((t) => `${t.name} ${t.severity}`))).toEqual([[], [], ['row_count_change_silver_watched warn']]);
    } finally {
      await removeProject(quarantine);
    }
    const bad = await writeProject({
      'silver/a.sql': 'select 1 as x',
      'silver/a.yml': modelYml('a', `
columns:
  - name: x
    data_tests: [row_count_change]
data_tests:
  - row_count_change: { max_drop: 1.5 }
  - row_count_change: { max_drop: 0.2, config: { enabled: false } }
  - relationships: { column_name: x, to: silver.a, field: x, min_coverage: 0 }
`),
    });
    try {
      const error = (await caught(loadProject({ sqlDir: bad, sources: SOURCES }))) as unknown as { code: string; context: { problems?: string[] } };
      expect(error.code).toBe('MODEL_FILE_INVALID');
      const f = `${bad}/silver/a.yml`;
      expect(error.context.problems).toEqual([
        `${f}:7: models[0].columns[0].data_tests[0]: row_count_change is about the whole model: list it under the model's data_tests, not under a column`,
        `${f}:9: models[0].data_tests[0].row_count_change.max_drop: expected a fraction of the published rows, 0 ≤ max_drop ≤ 1 (0.5 = half of them may go), got 1.5`,
        `${f}:10: models[0].data_tests[1]: row_count_change is declared more than once for silver.a`,
        `${f}:10: models[0].data_tests[1].row_count_change: a disabled row_count_change takes no other key (got max_drop)`,
        `${f}:11: models[0].data_tests[2].relationships.min_coverage: expected a fraction of the child rows, 0 < min_coverage ≤ 1 (0.95 = 95%), got 0`,
      ]);
    } finally {
      await removeProject(bad);
    }
  });
});

describe('row_count_change against the published models', () => {
  it('passes with "no baseline" when nothing is published yet', () => {
    expect(result(first, 'row_count_change_gold_summary')).toMatchObject({
      status: 'pass',
      failingRows: 0,
      sample: [],
      message: `no baseline: ${schemas.gold}.summary is not published yet (4 rows now)`,
    });
    expect(first.blocking).toEqual([]);
  });

  it('fails a gold model that lost more than half of its rows; warns for silver; a declared max_drop 1 passes', () => {
    expect(result(shrunk, 'row_count_change_gold_summary')).toMatchObject({
      status: 'fail',
      severity: 'error',
      failingRows: 3,
      sample: [{ baseline_rows: 4, new_rows: 1, max_drop: 0.5 }],
      message: '4 rows published, 1 row now (-75.0%; a drop of more than 50.0% fails)',
    });
    expect(result(shrunk, 'row_count_change_silver_items')).toMatchObject({ status: 'warn', severity: 'warn', failingRows: 3 });
    expect(result(shrunk, 'row_count_change_gold_tolerant')).toMatchObject({ status: 'pass', message: '4 rows published, 1 row now (-75.0%; a drop of more than 100.0% fails)' });
    expect(result(shrunk, 'row_count_change_silver_customers')).toMatchObject({ status: 'pass', message: '2 rows published, 2 rows now (0.0%; a drop of more than 50.0% fails)' });
    expect(shrunk.results.map((r) => r.name)).not.toContain('row_count_change_gold_unguarded');
  });

  it('always fails a model that had rows and now has none, at its own severity', () => {
    expect(result(emptied, 'row_count_change_gold_tolerant')).toMatchObject({
      status: 'warn',
      failingRows: 4,
      message: '4 rows published, 0 rows now: the model is empty',
    });
    expect(result(emptied, 'row_count_change_gold_summary')).toMatchObject({ status: 'fail', failingRows: 4 });
  });

  it('is recorded in etl.test_results with its measurements', async () => {
    const { rows } = await client.query(
      `select kind, severity, status, failing_rows::int, sample, message from ${ident(schemas.etl)}.test_results
        where test_name = 'row_count_change_gold_summary' order by run_id`,
    );
    expect(rows.map((r) => [r.status, r.failing_rows, r.sample])).toEqual([
      ['pass', 0, null],
      ['fail', 3, [{ baseline_rows: 4, new_rows: 1, max_drop: 0.5 }]],
      ['fail', 4, [{ baseline_rows: 4, new_rows: 0, max_drop: 0.5 }]],
    ]);
    expect(rows[1]).toMatchObject({ kind: 'row_count_change', severity: 'error' });
  });
});

describe('relationships with min_coverage', () => {
  it('passes when at least that share of the child rows find a parent, the others not failing it', () => {
    expect(result(first, 'items_customer_coverage')).toMatchObject({
      status: 'pass',
      failingRows: 0,
      message: '3 of 4 rows (75.0%) find their customer_id in silver.customers.customer_id; at least 75.0% must',
    });
    // `where` filters the child rows first; the default name says it is a coverage test
    expect(result(first, 'relationships_silver_items_customer_id_to_silver_customers_customer_id_coverage')).toMatchObject({ status: 'pass' });
  });

  it('fails below it, counting the child rows without a parent', () => {
    expect(result(shrunk, 'items_customer_coverage')).toMatchObject({
      status: 'fail',
      failingRows: 1,
      sample: [{ child_rows: 1, matched_rows: 0, min_coverage: 0.75 }],
      message: '0 of 1 row (0.0%) find their customer_id in silver.customers.customer_id; at least 75.0% must',
    });
  });

  it('has nothing to measure on an empty model: passes', () => {
    expect(result(emptied, 'items_customer_coverage')).toMatchObject({ status: 'pass', message: expect.stringMatching(/^0 of 0 rows/) });
  });
});

describe('row_count_change of a table built in the same schedule', () => {
  it("takes the new count from the build's own `create table … as`, not from a count of the table", async () => {
    await setSales([
      ['SO1', '1'],
      ['SO2', '1'],
      ['SO3', '2'],
    ]);
    const runId = await newRun(client, schemas);
    const builtRows = new Map<string, number>();
    const { staging } = await buildModels({ client, schemas, project, asOf: '2024-05-01', runId, builtRows });
    expect(builtRows.get('gold.summary')).toBe(3);
    // a row nothing in a run writes: the two forms tell apart which count they read
    await client.query(`insert into ${ident(staging.gold)}.summary values ('SO4')`);
    const fromBuild = await runTests({ client, ledger: client, schemas, project, runId, builtRows });
    expect(result(fromBuild, 'row_count_change_gold_summary').message).toBe('4 rows published, 3 rows now (-25.0%; a drop of more than 50.0% fails)');
    const counted = await runTests({ client, ledger: client, schemas, project, runId: await newRun(client, schemas) });
    expect(result(counted, 'row_count_change_gold_summary').message).toBe('4 rows published, 4 rows now (0.0%; a drop of more than 50.0% fails)');
  });
});
