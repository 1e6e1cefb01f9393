/** A small model project in a temp folder: two silver models, a quarantine model and fact_sales. */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const FIXTURE_MODELS: Record<string, { sql: string; yml: string }> = {
  'silver/customers': {
    sql: `-- silver.customers: one row per customer.
with customer_rows as (
  select
    _source_file as source_file,
    case when btrim(cst_id) ~ '^[0-9]+$' then btrim(cst_id)::bigint end as customer_id,
    nullif(btrim(cst_firstname), '') as first_name,
    nullif(btrim(cst_lastname), '') as last_name,
    cst_gndr gender_raw
  from bronze.cust_info
),
demographics as (
  select upper(btrim(cid)) as customer_key, bdate, gen from bronze.cust_az12
)
select
  c.customer_id,
  c.first_name,
  c.last_name,
  coalesce(case upper(c.gender_raw) when 'F' then 'Female' when 'M' then 'Male' end, d.gen, 'Unknown') as gender,
  case when d.bdate ~ '^\\d{4}-\\d{2}-\\d{2}$' then d.bdate::date end as birthdate
from customer_rows as c
left join demographics d on d.customer_key = c.source_file
where c.customer_id is not null
`,
    yml: `version: 2
models:
  - name: customers
    description: One row per customer, cleaned.
    config:
      unique_key: [customer_id]
      meta:
        rules:
          - name: customer_name_trimmed
            kind: repair
            description: Names with stray spaces.
            where: "first_name is not null"
    columns:
      - name: customer_id
        description: CRM customer id.
      - name: gender
        description: Female, Male or Unknown.
        data_tests:
          - accepted_values: { values: [Female, Male, Unknown] }
`,
  },
  'silver/customers_quarantine': {
    sql: `select 'silver.customers' as model, 'customer_id_invalid' as rule, 'no id' as message,
  _source_file as source_file, _line_number as line_number, jsonb_build_object('cst_id', cst_id) as values
from bronze.cust_info where cst_id is null`,
    yml: `version: 2
models:
  - name: customers_quarantine
    description: Customer rows without an id.
    config:
      meta:
        quarantine: true
`,
  },
  'silver/sales_clean': {
    sql: `-- silver.sales_clean
with lines as (
  select sls_ord_num as order_number, sls_prd_key as product_key, sls_cust_id::bigint as customer_id,
         to_date(sls_order_dt, 'YYYYMMDD') as order_date, sls_quantity::int as quantity, sls_price::numeric as price,
         _line_number as line_number
  from bronze.sales_details
)
select lines.*, quantity * price as sales_amount from lines
`,
    yml: `version: 2
models:
  - name: sales_clean
    description: One row per sales line.
    config:
      unique_key: [order_number, product_key]
`,
  },
  'gold/fact_sales': {
    sql: `-- gold.fact_sales: one row per sales line with features.
with sales as (
  select * from silver.sales_clean
),
prior as (
  select
    s.*,
    count(*) over w - 1 as prior_orders,
    coalesce(sum(s.sales_amount) over w - s.sales_amount, 0) as prior_spend
  from sales as s
  window w as (partition by s.customer_id order by s.order_date rows between unbounded preceding and current row)
)
select
  p.order_number,
  p.product_key,
  p.customer_id,
  p.order_date,
  extract(isoyear from p.order_date)::int as order_year,
  p.quantity,
  p.price,
  p.sales_amount,
  concat_ws(' ', c.first_name, c.last_name) as customer_name,
  c.gender,
  date_part('year', age(p.order_date, c.birthdate))::int as age,
  p.prior_orders,
  p.prior_spend,
  (p.prior_orders = 0) as is_first_order
from prior p
left join silver.customers c on c.customer_id = p.customer_id
union all
select null, null, null, null, null, null, null, null, null, null, null, null, null, null
from silver.sales_clean where false
`,
    yml: `version: 2
models:
  - name: fact_sales
    description: >
      One row per sales line, with customer features as of the order.
    config:
      unique_key: [order_number, product_key]
    columns:
      - name: order_number
        meta: { role: key }
      - name: age
        description: Calendar age at the order date.
        meta: { role: feature }
      - name: prior_spend
        description: Spend on earlier orders (no leakage).
        meta: { role: feature }
    data_tests:
      - dbt_utils.expression_is_true: { name: fact_price_positive, expression: "price > 0" }
`,
  },
};

export async function writeFixtureProject(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'medallion-docs-'));
  const sqlDir = path.join(dir, 'sql');
  for (const [name, files] of Object.entries(FIXTURE_MODELS)) {
    await mkdir(path.join(sqlDir, path.dirname(name)), { recursive: true });
    await writeFile(path.join(sqlDir, `${name}.sql`), files.sql);
    await writeFile(path.join(sqlDir, `${name}.yml`), files.yml);
  }
  return dir;
}
