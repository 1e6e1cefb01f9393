/**
 * A build keeps the models nothing changed for since the published run (src/transform/model-plan.ts)
 * and builds the others, their descendants and the tests that read them; what it then publishes
 * (silver, gold and the exports) equals a fresh full build of the same files, SQL and as_of. Each
 * case changes one thing on the same target: a gold model's SQL, a source file the customer branch
 * does not read, the as_of; the plan says which models were built and why (event `model_plan`,
 * the run summary's `model_plan`).
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, schemaNames, uniqueTarget } from '../support/database.ts';
import { expectSameTargets } from '../support/target-equality.ts';
import { workFolder } from '../runs/helpers.ts';

const target = uniqueTarget('modelplan');
const schemas = schemaNames(target);
const truths: string[] = [];
let work: string;
let seeds: string;
let asOf = '2014-01-29';

type LogEvent = Record<string, unknown> & { event?: string };
const exportsOf = (t: string) => path.join(work, 'exports', t);

async function build(into: string, extra: string[] = []): Promise<LogEvent[]> {
  const r = await runCli(['build', '--seeds', seeds, '--target', into, '--out', exportsOf(into), '--as-of', asOf, '--log-format', 'json', ...extra], { cwd: work });
  expect(r.code, r.stdout.slice(-3000) + r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogEvent);
}

/** Builds the same files, SQL and as_of from scratch into a new target and compares the two. */
async function expectSameAsFullBuild(label: string): Promise<void> {
  const truth = uniqueTarget('modelplan_full');
  truths.push(truth);
  await build(truth, ['--full-refresh']);
  await expectSameTargets({ target, exportsDir: exportsOf(target) }, { target: truth, exportsDir: exportsOf(truth) }, label);
  await dropTarget(truth);
}

async function lastPlan(): Promise<{ model: string; action: string; reason: string }[]> {
  const [run] = await query<{ plan: { model: string; action: string; reason: string }[] }>(
    `select summary -> 'model_plan' as plan from ${schemas.etl}.runs where published_at is not null order by run_id desc limit 1`,
  );
  return run!.plan;
}

/** The models the plan builds or updates (src/transform/incremental.ts): every one not kept. */
const built = (plan: { model: string; action: string }[]) => plan.filter((d) => d.action !== 'keep').map((d) => d.model);

beforeAll(async () => {
  ({ work, seeds } = await workFolder('modelplan'));
  await build(target);
}, 120_000);

afterAll(async () => {
  for (const t of [target, ...truths]) await dropTarget(t);
  await rm(work, { recursive: true, force: true });
});

describe('a build keeps what nothing changed for', () => {
  it('a changed gold model: it alone is built, the others are kept, and the result equals a full build', async () => {
    const file = path.join(work, 'sql', 'gold', 'sales_daily.sql');
    // a real change of the output: revenue rounded to whole units
    const sql = await readFile(file, 'utf8');
    expect(sql).toContain('coalesce(totals.revenue, 0) as revenue');
    await writeFile(file, sql.replace('coalesce(totals.revenue, 0) as revenue', 'round(coalesce(totals.revenue, 0)) as revenue'));
    const events = await build(target);
    const plan = events.find((e) => e.event === 'model_plan');
    expect(plan).toMatchObject({ built: ['gold.sales_daily'], reasons: { 'gold.sales_daily': expect.stringMatching(/^its SQL, \.yml or tests changed since run \d+$/) } });
    expect(events.filter((e) => e.event === 'model_built').map((e) => e.model)).toEqual(['gold.sales_daily']);
    expect(built(await lastPlan())).toEqual(['gold.sales_daily']);
    const [changed] = await query<{ n: number }>(`select count(*)::int as n from ${schemas.gold}.sales_daily where revenue <> round(revenue)`);
    expect(changed!.n).toBe(0);
    await expectSameAsFullBuild('after a changed gold model');
  });

  it('a changed category file: the product branch and its readers are built, the customer branch is kept; equals a full build', async () => {
    const file = path.join(seeds, 'px_cat_g1v2.csv');
    const lines = (await readFile(file, 'utf8')).split('\n');
    const at = lines.findIndex((l, i) => i > 0 && l.split(',').length === 4);
    const fields = lines[at]!.split(',');
    fields[2] = `${fields[2]} Renamed`;
    lines[at] = fields.join(',');
    await writeFile(file, lines.join('\n'));
    const events = await build(target);
    const plan = await lastPlan();
    const builtNow = built(plan);
    expect(builtNow).toContain('silver.int_product_categories');
    // fact_sales is incremental by customer_id, but the catalogue it reads changed and has no
    // customer_id: every customer's rows may change, so it is built whole, and says why
    expect(plan.find((d) => d.model === 'gold.fact_sales')).toMatchObject({ action: 'update' });
    expect(events.find((e) => e.event === 'model_built_whole' && e.model === 'gold.fact_sales')).toMatchObject({
      reason: 'silver.int_product_versions changed and has no column customer_id',
    });
    for (const kept of ['silver.int_customer_records', 'silver.int_erp_demographics', 'silver.int_erp_locations', 'silver.int_sales_lines']) {
      expect(plan.find((d) => d.model === kept), kept).toMatchObject({ action: 'keep', reason: expect.stringMatching(/^nothing it reads changed since run \d+$/) });
    }
    expect(plan.find((d) => d.model === 'silver.int_product_categories')!.reason).toMatch(/^bronze\.px_cat_g1v2 holds another load since run \d+$/);
    expect(events.filter((e) => e.event === 'model_built' || e.event === 'model_updated').map((e) => e.model).sort()).toEqual([...builtNow].sort());
    await expectSameAsFullBuild('after a changed category file');
  });

  it('a moved as_of builds the models that read it and what reads those; equals a full build', async () => {
    asOf = '2014-01-31';
    await build(target);
    const plan = await lastPlan();
    expect(plan.find((d) => d.model === 'silver.int_birthdate_bounds')!.reason).toBe("it reads the run's dates: as_of moved from 2014-01-29 to 2014-01-31");
    // the birthdates between the two bounds (a date window over the one-row bounds)
    expect(plan.find((d) => d.model === 'silver.int_erp_demographics')).toMatchObject({
      action: 'update',
      reason: 'it reads silver.int_birthdate_bounds, which is built: the customer_key partitions whose input rows changed',
    });
    expect(plan.find((d) => d.model === 'silver.int_customer_records')!.action).toBe('keep');
    await expectSameAsFullBuild('after a moved as_of');
  });

  it('with --full-refresh every model is built, each saying why', async () => {
    await build(target, ['--full-refresh']);
    const plan = await lastPlan();
    expect(plan.map((d) => `${d.action}: ${d.reason}`)).toEqual(plan.map(() => 'build: --full-refresh'));
    expect(plan.length).toBeGreaterThan(20);
  });
});
