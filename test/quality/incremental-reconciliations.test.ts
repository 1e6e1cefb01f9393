/**
 * Reconciliations and coverage thresholds on an update (src/quality/incremental-reconciliations.ts):
 * from the values the published run recorded, each gives the verdict, the values and the failing
 * row of the full test over the overlays. The fixture lays an update out by hand, as
 * test/quality/incremental-tests.test.ts does: gold.lines (by customer_id) and silver.parents
 * published, their update schemas and overlay views in staging; silver.notes, a table, kept or built
 * again; bronze.sales_details, read in full. A published run records the values (the tests in full
 * over the published tables), then each case runs the tests in full and with the updates.
 */
import { describe, expect, it } from 'vitest';
import type { SchemaNames } from '../../src/config.ts';
import { type Client, ident } from '../../src/db/client.ts';
import { runTests, type TestResult } from '../../src/quality/index.ts';
import { readingPublished } from '../../src/transform/compile.ts';
import { loadProject, type ModelUpdate, type Project } from '../../src/transform/index.ts';
import { createTable, layOutUpdate, type Row, useFixture } from './tables.ts';
import { caught, createBronze, modelYml, newRun, removeProject, SOURCES, writeProject } from '../transform/helpers.ts';

let client: Client;
let schemas: SchemaNames;
let project: Project;

/** customer_id (the partition column), line_id, customer_key, amount. */
type Line = [number | null, number, string | null, number];
/** customer_id (its partition column), customer_key, total (the amount its lines must sum to). */
type Parent = [number, string, number];
/** customer_id, reason. */
type Note = [number, string];

const LINES = 'customer_id int, line_id int, customer_key text, amount numeric(12,2)';
const PARENTS = 'customer_id int, customer_key text, total numeric(12,2)';
const NOTES = 'customer_id int, reason text';

const SUM_LEFT = 'select coalesce(sum(amount), 0) from gold.lines';
const SUM_RIGHT = 'select coalesce(sum(total), 0) from silver.parents';
const FILES = {
  'silver/parents.sql': 'select cst_id::int as customer_id, cst_key as customer_key, 0::numeric(12,2) as total from bronze.cust_info',
  'silver/parents.yml': modelYml('parents', 'config:\n  materialized: incremental\n  partition_by: customer_id\n'),
  'silver/notes.sql': "select cst_id::int as customer_id, 'dropped' as reason from bronze.cust_info",
  'silver/notes.yml': modelYml('notes', 'config:\n  materialized: table\n'),
  'gold/lines.sql': 'select p.customer_id, 1 as line_id, p.customer_key, 1::numeric(12,2) as amount from silver.parents as p, silver.notes as n, bronze.sales_details as s',
  'gold/lines.yml': modelYml(
    'lines',
    `
description: lines.
config:
  materialized: incremental
  partition_by: customer_id
columns:
  - name: customer_id
    data_tests:
      # on the partition column: the published rows of the partitions are looked up among the parent's keys of the partitions
      - relationships: { name: lines_partition_coverage, to: silver.parents, field: customer_id, min_coverage: 0.7 }
  - name: customer_key
    data_tests:
      - relationships: { name: lines_customer_coverage, to: silver.parents, field: customer_key, min_coverage: 0.7 }
      - relationships: { name: lines_customer_coverage_where, to: silver.parents, field: customer_key, min_coverage: 0.75, config: { where: "amount > 0" } }
data_tests:
  - scalar_equality:
      name: lines_amount_eq_totals
      config: { meta: { additive: true } }
      left: "${SUM_LEFT}"
      right: "${SUM_RIGHT}"
  - scalar_equality:
      name: lines_amount_eq_totals_undeclared
      left: "${SUM_LEFT}"
      right: "${SUM_RIGHT}"
  - scalar_equality:
      name: bronze_eq_lines_plus_notes
      config: { meta: { additive: true } }
      left: "select count(*) from bronze.sales_details"
      right: "select (select count(*) from gold.lines) + (select count(*) from silver.notes where reason = 'dropped')"
  - scalar_equality:
      name: lines_amount_uncoalesced
      config: { meta: { additive: true } }
      left: "select sum(amount) from gold.lines"
      right: "select sum(amount) from gold.lines where amount > -1"
  - scalar_equality:
      name: lines_before_as_of
      config: { meta: { additive: true } }
      left: "select count(*) from gold.lines where current_setting('medallion.as_of')::date > date '2000-01-01' + customer_id"
      right: "select count(*) from gold.lines where current_setting('medallion.as_of')::date > date '2000-01-01' + customer_id"
      tolerance: 0.5
`,
  ),
};

const RECONCILIATIONS = ['lines_amount_eq_totals', 'lines_amount_uncoalesced', 'bronze_eq_lines_plus_notes', 'lines_before_as_of', 'lines_customer_coverage', 'lines_customer_coverage_where', 'lines_partition_coverage'];

useFixture('qrec', FILES, (f) => {
  ({ client, schemas, project } = f);
}, dropAll);

const staging = () => schemas.staging;
const linesUpdateSchema = () => `${staging().gold}_u2`;
const parentsUpdateSchema = () => `${staging().silver}_u0`;

async function dropAll(): Promise<void> {
  for (const s of [schemas.silver, schemas.gold, staging().silver, staging().gold, linesUpdateSchema(), parentsUpdateSchema()]) await client.query(`drop schema if exists ${ident(s)} cascade`);
}

const table = (schema: string, name: string, columns: string, rows: readonly Row[]) => createTable(client, schema, name, columns, rows);

/** The partitions table, the delta and the overlay view of one model's update (by customer_id). */
const overlay = (layer: 'silver' | 'gold', name: string, updateSchema: string, columns: string, partitions: number[], delta: readonly Row[]) =>
  layOutUpdate(client, schemas, { layer, name, column: 'customer_id', updateSchema, columns, partitions, delta });

interface Case {
  lines: Line[];
  parents: Parent[];
  notes: Note[];
  /** Rows of bronze.sales_details in the published run and now. */
  bronze: [number, number];
  /** The partitions of gold.lines recomputed, and its delta. */
  partitions: number[];
  delta: Line[];
  parent: { kept: true } | { updated: { partitions: number[]; delta: Parent[] } };
  /** silver.notes kept, or built again with these rows. */
  notesNow?: Note[];
  /** The published run's as_of, and this run's. */
  asOf?: [string, string];
  /** Run before the update: e.g. remove a recorded value. */
  afterPublish?: (publishedRun: number) => Promise<void>;
}

/** The tests of gold.lines; the other models without theirs (a run's project holds what it builds). */
const lines = () => ({ ...project, models: project.models.map((m) => (m.name === 'gold.lines' ? m : { ...m, tests: [] })) });
const byName = (r: TestResult[]) => new Map(r.map((x) => [x.name, x]));

/** Records the published run's values, then runs every test in full and with the updates. */
async function runBoth(c: Case): Promise<{ full: Map<string, TestResult>; incremental: Map<string, TestResult>; publishedRun: number }> {
  const [asOfBefore, asOfNow] = c.asOf ?? ['2020-01-01', '2020-01-01'];
  await dropAll();
  for (const s of [schemas.silver, schemas.gold, staging().silver, staging().gold]) await client.query(`create schema ${ident(s)}`);
  await table(schemas.silver, 'parents', PARENTS, c.parents);
  await table(schemas.silver, 'notes', NOTES, c.notes);
  await table(schemas.gold, 'lines', LINES, c.lines);
  const bronze = (n: number) => createBronze(client, schemas, 'sales_details', ['sls_ord_num'], Array.from({ length: n }, (_, i) => [`SO${i}`]));

  // the published run: its tests read what it published
  await bronze(c.bronze[0]);
  const publishedRun = await newRun(client, schemas);
  const everything = readingPublished(schemas, ['silver.parents', 'silver.notes', 'gold.lines']);
  await runTests({ client, ledger: client, schemas: everything, project: lines(), runId: publishedRun, asOf: asOfBefore });
  await client.query(`update ${ident(schemas.etl)}.runs set published_at = clock_timestamp(), as_of = $2 where run_id = $1`, [publishedRun, asOfBefore]);
  await c.afterPublish?.(publishedRun);

  // this run
  await bronze(c.bronze[1]);
  const updates = new Map<string, ModelUpdate>();
  updates.set('gold.lines', await overlay('gold', 'lines', linesUpdateSchema(), LINES, c.partitions, c.delta));
  const kept: string[] = [];
  if ('kept' in c.parent) kept.push('silver.parents');
  else updates.set('silver.parents', await overlay('silver', 'parents', parentsUpdateSchema(), PARENTS, c.parent.updated.partitions, c.parent.updated.delta));
  if (c.notesNow) await table(staging().silver, 'notes', NOTES, c.notesNow);
  else kept.push('silver.notes');
  const run = kept.length ? readingPublished(schemas, kept) : schemas;
  const full = byName((await runTests({ client, ledger: client, schemas: run, project: lines(), runId: await newRun(client, schemas), asOf: asOfNow })).results);
  const incremental = byName((await runTests({ client, ledger: client, schemas: run, project: lines(), runId: await newRun(client, schemas), asOf: asOfNow, updates })).results);
  return { full, incremental, publishedRun };
}

const measuredPart = (message: string | null) => (message ?? '').replace(/; on the delta.*$/, '');

/** Same verdict, failing rows, sample and values; `incremental` names the tests that said they added to the published values. */
function expectSame(full: Map<string, TestResult>, incremental: Map<string, TestResult>, incrementalNames: readonly string[]): void {
  expect([...incremental.keys()].sort()).toEqual([...full.keys()].sort());
  for (const [name, f] of full) {
    const i = incremental.get(name)!;
    expect(f.status, `${name}: ${f.message}`).not.toBe('error');
    expect({ name, status: i.status, failingRows: i.failingRows, sample: i.sample, values: i.values }).toEqual({ name, status: f.status, failingRows: f.failingRows, sample: f.sample, values: f.values });
    if (f.kind === 'relationships') expect(measuredPart(i.message), name).toBe(f.message);
    if (incrementalNames.includes(name)) expect(i.message ?? '', name).toMatch(/run \d+'s (value|counts)/);
    else expect(i.message ?? '', name).not.toMatch(/run \d+'s (value|counts)/);
  }
}

const PARENT_ROWS: Parent[] = [
  [1, 'K1', 10],
  [2, 'K2', 5],
  [3, 'K3', 5],
  [4, 'K4', 5],
];
// customer 4's line references an unknown key (coverage 4 of 5); customer 1 has two lines
const PUBLISHED: Line[] = [
  [1, 1, 'K1', 5],
  [1, 2, 'K1', 5],
  [2, 3, 'K2', 5],
  [3, 4, 'K3', 5],
  [4, 5, 'K9', 5],
];
const NOTE_ROWS: Note[] = [
  [1, 'dropped'],
  [2, 'kept'],
];
// customer 1 gains a line of 2.5 and its total follows (parents updated); customer 2 unchanged
const CLEAN_DELTA: Line[] = [
  [1, 1, 'K1', 5],
  [1, 2, 'K1', 5],
  [1, 6, 'K1', 2.5],
  [2, 3, 'K2', 5],
];
const CLEAN_PARENTS = { partitions: [1], delta: [[1, 'K1', 12.5]] as Parent[] };
const CLEAN: Case = { lines: PUBLISHED, parents: PARENT_ROWS, notes: NOTE_ROWS, bronze: [6, 7], partitions: [1, 2], delta: CLEAN_DELTA, parent: { updated: CLEAN_PARENTS } };

describe('reconciliations and coverage on an update', () => {
  it('give the values of the full tests from the published values when the update is clean, saying so', async () => {
    const { full, incremental, publishedRun } = await runBoth(CLEAN);
    expect([...full.values()].filter((r) => r.status !== 'pass').map((r) => r.name)).toEqual([]);
    expect(full.get('lines_amount_eq_totals')!.values).toMatchObject({ left_value: '27.50', right_value: '27.50', left_type: 'numeric' });
    expectSame(full, incremental, RECONCILIATIONS);
    expect(incremental.get('lines_amount_eq_totals')!.message).toBe(
      `left: run ${publishedRun}'s value + the deltas of gold.lines − their published rows of the partitions; right: run ${publishedRun}'s value + the deltas of silver.parents − their published rows of the partitions`,
    );
    // bronze is read in full; silver.notes kept: the right side reads only the deltas
    expect(incremental.get('bronze_eq_lines_plus_notes')!.message).toContain('left in full (reads bronze.sales_details, loaded again)');
    expect(incremental.get('lines_customer_coverage')!.message).toContain(`run ${publishedRun}'s counts less those of its published rows of the partitions plus the delta's; silver.parents updated`);
    // an undeclared reconciliation runs in full
    expect(incremental.get('lines_amount_eq_totals_undeclared')!.message).toBeNull();

    // silver.notes built again (one more dropped customer), bronze one line more: still equal
    const again = await runBoth({ ...CLEAN, bronze: [6, 8], notesNow: [...NOTE_ROWS, [3, 'dropped']] });
    expect(again.full.get('bronze_eq_lines_plus_notes')!.status).toBe('pass');
    expectSame(again.full, again.incremental, RECONCILIATIONS);
    expect(again.incremental.get('bronze_eq_lines_plus_notes')!.message).toContain('silver.notes built again');
  });

  it('fail as the full tests fail on a discrepancy of the delta alone', async () => {
    // customer 2's line loses a cent, and references a key no parent holds
    const delta: Line[] = [...CLEAN_DELTA.slice(0, 3), [2, 3, 'K8', 4.99]];
    const { full, incremental } = await runBoth({ ...CLEAN, delta });
    expect(full.get('lines_amount_eq_totals')).toMatchObject({ status: 'fail', failingRows: 1, sample: [{ left_value: 27.49, right_value: 27.5, difference: null }] });
    expect(full.get('lines_customer_coverage')).toMatchObject({ status: 'fail', failingRows: 2 });
    expectSame(full, incremental, RECONCILIATIONS);
    expect(incremental.get('lines_amount_eq_totals')!.message).toMatch(/^left 27\.49 ≠ right 27\.5; left: run \d+'s value/);
  });

  it('count the published rows outside the partitions whose parent key is added or gone', async () => {
    // parent 4 now holds K9 (its line matches); parent 3 drops K3 (its line no longer does); a new
    // parent 5 holds K1 too, which parent 1 (outside the partitions) still holds: K1's lines count once
    const parent = { updated: { partitions: [3, 4, 5], delta: [[3, 'K3x', 5], [4, 'K9', 5], [5, 'K1', 0]] as Parent[] } };
    const { full, incremental } = await runBoth({ ...CLEAN, partitions: [1], delta: CLEAN_DELTA.slice(0, 3), parent });
    expect(full.get('lines_customer_coverage')!.message).toMatch(/^5 of 6 rows/);
    expectSame(full, incremental, RECONCILIATIONS);
    // kept as published: the delta's keys alone
    const kept = await runBoth({ ...CLEAN, partitions: [1], delta: [...CLEAN_DELTA.slice(0, 2), [1, 6, 'K7', 0]], parent: { kept: true } });
    expect(kept.full.get('lines_customer_coverage')).toMatchObject({ status: 'fail', failingRows: 2 });
    expect(kept.full.get('lines_customer_coverage_where')!.status).toBe('pass');
    expectSame(kept.full, kept.incremental, RECONCILIATIONS);
    expect(kept.incremental.get('lines_customer_coverage')!.message).toContain('silver.parents kept as published');
  });

  it('run in full when the published value is missing, of another SQL, or read at another as_of', async () => {
    const e = () => ident(schemas.etl);
    const missing = await runBoth({
      ...CLEAN,
      afterPublish: async (run) => {
        await client.query(`update ${e()}.test_results set measured = measured - 'right_value' where run_id = $1 and test_name = 'lines_amount_eq_totals'`, [run]);
        await client.query(`update ${e()}.test_results set measured = null where run_id = $1 and test_name in ('bronze_eq_lines_plus_notes', 'lines_customer_coverage')`, [run]);
        await client.query(`update ${e()}.test_results set measured = jsonb_set(measured, '{left_sha256}', '"x"') where run_id = $1 and test_name = 'lines_before_as_of'`, [run]);
      },
    });
    expectSame(missing.full, missing.incremental, ['lines_amount_eq_totals', 'lines_amount_uncoalesced', 'lines_before_as_of', 'lines_customer_coverage_where', 'lines_partition_coverage']);
    expect(missing.incremental.get('lines_amount_eq_totals')!.message).toContain(`right in full (run ${missing.publishedRun}'s value is missing)`);
    expect(missing.incremental.get('lines_before_as_of')!.message).toContain(`left in full (no value of this SQL in run ${missing.publishedRun})`);

    const moved = await runBoth({ ...CLEAN, asOf: ['2000-01-03', '2000-01-04'] });
    expect(moved.full.get('lines_before_as_of')!.values).toMatchObject({ left_value: '4' });
    expectSame(moved.full, moved.incremental, RECONCILIATIONS.filter((n) => n !== 'lines_before_as_of'));
    expect(moved.incremental.get('lines_before_as_of')!.message).toBeNull();

    // a side declared additive that is not (a sum without coalesce is NULL over no rows): the
    // empty delta makes the form's value NULL, and the test runs in full
    const empty = await runBoth({ ...CLEAN, delta: [] });
    expect(empty.full.get('lines_amount_uncoalesced')).toMatchObject({ status: 'pass', values: { left_value: '10.00' } });
    expectSame(empty.full, empty.incremental, RECONCILIATIONS.filter((n) => n !== 'lines_amount_uncoalesced'));
  });

  it('reads the declaration, and refuses one that is not a boolean', async () => {
    expect(project.models.find((m) => m.name === 'gold.lines')!.tests.find((t) => t.name === 'lines_amount_eq_totals')).toMatchObject({ kind: 'equal', additive: true });
    const bad = await writeProject({ ...FILES, 'gold/lines.yml': FILES['gold/lines.yml'].replace('additive: true', 'additive: yes, sums: 1') });
    try {
      const err = await caught(loadProject({ sqlDir: bad, sources: SOURCES }));
      expect(err.message).toContain('config.meta.additive');
      expect(err.message).toContain("config.meta.sums: unknown key 'sums'");
    } finally {
      await removeProject(bad);
    }
  });
});
