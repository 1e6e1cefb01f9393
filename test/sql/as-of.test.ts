/**
 * `--as-of D` behaves exactly like running on day D: the oracle (test/sql/as-of-oracle.ts) on
 * generated files. The generated files are cut to what existed on day D and built with `--as-of D`
 * (today = D); the full files are built with `--as-of D`; the gold tables must be identical, row
 * for row. The generator writes no structural defects here (structuralRate 0), so every record is
 * one line. test/sql/as-of-external.test.ts runs the same oracle on any folder of files.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/generate/index.ts';
import { dropTarget } from '../support/database.ts';
import { buildAsOf, cutTo, goldChecksums } from './as-of-oracle.ts';
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

  it('product_after_as_of: at 2013-01-01 the versions starting later are counted', async () => {
    expect(await sqlFor(builds.get('2013-01-01')!.full).ruleCount('product_after_as_of')).toBe(75);
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
