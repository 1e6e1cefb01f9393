import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DayManifest, generate, generateDays } from '../../src/generate/index.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, uniqueTarget } from '../support/database.ts';

const FILES = ['cust_info', 'cust_az12', 'loc_a101', 'prd_info', 'px_cat_g1v2', 'sales_details'] as const;
type FileName = (typeof FILES)[number];
const DAYS = 8;
const OPTIONS = { scale: 0.05, seed: 7, manifest: true };

let root: string;
let seq: string;
let manifests: DayManifest[];
const target = uniqueTarget('gen_days');

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'medallion-gen-days-'));
  seq = path.join(root, 'seq');
  manifests = (await generateDays({ ...OPTIONS, outDir: seq, days: DAYS })).days;
});
afterAll(async () => {
  await dropTarget(target);
  await fs.rm(path.join('reports', target), { recursive: true, force: true });
  await fs.rm(root, { recursive: true, force: true });
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const dayDir = (dir: string, day: number) => path.join(dir, `day-${String(day).padStart(2, '0')}`);
/** The data lines of a file as latin1 text (one character per byte), the header excluded. */
async function lines(dir: string, name: FileName): Promise<string[]> {
  const text = (await fs.readFile(path.join(dir, `${name}.csv`))).toString('latin1');
  const all = text.split(/\r?\n/);
  if (all.at(-1) === '') all.pop();
  return all.slice(1);
}
async function hashes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await fs.readdir(dir)).sort()) out[f] = sha(await fs.readFile(path.join(dir, f)));
  return out;
}
const customerKey = (name: FileName, line: string): string => {
  const first = line.split(',')[0]!;
  if (name === 'cust_info') return first;
  return first.replace(/^NAS/, '').replace('AW-', 'AW').replace(/^AW000/, '');
};

describe('generate without --days', () => {
  it('writes the same bytes as before --days existed (scale 0.1, seed 42)', async () => {
    const dir = path.join(root, 'plain');
    await generate({ scale: 0.1, seed: 42, outDir: dir, manifest: true });
    expect(await hashes(dir)).toEqual({
      '_manifest.json': 'c5eb047b03f99bb36311f0b75ec34bf730a7f710ef8610221d64ee22602556a4',
      'cust_az12.csv': 'c84568edc0fa25e09bdbfa041ad2c383e666e436ae8b8ac700a10bf96d42ab76',
      'cust_info.csv': '2bb90f058aa6bd0474106b63a9e9d90fb0e675c3932253abe73a436fe6629b0f',
      'loc_a101.csv': '2f2959010d4b31c89870d3c2493a478da621a9295cbc5b21e363738c06aef8b4',
      'prd_info.csv': 'a302ff8fae3142fb9fecb17d749265dbc2c59ee303eac56b04f259be63f7e1bd',
      'px_cat_g1v2.csv': '1e365155649691791be37a3e824edbb267f410bdc68e7a9f080ce19fde07cf7f',
      'sales_details.csv': 'bdf93aebbd261b0801e070d6d52454cc87ed2da9c81560e2806a7fcccb29ca28',
    });
  });
});

describe('generate --days', () => {
  it('writes day-00 as generate does, then one complete folder per day', async () => {
    const plain = path.join(root, 'plain-small');
    await generate({ ...OPTIONS, outDir: plain });
    expect(await hashes(dayDir(seq, 0))).toEqual(await hashes(plain));
    expect((await fs.readdir(seq)).sort()).toEqual(Array.from({ length: DAYS + 1 }, (_, d) => `day-${String(d).padStart(2, '0')}`));
    for (let d = 1; d <= DAYS; d++) expect((await fs.readdir(dayDir(seq, d))).sort()).toEqual(['_manifest.json', ...FILES.map((f) => `${f}.csv`)].sort());
  });

  it('is deterministic, and day k does not depend on the number of days', async () => {
    const again = path.join(root, 'again');
    await generateDays({ ...OPTIONS, outDir: again, days: 4 });
    for (let d = 0; d <= 4; d++) expect(await hashes(dayDir(again, d))).toEqual(await hashes(dayDir(seq, d)));
    const otherSeed = path.join(root, 'other-seed');
    await generateDays({ ...OPTIONS, seed: 8, outDir: otherSeed, days: 1 });
    expect((await hashes(dayDir(otherSeed, 1)))['sales_details.csv']).not.toBe((await hashes(dayDir(seq, 1)))['sales_details.csv']);
  });

  it('makes day k from day k-1: kept lines in place, changed lines at their line, deleted lines gone, new rows appended', async () => {
    for (let d = 1; d <= DAYS; d++) {
      const m = manifests[d - 1]!;
      expect(m.day).toBe(d);
      const deleted = new Set(m.changes.deletedCustomerIds.map(String));
      for (const name of FILES) {
        const before = await lines(dayDir(seq, d - 1), name);
        const after = await lines(dayDir(seq, d), name);
        const kept = ['cust_info', 'cust_az12', 'loc_a101'].includes(name) ? before.filter((l) => !deleted.has(customerKey(name, l))) : before;
        const f = m.files[name];
        expect(f.removed, `${name} day ${d}`).toBe(before.length - kept.length);
        expect(after.length, `${name} day ${d}`).toBe(kept.length + f.appended);
        expect(f.lines).toBe(after.length);
        const changed = kept.map((l, i) => [l, after[i]!] as const).filter(([a, b]) => a !== b);
        expect(changed.length, `${name} day ${d}`).toBe(f.changed);
        const updates = m.changes.updatedCustomers.updates.filter((u) => u.file === name);
        if (name === 'cust_info' || name === 'cust_az12') {
          expect(changed.map(([, b]) => Number(customerKey(name, b))).sort()).toEqual(updates.map((u) => u.id).sort());
          for (const u of updates) {
            const [was, now] = changed.find(([, b]) => Number(customerKey(name, b)) === u.id)!;
            const at = { cst_marital_status: 4, cst_lastname: 3, BDATE: 1 }[u.field];
            expect([was.split(',')[at], now.split(',')[at]]).toEqual([u.from, u.to]);
            expect(was.split(',').filter((_, i) => i !== at)).toEqual(now.split(',').filter((_, i) => i !== at));
          }
        } else if (name === 'prd_info') {
          expect(changed.length).toBe(m.changes.newProductVersions.length);
        } else expect(changed).toEqual([]);
      }
      const c = m.changes;
      expect(m.files.cust_info.appended).toBe(c.newCustomers.count);
      expect(m.files.cust_az12.appended).toBe(c.newCustomers.count);
      expect(m.files.loc_a101.appended).toBe(c.newCustomers.count);
      expect(m.files.sales_details.appended).toBe(c.newLines + c.lateLines.count);
      expect(c.newCustomers.count).toBeGreaterThan(0);
      expect(c.newOrders).toBeGreaterThan(c.newCustomers.count);
      expect(c.updatedCustomers.count).toBeGreaterThan(0);
    }
  });

  it('gives every new customer an order dated that day, and every order line valid values', async () => {
    for (let d = 1; d <= DAYS; d++) {
      const m = manifests[d - 1]!;
      const ymd = m.date.replace(/-/g, '');
      const added = (await lines(dayDir(seq, d), 'sales_details')).slice(-m.files.sales_details.appended);
      const today = added.slice(0, m.changes.newLines).map((l) => l.split(','));
      expect(today.every((f) => f[3] === ymd && f.length === 9 && Number(f[6]) === Number(f[7]) * Number(f[8]))).toBe(true);
      const buyers = new Set(today.map((f) => Number(f[2])));
      for (const id of m.changes.newCustomers.ids) expect(buyers.has(id)).toBe(true);
      const info = new Set((await lines(dayDir(seq, d), 'cust_info')).map((l) => l.split(',')[0]));
      for (const id of buyers) expect(info.has(String(id))).toBe(true);
    }
  });

  it('appends late lines dated before a line their customer already has', async () => {
    let total = 0;
    for (let d = 1; d <= DAYS; d++) {
      const m = manifests[d - 1]!;
      const sales = (await lines(dayDir(seq, d), 'sales_details')).map((l) => l.split(','));
      const late = sales.slice(-m.changes.lateLines.count);
      expect(late.map((f) => f[0])).toEqual(m.changes.lateLines.lines.map((l) => l.order));
      for (const l of m.changes.lateLines.lines) {
        total++;
        expect(l.orderDate < l.laterLineDate && l.laterLineDate < m.date).toBe(true);
        const own = sales.filter((f) => Number(f[2]) === l.customerId);
        expect(own.some((f) => f[0] === l.order && f[3] === l.orderDate.replace(/-/g, ''))).toBe(true);
        expect(own.some((f) => f[3] === l.laterLineDate.replace(/-/g, ''))).toBe(true);
      }
    }
    expect(total).toBeGreaterThan(0);
  });

  it('deletes a customer on day 3 (their sales lines stay) and adds a product version on day 7', async () => {
    expect(manifests.map((m) => m.changes.deletedCustomerIds.length)).toEqual([0, 0, 1, 0, 0, 0, 0, 0]);
    const [gone] = manifests[2]!.changes.deletedCustomerIds;
    for (const name of ['cust_info', 'cust_az12', 'loc_a101'] as const) {
      expect((await lines(dayDir(seq, 2), name)).some((l) => customerKey(name, l) === String(gone))).toBe(true);
      expect((await lines(dayDir(seq, 3), name)).some((l) => customerKey(name, l) === String(gone))).toBe(false);
    }
    expect((await lines(dayDir(seq, 3), 'sales_details')).some((l) => l.split(',')[2] === String(gone))).toBe(true);

    expect(manifests.map((m) => m.changes.newProductVersions.length)).toEqual([0, 0, 0, 0, 0, 0, 1, 0]);
    const [v] = manifests[6]!.changes.newProductVersions;
    expect(v!.startDate).toBe(manifests[6]!.date);
    const prd = (await lines(dayDir(seq, 7), 'prd_info')).map((l) => l.split(','));
    expect(prd.at(-1)).toEqual([String(v!.prdId), v!.prdKey, expect.any(String), String(v!.cost), expect.any(String), v!.startDate, '']);
    const ended = prd.find((f) => f[0] === String(v!.endedPrdId))!;
    expect([ended[1], ended[6]]).toEqual([v!.prdKey, v!.endDate]);
    expect(ended[5]! < v!.endDate).toBe(true);
  });

  it('prints one line per day, and only the final line with --quiet', async () => {
    const loud = await runCli(['generate', '--scale', '0.02', '--seed', '3', '--days', '3', '--out', path.join(root, 'cli')]);
    expect(loud.code).toBe(0);
    const out = loud.stdout.trim().split('\n');
    expect(out.filter((l) => /^day-0[1-3] \d{4}-\d{2}-\d{2}: \+\d+ customers/.test(l))).toHaveLength(3);
    expect(out.find((l) => l.startsWith('day-03'))).toMatch(/deleted customer \d+/);
    expect(out.at(-1)).toMatch(/^generated .* 3 daily snapshots after it/);
    const quiet = await runCli(['generate', '--scale', '0.02', '--seed', '3', '--days', '3', '--quiet', '--out', path.join(root, 'cli-quiet')]);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^generated .* 3 daily snapshots after it/)]);
  });

  it('writes days that load and build (day 3: a deleted customer, late lines; day 7: a new product version)', async () => {
    const loaded = await runCli(['load', '--seeds', dayDir(seq, 3), '--target', target]);
    expect(loaded.code, loaded.stderr).toBe(0);
    const built = await runCli(['build', '--seeds', dayDir(seq, 3), '--target', target, '--skip-export']);
    expect(built.code, built.stderr).toBe(0);
    const [late] = manifests[2]!.changes.lateLines.lines;
    const rows = await query<{ n: string }>(`select count(*) as n from "${target}_gold".fact_sales where order_number = $1`, [late!.order]);
    expect(Number(rows[0]!.n)).toBe(1);
    const [gone] = manifests[2]!.changes.deletedCustomerIds;
    expect(await query(`select 1 from "${target}_silver".customers where customer_id = $1`, [gone])).toEqual([]);

    const rebuilt = await runCli(['build', '--seeds', dayDir(seq, 7), '--target', target, '--skip-export']);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    const [v] = manifests[6]!.changes.newProductVersions;
    const versions = await query<{ product_id: string; is_current: boolean; end_date: string | null }>(
      `select product_id::text, is_current, to_char(end_date, 'YYYY-MM-DD') as end_date from "${target}_silver".products where product_id in ($1, $2) order by product_id`,
      [v!.endedPrdId, v!.prdId],
    );
    expect(versions).toEqual([
      { product_id: String(v!.endedPrdId), is_current: false, end_date: v!.endDate },
      { product_id: String(v!.prdId), is_current: true, end_date: null },
    ]);
  }, 300_000);
});
