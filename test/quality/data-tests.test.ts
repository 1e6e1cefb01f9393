import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SchemaNames } from '../../src/config.ts';
import { type Client, ident } from '../../src/db/client.ts';
import { MedallionError } from '../../src/errors.ts';
import { assertTestsPassed, failingRowsSql, runTests, type TestResult, type TestSummary } from '../../src/quality/index.ts';
import { summarize } from '../../src/quality/run-tests.ts';
import { buildModels, loadProject, type Project } from '../../src/transform/index.ts';
import { caught, createBronze, dropSchemas, newRun, removeProject, SOURCES, setUpTarget, testClient, uniqueTarget, modelYml, writeProject } from '../transform/helpers.ts';

let client: Client;
let schemas: SchemaNames;
let dir: string;
let project: Project;
let summary: TestSummary;
let runId: number;

beforeAll(async () => {
  client = await testClient();
  ({ schemas, runId } = await setUpTarget(client, uniqueTarget('quality')));
  await createBronze(client, schemas, 'cust_info', ['cst_id'], [['1'], ['2']]);
  await createBronze(client, schemas, 'sales_details', ['sls_ord_num', 'sls_prd_key', 'sls_cust_id', 'sls_quantity', 'sls_price'], [
    ['SO1', 'P1', '1', '1', '10'],
    ['SO1', 'P2', '2', '2', '5'],
    ['SO2', 'P1', '3', '1', null],
    ['SO2', 'P1', '1', '0', '7'],
  ]);
  dir = await writeProject({
    'silver/customers.sql': 'select cst_id::int as customer_id from bronze.cust_info',
    'silver/customers.yml': modelYml('customers', 'config:\n  unique_key: customer_id\n'),
    'silver/items.sql':
      'select sls_ord_num as order_number, sls_prd_key as product_key, sls_cust_id::int as customer_id, sls_quantity::int as quantity, sls_price::numeric as price, _line_number from bronze.sales_details',
    'tests/unpriced_lines.sql': '-- lines without a price\nselect order_number, product_key from silver.items where price is null;\n',
    'silver/items.yml': modelYml('items', `
description: sales lines.
columns:
  - name: order_number
    data_tests: [not_null]
  - name: price
    data_tests:
      - not_null: { name: price_not_null }
      - accepted_values: { name: price_values, values: [10, 5, 7] }
      - accepted_values: { name: price_values_or_null, values: [10, 5, 7], allow_null: true }
  - name: quantity
    data_tests:
      - accepted_values: { name: quantity_values, values: [1, 2] }
  - name: customer_id
    data_tests:
      - relationships: { name: customer_known, to: silver.customers, field: customer_id }
      - relationships: { name: customer_known_where_priced, to: silver.customers, field: customer_id, config: { where: "price is not null" } }
  - name: product_key
    data_tests:
      - accepted_values: { name: product_values, values: [P1, P2] }
data_tests:
  - unique: { name: order_unique, column_name: order_number }
  - dbt_utils.unique_combination_of_columns: { name: line_unique, combination_of_columns: [order_number, product_key] }
  - dbt_utils.unique_combination_of_columns: { name: line_unique_where, combination_of_columns: [order_number, product_key], config: { where: "quantity > 0" } }
  - dbt_utils.unique_combination_of_columns: { name: product_quantity_unique, combination_of_columns: [product_key, quantity] }
  - dbt_utils.expression_is_true: { name: quantity_positive, expression: "quantity > 0" }
  - dbt_utils.expression_is_true: { name: quantity_positive_warn, expression: "quantity > 0", config: { severity: warn } }
  - dbt_utils.expression_is_true: { name: price_positive_where, expression: "price > 5", config: { where: "quantity = 1" } }
  - scalar_equality: { name: lines_reconcile, left: "select count(*) from bronze.sales_details", right: "select count(*) from silver.items" }
  - scalar_equality: { name: lines_off_by_one, left: "select count(*) from bronze.sales_details", right: "select count(*) - 1 from silver.items" }
  - scalar_equality: { name: sum_within_tolerance, left: "select sum(price) from silver.items", right: "select 22.4", tolerance: 0.5 }
  - scalar_equality: { name: sum_outside_tolerance, left: "select sum(price) from silver.items", right: "select 22.4", tolerance: 0.1 }
  - dbt_utils.expression_is_true: { name: broken_test, expression: "no_such_column > 0" }
  - dbt_utils.expression_is_true: { name: broken_warn_test, expression: "no_such_column > 0", config: { severity: warn } }
  - dbt_utils.expression_is_true: { name: as_of_visible, expression: "current_setting('medallion.as_of') = '2024-05-01'" }
`),
  });
  project = await loadProject({ sqlDir: dir, sources: SOURCES });
  await buildModels({ client, schemas, project, asOf: '2024-05-01', runId });
  summary = await runTests({ client, ledger: client, schemas, project, runId, asOf: '2024-05-01' });
});

afterAll(async () => {
  await dropSchemas(client, schemas);
  await client.end();
  await removeProject(dir);
});

function result(name: string): TestResult {
  const r = summary.results.find((x) => x.name === name);
  if (!r) throw new Error(`no result for ${name}`);
  return r;
}

describe('runTests: each kind passing and failing', () => {
  it('not_null', () => {
    expect(result('not_null_silver_items_order_number')).toMatchObject({ status: 'pass', failingRows: 0, sample: [], message: null });
    expect(result('price_not_null')).toMatchObject({
      status: 'fail',
      failingRows: 1,
      message: '1 row where price is null',
      sample: [{ order_number: 'SO2', product_key: 'P1', customer_id: 3, quantity: 1, price: null, _line_number: 4 }],
    });
  });

  it('unique, for a column and a combination of columns, with where', () => {
    expect(result('order_unique')).toMatchObject({ status: 'fail', failingRows: 2, message: '2 values of (order_number) occur more than once' });
    expect(result('order_unique').sample).toEqual(expect.arrayContaining([{ order_number: 'SO1', n_rows: 2 }, { order_number: 'SO2', n_rows: 2 }]));
    expect(result('line_unique')).toMatchObject({ status: 'fail', failingRows: 1, sample: [{ order_number: 'SO2', product_key: 'P1', n_rows: 2 }] });
    expect(result('line_unique_where')).toMatchObject({ status: 'pass', failingRows: 0 });
    // text and integer columns (grouped integer first): the same duplicate, both columns in the sample
    expect(result('product_quantity_unique')).toMatchObject({ status: 'fail', failingRows: 1, sample: [{ product_key: 'P1', quantity: 1, n_rows: 2 }] });
    expect(result('product_quantity_unique').message).toBe('1 value of (product_key, quantity) occurs more than once');
    // implied by unique_key
    expect(result('unique_silver_customers_customer_id')).toMatchObject({ status: 'pass' });
    expect(result('not_null_silver_customers_customer_id')).toMatchObject({ status: 'pass' });
  });

  it('accepted_values, NULL failing unless allow_null', () => {
    expect(result('product_values')).toMatchObject({ status: 'pass' });
    expect(result('quantity_values')).toMatchObject({ status: 'fail', failingRows: 1, sample: [{ quantity: 0, _line_number: 5 }] });
    expect(result('quantity_values').message).toBe('1 row with quantity not in (1, 2) or NULL');
    expect(result('price_values')).toMatchObject({ status: 'fail', failingRows: 1, sample: [{ price: null }] });
    expect(result('price_values_or_null')).toMatchObject({ status: 'pass' });
  });

  it('relationships, with where on the child', () => {
    expect(result('customer_known')).toMatchObject({ status: 'fail', failingRows: 1, sample: [{ customer_id: 3 }] });
    expect(result('customer_known').message).toBe('1 row whose customer_id has no match in silver.customers.customer_id');
    expect(result('customer_known_where_priced')).toMatchObject({ status: 'pass' });
  });

  it('expression (with severity warn and with where)', () => {
    expect(result('quantity_positive')).toMatchObject({ status: 'fail', failingRows: 1, severity: 'error', message: '1 row where not (quantity > 0)' });
    expect(result('quantity_positive_warn')).toMatchObject({ status: 'warn', failingRows: 1, severity: 'warn', sample: [{ quantity: 0 }] });
    expect(result('price_positive_where')).toMatchObject({ status: 'pass' }); // the NULL price (quantity 1) passes, like a CHECK
    expect(result('as_of_visible')).toMatchObject({ status: 'pass' });
  });

  it('a singular test (sql/tests/<name>.sql): the rows returned are the failing rows', () => {
    expect(result('unpriced_lines')).toMatchObject({ status: 'fail', failingRows: 1, sample: [{ order_number: 'SO2', product_key: 'P1' }], message: '1 row returned' });
  });

  it('equal, with and without tolerance', () => {
    expect(result('lines_reconcile')).toMatchObject({ status: 'pass', kind: 'equal' });
    expect(result('lines_off_by_one')).toMatchObject({ status: 'fail', failingRows: 1, sample: [{ left_value: 4, right_value: 3, difference: null }], message: 'left 4 ≠ right 3' });
    expect(result('sum_within_tolerance')).toMatchObject({ status: 'pass' });
    expect(result('sum_outside_tolerance')).toMatchObject({ status: 'fail', sample: [{ left_value: 22, right_value: 22.4, difference: 0.4 }] });
  });

  it('a test whose SQL fails has status error', () => {
    expect(result('broken_test')).toMatchObject({ status: 'error', failingRows: 0, severity: 'error' });
    expect(result('broken_test').message).toMatch(/^the test could not run: column "no_such_column" does not exist/);
    expect(result('broken_warn_test')).toMatchObject({ status: 'error', severity: 'warn' });
  });

  it('summarizes, and blocks on error-severity failures and errors only', () => {
    // 11 declared tests pass, and the implied volume guards of the two models (no baseline)
    expect(summary.counts).toEqual({ pass: 13, fail: 11, warn: 1, error: 2 });
    expect(summary.blocking.map((r) => r.name).sort()).toEqual(
      ['broken_test', 'customer_known', 'line_unique', 'lines_off_by_one', 'order_unique', 'price_not_null', 'price_values', 'product_quantity_unique', 'quantity_positive', 'quantity_values', 'sum_outside_tolerance', 'unpriced_lines'].sort(),
    );
  });

  it('writes etl.test_results, keeping the history of every run', async () => {
    const { rows } = await client.query(
      `select test_name, model, kind, severity, status, failing_rows, sample, message from ${ident(schemas.etl)}.test_results where run_id = $1 and test_name = 'line_unique'`,
      [runId],
    );
    expect(rows).toEqual([
      {
        test_name: 'line_unique',
        model: 'silver.items',
        kind: 'unique',
        severity: 'error',
        status: 'fail',
        failing_rows: 1,
        sample: [{ order_number: 'SO2', product_key: 'P1', n_rows: 2 }],
        message: '1 value of (order_number, product_key) occurs more than once',
      },
    ]);
    const second = await newRun(client, schemas);
    await runTests({ client, ledger: client, schemas, project, runId: second });
    const history = await client.query(`select run_id, count(*)::int as n from ${ident(schemas.etl)}.test_results where run_id in ($1, $2) group by run_id order by run_id`, [runId, second]);
    expect(history.rows).toEqual([
      { run_id: runId, n: summary.results.length },
      { run_id: second, n: summary.results.length },
    ]);
  });
});

describe('failingRowsSql: unique', () => {
  it('groups the columns without a collation first, bytewise the deterministic text ones', () => {
    const test = project.models.flatMap((m) => m.tests).find((t) => t.name === 'product_quantity_unique')!;
    const sql = failingRowsSql(test, schemas, { bytewise: new Set(['product_key']), collatable: new Set(['product_key']) });
    expect(sql).toContain('group by t."quantity", t."product_key" collate "C" having count(*) > 1');
  });
});

describe('assertTestsPassed', () => {
  const r = (name: string, kind: TestResult['kind'], status: TestResult['status'], severity: TestResult['severity'] = 'error'): TestResult => ({
    name,
    model: 'gold.x',
    kind,
    severity,
    status,
    failingRows: status === 'pass' ? 0 : 3,
    sample: [],
    message: status === 'pass' ? null : `${name} message`,
    seconds: 0,
    file: 'sql/gold/x.yml',
  });
  const assertion = (results: TestResult[]) => caught(Promise.resolve().then(() => assertTestsPassed(summarize(results, 0))));

  it('passes when only warn tests fail', () => {
    expect(() => assertTestsPassed(summarize([r('a', 'unique', 'pass'), r('b', 'expression', 'warn', 'warn'), r('c', 'query', 'error', 'warn')], 0))).not.toThrow();
  });

  it('TESTS_FAILED listing the failing tests', async () => {
    const e = (await assertion([r('a', 'unique', 'fail'), r('b', 'equal', 'fail'), r('c', 'query', 'error')])) as unknown as MedallionError;
    expect(e).toBeInstanceOf(MedallionError);
    expect(e.code).toBe('TESTS_FAILED');
    expect(e.category).toBe('data');
    expect(e.message).toBe('3 error-severity tests failed; nothing was published:\n  - a (gold.x): a message\n  - b (gold.x): b message\n  - c (gold.x): c message');
    expect((e.context.failing as unknown[]).length).toBe(3);
  });

  it('RECONCILIATION_FAILED when only reconciliations (equal tests) fail', async () => {
    const e = (await assertion([r('a', 'unique', 'pass'), r('sums', 'equal', 'fail')])) as unknown as MedallionError;
    expect(e.code).toBe('RECONCILIATION_FAILED');
    expect(e.message).toBe('1 reconciliation failed; nothing was published:\n  - sums (gold.x): sums message');
  });
});
