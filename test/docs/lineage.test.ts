import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bronzeColumns, SOURCE_CONTRACTS } from '../../src/bronze/contracts.ts';
import { deriveLineage, type LineageInput, type LineageModelInput, type ModelLineage } from '../../src/docs/lineage.ts';
import { BRONZE_LINEAGE_COLUMNS } from '../../src/docs/project.ts';
import { FIXTURE_MODELS } from './fixture-project.ts';

const bronze = Object.fromEntries(SOURCE_CONTRACTS.map((c) => [c.name, [...bronzeColumns(c), ...BRONZE_LINEAGE_COLUMNS]]));
const fixtureModels: LineageModelInput[] = Object.entries(FIXTURE_MODELS).map(([name, f]) => ({ name: name.replace('/', '.'), sql: f.sql }));

function column(lineage: ReturnType<typeof deriveLineage>, model: string, name: string) {
  const c = lineage.get(model)?.columns.find((x) => x.name === name);
  if (!c) throw new Error(`${model}.${name} not found in ${JSON.stringify(lineage.get(model)?.columns.map((x) => x.name))}`);
  return c;
}

describe('column lineage derived from SQL', () => {
  const lineage = deriveLineage({ models: fixtureModels, bronze });

  it('names the output columns of a model in order, through CTEs, star and union', () => {
    expect(lineage.get('gold.fact_sales')!.columns.map((c) => c.name)).toEqual([
      'order_number', 'product_key', 'customer_id', 'order_date', 'order_year', 'quantity', 'price', 'sales_amount',
      'customer_name', 'gender', 'age', 'prior_orders', 'prior_spend', 'is_first_order',
    ]);
    expect(lineage.get('silver.sales_clean')!.columns.map((c) => c.name)).toEqual([
      'order_number', 'product_key', 'customer_id', 'order_date', 'quantity', 'price', 'line_number', 'sales_amount',
    ]);
    for (const m of lineage.values()) expect(m.unresolved, m.model).toEqual([]);
  });

  it('traces each feature of fact_sales to the bronze columns it comes from', () => {
    expect(column(lineage, 'gold.fact_sales', 'age').sources).toEqual(['bronze.cust_az12.bdate', 'bronze.sales_details.sls_order_dt']);
    expect(column(lineage, 'gold.fact_sales', 'age').direct).toEqual(['silver.customers.birthdate', 'silver.sales_clean.order_date']);
    expect(column(lineage, 'gold.fact_sales', 'customer_name').sources).toEqual(['bronze.cust_info.cst_firstname', 'bronze.cust_info.cst_lastname']);
    expect(column(lineage, 'gold.fact_sales', 'gender').sources).toEqual(['bronze.cust_az12.gen', 'bronze.cust_info.cst_gndr']);
    expect(column(lineage, 'gold.fact_sales', 'order_year').sources).toEqual(['bronze.sales_details.sls_order_dt']);
    expect(column(lineage, 'gold.fact_sales', 'sales_amount').sources).toEqual(['bronze.sales_details.sls_price', 'bronze.sales_details.sls_quantity']);
    // a named window adds its partition and order columns
    expect(column(lineage, 'gold.fact_sales', 'prior_orders').sources).toEqual(['bronze.sales_details.sls_cust_id', 'bronze.sales_details.sls_order_dt']);
    expect(column(lineage, 'gold.fact_sales', 'prior_spend').sources).toEqual([
      'bronze.sales_details.sls_cust_id', 'bronze.sales_details.sls_order_dt', 'bronze.sales_details.sls_price', 'bronze.sales_details.sls_quantity',
    ]);
    expect(column(lineage, 'gold.fact_sales', 'is_first_order').sources).toEqual(['bronze.sales_details.sls_cust_id', 'bronze.sales_details.sls_order_dt']);
  });

  it('reads literals, bare aliases and casts', () => {
    expect(column(lineage, 'silver.customers_quarantine', 'model').sources).toEqual([]);
    expect(column(lineage, 'silver.customers_quarantine', 'values').sources).toEqual(['bronze.cust_info.cst_id']);
    expect(column(lineage, 'silver.customers', 'birthdate').sources).toEqual(['bronze.cust_az12.bdate']);
    expect(column(lineage, 'silver.sales_clean', 'customer_id').sources).toEqual(['bronze.sales_details.sls_cust_id']);
  });

  it('lists references it cannot resolve instead of failing', () => {
    const l = deriveLineage({ models: [{ name: 'gold.x', sql: 'select t.nope, missing_col, ok.cid from bronze.cust_az12 t cross join bronze.loc_a101 as ok' }], bronze });
    expect(l.get('gold.x')!.unresolved).toEqual(['missing_col', 't.nope']);
    expect(column(l, 'gold.x', 'cid').sources).toEqual(['bronze.loc_a101.cid']);
  });

  it('lets a declared lineage: entry replace the derived one, traced through upstream models', () => {
    const l = deriveLineage({
      models: [...fixtureModels.filter((m) => m.name !== 'gold.fact_sales'), { name: 'gold.fact_sales', sql: 'select 1 as lifespan', lineage: { lifespan: ['silver.sales_clean.order_date'] } }],
      bronze,
    });
    expect(column(l, 'gold.fact_sales', 'lifespan')).toEqual({ name: 'lifespan', direct: ['silver.sales_clean.order_date'], sources: ['bronze.sales_details.sls_order_dt'], declared: true });
  });

  it('reads `is distinct from` as an operator and a `values` CTE as constants', () => {
    const l = deriveLineage({
      models: [
        {
          name: 'silver.m',
          sql: `with t as (select s.*, case when sls_sales is distinct from sls_price then 1 end as changed from bronze.sales_details s),
                     codes (code, label) as (values (1, 'one'), (2, 'two'))
                select t.sls_sales, t.changed, codes.label from t cross join codes`,
        },
      ],
      bronze,
    });
    expect(column(l, 'silver.m', 'changed').sources).toEqual(['bronze.sales_details.sls_price', 'bronze.sales_details.sls_sales']);
    expect(column(l, 'silver.m', 'label').sources).toEqual([]);
    expect(l.get('silver.m')!.unresolved).toEqual([]);
  });

  it('resolves the repository models (sql/silver, sql/gold): every fact_sales feature back to bronze', () => {
    const models: LineageModelInput[] = [];
    for (const layer of ['silver', 'gold']) {
      const dir = path.resolve(import.meta.dirname, '../../sql', layer);
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir)) if (f.endsWith('.sql')) models.push({ name: `${layer}.${f.slice(0, -4)}`, sql: readFileSync(path.join(dir, f), 'utf8') });
    }
    const l = deriveLineage({ models, bronze });
    expect(column(l, 'silver.customers', 'gender').sources).toEqual(['bronze.cust_az12.gen', 'bronze.cust_info.cst_gndr']);
    expect(column(l, 'silver.customers', 'country').sources).toEqual(['bronze.loc_a101.cntry']);
    const fact = l.get('gold.fact_sales')!;
    expect(fact.unresolved).toEqual([]);
    expect(fact.columns.filter((c) => c.sources.length === 0).map((c) => c.name)).toEqual([]);
    expect(column(l, 'gold.fact_sales', 'sales_amount').sources).toContain('bronze.sales_details.sls_sales');
  });
});

describe('column lineage of the repository gold models', () => {
  const models: LineageModelInput[] = [];
  for (const layer of ['silver', 'gold']) {
    const dir = path.resolve(import.meta.dirname, '../../sql', layer);
    for (const f of readdirSync(dir)) if (f.endsWith('.sql')) models.push({ name: `${layer}.${f.slice(0, -4)}`, sql: readFileSync(path.join(dir, f), 'utf8') });
  }
  const lineage = deriveLineage({ models, bronze });
  const lp = (c: string) => `silver.int_sales_line_products.${c}`;

  it('resolves every reference of every model', () => {
    for (const m of lineage.values()) expect(m.unresolved, m.model).toEqual([]);
    expect([...lineage.keys()].filter((k) => k.startsWith('gold.')).sort()).toEqual(['gold.customer_features', 'gold.customer_training_set', 'gold.fact_sales', 'gold.sales_daily']);
  });

  it('gold.fact_sales: joins, expressions and windows', () => {
    expect(column(lineage, 'gold.fact_sales', 'profit').direct).toEqual(['silver.int_product_versions.product_cost', 'silver.sales_clean.price', 'silver.sales_clean.quantity']);
    expect(column(lineage, 'gold.fact_sales', 'customer_name')).toMatchObject({
      direct: ['silver.customers.first_name', 'silver.customers.last_name'],
      sources: ['bronze.cust_info.cst_firstname', 'bronze.cust_info.cst_lastname'],
    });
    expect(column(lineage, 'gold.fact_sales', 'customer_known').direct).toEqual(['silver.customers.customer_id']);
    expect(column(lineage, 'gold.fact_sales', 'prd_status').direct).toEqual(['silver.int_product_versions.is_current', 'silver.int_product_versions.product_id']);
    // sum(sales_amount) over earlier_days: the named window adds its partition and order columns
    expect(column(lineage, 'gold.fact_sales', 'prior_spend').direct).toEqual(['silver.sales_clean.customer_id', 'silver.sales_clean.order_date', 'silver.sales_clean.sales_amount']);
    expect(column(lineage, 'gold.fact_sales', 'category').sources).toEqual(['bronze.px_cat_g1v2.cat']);
  });

  it('silver.int_customer_orders: the aggregates of the lines per customer', () => {
    expect(column(lineage, 'silver.int_customer_orders', 'frequency').direct).toEqual([lp('order_number')]);
    expect(column(lineage, 'silver.int_customer_orders', 'monetary').direct).toEqual([lp('sales_amount')]);
    expect(column(lineage, 'silver.int_customer_orders', 'distinct_categories')).toMatchObject({ direct: [lp('category')], sources: ['bronze.px_cat_g1v2.cat'] });
  });

  it('silver.int_customer_profiles: each customer with the order history of silver.int_customer_orders', () => {
    const co = (c: string) => `silver.int_customer_orders.${c}`;
    const cp = (c: string) => `silver.int_customer_profiles.${c}`;
    expect(column(lineage, 'silver.int_customer_profiles', 'customer_name').direct).toEqual(['silver.customers.first_name', 'silver.customers.last_name']);
    expect(column(lineage, 'silver.int_customer_profiles', 'avg_order_value').direct).toEqual([co('frequency'), co('monetary')]);
    expect(column(lineage, 'silver.int_customer_profiles', 'has_orders').direct).toEqual([co('customer_id')]);
    expect(column(lineage, 'gold.customer_features', 'customer_name').direct).toEqual([cp('customer_name')]);
  });

  it('gold.customer_features: the aggregates, rank windows, the segment of the scores', () => {
    const cp = (c: string) => `silver.int_customer_profiles.${c}`;
    expect(column(lineage, 'gold.customer_features', 'age').direct).toEqual([cp('birthdate')]);
    expect(column(lineage, 'gold.customer_features', 'frequency').direct).toEqual([cp('frequency')]);
    expect(column(lineage, 'gold.customer_features', 'avg_order_value').direct).toEqual([cp('avg_order_value')]);
    expect(column(lineage, 'gold.customer_features', 'distinct_categories')).toMatchObject({ direct: [cp('distinct_categories')], sources: ['bronze.px_cat_g1v2.cat'] });
    // the rank of as_of - last_order_date, for the customers with orders
    expect(column(lineage, 'gold.customer_features', 'r_score').direct).toEqual([cp('has_orders'), cp('last_order_date')]);
    expect(column(lineage, 'gold.customer_features', 'm_score').direct).toEqual([cp('has_orders'), cp('monetary')]);
    // the segment is etl.rfm_segment(r, f, m): what the three scores are made of
    expect(column(lineage, 'gold.customer_features', 'rfm_segment').direct).toEqual([cp('frequency'), cp('has_orders'), cp('last_order_date'), cp('monetary')]);
  });

  it('gold.sales_daily: the rows of a calendar from generate_series, the daily sums of the lines', () => {
    const calendar = (c: string) => `silver.int_sales_daily_calendar.${c}`;
    const totals = (c: string) => `silver.int_sales_daily_totals.${c}`;
    expect(lineage.get('gold.sales_daily')!.columns.map((c) => c.name)).toEqual(['date', 'category', 'orders', 'lines', 'quantity', 'revenue', 'profit', 'customers']);
    expect(column(lineage, 'gold.sales_daily', 'date').direct).toEqual([calendar('date')]);
    expect(column(lineage, 'silver.int_sales_daily_calendar', 'date').direct).toEqual([totals('date')]);
    expect(column(lineage, 'silver.int_sales_daily_totals', 'date').direct).toEqual([lp('order_date')]);
    expect(column(lineage, 'gold.sales_daily', 'category')).toMatchObject({ direct: [calendar('category')], sources: ['bronze.px_cat_g1v2.cat'] });
    expect(column(lineage, 'gold.sales_daily', 'profit').direct).toEqual([totals('profit')]);
    expect(column(lineage, 'silver.int_sales_daily_totals', 'profit').direct).toEqual([lp('price'), lp('product_cost'), lp('quantity')]);
    expect(column(lineage, 'gold.sales_daily', 'customers')).toMatchObject({ direct: [totals('customers')], sources: ['bronze.sales_details.sls_cust_id'] });
    expect(column(lineage, 'silver.int_sales_daily_totals', 'lines').direct).toEqual([]); // count(*)
  });
});

describe('column lineage: what the parser tells apart', () => {
  const one = (sql: string, extra: Partial<LineageInput> = {}) => {
    const l = deriveLineage({ models: [{ name: 'gold.m', sql }], bronze, ...extra });
    return l.get('gold.m')!;
  };
  const directOf = (m: ModelLineage) => Object.fromEntries(m.columns.map((c) => [c.name, c.direct]));
  const s = (c: string) => `bronze.sales_details.${c}`;

  it('keyword operators with FROM: is distinct from, extract, substring, overlay, trim', () => {
    const m = one(`select sls_sales is distinct from sls_price as changed,
        extract(year from to_date(sls_order_dt, 'YYYYMMDD')), substring(sls_ord_num from 2) as tail,
        overlay(sls_prd_key placing 'x' from 2 for 1), trim(both ' ' from sls_cust_id) as customer,
        sls_quantity
      from bronze.sales_details`);
    expect(m.unresolved).toEqual([]);
    expect(directOf(m)).toEqual({
      changed: [s('sls_price'), s('sls_sales')],
      extract: [s('sls_order_dt')],
      tail: [s('sls_ord_num')],
      overlay: [s('sls_prd_key')],
      customer: [s('sls_cust_id')],
      sls_quantity: [s('sls_quantity')],
    });
  });

  it('string literals, dollar quotes, comments and quoted identifiers are not columns or tables', () => {
    const m = one(`-- from silver.commented
      select 'from silver.x' as "from silver.y", $$ sls_price from gold.z $$ as dollar, /* sls_sales */ "sls_quantity" as "Qty"
      from bronze.sales_details`);
    expect(m.unresolved).toEqual([]);
    expect(directOf(m)).toEqual({ 'from silver.y': [], dollar: [], Qty: [s('sls_quantity')] });
  });

  it('scalar and correlated subqueries, lateral joins, set-returning functions', () => {
    const m = one(`select c.cid,
        (select max(l.cntry) from bronze.loc_a101 l where l.cid = c.cid) as country,
        recent.bdate, n.i
      from bronze.cust_az12 c
      cross join lateral (select c.bdate) as recent
      cross join generate_series(1, length(c.gen)) as n (i)`);
    expect(m.unresolved).toEqual([]);
    expect(directOf(m)).toEqual({ cid: ['bronze.cust_az12.cid'], country: ['bronze.loc_a101.cntry'], bdate: ['bronze.cust_az12.bdate'], i: ['bronze.cust_az12.gen'] });
  });

  it('select * of a using join shows the join column once, first, from both sides', () => {
    const m = one('select * from bronze.cust_az12 a join bronze.loc_a101 b using (cid)');
    expect(m.columns.map((c) => c.name)).toEqual(['cid', 'bdate', 'gen', '_line_number', '_run_id', '_source_file', 'cntry', '_line_number', '_run_id', '_source_file']);
    expect(m.columns[0]!.direct).toEqual(['bronze.cust_az12.cid', 'bronze.loc_a101.cid']);
  });

  it('inline windows, a window built on a named one, union branches by position, a recursive CTE', () => {
    const m = one(`with recursive n (k) as (select 1 union all select k + 1 from n where k < 3)
      select sum(sls_sales::numeric) over (w order by sls_order_dt) as running, n.k
      from bronze.sales_details cross join n
      window w as (partition by sls_cust_id)
      union all
      select sls_price::numeric, sls_quantity::int from bronze.sales_details`);
    expect(m.unresolved).toEqual([]);
    expect(directOf(m)).toEqual({ running: [s('sls_cust_id'), s('sls_order_dt'), s('sls_price'), s('sls_sales')], k: [s('sls_quantity')] });
  });

  it('a whole-row reference reads every column of its table', () => {
    const m = one('select to_jsonb(l) as doc from bronze.loc_a101 l');
    expect(m.columns[0]!.direct).toEqual(['bronze.loc_a101._line_number', 'bronze.loc_a101._run_id', 'bronze.loc_a101._source_file', 'bronze.loc_a101.cid', 'bronze.loc_a101.cntry']);
  });

  it('expands select * of a relation only the catalog knows', () => {
    expect(one('select * from silver.external').unresolved).toEqual(['*', 'silver.external']);
    const m = one('select * from silver.external', { catalog: { 'silver.external': ['a', 'b'] } });
    expect(m.unresolved).toEqual([]);
    expect(m.columns).toEqual([
      { name: 'a', direct: ['silver.external.a'], sources: [] },
      { name: 'b', direct: ['silver.external.b'], sources: [] },
    ]);
  });

  it('names columns as PostgreSQL does', () => {
    const m = one(`select count(*), sls_price::numeric, 'x'::text, coalesce(sls_sales, '0'), case when true then 1 end,
        greatest(sls_price, sls_sales), nullif(sls_sales, ''), exists (select), 1 + 1 from bronze.sales_details`);
    expect(m.columns.map((c) => c.name)).toEqual(['count', 'sls_price', 'text', 'coalesce', 'case', 'greatest', 'nullif', 'exists', '?column?']);
  });
});

