/**
 * The equality oracle over a sequence of days, for the daily cron path: one target (A) built on
 * day-00 and then on each day's snapshot in turn, with the default as_of, must hold what a fresh
 * full build (B) of the same day's files holds: every silver and gold relation (tables and views,
 * listed from the catalog of the published schemas, so a new model is covered without a change
 * here) has the same rows, and every exported Parquet file has the same rows. Each of A's runs
 * reports per source the keys added, changed and removed, which the day's _manifest.json says
 * (the generator's truth); building the last day again does nothing. Everything goes through the
 * CLI, so the proof holds whatever the engine does between two days.
 */
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ident } from '../../src/db/client.ts';
import type { DayManifest } from '../../src/generate/index.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, schemaNames, uniqueTarget } from '../support/database.ts';
import { expectSameTargets } from '../support/target-equality.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DAYS = 10;
/** The days a fresh full build is compared with the cron target: 3 deletes a customer, 7 adds a product version, 10 is the end. */
const COMPARED = new Set([1, 3, 5, 7, 10]);
const SOURCES = ['cust_az12', 'cust_info', 'loc_a101', 'prd_info', 'px_cat_g1v2', 'sales_details'] as const;

const cron = uniqueTarget('dayseq_a');
const cronSchemas = schemaNames(cron);
const truths: string[] = [];
/** Per day, the incremental models the cron run updated by partition (the run summary's models). */
const updatedOn = new Map<number, string[]>();
/** Per day, the models the plan said to update that were built whole, with the reason. */
const wholeOn = new Map<number, Record<string, string>>();
/** Per day (0 included), the as_of of the cron's published run. */
const asOfOn = new Map<number, string>();
/** The days whose files delete a customer. */
const deletedOn = new Set<number>();
let work: string;
let daysDir: string;

/**
 * The schedule of silver.int_training_cutoffs at `asOf`: the first days of the 12 months before it
 * (the month of the day before it first) whose 90-day label window ends by it.
 */
function cutoffsAt(asOf: string): string[] {
  const day = new Date(`${asOf}T00:00:00Z`);
  const before = new Date(day.getTime() - 86_400_000);
  const cutoffs: string[] = [];
  for (let months = 0; months < 12; months++) {
    const cutoff = new Date(Date.UTC(before.getUTCFullYear(), before.getUTCMonth() - months, 1));
    if (cutoff.getTime() + 90 * 86_400_000 <= day.getTime()) cutoffs.push(cutoff.toISOString().slice(0, 10));
  }
  return cutoffs;
}

const dayDir = (day: number) => path.join(daysDir, `day-${String(day).padStart(2, '0')}`);
const exportsOf = (target: string) => path.join(work, 'exports', target);

async function dayManifest(day: number): Promise<DayManifest> {
  return JSON.parse(await readFile(path.join(dayDir(day), '_manifest.json'), 'utf8')) as DayManifest;
}

/** `medallion build` of one day's files into `target`; the run's id from its log. */
async function build(target: string, day: number, extra: string[] = []): Promise<number> {
  const r = await runCli(['build', '--seeds', dayDir(day), '--target', target, '--sql', path.join(ROOT, 'sql'), '--out', exportsOf(target), ...extra], { cwd: work });
  expect(r.code, `build of day ${day} into ${target}: ${r.stderr}`).toBe(0);
  const started = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event?: string; run_id?: number }).find((e) => e.event === 'run_started');
  return Number(started!.run_id);
}

async function publishedRun(target: string): Promise<{ run_id: number; as_of: string } | undefined> {
  const [r] = await query<{ run_id: number; as_of: string }>(
    `select run_id::int, as_of::text from ${ident(schemaNames(target).etl)}.runs where published_at is not null order by published_at desc, run_id desc limit 1`,
  );
  return r;
}

interface ChangeRow {
  source: string;
  status: string;
  added: number | null;
  changed: number | null;
  removed: number | null;
}

async function sourceChanges(runId: number): Promise<ChangeRow[]> {
  return query<ChangeRow>(`select source, status, added::int, changed::int, removed::int from ${ident(cronSchemas.etl)}.source_changes where run_id = $1 order by source`, [runId]);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'medallion-dayseq-'));
  daysDir = path.join(work, 'days');
  const g = await runCli(['generate', '--scale', '0.05', '--seed', '42', '--days', String(DAYS), '--manifest', '--out', daysDir, '--quiet'], { cwd: work });
  expect(g.code, g.stderr).toBe(0);
  await build(cron, 0);
  asOfOn.set(0, (await publishedRun(cron))!.as_of);
});

afterAll(async () => {
  for (const target of [cron, ...truths]) await dropTarget(target);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the cron target over a sequence of days', () => {
  for (let day = 1; day <= DAYS; day++) {
    it(`day ${day}: reports the day's changes${COMPARED.has(day) ? ', and holds and exports what a fresh full build does' : ''}`, async () => {
      const manifest = await dayManifest(day);
      const runId = await build(cron, day);
      const published = await publishedRun(cron);
      expect(published?.run_id).toBe(runId);
      asOfOn.set(day, published!.as_of);
      await access(path.join(work, 'reports', cron, `run-${runId}.json`));

      // Per source, the keys the diff counted are the lines the generator appended, changed and removed.
      const changes = await sourceChanges(runId);
      expect(changes.map((c) => c.source)).toEqual([...SOURCES]);
      for (const c of changes) {
        const file = manifest.files[c.source as keyof DayManifest['files']];
        const same = file.appended === 0 && file.changed === 0 && file.removed === 0;
        expect(c, `day ${day}: ${c.source}`).toEqual({ source: c.source, status: same ? 'unchanged' : 'changed', added: file.appended, changed: file.changed, removed: file.removed });
      }
      const by = Object.fromEntries(changes.map((c) => [c.source, c]));
      const truth = manifest.changes;
      if (truth.deletedCustomerIds.length) deletedOn.add(day);
      expect(by.sales_details!.added).toBe(truth.newLines + truth.lateLines.count);
      expect(by.cust_info!.added).toBe(truth.newCustomers.count);
      expect(by.cust_info!.removed).toBe(truth.deletedCustomerIds.length);
      expect(by.cust_info!.changed).toBe(new Set(truth.updatedCustomers.updates.filter((u) => u.file === 'cust_info').map((u) => u.id)).size);
      expect(by.cust_az12!.changed).toBe(new Set(truth.updatedCustomers.updates.filter((u) => u.file === 'cust_az12').map((u) => u.id)).size);
      expect(by.prd_info!.added).toBe(truth.newProductVersions.length);
      // The schedule's events happen on their days, so the checks above are not vacuous there.
      if (day % 7 === 3) expect(by.cust_info!.removed).toBe(1);
      if (day % 7 === 0) expect(by.prd_info).toMatchObject({ status: 'changed', added: 1, changed: 1 });
      // The run summary says what the ledger says.
      const [summary] = await query<{ changes: ChangeRow[] }>(`select summary -> 'changes' as changes from ${ident(cronSchemas.etl)}.runs where run_id = $1`, [runId]);
      expect(
        summary!.changes.map(({ source, status, added, changed, removed }) => ({ source, status, added, changed, removed })).sort((a, b) => a.source.localeCompare(b.source)),
      ).toEqual(changes);
      // The sales lines only grow at their end: each day loads the new tail, the lines before it kept.
      const [sales] = await query<{ reused: number | null }>(`select reused_lines::int as reused from ${ident(cronSchemas.etl)}.source_files where run_id = $1 and source = 'sales_details'`, [runId]);
      expect(sales?.reused, `day ${day}: sales_details appended`).toBeGreaterThan(0);

      const [models] = await query<{ updated: string[]; whole: Record<string, string> | null }>(
        `select coalesce(array_agg(m ->> 'model') filter (where m ? 'update'), '{}') as updated,
                jsonb_object_agg(m ->> 'model', m ->> 'built_whole_because') filter (where m ? 'built_whole_because') as whole
           from ${ident(cronSchemas.etl)}.runs, jsonb_array_elements(summary -> 'models') as m where run_id = $1`,
        [runId],
      );
      updatedOn.set(day, models!.updated);
      wholeOn.set(day, models!.whole ?? {});

      if (!COMPARED.has(day)) return;
      const fresh = uniqueTarget(`dayseq_b${day}`);
      truths.push(fresh);
      await build(fresh, day, ['--full-refresh']);
      expect.soft((await publishedRun(cron))?.as_of, `day ${day}: as_of`).toBe((await publishedRun(fresh))?.as_of);

      await expectSameTargets({ target: cron, exportsDir: exportsOf(cron) }, { target: fresh, exportsDir: exportsOf(fresh) }, `day ${day}`);
      await dropTarget(fresh);
    });
  }

  it('the days whose changes leave the products alone update fact_sales and the sales chain by partition, not whole', () => {
    // every day changes some sales lines or customers; a day with a new product version (day % 7
    // == 0) changes the catalogue, which every customer's rows read, so fact_sales is built whole
    const expected = [...updatedOn.keys()].filter((day) => day % 7 !== 0);
    expect(expected.length).toBeGreaterThan(5);
    // and the customer models between them and int_sales_lines, each from its input's delta
    const chain = ['silver.sales_clean', 'silver.int_sales_line_products', 'silver.int_customer_orders', 'gold.fact_sales'];
    for (const day of expected) expect(updatedOn.get(day), `day ${day}`).toEqual(expect.arrayContaining(chain));
    for (const day of [...updatedOn.keys()].filter((d) => d % 7 === 0)) expect(updatedOn.get(day), `day ${day}`).not.toContain('gold.fact_sales');
  });

  it('every day updates sales_daily and its daily totals by date, a few dates of the series, never whole', async () => {
    // a day's new and late lines, the lines as_of admits and a deleted customer's lines change the
    // totals of their dates (found from the lines' delta, or from the whole difference of the lines
    // when a new product version rebuilds them); the calendar gains the new days; gold.sales_daily
    // computes again the dates whose rows changed in either
    const runs = await query<{ updates: Record<string, { partitions: number }> | null }>(
      `select (select jsonb_object_agg(m ->> 'model', m -> 'update') from jsonb_array_elements(summary -> 'models') as m
                where m ->> 'model' in ('silver.int_sales_daily_totals', 'gold.sales_daily') and m ? 'update') as updates
         from ${ident(cronSchemas.etl)}.runs where published_at is not null order by run_id offset 1`,
    );
    const [{ dates }] = (await query<{ dates: number }>(`select count(distinct date)::int as dates from ${ident(cronSchemas.gold)}.sales_daily`)) as [{ dates: number }];
    expect(runs).toHaveLength(DAYS);
    runs.forEach(({ updates }, i) => {
      const day = i + 1;
      expect(updatedOn.get(day), `day ${day}: ${JSON.stringify(wholeOn.get(day))}`).toEqual(expect.arrayContaining(['silver.int_sales_daily_totals', 'gold.sales_daily']));
      for (const model of ['silver.int_sales_daily_totals', 'gold.sales_daily']) {
        expect(updates?.[model]?.partitions, `day ${day}: ${model}`).toBeGreaterThan(0);
        expect(updates![model]!.partitions, `day ${day}: ${model}`).toBeLessThan(dates / 4);
      }
    });
  });

  it('the days without a schedule move update the training set and its per-customer rows by partition, not whole', () => {
    // a cutoff entering or leaving the schedule changes silver.int_training_cutoffs, which every
    // customer's rows read; on the other days only the changed customers are computed again (a new
    // product version reaches the customers of its lines: related_inputs)
    const steady = [...updatedOn.keys()].filter((day) => cutoffsAt(asOfOn.get(day)!).join() === cutoffsAt(asOfOn.get(day - 1)!).join());
    expect(steady.length).toBeGreaterThan(5);
    expect(steady.some((day) => day % 7 === 0)).toBe(true);
    for (const day of steady) expect(updatedOn.get(day), `day ${day}: ${JSON.stringify(wholeOn.get(day))}`).toContain('silver.int_customer_cutoffs');
    // the training set reads the quintile boundaries of each cutoff too, which a customer's age and
    // labels (the daily changes) never move; a deleted customer leaves every cutoff, which may
    const kept = steady.filter((day) => !deletedOn.has(day));
    expect(kept.length).toBeGreaterThan(3);
    for (const day of kept) {
      expect(updatedOn.get(day), `day ${day}: ${JSON.stringify(wholeOn.get(day))}`).toEqual(expect.arrayContaining(['silver.int_training_thresholds', 'gold.customer_training_set']));
    }
  });

  it('a day whose schedule moves builds the per-customer rows whole, and their readers whole after them, not by a difference over every row', () => {
    const moved = [...updatedOn.keys()].filter((day) => cutoffsAt(asOfOn.get(day)!).join() !== cutoffsAt(asOfOn.get(day - 1)!).join());
    expect(moved.length).toBeGreaterThan(0);
    for (const day of moved) {
      expect(wholeOn.get(day)?.['silver.int_customer_cutoffs'], `day ${day}`).toBe('silver.int_training_cutoffs changed and has no column customer_id');
      expect(wholeOn.get(day)?.['silver.int_customer_cutoff_values'], `day ${day}`).toBe('silver.int_customer_cutoffs was built whole in this run');
      expect(wholeOn.get(day)?.['silver.int_training_thresholds'], `day ${day}`).toBe('silver.int_customer_cutoff_values was built whole in this run');
      // it reads the schedule too, which it finds first
      expect(wholeOn.get(day)?.['gold.customer_training_set'], `day ${day}`).toBeDefined();
    }
  });

  it('every day updates silver.int_sales_lines by the orders of the changed sales lines and of the dates between the two as_of, not whole', () => {
    // each day loads a new sales file (its __changes give the orders) and moves as_of and the
    // latest plausible date (a date window); the earliest plausible date and the modal lead time
    // stay, so no day builds it whole
    expect(updatedOn.size).toBe(DAYS);
    for (const [day, updated] of updatedOn) expect(updated, `day ${day}: ${JSON.stringify(wholeOn.get(day))}`).toContain('silver.int_sales_lines');
  });

  it('every day updates the customer branch by customer_id and customer_key, or keeps it, never builds it whole', async () => {
    // each day's CRM and ERP snapshots change a few customers (added, changed, on day 3 one
    // deleted): their __changes give the partitions, int_customers reaches the ERP rows through
    // the customer_key of the CRM records (related_inputs); as_of moves every day, which moves the
    // birthdate bounds, a date window of int_erp_demographics
    const branch = ['silver.int_customer_records', 'silver.int_erp_demographics', 'silver.int_erp_locations', 'silver.int_customers', 'silver.customers'];
    const runs = await query<{ actions: Record<string, string>; updated: string[] }>(
      `select (select jsonb_object_agg(p ->> 'model', p ->> 'action') from jsonb_array_elements(summary -> 'model_plan') as p) as actions,
              (select coalesce(array_agg(m ->> 'model') filter (where m ? 'update'), '{}') from jsonb_array_elements(summary -> 'models') as m) as updated
         from ${ident(cronSchemas.etl)}.runs where published_at is not null order by run_id offset 1`,
    );
    expect(runs).toHaveLength(DAYS);
    runs.forEach(({ actions, updated }, i) => {
      const day = i + 1;
      for (const model of branch) {
        expect(actions[model], `day ${day}: ${model}`).not.toBe('build');
        if (actions[model] === 'update') expect(updated, `day ${day}: ${model} ${JSON.stringify(wholeOn.get(day))}`).toContain(model);
      }
      expect(updated, `day ${day}`).toContain('silver.int_erp_demographics');
    });
    for (const model of branch) expect(runs.filter((r) => r.updated.includes(model)).length, model).toBeGreaterThan(DAYS / 2);
  });

  it(`day ${DAYS} again does nothing: exit 0, the one line, no new publication, the exports untouched`, async () => {
    const published = (await publishedRun(cron))!.run_id;
    const exportsBefore = await readFile(path.join(exportsOf(cron), '_manifest.json'), 'utf8');
    const r = await runCli(['build', '--seeds', dayDir(DAYS), '--target', cron, '--sql', path.join(ROOT, 'sql'), '--out', exportsOf(cron), '--log-format', 'pretty'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.includes('nothing changed'))).toEqual([expect.stringMatching(new RegExp(`^nothing changed since run ${published}\\b`))]);
    expect((await publishedRun(cron))!.run_id).toBe(published);
    expect(await readFile(path.join(exportsOf(cron), '_manifest.json'), 'utf8')).toBe(exportsBefore);
    const [last] = await query(`select status, deferred_to::int, published_at is null as unpublished from ${ident(cronSchemas.etl)}.runs order by run_id desc limit 1`);
    expect(last).toEqual({ status: 'success', deferred_to: published, unpublished: true });
  });
});
