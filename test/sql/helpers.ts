/**
 * Helpers for the tests of the silver and gold SQL models (test/sql): write a small set of inline
 * source files, run ONE real `medallion build` on them (in a temporary working directory, so the run
 * report does not land in the repository's reports/), and read the published models, the quarantine
 * and the run's rule counts of that target.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, expect } from 'vitest';
import type { SourceName } from '../../src/bronze/contracts.ts';
import { runCli, type CliResult } from '../support/cli.ts';
import { dropTarget, query } from '../support/database.ts';
import { headerOf, writeSources } from '../support/source-fixtures.ts';

/** The as_of every fixture build pins (the day after the last order date of the real data). */
export const AS_OF = '2014-01-29';
export const SQL_DIR = path.resolve(import.meta.dirname, '../../sql');

/** CRLF-joined file content: the contract header, then the data lines as given. */
export function csv(source: SourceName, lines: string[]): string {
  return [headerOf(source), ...lines].join('\r\n');
}

/** The failing tests / error lines of a build's output, to make a failed beforeAll readable. */
export function describeFailure(r: CliResult): string {
  const lines = `${r.stdout}\n${r.stderr}`.split('\n').filter(Boolean);
  const interesting = lines.filter((l) => /"level":"(error|warn)"|"failing":\[\{|medallion: /.test(l));
  return (interesting.length ? interesting : lines.slice(-20)).join('\n').slice(-6000);
}

/** Runs `medallion build` for a seeds folder into a target, from a throw-away working directory. */
export async function runBuild(seeds: string, target: string, asOf: string | null = AS_OF): Promise<CliResult> {
  const cwd = await mkdtemp(path.join(os.tmpdir(), 'medallion-sql-cwd-'));
  try {
    const argv = ['build', '--seeds', seeds, '--sql', SQL_DIR, '--target', target, '--skip-export'];
    if (asOf) argv.push('--as-of', asOf);
    return await runCli(argv, { cwd });
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}

export interface FixtureBuild {
  dir: string;
  result: CliResult;
  cleanup(): Promise<void>;
}

/** Writes the six inline files (header added) and builds them into `target` (as_of null: the default). */
export async function buildFixture(target: string, lines: Record<SourceName, string[]>, asOf: string | null = AS_OF): Promise<FixtureBuild> {
  const overrides = Object.fromEntries(Object.entries(lines).map(([s, l]) => [s, csv(s as SourceName, l)])) as Record<SourceName, string>;
  const fixture = await writeSources(overrides);
  const result = await runBuild(fixture.dir, target, asOf);
  return { dir: fixture.dir, result, cleanup: fixture.cleanup };
}

/**
 * The suite's one fixture build: before the file's tests, the six inline files built into `target`
 * (the build must succeed); after them, the target dropped and the files removed.
 */
export function buildFixtureForSuite(target: string, lines: Record<SourceName, string[]>, asOf: string | null = AS_OF): void {
  let build: FixtureBuild | undefined;
  beforeAll(async () => {
    build = await buildFixture(target, lines, asOf);
    expect(build.result.code, describeFailure(build.result)).toBe(0);
  }, 180_000);
  afterAll(async () => {
    await dropTarget(target);
    await build?.cleanup();
  });
}

/**
 * A query against one target: `bronze.x`, `silver.x`, `gold.x`, `etl.x` become `<target>_bronze.x`, …
 * (the tests' own SQL never aliases a table with one of those names). The rewrite is textual: pass a
 * model name such as 'silver.sales_clean' as a parameter, never as a literal.
 */
export function sqlFor(target: string) {
  const rewrite = (sql: string) => sql.replace(/\b(bronze|silver|gold|etl)\.(?=[a-z_])/g, `${target}_$1.`);
  const rows = <T extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params: unknown[] = []) => query<T>(rewrite(sql), params);
  const one = async <T extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params: unknown[] = []) => {
    const r = await rows<T>(sql, params);
    if (r.length !== 1) throw new Error(`expected one row, got ${r.length}: ${rewrite(sql)} ${JSON.stringify(params)}`);
    return r[0] as T;
  };
  const LAST_RUN = '(select max(run_id) from etl.runs)';
  const api = {
    rows,
    one,
    /** The rule's row count in the last run, summed over models; null when no model declares it. */
    async ruleCount(rule: string): Promise<number | null> {
      const [r] = await rows<{ n: number | null }>(`select sum(rows)::int as n from etl.rule_counts where run_id = ${LAST_RUN} and rule = $1`, [rule]);
      return r?.n ?? null;
    },
    /** Every rule of the last run with its count (summed over models). */
    async ruleCounts(): Promise<Record<string, number>> {
      const r = await rows<{ rule: string; n: number }>(`select rule, sum(rows)::int as n from etl.rule_counts where run_id = ${LAST_RUN} group by rule order by rule`);
      return Object.fromEntries(r.map((x) => [x.rule, x.n]));
    },
    /** The last run's quarantine rows of a rule, by file and line. */
    quarantined(rule: string) {
      return rows<{ model: string; rule: string; message: string; source_file: string; line_number: number; values: Record<string, string | null> }>(
        `select model, rule, message, source_file, line_number::int as line_number, values
           from etl.quarantine where run_id = ${LAST_RUN} and rule = $1 order by source_file, line_number`,
        [rule],
      );
    },
    /** The as_of the last run recorded. */
    async asOf(): Promise<string> {
      return (await one<{ as_of: string }>(`select as_of::date::text as as_of from etl.runs where run_id = ${LAST_RUN}`)).as_of;
    },
    /**
     * Per source: bronze rows, and what accounts for them — published (or kept) rows, rows superseded
     * by a counted rule, rows quarantined, rows of later days than as_of (after_as_of); for sales,
     * fact_sales + quarantined + collapsed duplicates + lines ordered on or after as_of.
     */
    async reconciliation() {
      const count = async (sql: string, params: unknown[] = []) => (await one<{ n: number }>(`select (${sql})::int as n`, params)).n;
      const superseded = async (rule: string) => (await api.ruleCount(rule)) ?? Number.NaN;
      const quarantinedCount = (rules: string[]) => count(`select count(*) from etl.quarantine where run_id = ${LAST_RUN} and rule = any($1)`, [rules]);
      const entry = async (source: string, parts: Record<string, number>) => ({
        source,
        bronze: await count(`select count(*) from bronze.${source}`),
        accounted: Object.values(parts).reduce((a, b) => a + b, 0),
        parts,
      });
      return [
        await entry('cust_info', {
          silver_customers: await count('select count(*) from silver.customers'),
          superseded: await superseded('customer_duplicate_superseded'),
          after_as_of: await superseded('customer_after_as_of'),
          quarantined: await quarantinedCount(['customer_id_invalid']),
        }),
        await entry('cust_az12', {
          kept: await count(`select count(*) from silver.int_erp_demographics where record_status = 'kept'`),
          superseded: await superseded('erp_demographics_duplicate_superseded'),
          quarantined: await quarantinedCount(['erp_demographics_key_missing']),
        }),
        await entry('loc_a101', {
          kept: await count(`select count(*) from silver.int_erp_locations where record_status = 'kept'`),
          superseded: await superseded('erp_location_duplicate_superseded'),
          quarantined: await quarantinedCount(['erp_location_key_missing']),
        }),
        await entry('prd_info', {
          silver_products: await count('select count(*) from silver.products'),
          superseded: (await superseded('product_duplicate_superseded')) + (await superseded('product_version_same_start')),
          after_as_of: await superseded('product_after_as_of'),
          quarantined: await quarantinedCount(['product_id_invalid', 'product_key_invalid']),
        }),
        await entry('px_cat_g1v2', {
          kept: await count(`select count(*) from silver.int_product_categories where record_status = 'kept'`),
          superseded: await superseded('product_category_duplicate_superseded'),
          quarantined: await quarantinedCount(['product_category_id_missing']),
        }),
        await entry('sales_details', {
          fact_sales: await count('select count(*) from gold.fact_sales'),
          quarantined: await count(`select count(*) from etl.quarantine where run_id = ${LAST_RUN} and model = $1`, ['silver.sales_clean']),
          collapsed: await superseded('sales_exact_duplicate_collapsed'),
          after_as_of: await superseded('sales_after_as_of'),
        }),
      ];
    },
  };
  return api;
}

/** Asserts-friendly view of a reconciliation: every source's bronze count next to what accounts for it. */
export function balance(entries: { source: string; bronze: number; accounted: number }[]) {
  return Object.fromEntries(entries.map((e) => [e.source, { bronze: e.bronze, accounted: e.accounted }]));
}

/**
 * The rules that counted rows although the fixture plans none for them (the rules a fixture plans
 * are checked one by one, each with its own test).
 */
export function unplanned(counts: Record<string, number>, planned: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter(([rule, n]) => n !== 0 && !(rule in planned)));
}
