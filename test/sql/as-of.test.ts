/**
 * `--as-of D` behaves exactly like running on day D: the oracle (test/sql/as-of-oracle.ts) on
 * generated files. The generated files are cut to what existed on day D and built with `--as-of D`
 * (today = D); the full files are built with `--as-of D`; the gold tables must be identical, row
 * for row. The generator writes no structural defects here (structuralRate 0), so every record is
 * one line. test/sql/as-of-external.test.ts runs the same oracle on any folder of files.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/generate/index.ts';
import { dropTarget } from '../support/database.ts';
import { buildAsOf, cutTo, goldChecksums, productKey } from './as-of-oracle.ts';
import { sqlFor } from './helpers.ts';

/** 2013-01-01 lies inside product version changes (a version started 2012-07-01, the next starts
 * 2013-07-01), 2013-07-01 is the first day of new versions, 2013-10-01 the date. */
const DATES = ['2012-03-15', '2013-01-01', '2013-07-01', '2013-10-01'] as const;

let dir: string;
const targets: string[] = [];

const builds = new Map<string, { cut: string; full: string }>();

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'medallion-asof-'));
  await generate({ scale: 0.05, seed: 42, outDir: dir, structuralRate: 0 });
  for (const asOf of DATES) {
    const cutDir = await cutTo(dir, asOf);
    try {
      builds.set(asOf, { cut: await buildAsOf(cutDir, asOf, targets), full: await buildAsOf(dir, asOf, targets) });
    } finally {
      await rm(cutDir, { recursive: true, force: true });
    }
  }
}, 300_000);

afterAll(async () => {
  for (const target of targets) await dropTarget(target);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('--as-of D equals a run on day D with the files as they were then', () => {
  it.each(DATES)('gold at %s: the full files with --as-of equal the cut files', async (asOf) => {
    const { cut, full } = builds.get(asOf)!;
    expect(await goldChecksums(full)).toEqual(await goldChecksums(cut));
  });

  it('2013-01-01 lies inside a product version change, and the later version is left out', async () => {
    const db = sqlFor(builds.get('2013-01-01')!.full);
    const changes = await db.one<{ n: number }>(
      `select count(*)::int as n
         from silver.int_product_records as later
         join silver.products as earlier on earlier.product_key = later.product_key
        where later.record_status = 'after_as_of' and earlier.is_current`,
    );
    expect(changes.n).toBeGreaterThan(0);
  });

  it('product_after_as_of: at 2013-01-01 the later versions starting after it are counted, first versions are kept', async () => {
    // 75 versions start after 2013-01-01; 43 of them are their product's first version, valid from the beginning
    expect(await sqlFor(builds.get('2013-01-01')!.full).ruleCount('product_after_as_of')).toBe(32);
  });

  it('at 2012-03-15 the lines of the following two years are after as_of, not implausible', async () => {
    // the plausible range ends a year after the data's own as_of (2014-01-29), not a year after
    // the pinned as_of: a line of 2013-06 did not exist yet on 2012-03-15; it is not a typo
    const db = sqlFor(builds.get('2012-03-15')!.full);
    expect(await db.ruleCount('order_date_implausible')).toBe(0);
    const later = await db.one<{ n: number }>(`select count(*)::int as n from silver.int_sales_lines where order_date >= date '2013-03-15'`);
    expect(later.n).toBeGreaterThan(0);
    expect(await db.ruleCount('sales_after_as_of')).toBeGreaterThan(later.n);
  });

  it('at 2013-10-01 the lines and customers of later days are counted, not quarantined', async () => {
    const db = sqlFor(builds.get('2013-10-01')!.full);
    expect(await db.ruleCount('sales_after_as_of')).toBe(933);
    expect(await db.ruleCount('customer_after_as_of')).toBe(256);
    expect(await db.ruleCount('order_date_implausible')).toBe(0);
    expect((await db.one<{ n: number }>(`select count(*)::int as n from gold.fact_sales where order_date >= '2013-10-01'`)).n).toBe(0);
    expect((await db.one<{ n: number }>(`select count(*)::int as n from etl.quarantine where rule like '%after_as_of%'`)).n).toBe(0);
    // every bronze line explained: gold + quarantined + collapsed + after as_of
    for (const entry of await db.reconciliation())
      expect({ source: entry.source, accounted: entry.accounted }).toEqual({ source: entry.source, accounted: entry.bronze });
  });
});

/** A product sold before its first version's prd_start_dt (30% of the real data's lines are): the
 * generated files with one single-version product's start moved after D, past lines of it before D. */
describe('a product sold before its first version starts', () => {
  const AS_OF = '2013-01-01';
  const MOVED_START = '2013-06-01';
  let moved: string;
  let key: string;
  let build: { cut: string; full: string };

  beforeAll(async () => {
    moved = await mkdtemp(path.join(os.tmpdir(), 'medallion-asof-first-version-'));
    await cp(dir, moved, { recursive: true });
    const products = (await readFile(path.join(moved, 'prd_info.csv'), 'utf8')).split('\n');
    const versions = new Map<string, number>();
    for (const line of products.slice(1)) {
      if (!line) continue;
      const product = productKey(line.split(',')[1]);
      versions.set(product, (versions.get(product) ?? 0) + 1);
    }
    const soldBefore = new Map<string, number>();
    for (const line of (await readFile(path.join(moved, 'sales_details.csv'), 'utf8')).split('\n').slice(1)) {
      const f = line.split(',');
      if (f[3] && f[3] < AS_OF.replaceAll('-', '') && versions.get(f[1]!) === 1) soldBefore.set(f[1]!, (soldBefore.get(f[1]!) ?? 0) + 1);
    }
    key = [...soldBefore.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]![0];
    const edited = products.map((line, i) => {
      const f = line.split(',');
      if (i === 0 || productKey(f[1]) !== key) return line;
      f[5] = MOVED_START;
      return f.join(',');
    });
    await writeFile(path.join(moved, 'prd_info.csv'), edited.join('\n'));
    const cutDir = await cutTo(moved, AS_OF);
    try {
      build = { cut: await buildAsOf(cutDir, AS_OF, targets), full: await buildAsOf(moved, AS_OF, targets) };
    } finally {
      await rm(cutDir, { recursive: true, force: true });
    }
  }, 300_000);

  afterAll(async () => {
    if (moved) await rm(moved, { recursive: true, force: true });
  });

  it('keeps the first version at an earlier as_of: the lines before it find their product', async () => {
    const db = sqlFor(build.full);
    const product = await db.one<{ n: number; after: number }>(
      `select (select count(*)::int from silver.products where product_key = $1) as n,
              (select count(*)::int from silver.int_product_records where product_key = $1 and record_status = 'after_as_of') as after`,
      [key],
    );
    expect(product).toEqual({ n: 1, after: 0 });
    const lines = await db.one<{ total: number; unknown: number }>(
      `select count(*)::int as total, (count(*) filter (where product_version_match = 'unknown_product'))::int as unknown
         from gold.fact_sales where product_key = $1`,
      [key],
    );
    expect(lines.total).toBeGreaterThan(0);
    expect(lines.unknown).toBe(0);
  });

  it('gold equals a run on day D with the files as they were then', async () => {
    expect(await goldChecksums(build.full)).toEqual(await goldChecksums(build.cut));
  });
});

