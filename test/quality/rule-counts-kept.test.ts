/**
 * Rule counts of the models a run keeps (src/quality/rule-counts.ts): a run that builds what
 * changed and keeps the rest records the kept models' rules and quarantine rows as a full build of
 * the same files does. A whole build (with a sales line kept out of silver.sales_clean), then a change of one customer's first name (the customer
 * branch is updated, the product branch kept), compared with a whole build of the same files in
 * another target; then a second change, whose kept counts come from the first kept run's.
 */
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ident } from '../../src/db/client.ts';
import { workFolder } from '../runs/helpers.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, uniqueTarget } from '../support/database.ts';

const target = uniqueTarget('rckept');
const wholeTarget = uniqueTarget('rckeptw');
let work: string;
let seeds: string;
let asOf: string;

type LogEvent = Record<string, unknown> & { event?: string };
interface RelationCount {
  relation: string;
  form: 'incremental' | 'kept' | 'full';
  reason?: string;
}
interface Run {
  runId: number;
  kept: string[];
  forms: Map<string, RelationCount>;
}

async function build(into: string, from: string, extra: string[] = []): Promise<Run> {
  const r = await runCli(
    ['build', '--seeds', from, '--target', into, '--sql', path.join(work, 'sql'), '--skip-export', ...(asOf ? ['--as-of', asOf] : []), '--log-format', 'json', ...extra],
    { cwd: work },
  );
  expect(r.code, r.stdout.slice(-3000) + r.stderr).toBe(0);
  const events = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogEvent);
  const summary = events.find((e) => e.event === 'models_summary') as { run_id: number; rule_counts: RelationCount[] };
  const [run] = await query<{ summary: { model_plan?: { model: string; action: string }[] } }>(`select summary from ${ident(`${into}_etl`)}.runs where run_id = $1`, [
    summary.run_id,
  ]);
  return {
    runId: summary.run_id,
    kept: (run!.summary.model_plan ?? []).filter((d) => d.action === 'keep').map((d) => d.model),
    forms: new Map(summary.rule_counts.map((c) => [c.relation, c])),
  };
}

/** The run's rule counts (every kind), `model rule kind` → rows. */
async function ruleCounts(into: string, runId: number): Promise<Record<string, number>> {
  const rows = await query<{ key: string; rows: number }>(`select model || ' ' || rule || ' ' || kind as key, rows::int from ${ident(`${into}_etl`)}.rule_counts where run_id = $1`, [runId]);
  return Object.fromEntries(rows.map((r) => [r.key, r.rows]).sort());
}

/** The run's quarantine rows, `model rule` → rows. */
async function quarantined(into: string, runId: number): Promise<Record<string, number>> {
  const rows = await query<{ key: string; n: number }>(
    `select model || ' ' || rule as key, count(*)::int as n from ${ident(`${into}_etl`)}.quarantine where run_id = $1 group by 1`,
    [runId],
  );
  return Object.fromEntries(rows.map((r) => [r.key, r.n]).sort());
}

/** The counts of `models`' rules among `counts`. */
const of = (counts: Record<string, number>, models: string[]) => Object.fromEntries(Object.entries(counts).filter(([k]) => models.includes(k.split(' ')[0]!)));

/** Appends `suffix` to the first name of the last customer of cust_info.csv. */
async function renameLastCustomer(suffix: string): Promise<void> {
  const file = path.join(seeds, 'cust_info.csv');
  const text = await readFile(file, 'utf8');
  const lines = text.trimEnd().split('\n');
  const fields = lines.at(-1)!.split(',');
  fields[2] = `${fields[2]}${suffix}`;
  lines[lines.length - 1] = fields.join(',');
  await writeFile(file, `${lines.join('\n')}\n`);
}

/** A whole build of the seeds as they are now, in a target of its own. */
async function wholeBuild(): Promise<{ counts: Record<string, number>; quarantine: Record<string, number> }> {
  await dropTarget(wholeTarget);
  const copy = path.join(work, 'whole-seeds');
  await rm(copy, { recursive: true, force: true });
  await cp(seeds, copy, { recursive: true });
  const { runId } = await build(wholeTarget, copy);
  return { counts: await ruleCounts(wholeTarget, runId), quarantine: await quarantined(wholeTarget, runId) };
}

beforeAll(async () => {
  ({ work, seeds } = await workFolder('rckept'));
  // a sales line without an order number: a row of silver.sales_quarantine, which the runs keep
  const sales = path.join(seeds, 'sales_details.csv');
  const lines = (await readFile(sales, 'utf8')).trimEnd().split('\n');
  await writeFile(sales, `${[...lines, ['', ...lines[1]!.split(',').slice(1)].join(',')].join('\n')}\n`);
  asOf = '';
  const { runId } = await build(target, seeds);
  const [run] = await query<{ as_of: string }>(`select to_char(as_of, 'YYYY-MM-DD') as as_of from ${ident(`${target}_etl`)}.runs where run_id = $1`, [runId]);
  asOf = run!.as_of;
}, 240_000);

afterAll(async () => {
  await dropTarget(target);
  await dropTarget(wholeTarget);
  await rm(work, { recursive: true, force: true });
});

describe('rule counts of the models a run keeps', () => {
  it('a kept run records the kept models’ rules and quarantine rows as a whole build of the same files', async () => {
    await renameLastCustomer('x');
    const run = await build(target, seeds);
    expect(run.kept).toEqual(expect.arrayContaining(['silver.int_product_records', 'silver.sales_quarantine']));

    const whole = await wholeBuild();
    const counts = await ruleCounts(target, run.runId);
    // the kept models' own counts, some of them above zero, then every count and quarantine row
    expect(of(counts, run.kept)).toEqual(of(whole.counts, run.kept));
    expect(Object.values(of(counts, ['silver.int_product_records'])).some((n) => n > 0)).toBe(true);
    expect(counts).toEqual(whole.counts);
    const quarantine = await quarantined(target, run.runId);
    expect(quarantine).toEqual(whole.quarantine);
    expect(quarantine['silver.sales_clean sales_key_missing']).toBe(1);
    // read from the published run's counts, not counted
    expect(run.forms.get('silver.int_product_records')).toMatchObject({ form: 'kept' });
  }, 240_000);

  it('the next kept run carries the counts the kept run recorded', async () => {
    const before = await query<{ n: number }>(`select max(run_id)::int as n from ${ident(`${target}_etl`)}.runs`);
    await renameLastCustomer('y');
    const run = await build(target, seeds);
    expect(run.kept).toContain('silver.int_product_records');
    for (const model of run.kept) if (run.forms.has(model)) expect(run.forms.get(model), model).toMatchObject({ form: 'kept' });
    const whole = await wholeBuild();
    const counts = await ruleCounts(target, run.runId);
    expect(of(counts, run.kept)).toEqual(of(await ruleCounts(target, before[0]!.n), run.kept));
    expect(counts).toEqual(whole.counts);
    expect(await quarantined(target, run.runId)).toEqual(whole.quarantine);
  }, 240_000);
});
