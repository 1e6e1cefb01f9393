/**
 * fact_sales' Parquet export leaves out the customer's own attributes (sql/gold/fact_sales.yml,
 * `config.meta.export.leave_out`; docs/decisions/0013), so that a customer update does not rewrite
 * the month files of every month the customer ordered in. Two targets build the same generated
 * files, then the same files with one change: a customer with lines in several months gets a new
 * last name (cust_info) and a new birthdate (cust_az12). With the project's sql/, every fact_sales
 * file of the second export is the first export's file (linked: same inode, `reused_from`) and
 * customer_features.parquet is written; with a copy of sql/ without the declaration, the customer's
 * months are written again. `medallion export` of the published gold leaves the columns out too.
 */
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ident } from '../../src/db/client.ts';
import type { Manifest } from '../../src/export/index.ts';
import { generate } from '../../src/generate/index.ts';
import { readMetadata } from '../export/helpers.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, schemaNames, uniqueTarget } from '../support/database.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DECLARED = ['customer_name', 'gender', 'marital_status', 'country', 'birthdate', 'age', 'age_bracket'];
const LIFETIME = ['total_orders', 'total_spend', 'avg_order_revenue', 'lifespan', 'last_order_date', 'ship_date', 'days_to_ship', 'prd_status'];
const NEW_LAST_NAME = 'Updatedname';
const NEW_BIRTHDATE = '1971-06-15';

/** The project as it is, and a copy of it whose fact_sales.yml does not declare the leave-out. */
const declared = { target: uniqueTarget('leaveout_a'), sql: path.join(ROOT, 'sql') };
const undeclared = { target: uniqueTarget('leaveout_b'), sql: '' };
let work: string;
let before: string;
let after: string;
let customer: { id: number; key: string; months: string[] };
/** Per target, the manifest and the fact_sales and customer_features files' inodes of each export. */
const exports = new Map<string, { manifest: Manifest; inodes: Map<string, number> }[]>();

const exportsOf = (target: string) => path.join(work, 'exports', target);

async function build(t: { target: string; sql: string }, seeds: string): Promise<void> {
  const r = await runCli(['build', '--seeds', seeds, '--target', t.target, '--sql', t.sql, '--out', exportsOf(t.target)], { cwd: work });
  expect(r.code, `build of ${seeds} into ${t.target}: ${r.stdout.slice(-3000)}\n${r.stderr}`).toBe(0);
  const out = exportsOf(t.target);
  const manifest = JSON.parse(await readFile(path.join(out, '_manifest.json'), 'utf8')) as Manifest;
  const inodes = new Map<string, number>();
  for (const table of ['fact_sales', 'customer_features']) {
    for (const f of manifest.tables[table]!.files) inodes.set(f.path, (await stat(path.join(out, f.path))).ino);
  }
  exports.set(t.target, [...(exports.get(t.target) ?? []), { manifest, inodes }]);
}

/** Rewrites the lines of a CSV file whose key (`keyOf` of its fields) is `key`; keeps the line ends. */
async function rewrite(file: string, key: string, keyOf: (fields: string[]) => string, change: (fields: string[]) => void): Promise<number> {
  const lines = (await readFile(file, 'utf8')).split('\n');
  let changed = 0;
  const out = lines.map((line, i) => {
    const end = line.endsWith('\r') ? '\r' : '';
    const fields = line.slice(0, line.length - end.length).split(',');
    if (i === 0 || keyOf(fields) !== key) return line;
    change(fields);
    changed++;
    return fields.join(',') + end;
  });
  await writeFile(file, out.join('\n'));
  return changed;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'medallion-leaveout-'));
  before = path.join(work, 'before');
  after = path.join(work, 'after');
  await generate({ scale: 0.03, seed: 5, outDir: before, clean: true });

  undeclared.sql = path.join(work, 'sql-undeclared');
  await cp(declared.sql, undeclared.sql, { recursive: true });
  const yml = path.join(undeclared.sql, 'gold/fact_sales.yml');
  const text = await readFile(yml, 'utf8');
  const without = text.replace(/\n {8}export:\n {10}leave_out: \[[^\]]*\]/, '');
  expect(without, 'the declaration in sql/gold/fact_sales.yml').not.toBe(text);
  await writeFile(yml, without);

  for (const t of [declared, undeclared]) await build(t, before);

  // A known customer with lines in several months, a birthdate and one plain line in each file.
  const gold = schemaNames(declared.target).gold;
  const candidates = await query<{ id: number; months: string[] }>(
    `select customer_id::int as id, array_agg(distinct to_char(order_date, 'YYYY-MM') order by to_char(order_date, 'YYYY-MM')) as months
       from ${ident(gold)}.fact_sales where customer_known and birthdate is not null
      group by customer_id having count(distinct to_char(order_date, 'YYYY-MM')) between 3 and 8 order by customer_id`,
  );
  const info = (await readFile(path.join(before, 'cust_info.csv'), 'utf8')).split('\n').map((l) => l.replace(/\r$/, '').split(','));
  const az12 = (await readFile(path.join(before, 'cust_az12.csv'), 'utf8')).split('\n').map((l) => l.replace(/\r$/, '').split(','));
  const plainKey = (f: string[]) => f[0]!.replace(/^NAS/, '');
  const found = candidates.find((c) => {
    const rows = info.filter((f) => f[0] === String(c.id));
    return rows.length === 1 && rows[0]!.length === 7 && az12.filter((f) => f.length === 3 && plainKey(f) === rows[0]![1]).length === 1;
  });
  expect(found, 'a customer with lines in 3 to 8 months').toBeDefined();
  const key = info.find((f) => f[0] === String(found!.id))![1]!;
  customer = { id: found!.id, key, months: found!.months };

  await cp(before, after, { recursive: true });
  expect(await rewrite(path.join(after, 'cust_info.csv'), String(customer.id), (f) => f[0]!, (f) => { f[3] = NEW_LAST_NAME; })).toBe(1);
  expect(await rewrite(path.join(after, 'cust_az12.csv'), key, plainKey, (f) => { f[1] = NEW_BIRTHDATE; })).toBe(1);
  for (const t of [declared, undeclared]) await build(t, after);
}, 600_000);

afterAll(async () => {
  for (const t of [declared, undeclared]) await dropTarget(t.target);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a customer update and the fact_sales export', () => {
  it('reaches gold: the customer has the new name and birthdate in every line, in several months', async () => {
    expect(customer.months.length).toBeGreaterThanOrEqual(3);
    for (const t of [declared, undeclared]) {
      const rows = await query<{ customer_name: string; birthdate: string }>(
        `select distinct customer_name, birthdate::text from ${ident(schemaNames(t.target).gold)}.fact_sales where customer_id = $1`, [customer.id]);
      expect(rows, t.target).toHaveLength(1);
      expect(rows[0]!.customer_name.endsWith(` ${NEW_LAST_NAME}`), rows[0]!.customer_name).toBe(true);
      expect(rows[0]!.birthdate).toBe(NEW_BIRTHDATE);
    }
  });

  it('with the declaration: the attributes are in no fact_sales file, and every month file is linked from the previous export', async () => {
    const [first, second] = exports.get(declared.target)!;
    for (const { manifest } of [first!, second!]) {
      expect([...manifest.tables.fact_sales!.left_out].sort()).toEqual([...DECLARED, ...LIFETIME].sort());
      expect(manifest.tables.fact_sales!.columns.map((c) => c.name).filter((n) => DECLARED.includes(n))).toEqual([]);
      // customer_features has them, once per customer
      expect(manifest.tables.customer_features!.left_out).toEqual([]);
      expect(manifest.tables.customer_features!.columns.map((c) => c.name)).toEqual(expect.arrayContaining(['customer_name', 'gender', 'marital_status', 'country', 'birthdate', 'age']));
    }
    const out = exportsOf(declared.target);
    for (const f of second!.manifest.tables.fact_sales!.files) {
      const names = (await readMetadata(path.join(out, f.path))).schema.map((s) => s.name);
      expect(names.filter((n) => DECLARED.includes(n)), f.path).toEqual([]);
    }

    const files = second!.manifest.tables.fact_sales!.files;
    expect(files.map((f) => f.path)).toEqual(first!.manifest.tables.fact_sales!.files.map((f) => f.path));
    expect(files.length).toBeGreaterThan(customer.months.length);
    for (const f of files) {
      expect(f.reused_from, f.path).toBeDefined();
      expect(second!.inodes.get(f.path), f.path).toBe(first!.inodes.get(f.path));
    }
    // the customer's attributes changed where they are kept
    const [features] = second!.manifest.tables.customer_features!.files;
    expect(features!.reused_from).toBeUndefined();
    expect(second!.inodes.get(features!.path)).not.toBe(first!.inodes.get(features!.path));
  });

  it('without the declaration: the same change writes the customer\'s months again, and links the others', async () => {
    const [first, second] = exports.get(undeclared.target)!;
    expect([...second!.manifest.tables.fact_sales!.left_out].sort()).toEqual([...LIFETIME].sort());
    const files = second!.manifest.tables.fact_sales!.files;
    expect(files.map((f) => f.path)).toEqual(first!.manifest.tables.fact_sales!.files.map((f) => f.path));
    const written = files.filter((f) => f.reused_from === undefined).map((f) => f.month).sort();
    expect(written).toEqual(customer.months);
    for (const f of files.filter((f) => f.reused_from !== undefined)) expect(second!.inodes.get(f.path), f.path).toBe(first!.inodes.get(f.path));
  });

  it('medallion export reads the declaration from --sql: the attributes are left out, as in the build', async () => {
    for (const [t, leftOut] of [[declared, [...DECLARED, ...LIFETIME]], [undeclared, LIFETIME]] as const) {
      const out = path.join(work, 'exported', t.target);
      const r = await runCli(['export', '--target', t.target, '--sql', t.sql, '--out', out, '--tables', 'fact_sales'], { cwd: work });
      expect(r.code, r.stderr).toBe(0);
      const manifest = JSON.parse(await readFile(path.join(out, '_manifest.json'), 'utf8')) as Manifest;
      expect([...manifest.tables.fact_sales!.left_out].sort()).toEqual([...leftOut].sort());
      const names = (await readMetadata(path.join(out, manifest.tables.fact_sales!.files[0]!.path))).schema.map((s) => s.name);
      expect(names.filter((n) => DECLARED.includes(n)).sort(), t.target).toEqual(t === declared ? [] : [...DECLARED].sort());
    }
  });
});
