/**
 * The as-of oracle's parts, for test/sql/as-of.test.ts (generated files) and
 * test/sql/as-of-external.test.ts (any files): `--as-of D` behaves exactly like running on day D. The generated files are cut to what
 * existed on day D and built with `--as-of D` (today = D: the cut files' default as_of would be the
 * day after their latest order, which may be before D); the full files are built with `--as-of D`;
 * the three gold tables must be identical, row for row (an md5 of the sorted rows).
 *
 * The cut, decided from the CSV text, not from the models:
 * - sales_details: a line stays when its order date is before D. The order date is sls_order_dt when
 *   it is a real YYYYMMDD date, else the earliest real order date of another line of its order, else
 *   sls_ship_dt minus 7 days (the generator ships 7 days after the order); a line with none of them
 *   stays (it has no date to be later than D, and is quarantined either way).
 * - cust_info: a customer stays when they have a dated sales line before D or no dated line at all
 *   (never ordered: every snapshot holds them); a customer whose first dated line is on or after D
 *   is gone. cst_create_date is no help: the generator, like the real export, writes extraction
 *   dates (2025-10-06 to 2026-01-25) later than every order on every customer.
 * - prd_info: a version stays unless its prd_start_dt is a real date after D (a version starting on
 *   D exists on D) and after the earliest start of its product key (prd_key from character 7): a
 *   product's first version is valid from the beginning, since products sell before it starts.
 * - cust_az12, loc_a101, px_cat_g1v2: unchanged (they carry no dates of appearance; a row without a
 *   CRM customer joins nothing).
 * The files must have one record per line and no quoted fields (the cut splits lines on commas).
 */
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { uniqueTarget } from '../support/database.ts';
import { describeFailure, runBuild, sqlFor } from './helpers.ts';

export const GOLD = ['fact_sales', 'customer_features', 'sales_daily', 'customer_training_set'] as const;
const SHIP_DAYS = 7;

/** YYYY-MM-DD of a real calendar date, else null. */
function realDate(year: number, month: number, day: number): string | null {
  const d = new Date(Date.UTC(year, month - 1, day));
  if (year < 1 || d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return null;
  return d.toISOString().slice(0, 10);
}

function yyyymmdd(text: string | undefined): string | null {
  const t = (text ?? '').trim();
  return /^[0-9]{8}$/.test(t) ? realDate(Number(t.slice(0, 4)), Number(t.slice(4, 6)), Number(t.slice(6, 8))) : null;
}

function isoDate(text: string | undefined): string | null {
  const t = (text ?? '').trim();
  return /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(t) ? realDate(Number(t.slice(0, 4)), Number(t.slice(5, 7)), Number(t.slice(8, 10))) : null;
}

/** The product key of a prd_key, as silver.int_product_records derives it (from character 7). */
export function productKey(text: string | undefined): string {
  return (text ?? '').trim().toUpperCase().slice(6);
}

function minusDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) - days * 86_400_000).toISOString().slice(0, 10);
}

interface SourceFile {
  header: string;
  lines: string[];
  newline: string;
}

async function readSource(dir: string, source: string): Promise<SourceFile> {
  const text = await readFile(path.join(dir, `${source}.csv`), 'utf8');
  const newline = text.includes('\r\n') ? '\r\n' : '\n';
  const [header = '', ...lines] = text.split(newline);
  return { header, lines: lines.filter((l) => l !== ''), newline };
}

/** The sales lines with the order date the cut judges them by (null: none). */
function datedSales(sales: SourceFile) {
  const rows = sales.lines.map((line) => {
    const f = line.split(',');
    return { line, order: f[0]?.trim() ?? '', customer: f[2]?.trim() ?? '', own: yyyymmdd(f[3]), ship: yyyymmdd(f[4]) };
  });
  const orderDate = new Map<string, string>();
  for (const r of rows) {
    if (!r.own) continue;
    const seen = orderDate.get(r.order);
    if (!seen || r.own < seen) orderDate.set(r.order, r.own);
  }
  return rows.map((r) => ({ ...r, date: r.own ?? orderDate.get(r.order) ?? (r.ship ? minusDays(r.ship, SHIP_DAYS) : null) }));
}

/** Writes the files of `dir` as they existed on day `asOf` into a new folder. */
export async function cutTo(dir: string, asOf: string): Promise<string> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'medallion-asof-cut-'));
  const sales = await readSource(dir, 'sales_details');
  const dated = datedSales(sales);
  const keptSales = dated.filter((r) => r.date === null || r.date < asOf);
  const firstOrder = new Map<string, string>();
  for (const r of dated) {
    if (r.date === null) continue;
    const seen = firstOrder.get(r.customer);
    if (!seen || r.date < seen) firstOrder.set(r.customer, r.date);
  }
  const write = (source: string, file: SourceFile, lines: string[]) =>
    writeFile(path.join(out, `${source}.csv`), [file.header, ...lines].join(file.newline) + file.newline);
  await write(
    'sales_details',
    sales,
    keptSales.map((r) => r.line),
  );
  const customers = await readSource(dir, 'cust_info');
  await write(
    'cust_info',
    customers,
    customers.lines.filter((l) => {
      const first = firstOrder.get(
        l
          .split(',')[0]!
          .replace(/^\uFEFF/, '')
          .trim(),
      );
      return first === undefined || first < asOf;
    }),
  );
  const products = await readSource(dir, 'prd_info');
  // the earliest real start date of each product key, over the rows with an integer prd_id
  const firstStart = new Map<string, string>();
  for (const l of products.lines) {
    const fields = l.split(',');
    const start = isoDate(fields[5]);
    if (start === null || !/^\s*[0-9]{1,18}\s*$/.test(fields[0] ?? '')) continue;
    const key = productKey(fields[1]);
    const known = firstStart.get(key);
    if (known === undefined || start < known) firstStart.set(key, start);
  }
  await write(
    'prd_info',
    products,
    products.lines.filter((l) => {
      const fields = l.split(',');
      const start = isoDate(fields[5]);
      const first = firstStart.get(productKey(fields[1]));
      return start === null || start <= asOf || (first !== undefined && start <= first);
    }),
  );
  for (const source of ['cust_az12', 'loc_a101', 'px_cat_g1v2']) await copyFile(path.join(dir, `${source}.csv`), path.join(out, `${source}.csv`));
  return out;
}

/** Builds `seeds` with `--as-of asOf` into a new target (its name is pushed to `targets`, to drop). */
export async function buildAsOf(seeds: string, asOf: string, targets: string[]): Promise<string> {
  const target = uniqueTarget('sql_asof');
  targets.push(target);
  const r = await runBuild(seeds, target, asOf);
  expect(r.code, describeFailure(r)).toBe(0);
  return target;
}

/** Rows and an md5 of the sorted rows of each gold table. */
export async function goldChecksums(target: string): Promise<Record<string, string>> {
  const db = sqlFor(target);
  const sums: Record<string, string> = {};
  for (const table of GOLD) {
    const r = await db.one<{ n: number; md5: string }>(
      `select count(*)::int as n, md5(coalesce(string_agg(row_text, E'\\n' order by row_text), '')) as md5
         from (select t::text as row_text from gold.${table} as t) as rows_of_table`,
    );
    sums[table] = `${r.n} rows, ${r.md5}`;
  }
  return sums;
}
