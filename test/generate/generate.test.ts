import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SOURCE_CONTRACTS, type SourceName } from '../../src/bronze/contracts.ts';
import { type Manifest, generate } from '../../src/generate/index.ts';
import { Permutation, rngFor } from '../../src/generate/prng.ts';
import { type ReadResult, readCsv } from './reader.ts';

let root: string;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'medallion-generate-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function run(name: string, options: Partial<Parameters<typeof generate>[0]> & { scale: number; seed: number }): Promise<{ dir: string; manifest: Manifest }> {
  const dir = path.join(root, name);
  const manifest = await generate({ outDir: dir, manifest: true, ...options });
  return { dir, manifest };
}

async function readAll(dir: string): Promise<Record<SourceName, ReadResult>> {
  const out = {} as Record<SourceName, ReadResult>;
  for (const c of SOURCE_CONTRACTS) out[c.name] = readCsv(await fs.readFile(path.join(dir, c.file)));
  return out;
}

const isCalendarDate = (ymd: string) => {
  if (!/^\d{8}$/.test(ymd)) return false;
  const d = new Date(Date.UTC(Number(ymd.slice(0, 4)), Number(ymd.slice(4, 6)) - 1, Number(ymd.slice(6, 8))));
  return d.toISOString().slice(0, 10).replace(/-/g, '') === ymd;
};
const addDays = (ymd: string, n: number) => new Date(Date.UTC(Number(ymd.slice(0, 4)), Number(ymd.slice(4, 6)) - 1, Number(ymd.slice(6, 8)) + n)).toISOString().slice(0, 10).replace(/-/g, '');

/** Every defect class the generator reports in `_manifest.json` (seeds/README.md). */
const DEFECT_CLASSES = [
  'junk_customer_rows', 'duplicated_customer_ids', 'padded_names', 'gender_conflict',
  'future_birthdate', 'birthdate_too_old', 'customers_without_erp',
  'country_code', 'country_missing',
  'product_end_before_start', 'product_cost_missing', 'product_category_unknown',
  'invalid_order_date', 'price_missing', 'price_negative', 'sales_missing', 'sales_negative', 'sales_zero', 'sales_mismatch',
  'impossible_dates', 'unknown_product_sales', 'unknown_customer_sales', 'conflicting_duplicate_lines', 'exact_duplicate_lines',
] as const;
type DefectClass = (typeof DEFECT_CLASSES)[number];

/** Counts each defect class in the files as read by the independent reader, without the generator's code. */
function countDefects(files: Record<SourceName, ReadResult>): { counts: Record<DefectClass, number>; duplicatedIds: number } {
  const count = <T>(rows: T[], f: (r: T) => boolean) => rows.filter(f).length;
  // customers
  const info = files.cust_info.rows;
  const perId = new Map<string, number>();
  for (const r of info) if (r[0]) perId.set(r[0], (perId.get(r[0]) ?? 0) + 1);
  const erpIds = new Set(files.cust_az12.rows.map((r) => r[0]!.replace(/^NAS/, '')));
  const locIds = new Set(files.loc_a101.rows.map((r) => r[0]!.replace('-', '')));
  const crmGender = new Map(info.filter((r) => r[0]).map((r) => [`AW000${r[0]}`, r[5]]));
  // products
  const prd = files.prd_info.rows;
  const cats = new Set(files.px_cat_g1v2.rows.map((r) => r[0]!.replace('_', '-')));
  // sales
  const sales = files.sales_details.rows;
  const keys = new Set(prd.map((r) => r[1]!.slice(6)));
  const groups = new Map<string, string[]>();
  for (const r of sales) groups.set(`${r[0]}|${r[1]}`, [...(groups.get(`${r[0]}|${r[1]}`) ?? []), r.join(',')]);
  const multi = [...groups.values()].filter((g) => g.length > 1);
  const counts: Record<DefectClass, number> = {
    junk_customer_rows: count(info, (r) => r[0] === ''),
    duplicated_customer_ids: [...perId.values()].reduce((a, n) => a + n - 1, 0),
    padded_names: count(info, (r) => r[2] !== r[2]!.trim() || r[3] !== r[3]!.trim()),
    gender_conflict: count(files.cust_az12.rows, (r) => {
      const crm = crmGender.get(r[0]!.replace(/^NAS/, ''));
      return (crm === 'M' && r[2] === 'Female') || (crm === 'F' && r[2] === 'Male');
    }),
    future_birthdate: count(files.cust_az12.rows, (r) => r[1]! > '2030'),
    birthdate_too_old: count(files.cust_az12.rows, (r) => r[1]! < '1924-01-28'),
    customers_without_erp: count([...perId.keys()], (id) => !erpIds.has(`AW000${id}`) && !locIds.has(`AW000${id}`)),
    country_code: count(files.loc_a101.rows, (r) => ['USA', 'US', 'DE'].includes(r[1]!)),
    country_missing: count(files.loc_a101.rows, (r) => r[1]!.trim() === ''),
    product_end_before_start: count(prd, (r) => r[6] !== '' && r[6]! < r[5]!),
    product_cost_missing: count(prd, (r) => r[3] === ''),
    product_category_unknown: count(prd, (r) => !cats.has(r[1]!.slice(0, 5))),
    invalid_order_date: count(sales, (r) => !/^\d{8}$/.test(r[3]!)),
    impossible_dates: count(sales, (r) => /^\d{8}$/.test(r[3]!) && !isCalendarDate(r[3]!)),
    price_missing: count(sales, (r) => r[8] === ''),
    price_negative: count(sales, (r) => Number(r[8]) < 0),
    sales_missing: count(sales, (r) => r[6] === ''),
    sales_negative: count(sales, (r) => Number(r[6]) < 0),
    sales_zero: count(sales, (r) => r[6] === '0'),
    sales_mismatch: count(sales, (r) => Number(r[6]) > 0 && Number(r[8]) > 0 && Number(r[6]) !== Number(r[7]) * Number(r[8])),
    unknown_product_sales: count(sales, (r) => !keys.has(r[1]!)),
    unknown_customer_sales: count(sales, (r) => !perId.has(r[2]!)),
    exact_duplicate_lines: count(multi, (g) => new Set(g).size === 1),
    conflicting_duplicate_lines: count(multi, (g) => new Set(g).size > 1),
  };
  return { counts, duplicatedIds: count([...perId.values()], (n) => n > 1) };
}

describe('prng', () => {
  it('is deterministic and a permutation is a bijection', () => {
    const a = rngFor(1, 'x');
    const b = rngFor(1, 'x');
    expect([a.u32(), a.u32(), a.u32()]).toEqual([b.u32(), b.u32(), b.u32()]);
    expect(rngFor(2, 'x').u32()).not.toBe(rngFor(1, 'x').u32());
    for (const n of [1, 7, 1000, 4097]) {
      const p = new Permutation(n, 9);
      const seen = new Set<number>();
      for (let i = 0; i < n; i++) seen.add(p.at(i));
      expect(seen.size).toBe(n);
      expect(Math.max(...seen)).toBe(n - 1);
    }
  });
});

describe('generate', () => {
  it('same scale and seed give the same bytes; another seed other bytes', async () => {
    const a = await run('det-a', { scale: 0.02, seed: 7 });
    const b = await run('det-b', { scale: 0.02, seed: 7 });
    const c = await run('det-c', { scale: 0.02, seed: 8 });
    for (const f of [...SOURCE_CONTRACTS.map((x) => x.file), '_manifest.json']) {
      const [x, y] = await Promise.all([fs.readFile(path.join(a.dir, f)), fs.readFile(path.join(b.dir, f))]);
      expect(x.equals(y), f).toBe(true);
    }
    const [s1, s3] = await Promise.all([fs.readFile(path.join(a.dir, 'sales_details.csv')), fs.readFile(path.join(c.dir, 'sales_details.csv'))]);
    expect(s1.equals(s3)).toBe(false);
  });

  it('--clean files have the formats of the real exports', async () => {
    const { dir, manifest } = await run('clean', { scale: 0.05, seed: 42, clean: true });
    const files = await readAll(dir);
    for (const c of SOURCE_CONTRACTS) {
      const f = files[c.name];
      expect(f.header, c.name).toEqual([...c.header]);
      expect(f.bom).toBe(false);
      expect(f.lineEnding).toBe('CRLF');
      expect(f.finalNewline).toBe(!['cust_info', 'cust_az12', 'px_cat_g1v2'].includes(c.name));
      expect(Object.values(f.rejects).reduce((a, b) => a + b, 0)).toBe(0);
      expect(f.rows.length).toBe(manifest.files[c.name].rows);
      expect(f.physicalLines).toBe(f.records);
    }
    const ids = new Set<string>();
    for (const r of files.cust_info.rows) {
      if (r[0] === '') continue;
      expect(r[1]).toBe(`AW000${r[0]}`);
      expect(r[6]).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(r[2]!.normalize('NFC')).toBe(r[2]);
      expect(['M', 'S', '']).toContain(r[4]);
      expect(['M', 'F', '']).toContain(r[5]);
      ids.add(r[0]!);
    }
    for (const r of files.cust_az12.rows) {
      expect(r[0]).toMatch(/^(NAS)?AW000\d+$/);
      expect(r[1]).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
    for (const r of files.loc_a101.rows) expect(r[0]).toMatch(/^AW-000\d+$/);
    const prdKeys = new Set<string>();
    for (const r of files.prd_info.rows) {
      expect(r[1]).toMatch(/^[A-Z]{2}-[A-Z]{2}-[A-Z]{2}-/);
      expect(r[5]).toMatch(/^\d{4}-07-01$/);
      expect(['R ', 'M ', 'S ', 'T ', '']).toContain(r[4]);
      if (r[6]) expect(r[6] < r[5]!).toBe(true);
      prdKeys.add(r[1]!.slice(6));
    }
    for (const r of files.px_cat_g1v2.rows) {
      expect(r[0]).toMatch(/^[A-Z]{2}_[A-Z]{2}$/);
      expect(['Yes', 'No']).toContain(r[3]);
    }
    const orders = new Map<string, { cust: string; keys: Set<string> }>();
    let clean = 0;
    for (const r of files.sales_details.rows) {
      const [ord, key, cust, od, sd, dd, sales, qty, price] = r as [string, string, string, string, string, string, string, string, string];
      expect(ord).toMatch(/^SO\d+$/);
      const o = orders.get(ord) ?? { cust, keys: new Set<string>() };
      expect(o.cust).toBe(cust);
      expect(o.keys.has(key)).toBe(false);
      o.keys.add(key);
      orders.set(ord, o);
      expect(isCalendarDate(sd) && isCalendarDate(dd)).toBe(true);
      if (isCalendarDate(od)) {
        expect(sd).toBe(addDays(od, 7));
        expect(dd).toBe(addDays(od, 12));
        expect(od >= '20101229' && od <= '20140128').toBe(true);
      }
      if (Number(price) > 0 && Number(sales) > 0 && isCalendarDate(od) && Number(sales) === Number(qty) * Number(price)) clean++;
      expect(prdKeys.has(key)).toBe(true);
      expect(ids.has(cust)).toBe(true);
    }
    for (const o of orders.values()) expect(o.keys.size).toBeLessThanOrEqual(8);
    expect(clean).toBeGreaterThan(files.sales_details.rows.length - 60);
    const { counts } = countDefects(files);
    for (const name of ['unknown_customer_sales', 'unknown_product_sales', 'exact_duplicate_lines', 'conflicting_duplicate_lines', 'impossible_dates', 'customers_without_erp'] as const) {
      expect(counts[name], name).toBe(0);
      expect(manifest.defects[name].count, name).toBe(0);
    }
  });

  it("the manifest's counts equal what an independent reader finds", async () => {
    const { dir, manifest } = await run('counts', { scale: 0.05, seed: 3, structuralRate: 0.01 });
    const files = await readAll(dir);
    let boms = 0;
    let lfs = 0;
    for (const c of SOURCE_CONTRACTS) {
      const f = files[c.name];
      const m = manifest.files[c.name];
      expect(f.records, c.name).toBe(m.records);
      expect(f.physicalLines, c.name).toBe(m.physicalLines);
      expect(f.rejects, c.name).toEqual(m.rejectReasons);
      expect(f.rows.length, c.name).toBe(m.rows);
      expect(m.rows).toBe(m.records - m.rejects);
      expect(f.bom).toBe(m.bom);
      expect(f.lineEnding).toBe(m.lineEnding);
      boms += f.bom ? 1 : 0;
      lfs += f.lineEnding === 'LF' ? 1 : 0;
    }
    expect(boms).toBe(1);
    expect(lfs).toBe(1);
    expect(manifest.files.sales_details.rejects).toBeGreaterThan(0);
    expect(manifest.files.cust_info.rejectReasons.RECORD_LINE_BREAK_IN_FIELD).toBeGreaterThan(0);
    expect(manifest.files.cust_info.quoting.quoted_newline).toBe(0);
    for (const c of SOURCE_CONTRACTS) expect(manifest.files[c.name].physicalLines, c.name).toBe(manifest.files[c.name].records);

    const d = manifest.defects;
    const found = countDefects(files);
    // the manifest reports exactly the classes listed here, each with what the reader counts
    expect(Object.keys(d).sort()).toEqual([...DEFECT_CLASSES].sort());
    expect(Object.fromEntries(DEFECT_CLASSES.map((name) => [name, d[name].count]))).toEqual(found.counts);
    expect(d.duplicated_customer_ids.ids).toBe(found.duplicatedIds);
    // every class occurs at least once, even at this scale
    for (const name of DEFECT_CLASSES) expect(found.counts[name], name).toBeGreaterThan(0);
  });

  it('scale 1 has the real sizes and the real defect rates', async () => {
    const { dir, manifest: m } = await run('scale1', { scale: 1, seed: 42, manifest: false });
    const files = await readAll(dir);
    const within = (actual: number, expected: number, tolerance: number, what: string) =>
      expect(Math.abs(actual - expected) / expected, `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance);
    // Sizes of the real exports (../shared/docs/sources.md), counted in the files.
    const customerIds = new Set(files.cust_info.rows.map((r) => r[0]).filter((id) => id !== ''));
    expect(customerIds.size).toBe(18484);
    expect(new Set(files.sales_details.rows.map((r) => r[0])).size).toBe(27659);
    within(files.sales_details.rows.length, 60398, 0.02, 'sales lines');
    expect(new Set(files.prd_info.rows.map((r) => r[1]!.slice(6))).size).toBe(295);
    within(files.prd_info.rows.length, 397, 0.06, 'product versions');
    expect(files.px_cat_g1v2.rows.length).toBe(37);
    const orderDates = files.sales_details.rows.map((r) => r[3]!).filter(isCalendarDate).sort();
    expect([orderDates[0], orderDates.at(-1)]).toEqual(['20101229', '20140128']);
    expect(m.period).toEqual({ firstOrderDate: '2010-12-29', lastOrderDate: '2014-01-28' });
    // Real-basis classes: exactly the real counts (sources.md), except those that follow from the
    // generated catalogue (versions, end dates): within 25%. Rate-based classes: round(0.0005 x
    // population): 0.0005 x 27,659 orders = 13.8, 0.0005 x 18,484 customers = 9.2.
    const { counts } = countDefects(files);
    expect(counts).toMatchObject({
      junk_customer_rows: 4,
      duplicated_customer_ids: 6,
      padded_names: 29,
      gender_conflict: 57,
      future_birthdate: 16,
      birthdate_too_old: 15,
      country_code: 4657,
      country_missing: 337,
      product_cost_missing: 2,
      invalid_order_date: 19,
      price_missing: 7,
      price_negative: 5,
      sales_missing: 8,
      sales_negative: 3,
      sales_zero: 2,
      sales_mismatch: 10,
      exact_duplicate_lines: 14,
      customers_without_erp: 9,
    });
    within(counts.product_end_before_start, 200, 0.25, 'product_end_before_start');
    within(counts.product_category_unknown, 7, 0.25, 'product_category_unknown');
    // the manifest says what the files hold
    expect(Object.fromEntries(DEFECT_CLASSES.map((name) => [name, m.defects[name].count]))).toEqual(counts);
    // structural rejects: about 0.6 of the 0.0005 x 27,659 orders' structural defects are rejected kinds
    const salesRejects = Object.values(files.sales_details.rejects).reduce((a, b) => a + b, 0);
    within(salesRejects, 8.3, 0.5, 'sales_details rejected lines');
    expect(m.files.sales_details.rejects).toBe(salesRejects);
    // distributions of the real files: 11,042 of 18,484 ERP ids carry NAS; 4,578 of 18,494 CRM rows have no gender
    expect(files.cust_az12.rows.filter((r) => r[0]!.startsWith('NAS')).length / 18484).toBeCloseTo(11042 / 18484, 1);
    expect(files.cust_info.rows.filter((r) => r[0] !== '' && r[5] === '').length / 18484).toBeCloseTo(4578 / 18494, 1);
  });

  it('scale 0.01 works', async () => {
    const { dir, manifest } = await run('tiny', { scale: 0.01, seed: 1 });
    const files = await readAll(dir);
    expect(manifest.entities.customers).toBe(185);
    expect(manifest.entities.orders).toBe(277);
    for (const c of SOURCE_CONTRACTS) expect(files[c.name].records, c.name).toBe(manifest.files[c.name].records);
    expect(files.sales_details.rows.length).toBeGreaterThan(400);
  });
});

describe('generate × bronze scanner', () => {
  it("the loader's record scanner finds exactly the manifest's records, rows and rejects", async () => {
    const { RecordScanner } = await import('../../src/bronze/record-scanner.ts');
    const { dir, manifest } = await run('scanner', { scale: 0.1, seed: 11, structuralRate: 0.02 });
    for (const c of SOURCE_CONTRACTS) {
      let buf = await fs.readFile(path.join(dir, c.file));
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) buf = buf.subarray(3);
      const scanner = new RecordScanner({ fieldCount: c.header.length, columns: c.header, maxFieldBytes: 65536, firstLine: 2 });
      scanner.scan(buf.subarray(buf.indexOf(10) + 1), true);
      const reasons: Record<string, number> = {};
      for (const r of scanner.takeRejects()) reasons[r.reason] = (reasons[r.reason] ?? 0) + 1;
      const m = manifest.files[c.name];
      expect(scanner.records, c.name).toBe(m.records);
      expect(scanner.rowsOut, c.name).toBe(m.rows);
      for (const [reason, n] of Object.entries(m.rejectReasons)) expect(reasons[reason] ?? 0, `${c.name} ${reason}`).toBe(n);
    }
  });
});
