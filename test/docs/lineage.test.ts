import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bronzeColumns, SOURCE_CONTRACTS } from '../../src/bronze/contracts.ts';
import { deriveLineage, type LineageModelInput } from '../../src/docs/lineage.ts';
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
