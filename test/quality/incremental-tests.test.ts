/**
 * Data tests on an update (src/quality/incremental-tests.ts): each incremental form finds the
 * failing rows the full test finds over the overlay, and passes when that passes. The fixture is an
 * update laid out by hand as src/transform/incremental.ts lays it out: gold.lines published, its
 * update schema (`partitions`, the delta) and the overlay view in staging; its parent
 * silver.parents kept as published, updated (an overlay too) or rebuilt (a table in staging). Each
 * case runs the tests twice on the same tables, in full and with the update, and compares.
 */
import { describe, expect, it } from 'vitest';
import type { SchemaNames } from '../../src/config.ts';
import { type Client, ident } from '../../src/db/client.ts';
import { runTests, type TestResult } from '../../src/quality/index.ts';
import { loadProject, type ModelUpdate, type Project } from '../../src/transform/index.ts';
import { readingPublished } from '../../src/transform/compile.ts';
import { createTable, layOutUpdate, type Row, useFixture } from './tables.ts';
import { caught, modelYml, removeProject, SOURCES, writeProject } from '../transform/helpers.ts';

let client: Client;
let schemas: SchemaNames;
let project: Project;
let runId: number;

/** customer_id (the partition column), line_id, order_number, product_key, customer_key, amount. */
type Line = [number | null, number, string | null, string, string | null, number];
/** customer_id (its partition column), customer_key, since (an order date before it is a leak). */
type Parent = [number, string, number];

const LINES = 'customer_id int, line_id int, order_number text, product_key text, customer_key text, amount int';
const PARENTS = 'customer_id int, customer_key text, since int';

const FILES = {
  'silver/parents.sql': 'select cst_id::int as customer_id, cst_key as customer_key, 0 as since from bronze.cust_info',
  'silver/parents.yml': modelYml('parents', 'config:\n  materialized: incremental\n  partition_by: customer_id\n'),
  'gold/lines.sql': 'select p.customer_id, 1 as line_id, null::text as order_number, null::text as product_key, p.customer_key, 1 as amount from silver.parents as p',
  'gold/lines.yml': modelYml(
    'lines',
    `
description: lines.
config:
  materialized: incremental
  partition_by: customer_id
columns:
  - name: line_id
    data_tests: [unique, not_null]
  - name: customer_key
    data_tests:
      - relationships: { name: lines_customer_known, to: silver.parents, field: customer_key }
      - relationships: { name: lines_customer_known_where, to: silver.parents, field: customer_key, config: { where: "amount > 0" } }
data_tests:
  - dbt_utils.unique_combination_of_columns: { name: lines_unique, combination_of_columns: [order_number, product_key] }
  - row_count_change: { max_drop: 0.5 }
  # reads the run's dates: the published rows' verdict may change with them, so it runs in full,
  # and the two row-level tests counted with it in one scan still read only the delta
  - dbt_utils.expression_is_true: { name: lines_amount_known_as_of, expression: "current_setting('medallion.as_of', true) is null or amount > -100" }
  - dbt_utils.expression_is_true: { name: lines_amount_bounded, expression: "amount > -1000" }
`,
  ),
  // per customer: its amounts sum to a positive number
  'tests/lines_balance.sql': '-- a customer whose amounts do not sum above zero\nselect customer_id, sum(amount) as total from gold.lines group by customer_id having sum(amount) <= 0\n',
  // per line, against the parent: a line of a customer key held by another customer
  'tests/lines_key_of_customer.sql':
    '-- a line whose customer key belongs to another customer\nselect l.line_id, l.customer_id, p.customer_id as key_customer_id from gold.lines as l join silver.parents as p on p.customer_key = l.customer_key where p.customer_id <> l.customer_id\n',
  'tests/schema.yml': `version: 2
data_tests:
  - name: lines_balance
    config: { meta: { partition_by: customer_id } }
  - name: lines_key_of_customer
    config: { meta: { partition_by: customer_id } }
`,
};

useFixture('qinc', FILES, (f) => {
  ({ client, schemas, runId, project } = f);
}, dropAll);

const staging = () => schemas.staging;
const linesUpdateSchema = () => `${staging().gold}_u1`;
const parentsUpdateSchema = () => `${staging().silver}_u0`;

async function dropAll(): Promise<void> {
  for (const s of [schemas.silver, schemas.gold, staging().silver, staging().gold, linesUpdateSchema(), parentsUpdateSchema()]) await client.query(`drop schema if exists ${ident(s)} cascade`);
}

const table = (schema: string, name: string, columns: string, rows: readonly Row[]) => createTable(client, schema, name, columns, rows);

/** The partitions table, the delta and the overlay view of one model's update. */
const overlay = (layer: 'silver' | 'gold', name: string, column: string, updateSchema: string, columns: string, partitions: (number | null)[], delta: readonly Row[]) =>
  layOutUpdate(client, schemas, { layer, name, column, updateSchema, columns, partitions, delta });

interface Case {
  lines: Line[];
  /** The partitions of gold.lines recomputed, and its delta (rows of those partitions only). */
  partitions: (number | null)[];
  delta: Line[];
  parents: Parent[];
  /** How silver.parents stands in the run. */
  parent: { kept: true } | { updated: { partitions: number[]; delta: Parent[] } } | { rebuilt: Parent[] };
}

/** Runs every test in full and on the update; returns both, by test name. */
async function runBoth(c: Case): Promise<{ full: Map<string, TestResult>; incremental: Map<string, TestResult> }> {
  await dropAll();
  for (const s of [schemas.silver, schemas.gold, staging().silver, staging().gold]) await client.query(`create schema ${ident(s)}`);
  await table(schemas.silver, 'parents', PARENTS, c.parents);
  await table(schemas.gold, 'lines', LINES, c.lines);
  const updates = new Map<string, ModelUpdate>();
  updates.set('gold.lines', await overlay('gold', 'lines', 'customer_id', linesUpdateSchema(), LINES, c.partitions, c.delta));
  let run = schemas;
  if ('kept' in c.parent) run = readingPublished(schemas, ['silver.parents']);
  else if ('updated' in c.parent) updates.set('silver.parents', await overlay('silver', 'parents', 'customer_id', parentsUpdateSchema(), PARENTS, c.parent.updated.partitions, c.parent.updated.delta));
  else await table(staging().silver, 'parents', PARENTS, c.parent.rebuilt);
  // the tests of gold.lines (the singular ones belong to it: the last model they read)
  const lines = { ...project, models: project.models.filter((m) => m.name === 'gold.lines') };
  const byName = (r: TestResult[]) => new Map(r.map((x) => [x.name, x]));
  const full = byName((await runTests({ client, ledger: client, schemas: run, project: lines, runId })).results);
  const incremental = byName((await runTests({ client, ledger: client, schemas: run, project: lines, runId, updates })).results);
  return { full, incremental };
}

const sorted = (sample: Record<string, unknown>[]) => sample.map((r) => JSON.stringify(r, Object.keys(r).sort())).sort();

/** Same verdict, count and failing rows; the incremental result says what it read. */
function expectSameVerdicts(full: Map<string, TestResult>, incremental: Map<string, TestResult>, onDelta: readonly string[]): void {
  expect([...incremental.keys()].sort()).toEqual([...full.keys()].sort());
  for (const [name, f] of full) {
    const i = incremental.get(name)!;
    expect({ name, status: i.status, failingRows: i.failingRows, sample: sorted(i.sample) }).toEqual({ name, status: f.status, failingRows: f.failingRows, sample: sorted(f.sample) });
    expect(f.status, `${name}: ${f.message}`).not.toBe('error');
    if (onDelta.includes(name)) expect(i.message, name).toContain('on the delta of gold.lines');
    else expect(i.message ?? '', name).not.toContain('on the delta');
  }
}

const PARENT_ROWS: Parent[] = [
  [1, 'K1', 0],
  [2, 'K2', 0],
  [3, 'K3', 0],
  [4, 'K4', 0],
];
// published: customers 1..4, one line each but customer 1 (two); the update recomputes customers 1 and 2
const PUBLISHED: Line[] = [
  [1, 1, 'SO1', 'P1', 'K1', 5],
  [1, 2, 'SO1', 'P2', 'K1', 5],
  [2, 3, 'SO2', 'P1', 'K2', 5],
  [3, 4, 'SO3', 'P1', 'K3', 5],
  [4, 5, 'SO4', 'P1', 'K4', 5],
];
const CLEAN_DELTA: Line[] = [
  [1, 1, 'SO1', 'P1', 'K1', 5],
  [1, 2, 'SO1', 'P2', 'K1', 5],
  [1, 6, 'SO5', 'P1', 'K1', 7],
  [2, 3, 'SO2', 'P1', 'K2', 5],
];
const ALL = ['lines_unique', 'unique_gold_lines_line_id', 'not_null_gold_lines_line_id', 'lines_amount_bounded', 'lines_customer_known', 'lines_customer_known_where', 'row_count_change_gold_lines', 'lines_balance', 'lines_key_of_customer'];

describe('data tests on an update', () => {
  it('pass as the full tests pass when the update is clean, each saying it read the delta', async () => {
    const { full, incremental } = await runBoth({ lines: PUBLISHED, partitions: [1, 2], delta: CLEAN_DELTA, parents: PARENT_ROWS, parent: { kept: true } });
    expect([...full.values()].filter((r) => r.status !== 'pass').map((r) => r.name)).toEqual([]);
    expectSameVerdicts(full, incremental, ALL);
    expect(incremental.get('lines_key_of_customer')!.message).toContain('silver.parents as published');
    // a test that reads the whole model on an update says why
    expect(incremental.get('lines_amount_known_as_of')!.message).toBe('read the whole of gold.lines: reads medallion.as_of, not declared monotone_in_as_of');
    expect(full.get('lines_amount_known_as_of')!.message).toBeNull();
    expect(incremental.get('row_count_change_gold_lines')!.message).toMatch(/^5 rows published, 6 rows now .*on the delta/);

    // the parent built again to its published rows, or updated to them: the singular test that reads
    // it runs on the delta too
    for (const parent of [{ rebuilt: PARENT_ROWS }, { updated: { partitions: [2], delta: [PARENT_ROWS[1]!] } }]) {
      const again = await runBoth({ lines: PUBLISHED, partitions: [1, 2], delta: CLEAN_DELTA, parents: PARENT_ROWS, parent });
      expectSameVerdicts(again.full, again.incremental, ALL);
      expect(again.incremental.get('lines_key_of_customer')!.message).toContain('silver.parents as published');
    }
  });

  it('find a duplicate key across a partition boundary (a delta row and a published row outside the partitions)', async () => {
    // SO3/P2 shares only its first key column with a published row outside the partitions: no duplicate
    const delta: Line[] = [...CLEAN_DELTA.slice(0, 3), [2, 4, 'SO3', 'P1', 'K2', 5], [2, 9, null, 'P9', 'K2', 5], [2, 11, 'SO3', 'P2', 'K2', 5]];
    const lines: Line[] = [...PUBLISHED, [3, 10, null, 'P9', 'K3', 5]];
    const { full, incremental } = await runBoth({ lines, partitions: [1, 2], delta, parents: PARENT_ROWS, parent: { kept: true } });
    expect(full.get('lines_unique')).toMatchObject({ status: 'fail', failingRows: 2 });
    expect(full.get('unique_gold_lines_line_id')).toMatchObject({ status: 'fail', failingRows: 1 });
    expectSameVerdicts(full, incremental, ALL);
    expect(incremental.get('lines_unique')!.message).toContain('; on the delta of gold.lines');
  });

  it('find an orphan in the delta when the parent is kept', async () => {
    const delta: Line[] = [...CLEAN_DELTA, [2, 7, 'SO6', 'P1', 'K9', 5], [2, 8, 'SO7', 'P1', 'K8', -1]];
    const { full, incremental } = await runBoth({ lines: PUBLISHED, partitions: [1, 2], delta, parents: PARENT_ROWS, parent: { kept: true } });
    expect(full.get('lines_customer_known')).toMatchObject({ status: 'fail', failingRows: 2 });
    expect(full.get('lines_customer_known_where')).toMatchObject({ status: 'fail', failingRows: 1 });
    expectSameVerdicts(full, incremental, ALL);
  });

  it('find a removed parent key still referenced by a published row outside the partitions, the parent updated or rebuilt', async () => {
    // customer 3's key K3 becomes K3b: the published line of customer 3 (not recomputed) is an orphan;
    // customer 4's key stays (moved to another parent row: not gone)
    const updated: Parent[] = [
      [3, 'K3b', 0],
      [5, 'K4', 0],
    ];
    const parents = { partitions: [3, 5], delta: updated };
    const { full, incremental } = await runBoth({ lines: PUBLISHED, partitions: [1, 2], delta: CLEAN_DELTA, parents: PARENT_ROWS, parent: { updated: parents } });
    expect(full.get('lines_customer_known')).toMatchObject({ status: 'fail', failingRows: 1 });
    expect(full.get('lines_key_of_customer')).toMatchObject({ status: 'fail', failingRows: 1 });
    // the singular test that reads silver.parents runs in full: the parent is not kept
    expectSameVerdicts(full, incremental, ALL.filter((n) => n !== 'lines_key_of_customer'));
    expect(incremental.get('lines_customer_known')!.message).toContain('gone from silver.parents (updated)');

    const rebuilt: Parent[] = [
      [1, 'K1', 0],
      [2, 'K2', 0],
      [3, 'K3b', 0],
      [4, 'K4', 0],
    ];
    const again = await runBoth({ lines: PUBLISHED, partitions: [1, 2], delta: CLEAN_DELTA, parents: PARENT_ROWS, parent: { rebuilt } });
    expect(again.full.get('lines_customer_known')).toMatchObject({ status: 'fail', failingRows: 1 });
    expectSameVerdicts(again.full, again.incremental, ALL.filter((n) => n !== 'lines_key_of_customer'));
    expect(again.incremental.get('lines_customer_known')!.message).toContain('gone from silver.parents (rebuilt)');

    // nothing gone: passes both ways
    const clean = await runBoth({ lines: PUBLISHED, partitions: [1, 2], delta: CLEAN_DELTA, parents: PARENT_ROWS, parent: { rebuilt: [...PARENT_ROWS, [6, 'K6', 0]] } });
    expect(clean.full.get('lines_customer_known')!.status).toBe('pass');
    expectSameVerdicts(clean.full, clean.incremental, ALL.filter((n) => n !== 'lines_key_of_customer'));
  });

  it('look up the delta keys in the updated parent by its parts: held by its delta alone, by its rows outside its partitions, or gone', async () => {
    // the parent recomputes customers 3, 5 and 6: K3 becomes K3b (gone), K4 is held by customer 4
    // (outside) and 5 (delta), K6 by customer 6's new row alone
    const parents = {
      partitions: [3, 5, 6],
      delta: [
        [3, 'K3b', 0],
        [5, 'K4', 0],
        [6, 'K6', 0],
      ] as Parent[],
    };
    const delta: Line[] = [...CLEAN_DELTA, [2, 12, 'SO9', 'P1', 'K6', 5], [2, 13, 'SO10', 'P1', 'K3', 5], [1, 14, 'SO11', 'P1', 'K4', 5], [1, 15, 'SO12', 'P1', 'K3b', -1]];
    const { full, incremental } = await runBoth({ lines: PUBLISHED, partitions: [1, 2], delta, parents: PARENT_ROWS, parent: { updated: parents } });
    // the delta's K3 line and the published line of customer 3 (outside the partitions)
    expect(full.get('lines_customer_known')).toMatchObject({ status: 'fail', failingRows: 2 });
    expect(full.get('lines_customer_known_where')).toMatchObject({ status: 'fail', failingRows: 2 });
    expectSameVerdicts(full, incremental, ALL.filter((n) => n !== 'lines_key_of_customer'));
  });

  it('find a failing partition of a singular test in the delta, and a volume drop from the counts', async () => {
    // customer 2's amounts now sum to zero; customer 1 keeps a line under customer 2's key; the NULL
    // partition is recomputed and gains a row
    const delta: Line[] = [
      [1, 1, 'SO1', 'P1', 'K2', 5],
      [2, 3, 'SO2', 'P1', 'K2', 0],
      [null, 11, 'SO8', 'P1', 'K4', 5],
    ];
    const { full, incremental } = await runBoth({ lines: PUBLISHED, partitions: [1, 2, null], delta, parents: PARENT_ROWS, parent: { kept: true } });
    expect(full.get('lines_balance')).toMatchObject({ status: 'fail', failingRows: 1 });
    expect(full.get('lines_key_of_customer')).toMatchObject({ status: 'fail', failingRows: 1 });
    expectSameVerdicts(full, incremental, ALL);

    const dropped = await runBoth({ lines: PUBLISHED, partitions: [1, 2, 3], delta: [], parents: PARENT_ROWS, parent: { kept: true } });
    expect(dropped.full.get('row_count_change_gold_lines')).toMatchObject({ status: 'fail', failingRows: 4 });
    expect(dropped.full.get('lines_balance')!.status).toBe('pass');
    expectSameVerdicts(dropped.full, dropped.incremental, ALL);
  });

  it('reads the declaration from sql/tests/schema.yml, and refuses one that names no column', async () => {
    expect(project.models.find((m) => m.name === 'gold.lines')!.tests.find((t) => t.name === 'lines_balance')).toMatchObject({ kind: 'query', partitionBy: 'customer_id' });
    const bad = await writeProject({
      ...FILES,
      'tests/schema.yml': 'version: 2\ndata_tests:\n  - name: lines_balance\n    config: { meta: { partition_by: "customer id", per: x } }\n',
    });
    try {
      const err = await caught(loadProject({ sqlDir: bad, sources: SOURCES }));
      expect(err.message).toContain("data_tests[0].config.meta.partition_by: expected a column name (lower-case letters, digits, _), got 'customer id'");
      expect(err.message).toContain("data_tests[0].config.meta.per: unknown key 'per'");
    } finally {
      await removeProject(bad);
    }
  });
});
