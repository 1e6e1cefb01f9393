import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SOURCE_CONTRACTS, type SourceName } from '../../src/bronze/contracts.ts';
import { type Manifest, generate } from '../../src/generate/index.ts';
import { Permutation, rngFor } from '../../src/generate/prng.ts';
import { DEFECTS, REAL_SIZES } from '../../src/generate/rates.ts';
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
    expect(manifest.defects.unknown_customer_sales.count).toBe(0);
    expect(manifest.defects.exact_duplicate_lines.count).toBe(0);
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
    const count = <T>(rows: T[], f: (r: T) => boolean) => rows.filter(f).length;
    // customers
    const info = files.cust_info.rows;
    expect(count(info, (r) => r[0] === '')).toBe(d.junk_customer_rows.count);
    const perId = new Map<string, number>();
    for (const r of info) if (r[0]) perId.set(r[0], (perId.get(r[0]) ?? 0) + 1);
    expect([...perId.values()].reduce((a, n) => a + n - 1, 0)).toBe(d.duplicated_customer_ids.count);
    expect(count([...perId.values()], (n) => n > 1)).toBe(d.duplicated_customer_ids.ids);
    expect(count(info, (r) => r[2] !== r[2]!.trim() || r[3] !== r[3]!.trim())).toBe(d.padded_names.count);
    const erpIds = new Set(files.cust_az12.rows.map((r) => r[0]!.replace(/^NAS/, '')));
    const locIds = new Set(files.loc_a101.rows.map((r) => r[0]!.replace('-', '')));
    expect(count([...perId.keys()], (id) => !erpIds.has(`AW000${id}`) && !locIds.has(`AW000${id}`))).toBe(d.customers_without_erp.count);
    const crmGender = new Map(info.filter((r) => r[0]).map((r) => [`AW000${r[0]}`, r[5]]));
    expect(count(files.cust_az12.rows, (r) => {
      const crm = crmGender.get(r[0]!.replace(/^NAS/, ''));
      return (crm === 'M' && r[2] === 'Female') || (crm === 'F' && r[2] === 'Male');
    })).toBe(d.gender_conflict.count);
    expect(count(files.cust_az12.rows, (r) => r[1]! > '2030')).toBe(d.future_birthdate.count);
    expect(count(files.cust_az12.rows, (r) => r[1]! < '1924-01-28')).toBe(d.birthdate_too_old.count);
    expect(count(files.loc_a101.rows, (r) => ['USA', 'US', 'DE'].includes(r[1]!))).toBe(d.country_code.count);
    expect(count(files.loc_a101.rows, (r) => r[1]!.trim() === '')).toBe(d.country_missing.count);
    // products
    const prd = files.prd_info.rows;
    const cats = new Set(files.px_cat_g1v2.rows.map((r) => r[0]!.replace('_', '-')));
    expect(count(prd, (r) => r[6] !== '' && r[6]! < r[5]!)).toBe(d.product_end_before_start.count);
    expect(count(prd, (r) => r[3] === '')).toBe(d.product_cost_missing.count);
    expect(count(prd, (r) => !cats.has(r[1]!.slice(0, 5)))).toBe(d.product_category_unknown.count);
    // sales
    const sales = files.sales_details.rows;
    const keys = new Set(prd.map((r) => r[1]!.slice(6)));
    expect(count(sales, (r) => !/^\d{8}$/.test(r[3]!))).toBe(d.invalid_order_date.count);
    expect(count(sales, (r) => /^\d{8}$/.test(r[3]!) && !isCalendarDate(r[3]!))).toBe(d.impossible_dates.count);
    expect(count(sales, (r) => r[8] === '')).toBe(d.price_missing.count);
    expect(count(sales, (r) => Number(r[8]) < 0)).toBe(d.price_negative.count);
    expect(count(sales, (r) => r[6] === '')).toBe(d.sales_missing.count);
    expect(count(sales, (r) => Number(r[6]) < 0)).toBe(d.sales_negative.count);
    expect(count(sales, (r) => r[6] === '0')).toBe(d.sales_zero.count);
    expect(count(sales, (r) => Number(r[6]) > 0 && Number(r[8]) > 0 && Number(r[6]) !== Number(r[7]) * Number(r[8]))).toBe(d.sales_mismatch.count);
    expect(count(sales, (r) => !keys.has(r[1]!))).toBe(d.unknown_product_sales.count);
    expect(count(sales, (r) => !perId.has(r[2]!))).toBe(d.unknown_customer_sales.count);
    const groups = new Map<string, string[]>();
    for (const r of sales) groups.set(`${r[0]}|${r[1]}`, [...(groups.get(`${r[0]}|${r[1]}`) ?? []), r.join(',')]);
    const multi = [...groups.values()].filter((g) => g.length > 1);
    expect(count(multi, (g) => new Set(g).size === 1)).toBe(d.exact_duplicate_lines.count);
    expect(count(multi, (g) => new Set(g).size > 1)).toBe(d.conflicting_duplicate_lines.count);
    for (const name of Object.keys(DEFECTS) as (keyof typeof DEFECTS)[]) expect(d[name].count, name).toBeGreaterThan(0);
  });

  it('scale 1 has the real sizes and the real defect rates', async () => {
    const { manifest: m } = await run('scale1', { scale: 1, seed: 42, manifest: false });
    const within = (actual: number, expected: number, tolerance: number) => expect(Math.abs(actual - expected) / expected, `${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance);
    expect(m.entities.customers).toBe(REAL_SIZES.customers);
    expect(m.entities.orders).toBe(REAL_SIZES.orders);
    within(m.entities.salesLines, REAL_SIZES.salesLines, 0.02);
    expect(m.entities.productKeys).toBe(REAL_SIZES.productKeys);
    within(m.entities.productVersions, REAL_SIZES.productVersions, 0.06);
    expect(m.entities.categories).toBe(REAL_SIZES.categories);
    expect(m.period).toEqual({ firstOrderDate: '2010-12-29', lastOrderDate: '2014-01-28' });
    // Real-basis classes: exactly the real counts (sources.md), except those that follow from the
    // generated catalogue (versions, end dates): within 25%.
    for (const [name, def] of Object.entries(DEFECTS)) {
      if (def.real === null) continue;
      const actual = m.defects[name as keyof typeof DEFECTS].count;
      if (def.file === 'prd_info' && name !== 'product_cost_missing') within(actual, def.real, 0.25);
      else expect(actual, name).toBe(def.real);
    }
    // rate-based classes: about rate x population (0.0005)
    expect(m.defects.exact_duplicate_lines.count).toBe(Math.round(0.0005 * REAL_SIZES.orders));
    expect(m.defects.customers_without_erp.count).toBe(Math.round(0.0005 * REAL_SIZES.customers));
    within(m.files.sales_details.rejects, 0.0005 * REAL_SIZES.orders * 0.6, 0.5);
    expect(m.distributions.nas_prefixed_ids!.count / REAL_SIZES.customers).toBeCloseTo(11042 / 18484, 1);
    expect(m.distributions.crm_gender_blank!.count / REAL_SIZES.customers).toBeCloseTo(4578 / 18494, 1);
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
