/**
 * Incremental models (src/transform/incremental.ts): a run whose changes reach an incremental model
 * only through inputs that have its partition column computes again just the partitions whose
 * input rows changed, publishes them in place, and ends with what a full build of the same files
 * holds. Two test models beside the project's: gold.customer_lines (declared by customer_id, and it
 * holds) and gold.customer_lines_unfiltered (declared by customer_id, but it also reads a bronze
 * table by its own cst_id, so its SQL returns every customer whatever the filter: it must be built
 * whole, with the reason). The sales file changes three ways: new orders for one customer, every
 * line of another gone, a line moved from a third customer to a fourth.
 */
import { appendFile, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ident } from '../../src/db/client.ts';
import { inPartitions, notInPartitions } from '../../src/transform/partition-predicates.ts';
import { spawnMedallion } from '../support/child-run.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, schemaNames, uniqueTarget } from '../support/database.ts';
import { expectSameTargets } from '../support/target-equality.ts';
import { workFolder } from '../runs/helpers.ts';

const target = uniqueTarget('incr');
const schemas = schemaNames(target);
const truths: string[] = [];
let work: string;
let seeds: string;

type LogEvent = Record<string, unknown> & { event?: string };
const exportsOf = (t: string) => path.join(work, 'exports', t);

const buildArgs = (into: string, extra: string[] = []) => ['build', '--seeds', seeds, '--target', into, '--sql', path.join(work, 'sql'), '--out', exportsOf(into), ...extra];

async function build(into: string, extra: string[] = []): Promise<{ code: number; events: LogEvent[]; out: string }> {
  const r = await runCli([...buildArgs(into, extra), '--log-format', 'json'], { cwd: work });
  return { code: r.code, out: r.stdout.slice(-3000) + r.stderr, events: r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogEvent) };
}

async function expectSameAsFullBuild(label: string, extra: string[] = []): Promise<void> {
  const truth = uniqueTarget('incr_full');
  truths.push(truth);
  const r = await build(truth, ['--full-refresh', ...extra]);
  expect(r.code, r.out).toBe(0);
  await expectSameTargets({ target, exportsDir: exportsOf(target) }, { target: truth, exportsDir: exportsOf(truth) }, label);
  await dropTarget(truth);
}

const TEST_MODELS: Record<string, { sql: string; yml: string }> = {
  customer_lines: {
    sql: `-- gold.customer_lines: per customer, its clean lines counted and summed (a test model)
select customer_id, count(*)::int as lines, sum(sales_amount) as spend, max(order_date) as last_order_date
from silver.sales_clean
group by customer_id
`,
    yml: `version: 2
models:
  - name: customer_lines
    description: Per customer, its clean lines (a test model).
    config:
      materialized: incremental
      partition_by: customer_id
      unique_key: [customer_id]
    data_tests:
      - dbt_utils.expression_is_true: { name: customer_lines_counted, expression: "lines > 0" }
      - dbt_utils.expression_is_true: { name: customer_lines_not_the_test_customer, expression: "customer_id <> 987654321" }
`,
  },
  customer_lines_unfiltered: {
    sql: `-- gold.customer_lines_unfiltered: per customer of the CRM file, its clean lines (a test model
-- whose partition_by does not hold: bronze.cust_info has no customer_id column to filter)
with crm_customers as (
  select distinct cst_id::bigint as customer_id from bronze.cust_info where cst_id ~ '^[0-9]{1,15}$'
)

select crm.customer_id, count(line.customer_id)::int as lines
from crm_customers as crm
left join silver.sales_clean as line on line.customer_id = crm.customer_id
group by crm.customer_id
`,
    yml: `version: 2
models:
  - name: customer_lines_unfiltered
    description: Per CRM customer, its clean lines (a test model).
    config:
      materialized: incremental
      partition_by: customer_id
`,
  },
};

beforeAll(async () => {
  ({ work, seeds } = await workFolder('incremental'));
  for (const [name, files] of Object.entries(TEST_MODELS)) {
    await writeFile(path.join(work, 'sql', 'gold', `${name}.sql`), files.sql);
    await writeFile(path.join(work, 'sql', 'gold', `${name}.yml`), files.yml);
  }
  const r = await build(target);
  expect(r.code, r.out).toBe(0);
}, 180_000);

afterAll(async () => {
  for (const t of [target, ...truths]) await dropTarget(t);
  await rm(work, { recursive: true, force: true });
});

/** The sales file's lines of customers with several orders, by customer. */
async function salesByCustomer(): Promise<{ header: string; lines: string[]; byCustomer: Map<string, number[]> }> {
  const [header, ...lines] = (await readFile(path.join(seeds, 'sales_details.csv'), 'utf8')).trimEnd().split('\n');
  const byCustomer = new Map<string, number[]>();
  lines.forEach((l, i) => {
    const id = l.split(',')[2]!;
    if (/^[0-9]+$/.test(id)) byCustomer.set(id, [...(byCustomer.get(id) ?? []), i]);
  });
  return { header: header!, lines, byCustomer };
}

describe('an incremental model', () => {
  it('NULL is a partition of its own, and the two predicates split every row', async () => {
    const values = `(values (1), (2), (null::int)) as t(customer_id)`;
    const count = async (partitions: string, predicate: (c: string, p: string) => string) =>
      (await query<{ n: number }>(`with p(key) as (${partitions}) select count(*)::int as n from ${values} where ${predicate('customer_id', 'p')}`))[0]!.n;
    expect(await count('values (1)', inPartitions)).toBe(1);
    expect(await count('values (1)', notInPartitions)).toBe(2);
    expect(await count('values (null::int)', inPartitions)).toBe(1);
    expect(await count('values (null::int)', notInPartitions)).toBe(2);
    expect(await count('values (2), (null::int)', inPartitions)).toBe(2);
    expect(await count('values (2), (null::int)', notInPartitions)).toBe(1);
    expect(await count('select 1 where false', inPartitions)).toBe(0);
    expect(await count('select 1 where false', notInPartitions)).toBe(3);
  });

  it('is updated for the customers whose lines changed, in place, and equals a full build', async () => {
    const { header, lines, byCustomer } = await salesByCustomer();
    const customers = [...byCustomer.keys()].filter((c) => byCustomer.get(c)!.length >= 2);
    expect(customers.length).toBeGreaterThan(4);
    const [grows, leaves, from, to] = customers;
    // the lines of `leaves` become new orders of `grows` in their places (silver carries each
    // line's line number: removing a line would change every later line, and so every customer
    // with a later line, which the update would then rightly compute again)
    const replaced = new Set(byCustomer.get(leaves!)!);
    const moved = byCustomer.get(from!)![0]!;
    const template = lines[byCustomer.get(grows!)![0]!]!.split(',');
    let next = 0;
    const changed = lines.map((l, i) => {
      if (i === moved) return l.split(',').map((f, j) => (j === 2 ? to! : f)).join(',');
      if (replaced.has(i)) return [`SO999999${String(next++).padStart(2, '0')}`, ...template.slice(1)].join(',');
      return l;
    });
    await writeFile(path.join(seeds, 'sales_details.csv'), `${[header, ...changed].join('\n')}\n`);
    const [before] = await query<{ oid: number }>(`select ${`'${schemas.gold}.customer_lines'`}::regclass::oid::int as oid`);

    const r = await build(target);
    expect(r.code, r.out).toBe(0);
    const plan = r.events.find((e) => e.event === 'model_plan') as { updated: string[]; reasons: Record<string, string> };
    expect(plan.updated).toEqual(expect.arrayContaining(['gold.customer_lines', 'gold.customer_lines_unfiltered']));
    const updated = r.events.find((e) => e.event === 'model_updated' && e.model === 'gold.customer_lines');
    // the four customers whose lines changed, and no other
    expect(updated).toMatchObject({ partition_by: 'customer_id', partitions: 4 });
    const whole = r.events.find((e) => e.event === 'model_built_whole' && e.model === 'gold.customer_lines_unfiltered');
    expect(whole?.reason).toMatch(/partition_by does not hold/);
    // applied in place: the published table is the same relation, with the new rows
    const [after] = await query<{ oid: number }>(`select ${`'${schemas.gold}.customer_lines'`}::regclass::oid::int as oid`);
    expect(after!.oid).toBe(before!.oid);
    const rows = await query<{ customer_id: string; lines: number }>(
      `select customer_id::text, lines from ${ident(schemas.gold)}.customer_lines where customer_id::text = any($1) order by 1`,
      [[grows, leaves, from, to]],
    );
    expect(rows.map((x) => x.customer_id)).not.toContain(leaves);
    // the run's update schemas are gone with its staging schemas
    const left = await query(`select nspname from pg_namespace where nspname like $1`, [`${target}%\\_u%`]);
    expect(left).toEqual([]);
    // the summary records the update
    const [summary] = await query<{ update: unknown }>(
      `select m -> 'update' as update from ${ident(schemas.etl)}.runs, jsonb_array_elements(summary -> 'models') m
        where published_at is not null and m ->> 'model' = 'gold.customer_lines' order by run_id desc limit 1`,
    );
    expect(summary!.update).toMatchObject({ partition_by: 'customer_id', partitions: updated!.partitions });
    await expectSameAsFullBuild('after an incremental update');
  }, 300_000);

  it('its row-level tests read the delta alone: a failing new row fails the run, a published row of another partition is not scanned again', async () => {
    // a row of an untouched partition made to fail a test by hand: the update's tests do not see it
    const [untouched] = await query<{ customer_id: string }>(`select customer_id::text from ${ident(schemas.gold)}.customer_lines order by customer_id desc limit 1`);
    await query(`update ${ident(schemas.gold)}.customer_lines set lines = 0 where customer_id = $1`, [untouched!.customer_id]);
    const { lines } = await salesByCustomer();
    const template = lines.find((l) => l.split(',')[2] !== untouched!.customer_id)!.split(',');
    await appendFile(path.join(seeds, 'sales_details.csv'), `${['SO99999980', ...template.slice(1)].join(',')}\n`);
    const passed = await build(target);
    expect(passed.code, passed.out).toBe(0);
    expect(passed.events.some((e) => e.event === 'model_updated' && e.model === 'gold.customer_lines')).toBe(true);
    const [counted] = await query<{ status: string }>(
      `select status from ${ident(schemas.etl)}.test_results where test_name = 'customer_lines_counted' order by run_id desc limit 1`,
    );
    expect(counted!.status).toBe('pass');
    await query(`update ${ident(schemas.gold)}.customer_lines set lines = (select count(*) from ${ident(schemas.silver)}.sales_clean where customer_id = $1) where customer_id = $1`, [untouched!.customer_id]);

    // a new row that fails a test: the run fails and publishes nothing
    const before = (await query<{ n: number }>(`select count(*)::int as n from ${ident(schemas.gold)}.customer_lines`))[0]!.n;
    await appendFile(path.join(seeds, 'sales_details.csv'), `${['SO99999981', template[1], '987654321', ...template.slice(3)].join(',')}\n`);
    const failed = await build(target);
    expect(failed.code, failed.out).toBe(1);
    const [failing] = await query<{ status: string; failing_rows: number }>(
      `select status, failing_rows::int from ${ident(schemas.etl)}.test_results where test_name = 'customer_lines_not_the_test_customer' order by run_id desc limit 1`,
    );
    expect(failing).toEqual({ status: 'fail', failing_rows: 1 });
    expect((await query<{ n: number }>(`select count(*)::int as n from ${ident(schemas.gold)}.customer_lines`))[0]!.n).toBe(before);
    // the line goes again, and the next run catches up
    const all = (await readFile(path.join(seeds, 'sales_details.csv'), 'utf8')).split('\n').filter((l) => !l.startsWith('SO99999981,'));
    await writeFile(path.join(seeds, 'sales_details.csv'), all.join('\n'));
    const next = await build(target);
    expect(next.code, next.out).toBe(0);
    await expectSameAsFullBuild('after a failed update');
  }, 300_000);

  it('killed inside the publishing transaction after the deltas are applied: nothing published changes, and the next run catches up', async () => {
    const digest = async () =>
      (await query<{ md5: string }>(`select md5(string_agg(t::text, ',' order by t::text)) as md5 from ${ident(schemas.gold)}.customer_lines t`))[0]!.md5;
    const before = await digest();
    await appendFile(path.join(seeds, 'sales_details.csv'), `${(await salesByCustomer()).lines[0]!.replace(/^[^,]*/, 'SO99999990')}\n`);
    // a process of its own: the failpoint kills the process that reaches it
    const killed = await spawnMedallion(buildArgs(target), { cwd: work, env: { MEDALLION_FAILPOINTS: 'after-updates' } }).done;
    expect(killed.signal, killed.output).toBe('SIGKILL');
    expect(killed.events.some((e) => e.event === 'model_updated' && e.model === 'gold.customer_lines')).toBe(true);
    expect(await digest()).toBe(before);
    const next = await build(target);
    expect(next.code, next.out).toBe(0);
    expect(await digest()).not.toBe(before);
    await expectSameAsFullBuild('after a run killed inside its publish');
  }, 300_000);
});

describe('silver.int_sales_lines, incremental by order_number', () => {
  type Plan = { updated: string[]; reasons: Record<string, string> };
  const linesEvent = (events: LogEvent[], event: string) => events.find((e) => e.event === event && e.model === 'silver.int_sales_lines');

  it('reads its bronze input by the changed keys of bronze.sales_details__changes: the orders of their old and new rows', async () => {
    const [header, ...lines] = (await readFile(path.join(seeds, 'sales_details.csv'), 'utf8')).trimEnd().split('\n');
    const fields = lines.map((l) => l.split(','));
    const orders = new Map<string, number>();
    for (const f of fields) orders.set(f[0]!, (orders.get(f[0]!) ?? 0) + 1);
    const changedIndex = fields.findIndex((f) => orders.get(f[0]!)! >= 2 && /^[0-9]+$/.test(f[6]!));
    const changed = fields[changedIndex]!;
    const order = changed[0]!;
    // one line of the order gets another sales value; a new line of the same order, its number
    // written with spaces around it (another bronze key, the same order_number); a new order
    const edited = lines.map((l, i) => (i === changedIndex ? changed.map((f, j) => (j === 6 ? String(Number(f) + 1) : f)).join(',') : l));
    const product = fields.find((f) => !fields.some((g) => g[0] === order && g[1] === f[1]))![1]!;
    const spaced = [` ${order} `, product, ...changed.slice(2)].join(',');
    const added = ['SO99999970', ...changed.slice(1)].join(',');
    await writeFile(path.join(seeds, 'sales_details.csv'), `${[header, ...edited, spaced, added].join('\n')}\n`);

    const r = await build(target);
    expect(r.code, r.out).toBe(0);
    const plan = r.events.find((e) => e.event === 'model_plan') as Plan;
    expect(plan.updated).toContain('silver.int_sales_lines');
    expect(plan.reasons['silver.int_sales_lines']).toMatch(/^bronze\.sales_details holds another load/);
    expect(linesEvent(r.events, 'model_updated'), r.out).toMatchObject({ partition_by: 'order_number', partitions: 2 });
    const rows = await query<{ order_number: string; n: number }>(
      `select order_number, count(*)::int as n from ${ident(schemas.silver)}.int_sales_lines where order_number = any($1) group by 1 order by 1`,
      [[order, 'SO99999970']],
    );
    expect(rows).toEqual([
      { order_number: order, n: orders.get(order)! + 1 },
      { order_number: 'SO99999970', n: 1 },
    ]);
    await expectSameAsFullBuild('after a bronze change of int_sales_lines');
  }, 300_000);

  it('when as_of moves, computes again the orders with a date in the window between the two, not every order', async () => {
    // as_of goes 60 days back, then 20 days past the data's own as_of: the second move shifts
    // as_of by 80 days and latest_plausible_date (a year after the later of the two) by 20
    const [d] = await query<{ from: string; to: string; orders: number; lead: number; repaired: string; late_ship: string; late_due: string; old: string }>(
      `select (max(l.order_date) - 60)::text as from, (r.as_of + 20)::text as to, count(distinct l.order_number)::int as orders,
              t.lead_days as lead, to_char(r.as_of + 19 + t.lead_days, 'YYYYMMDD') as repaired,
              to_char(r.latest_plausible_date + 1, 'YYYYMMDD') as late_ship, to_char(r.latest_plausible_date + 12, 'YYYYMMDD') as late_due,
              to_char(max(l.order_date) - 100, 'YYYYMMDD') as old
         from ${ident(schemas.silver)}.int_sales_lines l, ${ident(schemas.silver)}.int_sales_date_range r, ${ident(schemas.silver)}.int_sales_ship_lead_time t
        group by r.as_of, r.latest_plausible_date, t.lead_days`,
    );
    // lines whose outcome changes with the second move through one kind of date each: an order
    // date repaired from the ship date, the day before the second as_of (its ship date is later);
    // a ship date the day after the first latest_plausible_date (minus the lead time it is
    // earlier); a due date past the first latest_plausible_date and before the second
    expect(d!.lead).toBeGreaterThan(1);
    const { lines } = await salesByCustomer();
    const template = lines[0]!.split(',');
    const line = (order: string, dates: [string, string, string]) => [order, template[1], template[2], ...dates, ...template.slice(6)].join(',');
    const added = [line('SO99999960', ['', d!.repaired, d!.repaired]), line('SO99999961', [d!.old, d!.late_ship, '']), line('SO99999962', [d!.old, '', d!.late_due])];
    await appendFile(path.join(seeds, 'sales_details.csv'), `${added.join('\n')}\n`);
    const first = await build(target, ['--as-of', d!.from]);
    expect(first.code, first.out).toBe(0);
    const r = await build(target, ['--as-of', d!.to]);
    expect(r.code, r.out).toBe(0);
    const plan = r.events.find((e) => e.event === 'model_plan') as Plan;
    expect(plan.updated).toContain('silver.int_sales_lines');
    expect(linesEvent(r.events, 'model_built_whole')).toBeUndefined();
    const updated = linesEvent(r.events, 'model_updated') as { partitions: number } | undefined;
    expect(updated, r.out).toMatchObject({ partition_by: 'order_number' });
    // the orders dated in the 80 days and the three above, far from all
    expect(updated!.partitions).toBeGreaterThan(3);
    expect(updated!.partitions).toBeLessThan(d!.orders / 4);
    const added_ = await query(
      `select order_number, order_date_source, line_status, ship_date_invalid, due_date_invalid from ${ident(schemas.silver)}.int_sales_lines
        where order_number like 'SO9999996_' order by 1`,
    );
    expect(added_).toEqual([
      { order_number: 'SO99999960', order_date_source: 'ship', line_status: 'kept', ship_date_invalid: false, due_date_invalid: false },
      { order_number: 'SO99999961', order_date_source: 'source', line_status: 'kept', ship_date_invalid: false, due_date_invalid: false },
      { order_number: 'SO99999962', order_date_source: 'source', line_status: 'kept', ship_date_invalid: false, due_date_invalid: false },
    ]);
    await expectSameAsFullBuild('after as_of moved twice', ['--as-of', d!.to]);
  }, 300_000);

  it('is built whole, saying why, when the earliest plausible date moves (a product version starts years earlier)', async () => {
    const file = path.join(seeds, 'prd_info.csv');
    const [header, ...lines] = (await readFile(file, 'utf8')).trimEnd().split('\n');
    const start = header!.split(',').indexOf('prd_start_dt');
    const earlier = lines.map((l, i) => (i === 0 ? l.split(',').map((f, j) => (j === start ? '1990-01-01' : f)).join(',') : l));
    await writeFile(file, `${[header, ...earlier].join('\n')}\n`);
    const r = await build(target);
    expect(r.code, r.out).toBe(0);
    const plan = r.events.find((e) => e.event === 'model_plan') as Plan;
    expect(plan.updated).toContain('silver.int_sales_lines');
    expect(linesEvent(r.events, 'model_updated')).toBeUndefined();
    expect(linesEvent(r.events, 'model_built_whole')?.reason).toMatch(/^silver\.int_sales_date_range changed in earliest_plausible_date, which date_windows does not name/);
    await expectSameAsFullBuild('after the earliest plausible date moved');
  }, 300_000);
});

describe('the customer branch, incremental by customer_id and customer_key', () => {
  const eventOf = (events: LogEvent[], event: string, model: string) => events.find((e) => e.event === event && e.model === model);
  /** Test models whose related_inputs cannot be used: each is built whole, with the reason. */
  const FALLBACK_MODELS: Record<string, { sql: string; yml: string }> = {
    customer_countries_unheld: {
      sql: `-- gold.customer_countries_unheld: per customer with clean lines, a country by a key made from the id
-- (a test model: no input with customer_id has customer_key, so the related input cannot be used)
with customer_lines as (
  select customer_id, count(*)::int as lines from silver.sales_clean group by customer_id
)

select customer_lines.customer_id, customer_lines.lines, locations.country
from customer_lines
left join silver.int_erp_locations as locations
  on locations.customer_key = 'AW000' || customer_lines.customer_id::text and locations.record_status = 'kept'
`,
      yml: `version: 2
models:
  - name: customer_countries_unheld
    description: Per customer, a country (a test model).
    config:
      materialized: incremental
      partition_by: customer_id
      meta:
        related_inputs: { silver.int_erp_locations: customer_key }
`,
    },
    customer_countries_no_column: {
      sql: `-- gold.customer_countries_no_column: per customer, its country (a test model whose related_inputs
-- names a column its input does not have)
select customers.customer_id, locations.country
from silver.customers
left join silver.int_erp_locations as locations
  on locations.customer_key = customers.customer_key and locations.record_status = 'kept'
`,
      yml: `version: 2
models:
  - name: customer_countries_no_column
    description: Per customer, its country (a test model).
    config:
      materialized: incremental
      partition_by: customer_id
      meta:
        related_inputs: { silver.int_erp_locations: cst_key }
`,
    },
  };

  /** The rows of an ERP file, with the customer key each gives (as the model computes it). */
  async function erpRows(file: 'cust_az12' | 'loc_a101'): Promise<{ header: string; rows: string[][]; keys: string[] }> {
    const [header, ...lines] = (await readFile(path.join(seeds, `${file}.csv`), 'utf8')).trimEnd().split('\n');
    const rows = lines.map((l) => l.split(','));
    const keys = rows.map((r) => (file === 'cust_az12' ? r[0]!.trim().toUpperCase().replace(/^NAS/, '') : r[0]!.trim().toUpperCase().replaceAll('-', '')));
    return { header: header!, rows, keys };
  }

  /** Keys held by exactly one row of the file (with a real-looking birthdate in cust_az12) and by a kept CRM record, other than `except`. */
  async function singleKeys(
    file: 'cust_az12' | 'loc_a101',
    count: number,
    except: string[] = [],
  ): Promise<{ header: string; rows: string[][]; picks: { key: string; index: number }[] }> {
    const { header, rows, keys } = await erpRows(file);
    const seen = new Map<string, number>();
    for (const k of keys) seen.set(k, (seen.get(k) ?? 0) + 1);
    const held = new Set(
      (await query<{ customer_key: string }>(`select customer_key from ${ident(schemas.silver)}.int_customer_records where record_status = 'kept' and customer_key is not null`)).map(
        (r) => r.customer_key,
      ),
    );
    const usable = (key: string, index: number) =>
      seen.get(key) === 1 && held.has(key) && !except.includes(key) && (file === 'loc_a101' || /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(rows[index]![1] ?? ''));
    const picks = keys.flatMap((key, index) => (usable(key, index) ? [{ key, index }] : [])).slice(0, count);
    expect(picks).toHaveLength(count);
    return { header, rows, picks };
  }

  it('a changed ERP row updates int_customers for exactly the customers holding its key, and equals a full build', async () => {
    for (const [name, files] of Object.entries(FALLBACK_MODELS)) {
      await writeFile(path.join(work, 'sql', 'gold', `${name}.sql`), files.sql);
      await writeFile(path.join(work, 'sql', 'gold', `${name}.yml`), files.yml);
    }
    const first = await build(target);
    expect(first.code, first.out).toBe(0);

    const demographics = await singleKeys('cust_az12', 1);
    const [changedDemographics] = demographics.picks;
    const gender = demographics.rows[changedDemographics!.index]![2];
    demographics.rows[changedDemographics!.index]![2] = gender === 'Female' ? 'Male' : 'Female';
    await writeFile(path.join(seeds, 'cust_az12.csv'), `${[demographics.header, ...demographics.rows.map((r) => r.join(','))].join('\n')}\n`);
    const locations = await singleKeys('loc_a101', 1, [changedDemographics!.key]);
    const [changedLocation] = locations.picks;
    locations.rows[changedLocation!.index]![1] = locations.rows[changedLocation!.index]![1] === 'Canada' ? 'France' : 'Canada';
    await writeFile(path.join(seeds, 'loc_a101.csv'), `${[locations.header, ...locations.rows.map((r) => r.join(','))].join('\n')}\n`);
    const keys = [changedDemographics!.key, changedLocation!.key];
    const holders = await query<{ customer_id: string }>(
      `select distinct customer_id::text from ${ident(schemas.silver)}.int_customer_records where customer_key = any($1) and customer_id is not null order by 1`,
      [keys],
    );
    expect(holders.length).toBeGreaterThanOrEqual(2);

    const r = await build(target);
    expect(r.code, r.out).toBe(0);
    const plan = r.events.find((e) => e.event === 'model_plan') as { updated: string[] };
    expect(plan.updated).toEqual(expect.arrayContaining(['silver.int_erp_demographics', 'silver.int_erp_locations', 'silver.int_customers', 'silver.customers']));
    expect(eventOf(r.events, 'model_updated', 'silver.int_erp_demographics'), r.out).toMatchObject({ partition_by: 'customer_key', partitions: 1 });
    expect(eventOf(r.events, 'model_updated', 'silver.int_erp_locations'), r.out).toMatchObject({ partition_by: 'customer_key', partitions: 1 });
    // the customers holding the two keys, and no other (the CRM file and the sales did not change)
    expect(eventOf(r.events, 'model_updated', 'silver.int_customers'), r.out).toMatchObject({ partition_by: 'customer_id', partitions: holders.length });
    const changed = await query<{ customer_id: string; gender_erp: string | null; country: string }>(
      `select customer_id::text, gender_erp, country from ${ident(schemas.silver)}.int_customers where customer_key = any($1) order by customer_key = $2 desc`,
      [keys, changedDemographics!.key],
    );
    expect(changed[0]!.gender_erp).toBe(gender === 'Female' ? 'Male' : 'Female');
    expect(changed.at(-1)!.country).toBe(locations.rows[changedLocation!.index]![1]);
    expect(eventOf(r.events, 'model_built_whole', 'gold.customer_countries_unheld')?.reason).toBe(
      'no input with customer_id has the column customer_key that relates silver.int_erp_locations to its partitions',
    );
    expect(eventOf(r.events, 'model_built_whole', 'gold.customer_countries_no_column')?.reason).toBe('silver.int_erp_locations has no column cst_key (related_inputs)');
    await expectSameAsFullBuild('after a change of one ERP row of a customer key of each file');
  }, 300_000);

  it('when as_of moves, int_erp_demographics computes again the keys with a birthdate between the two (or the two less 110 years), not every key', async () => {
    const [d] = await query<{ from: string; to: string; future: string; old: string; keys: number }>(
      `select (max(l.order_date) - 60)::text as from, (max(l.order_date) - 30)::text as to,
              (max(l.order_date) - 50)::text as future, ((max(l.order_date) - 50) - interval '110 years')::date::text as old,
              (select count(distinct customer_key)::int from ${ident(schemas.silver)}.int_erp_demographics) as keys
         from ${ident(schemas.silver)}.int_sales_lines l`,
    );
    // one birthdate after the first as_of and before the second (in the future, then valid), one
    // valid on the first and more than 110 years before the second
    const { header, rows, picks } = await singleKeys('cust_az12', 2);
    const [future, old] = picks;
    rows[future!.index]![1] = d!.future;
    rows[old!.index]![1] = d!.old;
    await writeFile(path.join(seeds, 'cust_az12.csv'), `${[header, ...rows.map((r) => r.join(','))].join('\n')}\n`);
    const first = await build(target, ['--as-of', d!.from]);
    expect(first.code, first.out).toBe(0);
    const issues = async () =>
      query<{ customer_key: string; birthdate_issue: string | null }>(
        `select customer_key, birthdate_issue from ${ident(schemas.silver)}.int_erp_demographics where customer_key = any($1) order by customer_key = $2 desc`,
        [[future!.key, old!.key], future!.key],
      );
    expect(await issues()).toEqual([
      { customer_key: future!.key, birthdate_issue: 'in_future' },
      { customer_key: old!.key, birthdate_issue: null },
    ]);

    const r = await build(target, ['--as-of', d!.to]);
    expect(r.code, r.out).toBe(0);
    const plan = r.events.find((e) => e.event === 'model_plan') as { updated: string[]; reasons: Record<string, string> };
    expect(plan.updated).toEqual(expect.arrayContaining(['silver.int_erp_demographics', 'silver.int_customers', 'silver.customers']));
    expect(eventOf(r.events, 'model_built_whole', 'silver.int_erp_demographics')).toBeUndefined();
    const updated = eventOf(r.events, 'model_updated', 'silver.int_erp_demographics') as { partitions: number } | undefined;
    expect(updated, r.out).toMatchObject({ partition_by: 'customer_key' });
    // the two keys and the few other birthdates in the two windows of 30 days, far from all
    expect(updated!.partitions).toBeGreaterThanOrEqual(2);
    expect(updated!.partitions).toBeLessThan(d!.keys / 4);
    expect(await issues()).toEqual([
      { customer_key: future!.key, birthdate_issue: null },
      { customer_key: old!.key, birthdate_issue: 'too_old' },
    ]);
    await expectSameAsFullBuild('after as_of moved across two birthdates', ['--as-of', d!.to]);
  }, 300_000);
});

describe('an input model under partition_inputs: silver.int_sales_daily_totals by the order_date of the lines, gold.sales_daily by date', () => {
  const eventOf = (events: LogEvent[], event: string, model: string) => events.find((e) => e.event === event && e.model === model);

  it('a new order on a day that has lines computes again that day alone, in both, and equals a full build', async () => {
    // the published as_of, kept (a moved as_of would change the lines of the days between the two)
    const [{ as_of: asOf }] = (await query<{ as_of: string }>(
      `select as_of::text from ${ident(schemas.etl)}.runs where published_at is not null order by published_at desc, run_id desc limit 1`,
    )) as [{ as_of: string }];
    // a line of a known category on a day before the last one, copied into a new order
    const [line] = await query<{ date: string; digits: string; product_key: string; customer_id: string; quantity: number; price: string; category: string }>(
      `select order_date::text as date, to_char(order_date, 'YYYYMMDD') as digits, product_key, customer_id::text, quantity, price::text, category
         from ${ident(schemas.silver)}.int_sales_line_products
        where category <> 'Unknown' and order_date < (select max(order_date) from ${ident(schemas.silver)}.int_sales_line_products)
        order by order_date desc, order_number, product_key limit 1`,
    );
    const totals = async () =>
      (await query<{ lines: number }>(`select lines::int from ${ident(schemas.silver)}.int_sales_daily_totals where date = $1 and category = $2`, [line!.date, line!.category]))[0]!.lines;
    const before = await totals();
    const sales = (line!.quantity * Number(line!.price)).toFixed(2);
    await appendFile(path.join(seeds, 'sales_details.csv'), `${['SO99999950', line!.product_key, line!.customer_id, line!.digits, '', '', sales, line!.quantity, line!.price].join(',')}\n`);

    const r = await build(target, ['--as-of', asOf]);
    expect(r.code, r.out).toBe(0);
    for (const model of ['silver.int_sales_daily_totals', 'gold.sales_daily']) {
      expect(eventOf(r.events, 'model_built_whole', model), model).toBeUndefined();
      expect(eventOf(r.events, 'model_updated', model), `${model}: ${r.out}`).toMatchObject({ partition_by: 'date', partitions: 1 });
    }
    expect(await totals()).toBe(before + 1);
    await expectSameAsFullBuild('after a new order on one day', ['--as-of', asOf]);
  }, 300_000);
});
