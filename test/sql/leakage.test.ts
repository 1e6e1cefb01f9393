/**
 * The leakage test of fact_sales (`no_future_leakage`, sql/tests/no_future_leakage.sql) must be able to
 * fail: it passes on the built table, and catches a behavioural feature that counts an order of the
 * same day or a later one, a wrong days_since_prev_order and a wrong tenure.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaNames } from '../../src/config.ts';
import { generate } from '../../src/generate/index.ts';
import { failingRowsSql } from '../../src/quality/index.ts';
import { exportGold } from '../../src/export/index.ts';
import { columnDocsOf, loadProject } from '../../src/transform/index.ts';
import { readMetadata, testConnection } from '../export/helpers.ts';
import type { Project, TestDefinition } from '../../src/transform/types.ts';
import { dropTarget, query, uniqueTarget } from '../support/database.ts';
import { describeFailure, runBuild, SQL_DIR } from './helpers.ts';

const target = uniqueTarget('sql_leak');
const schemas = schemaNames(target);
// The data tests read the staging schema; the test rebuilds it here from the published table.
const staging = `${schemas.gold}_next`;
let dir: string;
let leakage: TestDefinition;
let project: Project;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'medallion-leak-'));
  await generate({ scale: 0.02, seed: 9, outDir: dir, clean: true });
  const r = await runBuild(dir, target);
  expect(r.code, describeFailure(r)).toBe(0);
  project = await loadProject({ sqlDir: SQL_DIR });
  leakage = project.models.flatMap((m) => m.tests).find((t) => t.name === 'no_future_leakage')!;
  expect(leakage).toBeDefined();
});

afterAll(async () => {
  await dropTarget(target);
  await rm(dir, { recursive: true, force: true });
});

/** Copies the published fact_sales to staging, applies `tamper`, returns the failing rows. */
async function failingRowsAfter(tamper: string | null): Promise<number> {
  await query(`drop schema if exists "${staging}" cascade; create schema "${staging}"; create table "${staging}".fact_sales as select * from "${schemas.gold}".fact_sales`);
  if (tamper) await query(tamper.replaceAll('FACT', `"${staging}".fact_sales`));
  const rows = await query<{ n: number }>(`select count(*)::int as n from (${failingRowsSql(leakage, schemas)}) as failing`);
  await query(`drop schema "${staging}" cascade`);
  return rows[0]!.n;
}

// An order that is neither the customer's first nor the only one of its day.
const LATER_ORDER = `(select order_number from FACT where customer_order_seq > 2 order by order_number limit 1)`;

describe('no_future_leakage', () => {
  it('passes on the table the build published', async () => {
    expect(await failingRowsAfter(null)).toBe(0);
  });

  it('fails when prior_orders counts one order too many (a same-day or later order)', async () => {
    expect(await failingRowsAfter(`update FACT set prior_orders = prior_orders + 1 where order_number = ${LATER_ORDER}`)).toBeGreaterThan(0);
  });

  it("fails when prior_spend includes the order's own amount", async () => {
    expect(await failingRowsAfter(`update FACT set prior_spend = prior_spend + sales_amount where order_number = ${LATER_ORDER}`)).toBeGreaterThan(0);
  });

  it('covers every feature column of fact_sales (meta.role: feature)', async () => {
    const fact = project.models.find((m) => m.name === 'gold.fact_sales')!;
    const features = fact.columns.filter((c) => c.role === 'feature').map((c) => c.name);
    const sql = leakage.kind === 'query' ? leakage.sql : '';
    expect(features.length).toBeGreaterThan(10);
    expect(features.filter((c) => !new RegExp(`\\b${c}\\b`).test(sql))).toEqual([]);
  });

  const ONE_ORDER = `where order_number = ${LATER_ORDER}`;
  it.each([
    ['customer_order_seq', `customer_order_seq = customer_order_seq + 1 ${ONE_ORDER}`],
    ['is_first_order', `is_first_order = not is_first_order ${ONE_ORDER}`],
    ['prior_avg_order_value', `prior_avg_order_value = prior_avg_order_value + 1 ${ONE_ORDER}`],
    ['order_year', `order_year = order_year + 1 ${ONE_ORDER}`],
    ['order_quarter', `order_quarter = order_quarter % 4 + 1 ${ONE_ORDER}`],
    ['order_month', `order_month = order_month % 12 + 1 ${ONE_ORDER}`],
    ['order_iso_week', `order_iso_week = order_iso_week % 52 + 1 ${ONE_ORDER}`],
    ['order_day_of_week', `order_day_of_week = order_day_of_week % 7 + 1 ${ONE_ORDER}`],
    ['order_day_of_month', `order_day_of_month = order_day_of_month % 28 + 1 ${ONE_ORDER}`],
    ['is_weekend', `is_weekend = not is_weekend ${ONE_ORDER}`],
    // the age at the end of the data, as the original project took it
    ['age', `age = date_part('year', age(date '2014-01-28', birthdate)) where birthdate <= order_date`],
    ['age_bracket', `age_bracket = case age_bracket when 'Unknown' then '30-39' else 'Unknown' end ${ONE_ORDER}`],
  ])('fails when %s is not its definition at the order date', async (_column, update) => {
    expect(await failingRowsAfter(`update FACT set ${update}`)).toBeGreaterThan(0);
  });

  it('fails when days_since_prev_order or the tenure look ahead', async () => {
    expect(await failingRowsAfter(`update FACT set days_since_prev_order = days_since_prev_order - 1 where order_number = ${LATER_ORDER}`)).toBeGreaterThan(0);
    expect(await failingRowsAfter(`update FACT set customer_tenure_days = customer_tenure_days + 1 where order_number = ${LATER_ORDER}`)).toBeGreaterThan(0);
  });
});

describe('column roles', () => {
  it('every column of every built gold table has a description and a role in its .yml', async () => {
    const gold = project.models.filter((m) => m.layer === 'gold');
    expect(gold.map((m) => m.relation).sort()).toEqual(['customer_features', 'customer_training_set', 'fact_sales', 'sales_daily']);
    const catalog = await query<{ table_name: string; column_name: string }>(
      `select table_name, column_name from information_schema.columns where table_schema = $1 order by table_name, ordinal_position`, [schemas.gold]);
    const undocumented: string[] = [];
    for (const { table_name, column_name } of catalog) {
      const column = gold.find((m) => m.relation === table_name)?.columns.find((c) => c.name === column_name);
      if (!column?.role || !column.description) undocumented.push(`${table_name}.${column_name}${column ? (column.role ? ' (no description)' : ' (no role)') : ' (not in the .yml)'}`);
    }
    expect(catalog.length).toBeGreaterThan(70);
    expect(undocumented).toEqual([]);
    // and no .yml column that the table does not have
    const built = new Set(catalog.map((c) => `${c.table_name}.${c.column_name}`));
    expect(gold.flatMap((m) => m.columns.map((c) => `${m.relation}.${c.name}`)).filter((c) => !built.has(c))).toEqual([]);
  });
});

describe('the export of the built gold', () => {
  it('gives each exported column its description and role, and leaves the lifetime columns and the customer attributes out of fact_sales', async () => {
    const docs = columnDocsOf(project, 'gold');
    const out = path.join(dir, 'exports');
    const { manifest } = await exportGold({
      connection: testConnection(), schemas: { gold: schemas.gold }, exportsDir: out, runId: 1, asOf: null,
      inputFiles: [], rowGroupSize: 2048, compression: 'zstd', columnDocs: docs,
    });
    const lifetime = Object.values(docs.fact_sales!).filter((c) => c.role === 'lifetime').map((c) => c.name);
    expect(lifetime).toEqual(expect.arrayContaining(['total_orders', 'total_spend', 'avg_order_revenue', 'lifespan', 'last_order_date']));
    // the customer's own attributes, declared in fact_sales.yml (config.meta.export.leave_out), are
    // in customer_features once per customer
    const attributes = ['customer_name', 'gender', 'marital_status', 'country', 'birthdate', 'age', 'age_bracket'];
    expect(project.models.find((m) => m.name === 'gold.fact_sales')!.exportLeaveOut?.slice().sort()).toEqual([...attributes].sort());
    expect(manifest.tables.fact_sales!.left_out.sort()).toEqual([...lifetime, ...attributes].sort());
    for (const f of manifest.tables.fact_sales!.files) {
      const names = (await readMetadata(path.join(out, f.path))).schema.map((c) => c.name);
      expect(names.filter((n) => manifest.tables.fact_sales!.left_out.includes(n)), f.path).toEqual([]);
    }
    expect(manifest.tables.customer_features!.left_out).toEqual([]);
    const features = (await readMetadata(path.join(out, manifest.tables.customer_features!.files[0]!.path))).schema.map((c) => c.name);
    expect(features).toEqual(expect.arrayContaining(attributes));
    for (const [table, t] of Object.entries(manifest.tables)) {
      for (const c of t.columns) expect(c, `${table}.${c.name}`).toMatchObject({ description: docs[table]![c.name]!.description, role: docs[table]![c.name]!.role });
      expect(t.columns.length + t.left_out.length).toBe(Object.keys(docs[table]!).length);
      expect(t.columns.some((c) => c.role === 'lifetime')).toBe(false);
    }
  });
});
