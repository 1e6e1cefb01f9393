/**
 * The partition index of an incremental table (src/transform/incremental.ts, partitionIndexName),
 * and the indexes a model declares (`config.indexes`, built and kept the same way):
 * a btree on the partition column, created after each whole build, published with the table (the
 * schema swap, the in-place publish), kept through the in-place updates; and the reads of a table's
 * rows of some partitions (partitionRows: the update's published rows, the publish's delete) are
 * written so that the planner can answer them from it, NULL partition included.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ident } from '../../src/db/client.ts';
import { datesIndexExpression, datesIndexName, indexName, partitionConditions, partitionIndexName, partitionRows, updateVersions } from '../../src/transform/incremental.ts';
import { inPartitions } from '../../src/transform/partition-predicates.ts';
import { loadProject } from '../../src/transform/project.ts';
import type { Model } from '../../src/transform/types.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, schemaNames, uniqueTarget } from '../support/database.ts';
import { workFolder } from '../runs/helpers.ts';

const target = uniqueTarget('pidx');
const schemas = schemaNames(target);
/** A schema of the test's own for hand-made partitions tables. */
const scratch = `${target}_partitions`;
let work: string;
let seeds: string;
const models = {} as { lines: Model };

type LogEvent = Record<string, unknown> & { event?: string };

async function build(extra: string[] = []): Promise<{ code: number; events: LogEvent[]; out: string }> {
  const r = await runCli(['build', '--seeds', seeds, '--target', target, '--sql', path.join(work, 'sql'), '--out', path.join(work, 'exports'), '--skip-export', '--log-format', 'json', ...extra], { cwd: work });
  return { code: r.code, out: r.stdout.slice(-3000) + r.stderr, events: r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogEvent) };
}

/** Incremental tables of the project (their .yml's partition_by), silver and gold. */
const INCREMENTAL_TABLES = [
  { schema: () => schemas.gold, table: 'fact_sales', column: 'customer_id' },
  { schema: () => schemas.gold, table: 'customer_training_set', column: 'customer_id' },
  { schema: () => schemas.silver, table: 'int_sales_lines', column: 'order_number' },
  { schema: () => schemas.silver, table: 'int_customers', column: 'customer_id' },
];

/** The index of a table that is a btree on exactly one column, by its name; undefined when there is none. */
async function columnIndex(schema: string, table: string, column: string): Promise<{ name: string; oid: number } | undefined> {
  const rows = await query<{ name: string; oid: number }>(
    `select x.relname as name, x.oid::int as oid
       from pg_index i join pg_class x on x.oid = i.indexrelid join pg_class t on t.oid = i.indrelid
       join pg_namespace n on n.oid = t.relnamespace join pg_am a on a.oid = x.relam
      where n.nspname = $1 and t.relname = $2 and x.relname = $3 and a.amname = 'btree' and i.indisvalid
        and i.indnatts = 1 and i.indkey[0] = (select attnum from pg_attribute where attrelid = t.oid and attname = $4)`,
    [schema, table, partitionIndexName(table, column), column],
  );
  return rows[0];
}

async function plan(sql: string): Promise<string> {
  return (await query<{ 'QUERY PLAN': string }>(`explain ${sql}`)).map((r) => r['QUERY PLAN']).join('\n');
}

beforeAll(async () => {
  ({ work, seeds } = await workFolder('partition-index'));
  models.lines = (await loadProject({ sqlDir: path.join(work, 'sql') })).models.find((m) => m.name === 'silver.int_sales_lines')!;
  const r = await build();
  expect(r.code, r.out).toBe(0);
}, 180_000);

afterAll(async () => {
  await query(`drop schema if exists ${ident(scratch)} cascade`);
  await dropTarget(target);
  await rm(work, { recursive: true, force: true });
});

describe('the partition index of an incremental table', () => {
  it('is named after the table and the column, within the 63 bytes of a name', () => {
    expect(partitionIndexName('fact_sales', 'customer_id')).toBe('fact_sales_customer_id_idx');
    expect(Buffer.byteLength(partitionIndexName('t'.repeat(60), 'customer_id'))).toBe(63);
  });

  it('is on every published incremental table after a whole build, beside the indexes a model declares', async () => {
    for (const t of INCREMENTAL_TABLES) expect(await columnIndex(t.schema(), t.table, t.column), `${t.table}`).toBeDefined();
    expect(await columnIndex(schemas.silver, 'int_sales_lines', 'customer_id')).toBeDefined();
    expect(indexName('sales', ['customer_id', 'order_date'])).toBe('sales_customer_id_order_date_idx');
    // a table that is not incremental has none
    const [features] = await query<{ n: number }>(`select count(*)::int as n from pg_indexes where schemaname = $1 and tablename = 'customer_features'`, [schemas.gold]);
    expect(features!.n).toBe(0);
  });

  it('has a dates index on greatest(<dates>) when its date window is over its own rows, which finds the rows of a window', async () => {
    const definition = async (table: string) =>
      (await query<{ d: string }>('select indexdef as d from pg_indexes where schemaname = $1 and tablename = $2 and indexname = $3', [schemas.silver, table, datesIndexName(table)]))[0]?.d;
    expect(await definition('int_sales_lines')).toMatch(/\(GREATEST\(order_date_real, order_date, ship_date_real, due_date_real\)\)/);
    expect(await definition('int_erp_demographics')).toMatch(/\(GREATEST\(birthdate_parsed\)\)/);
    // a model whose window is over another input has none
    expect(datesIndexExpression({ name: 'silver.x', incremental: { partitionBy: 'k', dateWindows: { 'silver.r': { columns: ['as_of'], over: 'silver.y', dates: ['d'] } } } })).toBeUndefined();
    const window = await plan(
      `select order_number from ${ident(schemas.silver)}.int_sales_lines where ${datesIndexExpression(models.lines)} >= date '2014-01-01' and (ship_date_real between date '2014-01-01' and date '2014-01-02')`,
    );
    expect(window, window).toMatch(new RegExp(`(Index Scan|Bitmap Index Scan) (using|on) ${datesIndexName('int_sales_lines')}`));
  });

  it('partitionRows holds the rows inPartitions holds, NULL a partition of its own', async () => {
    const values = `(values (1), (2), (null::int)) as v(customer_id)`;
    for (const partitions of ['values (1)', 'values (null::int)', 'values (2), (null::int)', 'select 1 where false']) {
      const [counts] = await query<{ rows: number; predicate: number }>(
        `with p(key) as (${partitions}) select (select count(*)::int from ${partitionRows(values, 'customer_id', 'p')} as r) as rows,
                                          (select count(*)::int from ${values} where ${inPartitions('customer_id', 'p')}) as predicate`,
      );
      expect(counts!.rows, partitions).toBe(counts!.predicate);
    }
  });

  it('is kept by an update in place, and the update reads and deletes the published rows of its partitions through it', async () => {
    const fact = `${ident(schemas.gold)}.fact_sales`;
    const before = await columnIndex(schemas.gold, 'fact_sales', 'customer_id');
    const declaredBefore = await columnIndex(schemas.silver, 'int_sales_lines', 'customer_id');
    // one line moves to another customer: two partitions of fact_sales change
    const file = path.join(seeds, 'sales_details.csv');
    const [header, ...lines] = (await readFile(file, 'utf8')).trimEnd().split('\n');
    const ids = [...new Set(lines.map((l) => l.split(',')[2]!).filter((id) => /^[0-9]+$/.test(id)))];
    const moved = lines.findIndex((l) => l.split(',')[2] === ids[0]);
    lines[moved] = lines[moved]!.split(',').map((f, j) => (j === 2 ? ids[1]! : f)).join(',');
    await writeFile(file, `${[header, ...lines].join('\n')}\n`);

    const r = await build();
    expect(r.code, r.out).toBe(0);
    expect(r.events.find((e) => e.event === 'model_updated' && e.model === 'gold.fact_sales'), r.out).toMatchObject({ partition_by: 'customer_id', partitions: 2 });
    const after = await columnIndex(schemas.gold, 'fact_sales', 'customer_id');
    expect(after).toEqual(before);
    // int_sales_lines (by order_number) was updated too and keeps the index it declares
    expect(r.events.find((e) => e.event === 'model_updated' && e.model === 'silver.int_sales_lines'), r.out).toBeDefined();
    expect(await columnIndex(schemas.silver, 'int_sales_lines', 'customer_id')).toEqual(declaredBefore);

    // an update's layout: its partitions (two customers and the NULL one), read as the engine reads them
    await query(`drop schema if exists ${ident(scratch)} cascade`);
    await query(`create schema ${ident(scratch)}`);
    await query(`create table ${ident(scratch)}.partitions as select distinct customer_id as key from ${fact} where customer_id::text = any($1) union all select null`, [[ids[0], ids[1]]]);
    await query(`analyze ${ident(scratch)}.partitions`);
    const update = { model: 'gold.fact_sales' as const, schema: scratch, column: 'customer_id' };
    const index = new RegExp(`(Index Scan|Index Only Scan|Bitmap Index Scan) (using|on) ${partitionIndexName('fact_sales', 'customer_id')}`, 'g');
    const read = await plan(`select * from ${updateVersions(update, fact).before} as published_rows`);
    // one index read for the values, one for the NULL partition
    expect(read.match(index), read).toHaveLength(2);
    for (const condition of partitionConditions(ident('customer_id'), `${ident(scratch)}.partitions`)) {
      const deleted = await plan(`delete from ${fact} where ${condition}`);
      expect(deleted, deleted).toMatch(index);
    }
    // a customer_id model's update reads the lines of its customers (by order_number) through the declared index
    const linesRead = await plan(`select * from ${partitionRows(`${ident(schemas.silver)}.int_sales_lines`, 'customer_id', `${ident(scratch)}.partitions`)} as t`);
    expect(linesRead, linesRead).toMatch(new RegExp(`(Index Scan|Bitmap Index Scan) (using|on) ${indexName('int_sales_lines', ['customer_id'])}`));
  }, 180_000);

  it('is published with the table by an in-place publish, which gives it to a published table that lacks it', async () => {
    await query(`drop index ${ident(schemas.gold)}.${ident(partitionIndexName('fact_sales', 'customer_id'))}`);
    const r = await build(['--full-refresh', '--publish', 'in-place']);
    expect(r.code, r.out).toBe(0);
    for (const t of INCREMENTAL_TABLES) expect(await columnIndex(t.schema(), t.table, t.column), `${t.table}`).toBeDefined();
    expect(await columnIndex(schemas.silver, 'int_sales_lines', 'customer_id')).toBeDefined();
  }, 180_000);
});
