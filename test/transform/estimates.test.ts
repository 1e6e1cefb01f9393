/**
 * estimateFromSizes and bronzeMegabytes (src/transform/estimates.ts) with estimateTestSeconds
 * (src/quality/estimates.ts): the expected seconds a build schedules by before any run has timed
 * its models and tests.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SchemaNames, schemaNames } from '../../src/config.ts';
import type { Client } from '../../src/db/client.ts';
import { criticalPathFirst } from '../../src/schedule/index.ts';
import { modelDependencies, modelsAmong, relationsRead } from '../../src/transform/dependencies.ts';
import { bronzeMegabytes, estimateFromSizes, measuredElseGuessed } from '../../src/transform/estimates.ts';
import { loadProject, type Project, type RelationName } from '../../src/transform/index.ts';
import { estimateTestSeconds, failingRowPredicate, ROW_LEVEL_TEST_KINDS } from '../../src/quality/index.ts';
import { createBronze, dropSchemas, removeProject, SOURCES, setUpTarget, testClient, uniqueTarget, modelYml, writeProject } from './helpers.ts';

const SQL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../sql');

// megabytes of a scale-100 bronze (pg_relation_size, 2026-11-29)
const SCALE_100: ReadonlyMap<RelationName, number> = new Map([
  ['bronze.sales_details', 783],
  ['bronze.cust_info', 201],
  ['bronze.cust_az12', 166],
  ['bronze.loc_a101', 152],
  ['bronze.prd_info', 0.2],
  ['bronze.px_cat_g1v2', 0.01],
] as [RelationName, number][]);

describe('estimateFromSizes on a small project', () => {
  let dir: string;
  let project: Project;

  beforeAll(async () => {
    dir = await writeProject({
      'silver/lines.sql': 'select sls_ord_num, sls_cust_id from bronze.sales_details',
      'silver/lines.yml': modelYml('lines', ['description: lines.', 'columns:', '  - name: sls_ord_num', '    data_tests: [not_null, unique]', '  - name: sls_cust_id', '    data_tests: [not_null]'].join('\n')),
      'tests/lines_are_few.sql': 'select * from silver.lines where false',
      'silver/people_raw.sql': 'select cst_id from bronze.cust_info',
      'silver/people_raw.yml': modelYml('people_raw', 'description: people as loaded.\n'),
      'silver/people.sql': 'select cst_id from silver.people_raw',
      'silver/people.yml': modelYml('people', `
description: people.
config:
  materialized: view
`),
      'gold/facts.sql': 'select l.sls_ord_num from silver.lines as l join silver.people as p on p.cst_id = l.sls_cust_id',
      'gold/facts.yml': modelYml('facts', 'description: facts.\n'),
    });
    project = await loadProject({ sqlDir: dir, sources: SOURCES });
  });

  afterAll(() => removeProject(dir));

  it('sizes a model as its largest input and costs a table by the sum of its inputs, a view nothing', () => {
    // The documented rates: a table model 0.1 s per MB of its inputs, a data test 0.01 s per MB it
    // reads (the row-level tests of a model share one scan), a query test 0.025 s per MB.
    const sizes = new Map([['bronze.sales_details', 100], ['bronze.cust_info', 30]] as [RelationName, number][]);
    const guess = estimateFromSizes(project, sizes);
    const tests = estimateTestSeconds(project, guess.megabytes);
    expect(guess.megabytes.get('silver.lines')).toBe(100);
    expect(guess.megabytes.get('silver.people_raw')).toBe(30);
    expect(guess.megabytes.get('silver.people')).toBe(30);
    expect(guess.megabytes.get('gold.facts')).toBe(100);
    expect(guess.models.get('silver.lines')).toBeCloseTo(10); // 100 MB
    expect(guess.models.get('silver.people_raw')).toBeCloseTo(3); // 30 MB
    expect(guess.models.get('silver.people')).toBe(0); // a view
    expect(guess.models.get('gold.facts')).toBeCloseTo(13); // 100 + 30 MB
    expect(tests.get('unique_silver_lines_sls_ord_num')).toBeCloseTo(1);
    // the two not_null tests share one scan of 100 MB: half of it each
    expect(tests.get('not_null_silver_lines_sls_ord_num')).toBeCloseTo(0.5);
    expect(tests.get('not_null_silver_lines_sls_cust_id')).toBeCloseTo(0.5);
    expect(tests.get('lines_are_few')).toBeCloseTo(2.5);
  });

  it('lets a measured time win over the guess', () => {
    const merged = measuredElseGuessed(new Map([['a', 5]]), new Map([['a', 50], ['b', 7]]));
    expect(Object.fromEntries(merged)).toEqual({ a: 5, b: 7 });
  });
});

describe('estimateFromSizes on sql/', () => {
  // the models and data tests as `medallion build` schedules them (planTests: a test waits for the
  // models it reads), ranked by criticalPathFirst with the given costs
  const rank = (project: Project, modelCost: (m: RelationName) => number | undefined, testCost: (t: string) => number | undefined) => {
    const models = new Set(project.models.map((m) => m.name));
    const tasks = [
      ...project.models.map((m) => ({ id: m.name, dependsOn: modelDependencies(m), cost: modelCost(m.name), run: async () => {} })),
      ...project.models.flatMap((m) => m.tests).map((t) => ({ id: `test ${t.name}`, dependsOn: modelsAmong(relationsRead(t), models), cost: testCost(t.name), run: async () => {} })),
    ];
    return new Map(criticalPathFirst(tasks).map((t) => [t.id, t.priority!]));
  };

  it('treats as row-level (one shared scan) exactly the tests failingRowPredicate writes a condition for', async () => {
    const project = await loadProject({ sqlDir: SQL_DIR, sources: SOURCES });
    const tests = project.models.flatMap((m) => m.tests);
    expect(new Set(tests.map((t) => t.kind)).size).toBe(8); // every kind is in sql/
    for (const t of tests) expect(ROW_LEVEL_TEST_KINDS.has(t.kind), t.name).toBe(failingRowPredicate(t, schemaNames('x')) !== undefined);
  });

  it('puts the sales chain ahead of the customer branch on a target with no timed run', async () => {
    const project = await loadProject({ sqlDir: SQL_DIR, sources: SOURCES });
    const guess = estimateFromSizes(project, SCALE_100);
    const tests = estimateTestSeconds(project, guess.megabytes);
    const guessed = rank(project, (m) => guess.models.get(m), (t) => tests.get(t));
    // when the ship lead time is built, int_sales_lines must come before the ERP customer pieces
    for (const other of ['silver.int_customer_records', 'silver.int_erp_demographics', 'silver.int_erp_locations']) {
      expect(guessed.get('silver.int_sales_lines')!).toBeGreaterThan(guessed.get(other)!);
    }
    // and once fact_sales is built, the leakage proof (the longest of its tests) starts first
    expect(guessed.get('test no_future_leakage')!).toBeGreaterThan(guessed.get('test unique_gold_fact_sales_order_number_product_key')!);
  });
});

describe('bronzeMegabytes', () => {
  let client: Client;
  let schemas: SchemaNames;
  let dir: string;

  beforeAll(async () => {
    client = await testClient();
    ({ schemas } = await setUpTarget(client, uniqueTarget('estimates')));
    await createBronze(client, schemas, 'sales_details', ['sls_ord_num'], []);
    await client.query(`insert into "${schemas.bronze}".sales_details (sls_ord_num) select repeat('x', 100) from generate_series(1, 20000)`);
    await createBronze(client, schemas, 'cust_info', ['cst_id'], [['1']]);
    dir = await writeProject({
      'silver/lines.sql': 'select sls_ord_num from bronze.sales_details',
      'silver/lines.yml': modelYml('lines', 'description: lines.\n'),
      'silver/people_raw.sql': 'select cst_id from bronze.cust_info',
      'silver/people_raw.yml': modelYml('people_raw', 'description: people as loaded.\n'),
      'silver/people.sql': 'select cst_id from silver.people_raw',
      'silver/people.yml': modelYml('people', 'description: people.\n'),
    });
  });

  afterAll(async () => {
    await dropSchemas(client, schemas);
    await client.end();
    await removeProject(dir);
  });

  it('reads the size on disk of each bronze table the models read', async () => {
    const project = await loadProject({ sqlDir: dir, sources: SOURCES });
    const sizes = await bronzeMegabytes(client, schemas, project);
    expect([...sizes.keys()].sort()).toEqual(['bronze.cust_info', 'bronze.sales_details']);
    // 20,000 rows of about 140 bytes: between 2 and 4 MB of heap
    expect(sizes.get('bronze.sales_details')!).toBeGreaterThan(2);
    expect(sizes.get('bronze.sales_details')!).toBeLessThan(4);
    expect(sizes.get('bronze.cust_info')!).toBeLessThan(0.1);
  });
});
