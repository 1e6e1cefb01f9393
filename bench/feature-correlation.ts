/**
 * `node --import tsx bench/feature-correlation.ts --target NAME [--label-days 90]`
 *
 * How strongly each `feature` column (its role in the model's .yml) of a built target predicts
 * the label, so that a leaky column shows up as a number: a feature that knows the future
 * correlates far above its neighbours.
 * - gold.customer_training_set: Pearson correlation of every numeric or boolean feature column
 *   with next_spend, over all its (customer, cutoff) rows.
 * - gold.fact_sales: for each customer, the last line ordered before C = as_of - label_days, the
 *   correlation of every numeric or boolean feature column of that line with the customer's spend
 *   in [C, as_of) (the issue's leak test: total_spend, a lifetime column, reached 0.40 there
 *   against 0.18 for prior_spend). The lifetime columns are printed too, marked, for contrast.
 * Text, date and key columns are left out: a correlation needs numbers.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadProject } from '../src/transform/index.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function argument(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? process.argv[i + 1] : fallback;
  if (value === undefined) throw new Error(`usage: bench/feature-correlation.ts --target NAME [--label-days 90]`);
  return value;
}

const target = argument('target');
const labelDays = Number(argument('label-days', '90'));
const schema = (layer: string) => (target === '' ? layer : `${target}_${layer}`);
const NUMERIC = new Set(['integer', 'bigint', 'smallint', 'numeric', 'double precision', 'real', 'boolean']);

const project = await loadProject({ sqlDir: path.join(ROOT, 'sql') });
const client = new pg.Client({ connectionString: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test' });
await client.connect();

interface NumericColumn {
  name: string;
  role: string;
  /** The column as float8 (a boolean as 0/1). */
  value: string;
}

/** The numeric and boolean columns of a gold table with one of `roles`, in .yml order. */
async function numericColumns(table: string, roles: readonly string[]): Promise<NumericColumn[]> {
  const model = project.models.find((m) => m.name === `gold.${table}`);
  if (!model) throw new Error(`gold.${table} is not a model of sql/`);
  const { rows } = await client.query<{ column_name: string; data_type: string }>(
    'select column_name, data_type from information_schema.columns where table_schema = $1 and table_name = $2',
    [schema('gold'), table],
  );
  const types = new Map(rows.map((r) => [r.column_name, r.data_type]));
  return model.columns
    .filter((c) => c.role !== undefined && roles.includes(c.role) && NUMERIC.has(types.get(c.name) ?? ''))
    .map((c) => ({ name: c.name, role: c.role!, value: types.get(c.name) === 'boolean' ? `(rows_of_table.${c.name})::int::float8` : `(rows_of_table.${c.name})::float8` }));
}

async function report(title: string, columns: NumericColumn[], from: string, label: string): Promise<void> {
  const list = columns.map((c) => `corr(${c.value}, (rows_of_table.${label})::float8) as "${c.name}"`).join(',\n');
  const { rows } = await client.query(`select count(*)::int as rows, ${list} from ${from}`);
  const row = rows[0] as Record<string, number | null>;
  console.log(`\n${title} (${row.rows} rows), correlation with ${label}:`);
  const strength = (c: NumericColumn) => Math.abs(Number(row[c.name] ?? 0));
  for (const c of [...columns].sort((a, b) => strength(b) - strength(a))) {
    const r = row[c.name];
    console.log(`  ${c.name.padEnd(28)} ${r === null ? '   n/a (constant)' : Number(r).toFixed(3).padStart(6)}${c.role === 'feature' ? '' : `   (${c.role})`}`);
  }
}

const runAsOf = (await client.query<{ as_of: string }>(`select as_of::text from ${schema('etl')}.runs where published_at is not null order by run_id desc limit 1`)).rows[0]?.as_of;
if (!runAsOf) throw new Error(`${schema('etl')}.runs holds no published run: build the target first`);

await report(
  'gold.customer_training_set',
  await numericColumns('customer_training_set', ['feature']),
  `${schema('gold')}.customer_training_set as rows_of_table`,
  'next_spend',
);

const factColumns = await numericColumns('fact_sales', ['feature', 'lifetime']);
await report(
  `gold.fact_sales, each customer's last line before ${runAsOf} - ${labelDays} days`,
  factColumns,
  `(
    select last_line.*, coalesce(window_spend.spend, 0) as next_spend
    from (
      select distinct on (customer_id) *
      from ${schema('gold')}.fact_sales
      where order_date < date '${runAsOf}' - ${labelDays}
      order by customer_id, order_date desc, order_number desc
    ) as last_line
    left join (
      select customer_id, sum(sales_amount) as spend
      from ${schema('gold')}.fact_sales
      where order_date >= date '${runAsOf}' - ${labelDays} and order_date < date '${runAsOf}'
      group by customer_id
    ) as window_spend on window_spend.customer_id = last_line.customer_id
  ) as rows_of_table`,
  'next_spend',
);
await client.end();
