/**
 * The central claim of docs/scale-out.md, on one machine: the per-customer models computed on two
 * hash halves of the customers, each built on its own, and unioned, equal the models built on all
 * of them; the models that are not per customer are either reference data (equal in each half) or
 * a global step that recombines from the halves' per-customer rows (the RFM scores, sales_daily).
 *
 * The split mirrors Citus' hash distribution with two shards: a row goes to the half of the hash of
 * its customer id, `hashint8(customer_id)` (the hash function of bigint's default hash operator
 * class, the one Citus hashes a bigint distribution column with), the lower half of the 32-bit hash
 * space (< 0) to half 0, the upper half to half 1, as two shards split the space into two equal
 * ranges. The customer id of a row is parsed as silver parses it (cst_id, sls_cust_id; the ERP CID
 * through its customer key 'AW' || digits, the contract's cst_key = 'AW000' || cst_id); a row
 * without one (a junk CRM row, a sales line with an unusable customer id) gets the id 0, so every
 * such row lands in one half, as it would land in one shard. Orphan sales lines (a customer id that
 * no CRM row has) go by the id they carry. The product and category files (reference tables) are
 * copied whole into both halves.
 *
 * The halves are written from the whole's bronze tables, each row at its original physical line
 * (blank lines, which the loader skips, fill the gaps), so `_source_file` and `_line_number` are the
 * whole's: a row routed to a shard keeps its provenance, and the comparisons cover every column.
 * All three builds run with the same as_of (the whole's default: the halves' own defaults could
 * differ, as each half's last order date may).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bronzeColumns, SOURCE_CONTRACTS, type SourceName } from '../../src/bronze/contracts.ts';
import { generate } from '../../src/generate/index.ts';
import { dropTarget, query, uniqueTarget } from '../support/database.ts';
import { describeFailure, runBuild, sqlFor } from './helpers.ts';

const whole = uniqueTarget('scaleout_all');
const halves = [uniqueTarget('scaleout_h0'), uniqueTarget('scaleout_h1')] as const;
const db = sqlFor(whole);
let dir: string | undefined;
let asOf: string;

/** An ERP customer key ('AW00011000', cleaned as silver cleans it) as the customer id it names. */
const idOfKey = (key: string) => `case when ${key} ~ '^AW[0-9]{1,18}$' then substr(${key}, 3)::bigint end`;

/** The customer id of a bronze row, per source, as silver parses it; NULL when it has none. */
const CUSTOMER_ID: Partial<Record<SourceName, string>> = {
  cust_info: `case when btrim(cst_id) ~ '^[0-9]{1,18}$' then btrim(cst_id)::bigint end`,
  sales_details: `case when sls_cust_id ~ '^ *[0-9]+ *$' and length(btrim(sls_cust_id)) <= 18 then sls_cust_id::bigint end`,
  cust_az12: idOfKey(`nullif(regexp_replace(upper(btrim(cid)), '^NAS', ''), '')`),
  loc_a101: idOfKey(`nullif(replace(upper(btrim(cid)), '-', ''), '')`),
};

/** The half (0 or 1) of a customer id: which of two hash shards holds it; no id counts as 0. */
const halfOf = (id: string) => `(hashint8(coalesce(${id}, 0)) >= 0)::int`;

/** One CSV field: NULL as an empty field, any text quoted (so "" stays the empty string). */
const field = (v: string | null) => (v === null ? '' : `"${v.replaceAll('"', '""')}"`);

/** Writes one half's file of a distributed source: its rows at their original lines. */
async function writeHalf(source: SourceName, half: number, out: string): Promise<number> {
  const columns = bronzeColumns(SOURCE_CONTRACTS.find((c) => c.name === source)!);
  const rows = await db.rows<{ line: number; values: (string | null)[] }>(
    `select _line_number::int as line, array[${columns.map((c) => `"${c}"`).join(', ')}] as values
       from bronze.${source}
      where ${halfOf(CUSTOMER_ID[source]!)} = $1
      order by _line_number`,
    [half],
  );
  const header = SOURCE_CONTRACTS.find((c) => c.name === source)!.header.join(',');
  const parts = [header];
  let line = 2;
  for (const row of rows) {
    while (line < row.line) {
      parts.push('');
      line++;
    }
    const text = row.values.map(field).join(',');
    parts.push(text);
    line += 1 + (text.match(/\r\n|\r|\n/g)?.length ?? 0);
  }
  await fs.writeFile(path.join(out, `${source}.csv`), `${parts.join('\n')}\n`);
  return rows.length;
}

/** A relation's columns (information_schema order), without the ones named. */
async function columnsOf(relation: string, except: readonly string[] = []): Promise<string[]> {
  const [layer, name] = relation.split('.') as [string, string];
  const rows = await query<{ column_name: string }>(
    'select column_name from information_schema.columns where table_schema = $1 and table_name = $2 order by ordinal_position',
    [`${whole}_${layer}`, name],
  );
  return rows.map((r) => r.column_name).filter((c) => !except.includes(c));
}

/** `relation` of a target, schema-qualified. */
const of = (target: string, relation: string) => {
  const [layer, name] = relation.split('.') as [string, string];
  return `"${target}_${layer}"."${name}"`;
};

/** Rows of `left` not in `right` and of `right` not in `left`, as multisets (except all). */
interface Difference {
  left: number;
  right: number;
  missing: number;
  extra: number;
}

async function difference(left: string, right: string): Promise<Difference> {
  const [r] = await query<Difference>(
    `with l as (${left}), r as (${right})
     select (select count(*) from l)::int as left, (select count(*) from r)::int as right,
            (select count(*) from (select * from l except all select * from r) as x)::int as missing,
            (select count(*) from (select * from r except all select * from l) as x)::int as extra`,
  );
  return r!;
}

/** Asserts two multisets of rows are equal (what `difference` found), and not empty unless allowed. */
function expectSameRows(label: string, d: Difference, options: { mayBeEmpty?: boolean } = {}): void {
  if (!options.mayBeEmpty) expect(d.left, `${label}: no rows to compare`).toBeGreaterThan(0);
  expect({ label, ...d }).toEqual({ label, left: d.left, right: d.left, missing: 0, extra: 0 });
}

/** The whole's relation against the union of the halves', over the given columns. */
async function unionDifference(relation: string, columns: readonly string[]) {
  const cols = columns.map((c) => `"${c}"`).join(', ');
  return difference(`select ${cols} from ${of(whole, relation)}`, halves.map((h) => `select ${cols} from ${of(h, relation)}`).join(' union all '));
}

/** Models whose rows each belong to one customer: computed per half, their union is the whole's. */
const PER_CUSTOMER = [
  'silver.int_customer_records',
  'silver.int_erp_demographics',
  'silver.int_erp_locations',
  'silver.int_customers',
  'silver.customers',
  'silver.customers_quarantine',
  'silver.int_sales_lines',
  'silver.sales_clean',
  'silver.sales_quarantine',
  'silver.int_sales_line_products',
  'silver.int_customer_orders',
  'silver.int_customer_profiles',
  'silver.int_customer_days',
  'silver.int_customer_cutoffs',
  'silver.int_customer_cutoff_values',
  'gold.fact_sales',
];

/** Models of the reference tables and one-row models of them and as_of: the same in each half. */
const REFERENCE = [
  'silver.int_product_categories',
  'silver.int_product_records',
  'silver.products',
  'silver.products_quarantine',
  'silver.int_product_versions',
  'silver.int_sales_date_range',
  'silver.int_birthdate_bounds',
  'silver.int_training_cutoffs',
];

/** Models with a step over all customers: checked by recombining the halves (below). */
const GLOBAL_STEP = [
  'silver.int_sales_date_pairs',
  'silver.int_sales_ship_lead_time',
  'gold.customer_features',
  'silver.int_training_thresholds',
  'gold.customer_training_set',
  'silver.int_sales_daily_totals',
  'silver.int_sales_daily_calendar',
  'gold.sales_daily',
];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'medallion-scaleout-'));
  const seeds = path.join(dir, 'whole');
  await generate({ scale: 0.05, seed: 3, outDir: seeds });
  const result = await runBuild(seeds, whole, null);
  expect(result.code, describeFailure(result)).toBe(0);
  asOf = await db.asOf();

  for (const [half, target] of halves.entries()) {
    const out = path.join(dir, `half${half}`);
    await fs.mkdir(out);
    for (const c of SOURCE_CONTRACTS) {
      if (CUSTOMER_ID[c.name]) await writeHalf(c.name, half, out);
      else await fs.copyFile(path.join(seeds, c.file), path.join(out, c.file));
    }
    const built = await runBuild(out, target, asOf);
    expect(built.code, describeFailure(built)).toBe(0);
  }
}, 300_000);

afterAll(async () => {
  await dropTarget(whole);
  for (const h of halves) await dropTarget(h);
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('the split', () => {
  it('covers every silver and gold model, each in one of the three kinds', async () => {
    const rows = await query<{ relation: string }>(
      `select replace(table_schema, $1, '') || '.' || table_name as relation from information_schema.tables
        where table_schema in ($2, $3) order by 1`,
      [`${whole}_`, `${whole}_silver`, `${whole}_gold`],
    );
    expect(rows.map((r) => r.relation).sort()).toEqual([...PER_CUSTOMER, ...REFERENCE, ...GLOBAL_STEP].sort());
  });

  it('routes every bronze row of the distributed sources to exactly one half, with its line', async () => {
    for (const source of Object.keys(CUSTOMER_ID)) {
      const d = await unionDifference(`bronze.${source}`, [...bronzeColumns(SOURCE_CONTRACTS.find((c) => c.name === source)!), '_source_file', '_line_number']);
      expectSameRows(source, d);
    }
    for (const h of halves) {
      const [n] = await query<{ customers: number; lines: number }>(
        `select (select count(*) from ${of(h, 'silver.customers')})::int as customers, (select count(*) from ${of(h, 'silver.sales_clean')})::int as lines`,
      );
      expect(n!.customers).toBeGreaterThan(100);
      expect(n!.lines).toBeGreaterThan(500);
    }
  });

  it('keeps the premises of a per-customer split: no order and no (order, product) key spans two halves, and an ERP row lands with its CRM customer', async () => {
    const [spans] = await db.rows<{ orders: number; keys: number; erp: number }>(
      `select
         (select count(*) from (select order_number from silver.int_sales_lines where order_number is not null
            group by order_number having count(distinct ${halfOf('customer_id')}) > 1) as x)::int as orders,
         (select count(*) from (select order_number, product_key from silver.int_sales_lines where order_number is not null and product_key is not null
            group by order_number, product_key having count(distinct ${halfOf('customer_id')}) > 1) as x)::int as keys,
         (select count(*) from silver.int_customer_records as crm
            join (select customer_key from silver.int_erp_demographics union all select customer_key from silver.int_erp_locations) as erp
              on erp.customer_key = crm.customer_key
           where ${halfOf('crm.customer_id')} <> ${halfOf(idOfKey('erp.customer_key'))})::int as erp`,
    );
    expect(spans).toEqual({ orders: 0, keys: 0, erp: 0 });
  });
});

describe('per-customer models: the union of the halves equals the whole', () => {
  for (const relation of PER_CUSTOMER) {
    it(relation, async () => {
      const d = await unionDifference(relation, await columnsOf(relation));
      expectSameRows(relation, d);
    });
  }

  it('gold.customer_features and gold.customer_training_set: every column but the global RFM scores and segment', async () => {
    const GLOBAL = ['r_score', 'f_score', 'm_score', 'rfm_segment'];
    for (const relation of ['gold.customer_features', 'gold.customer_training_set']) {
      const d = await unionDifference(relation, await columnsOf(relation, GLOBAL));
      expectSameRows(relation, d);
    }
  });

  it("the quarantine of the customer branch: each half's quarantined rows, unioned, are the whole's", async () => {
    const rows = (t: string) => `select model, rule, message, source_file, line_number, "values" from "${t}_etl".quarantine where model <> 'silver.products'`;
    const d = await difference(rows(whole), halves.map(rows).join(' union all '));
    expectSameRows('etl.quarantine', d);
  });
});

describe('reference and one-row models: each half equals the whole', () => {
  for (const relation of REFERENCE) {
    it(relation, async () => {
      const cols = (await columnsOf(relation)).map((c) => `"${c}"`).join(', ');
      for (const h of halves) {
        const d = await difference(`select ${cols} from ${of(whole, relation)}`, `select ${cols} from ${of(h, relation)}`);
        // products_quarantine may be empty (the generated products have no unusable id or key)
        expectSameRows(`${relation} in ${h}`, d, { mayBeEmpty: relation.endsWith('_quarantine') });
      }
    });
  }

  it('silver.int_sales_ship_lead_time (a global mode over all lines) comes out the same in each half on this data', async () => {
    // Not a per-customer model: each half takes the mode of its own lines. It agrees here because
    // every valid generated line ships 7 days after its order (sources.md); docs/scale-out.md gives
    // the distributed form (per-shard counts per lead time, summed, then the mode).
    const [w] = await db.rows<{ lead_days: number }>('select lead_days from silver.int_sales_ship_lead_time');
    for (const h of halves) {
      const [r] = await query<{ lead_days: number }>(`select lead_days from ${of(h, 'silver.int_sales_ship_lead_time')}`);
      expect(r!.lead_days).toBe(w!.lead_days);
    }
  });
});

describe('global steps, recombined from the halves', () => {
  /** The quintile score of customer_features: 1 + floor(5 * percent_rank), over `n` rows. */
  const score = (order: string, partition = '') =>
    `least(5, 1 + floor(5 * case when n > 1 then (rank() over (${partition} order by ${order}) - 1)::float8 / (n - 1) else 0 end))::int`;

  it("gold.customer_features: the RFM scores and segment recomputed over the union of the halves' per-customer aggregates are the whole's", async () => {
    const halvesRows = halves.map((h) => `select customer_id, recency_days, frequency, monetary from ${of(h, 'gold.customer_features')}`).join(' union all ');
    const recomputed = `
      with customers as (${halvesRows}),
      with_orders as (
        select customers.*, count(*) over () as n from customers where frequency > 0
      ),
      scored as (
        select customer_id, ${score('recency_days desc')} as r_score, ${score('frequency')} as f_score, ${score('monetary')} as m_score
        from with_orders
      )
      select customers.customer_id, scored.r_score, scored.f_score, scored.m_score,
             coalesce("${whole}_etl".rfm_segment(scored.r_score, scored.f_score, scored.m_score), 'No Orders') as rfm_segment
      from customers left join scored on scored.customer_id = customers.customer_id`;
    const d = await difference(`select customer_id, r_score, f_score, m_score, rfm_segment from ${of(whole, 'gold.customer_features')}`, recomputed);
    expectSameRows('gold.customer_features scores', d);

    // ... and the scores each half ranks on its own are not the whole's: the step is global.
    const halfScores = halves.map((h) => `select customer_id, r_score, f_score, m_score from ${of(h, 'gold.customer_features')}`).join(' union all ');
    const local = await difference(`select customer_id, r_score, f_score, m_score from ${of(whole, 'gold.customer_features')}`, halfScores);
    expect(local.missing).toBeGreaterThan(0);
  });

  it("gold.customer_training_set: the scores per cutoff recomputed over the union of the halves are the whole's", async () => {
    const halvesRows = halves
      .map((h) => `select customer_id, cutoff_date, recency_days, frequency, monetary from ${of(h, 'gold.customer_training_set')}`)
      .join(' union all ');
    const by = 'partition by cutoff_date';
    const recomputed = `
      with rows_of_cutoff as (
        select r.*, count(*) over (partition by cutoff_date) as n from (${halvesRows}) as r
      ),
      scored as (
        select customer_id, cutoff_date, ${score('recency_days desc', by)} as r_score, ${score('frequency', by)} as f_score, ${score('monetary', by)} as m_score
        from rows_of_cutoff
      )
      select customer_id, cutoff_date, r_score, f_score, m_score, "${whole}_etl".rfm_segment(r_score, f_score, m_score) as rfm_segment
      from scored`;
    const d = await difference(
      `select customer_id, cutoff_date, r_score, f_score, m_score, rfm_segment from ${of(whole, 'gold.customer_training_set')}`,
      recomputed,
    );
    expectSameRows('gold.customer_training_set scores', d);
  });

  it("gold.sales_daily: the halves' partial sums per (date, category), combined over the union's calendar, are the whole's", async () => {
    // orders and customers are distinct counts; they add up across halves because a customer, and
    // so each of their orders, lives in exactly one half (the premise checked above).
    const partials = halves.map((h) => `select * from ${of(h, 'gold.sales_daily')} where lines > 0`).join(' union all ');
    const combined = `
      with partial_days as (${partials}),
      daily_sales as (
        select date, category, sum(orders) as orders, sum(lines) as lines, sum(quantity) as quantity,
               sum(revenue) as revenue, sum(profit) as profit, sum(customers) as customers
        from partial_days group by date, category
      ),
      calendar as (
        select day::date as date
        from (select min(date) as first_day, max(date) as last_day from daily_sales) as bounds
        cross join generate_series(bounds.first_day, bounds.last_day, interval '1 day') as day
      ),
      categories as (select distinct category from daily_sales)
      select calendar.date, categories.category,
             coalesce(daily_sales.orders, 0)::int as orders, coalesce(daily_sales.lines, 0)::int as lines,
             coalesce(daily_sales.quantity, 0)::bigint as quantity, coalesce(daily_sales.revenue, 0) as revenue,
             coalesce(daily_sales.profit, 0) as profit, coalesce(daily_sales.customers, 0)::int as customers
      from calendar cross join categories
      left join daily_sales on daily_sales.date = calendar.date and daily_sales.category = categories.category`;
    const d = await difference(`select * from ${of(whole, 'gold.sales_daily')}`, combined);
    expectSameRows('gold.sales_daily', d);
  });

  it("silver.int_sales_date_pairs: the halves' line counts per pair of date texts, summed, are the whole's (the partial aggregate of the modal lead time)", async () => {
    const partials = halves.map((h) => `select sls_order_dt, sls_ship_dt, lines from ${of(h, 'silver.int_sales_date_pairs')}`).join(' union all ');
    const d = await difference(
      `select sls_order_dt, sls_ship_dt, lines from ${of(whole, 'silver.int_sales_date_pairs')}`,
      `select sls_order_dt, sls_ship_dt, sum(lines) as lines from (${partials}) as partial_pairs group by sls_order_dt, sls_ship_dt`,
    );
    expectSameRows('silver.int_sales_date_pairs', d);
  });
});
