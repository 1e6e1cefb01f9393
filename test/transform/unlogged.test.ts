/**
 * Unlogged intermediate tables (`config.unlogged: true`, src/transform/unlogged.ts): the declared
 * models are published unlogged and the others logged; a publication records which of them held
 * rows; a run that finds one of them emptied builds it whole with everything that reads it, the
 * no-op run included, and then publishes what a full build publishes.
 *
 * The crash is modelled by `truncate` of the published table: crash recovery resets every unlogged
 * table to its empty init fork, which leaves the table in the same state (unlogged, no rows, the
 * catalog and the ledger as committed). A real crash empties all of them at once; truncating one
 * is the harder case, since the plan must find it among intact ones.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishedUnlogged } from '../../src/runs/index.ts';
import { loadProject } from '../../src/transform/index.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, schemaNames, testClient, uniqueTarget } from '../support/database.ts';
import { expectSameTargets } from '../support/target-equality.ts';
import { workFolder } from '../runs/helpers.ts';

const target = uniqueTarget('unlogged');
const schemas = schemaNames(target);
const truths: string[] = [];
let work: string;
let seeds: string;

type LogEvent = Record<string, unknown> & { event?: string };
type Decision = { model: string; action: string; reason: string };
const exportsOf = (t: string) => path.join(work, 'exports', t);

async function build(into: string, extra: string[] = []): Promise<LogEvent[]> {
  const r = await runCli(['build', '--seeds', seeds, '--target', into, '--out', exportsOf(into), '--as-of', '2014-01-29', '--log-format', 'json', ...extra], { cwd: work });
  expect(r.code, r.stdout.slice(-3000) + r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogEvent);
}

async function expectSameAsFullBuild(label: string): Promise<void> {
  const truth = uniqueTarget('unlogged_full');
  truths.push(truth);
  await build(truth, ['--full-refresh']);
  await expectSameTargets({ target, exportsDir: exportsOf(target) }, { target: truth, exportsDir: exportsOf(truth) }, label);
  await dropTarget(truth);
}

async function lastPlan(): Promise<Decision[]> {
  const [run] = await query<{ plan: Decision[] }>(`select summary -> 'model_plan' as plan from ${schemas.etl}.runs where published_at is not null order by run_id desc limit 1`);
  return run!.plan;
}

/** Every published silver and gold table, `layer.name` → relpersistence. */
async function persistence(): Promise<Map<string, string>> {
  const rows = await query<{ name: string; p: string }>(
    `select case n.nspname when $1 then 'silver' else 'gold' end || '.' || c.relname as name, c.relpersistence as p
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname in ($1, $2) and c.relkind = 'r'`,
    [schemas.silver, schemas.gold],
  );
  return new Map(rows.map((r) => [r.name, r.p]));
}

async function rowsOf(model: string): Promise<number> {
  const [layer, name] = model.split('.') as ['silver' | 'gold', string];
  const [r] = await query<{ n: number }>(`select count(*)::int as n from ${schemas[layer]}.${name}`);
  return r!.n;
}

/** What crash recovery leaves of an unlogged table: no rows, its catalog entry as committed. */
async function emptyAsACrashDoes(model: string): Promise<void> {
  const [layer, name] = model.split('.') as ['silver' | 'gold', string];
  await query(`truncate ${schemas[layer]}.${name}`);
}

beforeAll(async () => {
  ({ work, seeds } = await workFolder('unlogged'));
  await build(target);
}, 120_000);

afterAll(async () => {
  for (const t of [target, ...truths]) await dropTarget(t);
  await rm(work, { recursive: true, force: true });
});

describe('unlogged intermediate tables', () => {
  it('are published unlogged, the user-facing ones logged, and the publication records that they hold rows', async () => {
    const project = await loadProject({ sqlDir: path.join(work, 'sql') });
    const declared = project.models.filter((m) => m.unlogged).map((m) => m.name);
    expect(declared).toContain('silver.int_customer_days');
    expect(declared).not.toContain('silver.int_sales_lines');
    const published = await persistence();
    for (const model of declared) expect(published.get(model), model).toBe('u');
    // silver.sales_clean, a view users read, is stored in int_sales_lines; gold is what users and the export read
    for (const model of ['silver.int_sales_lines', 'silver.customers', 'silver.products', 'gold.fact_sales', 'gold.customer_features', 'gold.customer_training_set', 'gold.sales_daily']) {
      expect(published.get(model), model).toBe('p');
    }
    const client = await testClient();
    try {
      const recorded = await publishedUnlogged(client, schemas);
      expect([...recorded.keys()].sort()).toEqual([...declared].sort());
      for (const model of declared) expect(recorded.get(model), model).toBe((await rowsOf(model)) > 0);
    } finally {
      await client.end();
    }
  });

  it('emptied, the no-op run rebuilds it and its readers instead of doing nothing; equals a full build', async () => {
    // nothing changed: the run defers to the published one
    expect((await build(target)).some((e) => e.event === 'nothing_changed')).toBe(true);
    const emptied = 'silver.int_customer_days';
    expect(await rowsOf(emptied)).toBeGreaterThan(0);
    await emptyAsACrashDoes(emptied);
    const events = await build(target);
    expect(events.some((e) => e.event === 'nothing_changed')).toBe(false);
    expect(events.find((e) => e.event === 'unlogged_emptied')).toMatchObject({ model: emptied, message: `rebuilt: ${emptied} was emptied by a server crash (unlogged)` });
    const plan = await lastPlan();
    expect(plan.find((d) => d.model === emptied)).toEqual({ model: emptied, action: 'build', reason: `${emptied} was emptied by a server crash (unlogged)` });
    for (const reader of ['silver.int_customer_cutoffs', 'silver.int_customer_cutoff_values', 'silver.int_training_thresholds', 'gold.customer_training_set']) {
      expect(plan.find((d) => d.model === reader), reader).toMatchObject({ action: 'build', reason: expect.stringMatching(/which is built whole: silver\.int_customer_days was emptied by a server crash \(unlogged\)$/) });
    }
    for (const kept of ['silver.int_sales_lines', 'silver.int_customer_orders', 'gold.fact_sales']) expect(plan.find((d) => d.model === kept)!.action, kept).toBe('keep');
    expect(await rowsOf(emptied)).toBeGreaterThan(0);
    expect((await persistence()).get(emptied)).toBe('u');
    await expectSameAsFullBuild('after an emptied table on a no-op run');
    // and the next run finds nothing to do again
    expect((await build(target)).some((e) => e.event === 'nothing_changed')).toBe(true);
  });

  it('emptied on a day with changes, it is built whole with its readers, never updated; equals a full build', async () => {
    const file = path.join(seeds, 'cust_info.csv');
    const lines = (await readFile(file, 'utf8')).split('\n');
    const at = lines.findIndex((l, i) => i > 0 && l.split(',').length === 7 && l.split(',')[3] !== '');
    const fields = lines[at]!.split(',');
    fields[3] = `${fields[3]}x`;
    lines[at] = fields.join(',');
    await writeFile(file, lines.join('\n'));
    const emptied = 'silver.int_customer_cutoffs';
    await emptyAsACrashDoes(emptied);
    await build(target);
    const plan = await lastPlan();
    // the customer branch is updated as on any day with a changed record
    expect(plan.find((d) => d.model === 'silver.int_customer_records')!.action).toBe('update');
    expect(plan.find((d) => d.model === 'silver.int_customer_days')!.action).toBe('update');
    expect(plan.find((d) => d.model === emptied)).toMatchObject({ action: 'build', reason: `${emptied} was emptied by a server crash (unlogged)` });
    for (const reader of ['silver.int_training_thresholds', 'gold.customer_training_set']) expect(plan.find((d) => d.model === reader)!.action, reader).toBe('build');
    const published = await persistence();
    for (const model of ['silver.int_customer_records', 'silver.int_customer_days', emptied]) expect(published.get(model), model).toBe('u');
    await expectSameAsFullBuild('after an emptied table on a day with changes');
  });

  it('emptied under a --select run, it is built with its readers beside the selection; equals a full build', async () => {
    const emptied = 'silver.int_customer_days';
    await emptyAsACrashDoes(emptied);
    const events = await build(target, ['--select', 'gold.sales_daily']);
    expect(events.find((e) => e.event === 'unlogged_emptied')).toMatchObject({ model: emptied });
    const builtNow = events.filter((e) => e.event === 'model_built').map((e) => e.model);
    for (const model of ['gold.sales_daily', emptied, 'silver.int_customer_cutoffs', 'gold.customer_training_set']) expect(builtNow, model).toContain(model);
    expect(builtNow).not.toContain('gold.fact_sales');
    expect(await rowsOf(emptied)).toBeGreaterThan(0);
    await expectSameAsFullBuild('after an emptied table under --select');
  });

  it('a model that stops or starts declaring it takes its published table with it, in place too', async () => {
    const model = 'silver.int_customer_orders';
    const file = path.join(work, 'sql', 'silver', 'int_customer_orders.yml');
    const yml = await readFile(file, 'utf8');
    expect(yml).toMatch(/\n +unlogged: true\n/);
    await writeFile(file, yml.replace(/\n +unlogged: true\n/, '\n'));
    await build(target, ['--publish', 'in-place']);
    expect((await persistence()).get(model)).toBe('p');
    const client = await testClient();
    try {
      expect((await publishedUnlogged(client, schemas)).has(model)).toBe(false);
      await writeFile(file, yml);
      await build(target, ['--publish', 'in-place']);
      expect((await persistence()).get(model)).toBe('u');
      expect((await publishedUnlogged(client, schemas)).get(model)).toBe(true);
    } finally {
      await client.end();
    }
    expect(await rowsOf(model)).toBeGreaterThan(0);
    await expectSameAsFullBuild('after in-place publishes of a model turned logged and back');
  });
});
