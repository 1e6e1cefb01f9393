/**
 * gold.customer_training_set cannot leak: one build of generated data (scale 0.05) at AS_OF, then
 * (a) the feature columns of a cutoff equal gold.customer_features of a build with `--as-of cutoff`,
 *     row by row, at three cutoffs;
 * (c) every label equals a direct recomputation from silver.sales_clean;
 * (b) a bronze sales line dated on or after a cutoff, edited and rebuilt with `medallion transform`,
 *     changes no feature of that cutoff (and does change the labels that hold it).
 * The feature columns are those the .yml gives the role `feature`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/generate/index.ts';
import { columnDocsOf, loadProject } from '../../src/transform/index.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, uniqueTarget } from '../support/database.ts';
import { AS_OF, describeFailure, runBuild, sqlFor, SQL_DIR } from './helpers.ts';

/** The schedule at AS_OF (2014-01-29): the first days of 2013-02 .. 2014-01, less those whose 90-day
 * window ends after AS_OF (2013-11-01 and later). */
const EXPECTED_CUTOFFS = ['2013-02-01', '2013-03-01', '2013-04-01', '2013-05-01', '2013-06-01', '2013-07-01', '2013-08-01', '2013-09-01', '2013-10-01'];
const CHECKED_CUTOFFS = ['2013-03-01', '2013-07-01', '2013-10-01'] as const;

let dir: string;
const targets: string[] = [];
let full: string;
const atCutoff = new Map<string, string>();
let features: string[];

async function build(asOf: string): Promise<string> {
  const target = uniqueTarget('sql_train');
  targets.push(target);
  const r = await runBuild(dir, target, asOf);
  expect(r.code, describeFailure(r)).toBe(0);
  return target;
}

/** One text per row: the customer and the feature columns, of the training set at `cutoff`. */
function featureRowsSql(target: string, cutoff: string): string {
  return `select customer_id, (${features.join(', ')})::text as row_text
            from ${target}_gold.customer_training_set where cutoff_date = '${cutoff}'`;
}

beforeAll(async () => {
  const project = await loadProject({ sqlDir: SQL_DIR });
  const columns = Object.values(columnDocsOf(project, 'gold').customer_training_set!);
  features = columns.filter((c) => c.role === 'feature').map((c) => c.name);
  dir = await mkdtemp(path.join(os.tmpdir(), 'medallion-train-'));
  await generate({ scale: 0.05, seed: 42, outDir: dir, structuralRate: 0 });
  full = await build(AS_OF);
  for (const cutoff of CHECKED_CUTOFFS) atCutoff.set(cutoff, await build(cutoff));
}, 600_000);

afterAll(async () => {
  for (const t of targets) await dropTarget(t);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('gold.customer_training_set', () => {
  it('has the scheduled cutoffs, every feature of customer_features, and labels of both kinds', async () => {
    const features_of_customer_features = Object.values(columnDocsOf(await loadProject({ sqlDir: SQL_DIR }), 'gold').customer_features!)
      .filter((c) => c.role === 'feature').map((c) => c.name);
    expect([...features].sort()).toEqual([...features_of_customer_features].sort());
    const db = sqlFor(full);
    const cutoffs = await db.rows<{ cutoff: string }>(`select distinct cutoff_date::text as cutoff from gold.customer_training_set order by 1`);
    expect(cutoffs.map((r) => r.cutoff)).toEqual(EXPECTED_CUTOFFS);
    const labels = await db.one<{ again: number; not_again: number }>(
      `select count(*) filter (where ordered_again)::int as again, count(*) filter (where not ordered_again)::int as not_again from gold.customer_training_set`);
    expect(labels.again).toBeGreaterThan(0);
    expect(labels.not_again).toBeGreaterThan(0);
  });

  it.each(CHECKED_CUTOFFS)('(a) at cutoff %s, the features equal customer_features of a build --as-of the cutoff, row by row', async (cutoff) => {
    const cut = atCutoff.get(cutoff)!;
    // customers in both: the customers of the cutoff build with an order before it; every one of
    // them must have a row in the training set, and no other customer
    const rows = await query<{ customer_id: number; training: string | null; features: string | null }>(
      `select coalesce(training.customer_id, built.customer_id) as customer_id, training.row_text as training, built.row_text as features
         from (${featureRowsSql(full, cutoff)}) as training
         full join (select customer_id, (${features.join(', ')})::text as row_text
                      from ${cut}_gold.customer_features where frequency > 0) as built
           on built.customer_id = training.customer_id
        order by 1`);
    expect(rows.length).toBeGreaterThan(50);
    const different = rows.filter((r) => r.training !== r.features);
    expect(different.slice(0, 5)).toEqual([]);
  });

  it('(c) every label equals a direct recomputation from silver.sales_clean', async () => {
    const db = sqlFor(full);
    const r = await db.one<{ rows: number; wrong: number }>(
      `select count(*)::int as rows,
              count(*) filter (where (t.next_spend, t.next_orders, t.ordered_again)
                is distinct from (direct.spend, direct.orders, direct.orders > 0))::int as wrong
         from gold.customer_training_set as t
         cross join lateral (
           select coalesce(sum(line.sales_amount), 0) as spend, count(distinct line.order_number)::int as orders
             from silver.sales_clean as line
            where line.customer_id = t.customer_id
              and line.order_date >= t.cutoff_date and line.order_date < t.cutoff_date + 90
         ) as direct`);
    expect(r.rows).toBeGreaterThan(100);
    expect(r.wrong).toBe(0);
  });

  it('(b) a sales line dated on or after a cutoff, changed in bronze, changes no feature of that cutoff', async () => {
    const cutoff = '2013-07-01';
    const db = sqlFor(full);
    // a line of a customer of the cutoff, in the cutoff's label window
    const line = await db.one<{ order_number: string; product_key: string; customer_id: number }>(
      `select line.order_number, line.product_key, line.customer_id
         from silver.sales_clean as line
         join gold.customer_training_set as t on t.customer_id = line.customer_id and t.cutoff_date = $1::date
        where line.order_date >= $1::date and line.order_date < $1::date + 30
        order by line.order_number, line.product_key limit 1`, [cutoff]);
    const featuresBefore = await query<{ customer_id: number; row_text: string }>(`${featureRowsSql(full, cutoff)} order by customer_id`);
    const labelBefore = await db.one<{ next_spend: string }>(
      `select next_spend::text from gold.customer_training_set where customer_id = $1 and cutoff_date = $2::date`, [line.customer_id, cutoff]);
    // ten times the quantity and the amount: sales = quantity × price still holds, so no repair undoes it
    const updated = await db.rows(
      `update bronze.sales_details
          set sls_quantity = (btrim(sls_quantity)::numeric * 10)::text, sls_sales = (btrim(sls_sales)::numeric * 10)::text
        where btrim(sls_ord_num) = $1 and btrim(sls_prd_key) = $2 returning 1`, [line.order_number, line.product_key]);
    expect(updated.length).toBe(1);
    const cwd = await mkdtemp(path.join(os.tmpdir(), 'medallion-train-cwd-'));
    try {
      const r = await runCli(['transform', '--target', full, '--sql', SQL_DIR, '--skip-export', '--as-of', AS_OF], { cwd });
      expect(r.code, describeFailure(r)).toBe(0);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
    const labelAfter = await db.one<{ next_spend: string }>(
      `select next_spend::text from gold.customer_training_set where customer_id = $1 and cutoff_date = $2::date`, [line.customer_id, cutoff]);
    expect(labelAfter.next_spend).not.toBe(labelBefore.next_spend);
    const featuresAfter = await query<{ customer_id: number; row_text: string }>(`${featureRowsSql(full, cutoff)} order by customer_id`);
    expect(featuresAfter).toEqual(featuresBefore);
    // the line does reach the features of the later cutoffs
    const later = await db.one<{ n: number }>(
      `select count(*)::int as n from gold.customer_training_set where customer_id = $1 and cutoff_date > $2::date + 30`, [line.customer_id, cutoff]);
    expect(later.n).toBeGreaterThan(0);
  });
});
