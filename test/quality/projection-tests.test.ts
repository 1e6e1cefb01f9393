/**
 * A unique key or relationships test of a model declared `projection_of` another (one row per row
 * of it, the column copied: src/transform/projection.ts) is proven by the other model's same test
 * when that passes in the run (provingTest, src/quality/incremental-tests.ts), and runs in full,
 * with its own failing rows, when it does not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SchemaNames } from '../../src/config.ts';
import type { Client } from '../../src/db/client.ts';
import { runTests, type TestSummary } from '../../src/quality/index.ts';
import { buildModels, loadProject } from '../../src/transform/index.ts';
import { createBronze, dropSchemas, modelYml, removeProject, SOURCES, setUpTarget, testClient, uniqueTarget, writeProject } from '../transform/helpers.ts';

// the same unique and relationships tests on the projected model and on the model it projects
const ORDER_NUMBER_TESTS = `columns:
  - name: order_number
    data_tests:
      - unique
      - relationships: { to: silver.parents, field: order_number }
`;
const FILES = {
  'silver/parents.sql': "select sls_ord_num as order_number from bronze.sales_details where sls_quantity <> '3'",
  'silver/parents.yml': modelYml('parents'),
  'silver/lines.sql': 'select sls_ord_num as order_number, sls_quantity::int as quantity from bronze.sales_details',
  'silver/lines.yml': modelYml('lines', `
description: lines.
${ORDER_NUMBER_TESTS}`),
  'gold/projected.sql': 'with one as (select count(*) as n from silver.lines) select l.order_number, l.quantity * 2 as doubled, one.n from silver.lines as l cross join one',
  'gold/projected.yml': modelYml('projected', `
description: one row per line.
config:
  meta:
    projection_of: silver.lines
${ORDER_NUMBER_TESTS}`),
};

let client: Client;
let dir: string;
const targets: SchemaNames[] = [];

async function testsOver(rows: string[][]): Promise<TestSummary> {
  const { schemas, runId } = await setUpTarget(client, uniqueTarget('projection'));
  targets.push(schemas);
  await createBronze(client, schemas, 'sales_details', ['sls_ord_num', 'sls_quantity'], rows);
  const project = await loadProject({ sqlDir: dir, sources: SOURCES });
  await buildModels({ client, schemas, project, asOf: '2024-05-01', runId });
  return runTests({ client, ledger: client, schemas, project, runId, asOf: '2024-05-01' });
}
const result = (summary: TestSummary, name: string) => summary.results.find((r) => r.name === name)!;

beforeAll(async () => {
  client = await testClient();
  dir = await writeProject(FILES);
});

afterAll(async () => {
  for (const schemas of targets) await dropSchemas(client, schemas);
  await client.end();
  await removeProject(dir);
});

describe('tests proven by the model a model is a projection of', () => {
  it('pass as proven, reading nothing, when the same test of the projected model passes', async () => {
    const summary = await testsOver([
      ['SO1', '1'],
      ['SO2', '2'],
    ]);
    for (const name of ['unique_gold_projected_order_number', 'relationships_gold_projected_order_number_to_silver_parents_order_number']) {
      expect(result(summary, name)).toMatchObject({ status: 'pass', seconds: 0 });
      expect(result(summary, name).message).toMatch(/^proven: gold\.projected holds one row per row of silver\.lines with order_number copied .* passed in this run$/);
    }
  });

  it('run in full, with their own failing rows, when it fails', async () => {
    // SO2 twice, and without a parent (its lines have quantity 3)
    const summary = await testsOver([
      ['SO1', '1'],
      ['SO2', '3'],
      ['SO2', '3'],
    ]);
    expect(result(summary, 'unique_silver_lines_order_number')).toMatchObject({ status: 'fail', failingRows: 1 });
    expect(result(summary, 'unique_gold_projected_order_number')).toMatchObject({ status: 'fail', failingRows: 1 });
    expect(result(summary, 'unique_gold_projected_order_number').message).not.toContain('proven');
    expect(result(summary, 'relationships_silver_lines_order_number_to_silver_parents_order_number')).toMatchObject({ status: 'fail', failingRows: 2 });
    expect(result(summary, 'relationships_gold_projected_order_number_to_silver_parents_order_number')).toMatchObject({ status: 'fail', failingRows: 2 });
  });
});
