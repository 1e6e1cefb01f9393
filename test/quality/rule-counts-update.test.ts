/**
 * Rule counts on an update (src/quality/rule-counts.ts): a relation updated by partitions is
 * counted from the published run's counts, less its published rows of the partitions, plus the
 * delta, and every count the run records equals a full recount over the published tables after
 * its publish. The project's own models and three test models beside them, each incremental by
 * customer_id over the clean sales lines: gold.customer_lines with two row-local rules (a customer
 * of three lines or more, one of fewer), gold.customer_lines_known with a rule that reads
 * silver.customers and gold.customer_lines_dated with one that reads the run's as_of (both counted
 * in full). After a whole build, three updates: lines added (a customer without lines gets two, one
 * of three lines or more another), rows removed (the last CRM customer and three late sales
 * lines), and a line moved from a customer of three lines to another (that customer passes from
 * one rule to the other).
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SchemaNames, schemaNames } from '../../src/config.ts';
import { ident } from '../../src/db/client.ts';
import { compiledRelation, compileSql, loadProject, publishedTarget } from '../../src/transform/index.ts';
import { workFolder } from '../runs/helpers.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, testClient, uniqueTarget } from '../support/database.ts';

const target = uniqueTarget('rcupd');
// the published schemas: every relation is read as readers see it after the run's publish
const schemas = publishedTarget(schemaNames(target) as SchemaNames);
let work: string;
let seeds: string;
let asOf: string;

type LogEvent = Record<string, unknown> & { event?: string };
interface RelationCount {
  relation: string;
  form: 'incremental' | 'full';
  reason?: string;
}

const LINES_SQL = (name: string) => `-- gold.${name}: per customer, its clean lines counted (a test model)
select customer_id, count(*)::int as lines
from silver.sales_clean
group by customer_id
`;

const linesYml = (name: string, rules: string) => `version: 2
models:
  - name: ${name}
    description: Per customer, its clean lines (a test model).
    config:
      materialized: incremental
      partition_by: customer_id
      unique_key: [customer_id]
      meta:
        rules:
${rules}`;

const TEST_MODELS: Record<string, string> = {
  customer_lines: `          - { name: customer_lines_many, kind: flag, where: "lines >= 3" }
          - { name: customer_lines_few, kind: flag, where: "lines < 3" }
`,
  customer_lines_known: `          - { name: customer_lines_small, kind: flag, where: "lines < 3" }
          - { name: customer_lines_of_crm, kind: flag, where: "customer_id in (select customer_id from silver.customers)" }
`,
  customer_lines_dated: `          - { name: customer_lines_dated_small, kind: flag, where: "lines < 3" }
          - { name: customer_lines_as_of, kind: flag, where: "current_setting('medallion.as_of', true) is not null and lines > 1" }
`,
};

async function build(): Promise<LogEvent[]> {
  const r = await runCli(
    [
      'build',
      '--seeds',
      seeds,
      '--target',
      target,
      '--sql',
      path.join(work, 'sql'),
      '--skip-export',
      ...(asOf ? ['--as-of', asOf] : []),
      '--log-format',
      'json',
    ],
    { cwd: work },
  );
  expect(r.code, r.stdout.slice(-3000) + r.stderr).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogEvent);
}

/** The run's id and how it counted each relation's rules (event models_summary). */
function runOf(events: LogEvent[]): { runId: number; forms: Map<string, RelationCount> } {
  const summary = events.find((e) => e.event === 'models_summary') as { run_id: number; rule_counts: RelationCount[] };
  return { runId: summary.run_id, forms: new Map(summary.rule_counts.map((c) => [c.relation, c])) };
}

/** The counts the run recorded of rules with a `where`, by relation and rule. */
async function recorded(runId: number): Promise<Map<string, number>> {
  const rows = await query<{ model: string; rule: string; rows: number }>(
    `select model, rule, rows::int from ${ident(schemas.etl)}.rule_counts where run_id = $1 and kind <> 'quarantine'`,
    [runId],
  );
  return new Map(rows.map((r) => [`${r.model} ${r.rule}`, r.rows]));
}

/** Every rule with a `where`, counted over the published relations, with the run's as_of. */
async function recounted(): Promise<Map<string, number>> {
  const project = await loadProject({ sqlDir: path.join(work, 'sql') });
  const client = await testClient();
  try {
    await client.query(`select set_config('medallion.as_of', $1, false)`, [asOf]);
    const counts = new Map<string, number>();
    for (const r of project.models.flatMap((m) => m.rules).filter((x) => x.where !== undefined && x.kind !== 'quarantine')) {
      const { rows } = await client.query<{ n: number }>(
        `select count(*)::int as n from ${compiledRelation(r.relation, schemas)} where (${compileSql(r.where!, schemas).sql})`,
      );
      counts.set(`${r.relation} ${r.name}`, rows[0]!.n);
    }
    return counts;
  } finally {
    await client.end();
  }
}

/**
 * The run's recorded counts equal a recount over what it published (a run records the rules of the
 * models it builds, updates or keeps); returns them.
 */
async function expectRecountEqual(runId: number): Promise<Map<string, number>> {
  const counts = await recorded(runId);
  const truth = await recounted();
  expect(Object.fromEntries([...counts].sort())).toEqual(Object.fromEntries([...truth].filter(([k]) => counts.has(k)).sort()));
  return counts;
}

/** The update took the incremental form where it may, and the full count where it must not. */
function expectForms(forms: Map<string, RelationCount>): void {
  expect(forms.get('gold.customer_lines')).toMatchObject({ form: 'incremental' });
  expect(forms.get('gold.fact_sales')).toMatchObject({ form: 'incremental' });
  expect(forms.get('gold.customer_lines_known')).toMatchObject({ form: 'full', reason: "customer_lines_of_crm reads another relation or the run's dates" });
  expect(forms.get('gold.customer_lines_dated')).toMatchObject({ form: 'full', reason: "customer_lines_as_of reads another relation or the run's dates" });
}

const salesFile = () => path.join(seeds, 'sales_details.csv');

/** The sales file's header and lines, and the line indexes of each numeric customer id. */
async function sales(): Promise<{ header: string; lines: string[]; byCustomer: Map<string, number[]> }> {
  const [header, ...lines] = (await readFile(salesFile(), 'utf8')).trimEnd().split('\n');
  const byCustomer = new Map<string, number[]>();
  lines.forEach((l, i) => {
    const id = l.split(',')[2]!;
    if (/^[0-9]+$/.test(id)) byCustomer.set(id, [...(byCustomer.get(id) ?? []), i]);
  });
  return { header: header!, lines, byCustomer };
}

/** Customers whose every line of the file is a clean line, by their count of clean lines (published). */
async function cleanCustomers(byCustomer: Map<string, number[]>): Promise<Map<string, number>> {
  const rows = await query<{ customer_id: string; lines: number }>(`select customer_id::text, lines from ${ident(schemas.gold)}.customer_lines`);
  return new Map(rows.filter((r) => byCustomer.get(r.customer_id)?.length === r.lines).map((r) => [r.customer_id, r.lines]));
}

const writeSales = (header: string, lines: string[]) => writeFile(salesFile(), `${[header, ...lines].join('\n')}\n`);

/** The published count of a rule of gold.customer_lines before a change. */
const linesRule = (counts: Map<string, number>, rule: string) => counts.get(`gold.customer_lines ${rule}`)!;

/** The rows of the published gold.fact_sales. */
const factRows = async () => (await query<{ n: number }>(`select count(*)::int as n from ${ident(schemas.gold)}.fact_sales`))[0]!.n;

let previous: Map<string, number>;

beforeAll(async () => {
  ({ work, seeds } = await workFolder('rulecounts'));
  for (const [name, rules] of Object.entries(TEST_MODELS)) {
    await writeFile(path.join(work, 'sql', 'gold', `${name}.sql`), LINES_SQL(name));
    await writeFile(path.join(work, 'sql', 'gold', `${name}.yml`), linesYml(name, rules));
  }
  asOf = '';
  const events = await build();
  const [run] = await query<{ as_of: string }>(`select to_char(as_of, 'YYYY-MM-DD') as as_of from ${ident(schemas.etl)}.runs where run_id = $1`, [
    runOf(events).runId,
  ]);
  asOf = run!.as_of;
  previous = await expectRecountEqual(runOf(events).runId);
}, 240_000);

afterAll(async () => {
  await dropTarget(target);
  await rm(work, { recursive: true, force: true });
});

describe('rule counts of an updated relation', () => {
  it('lines added: a customer without lines gets two, one of three lines or more a fourth; the counts equal a recount, counted from the change', async () => {
    const { header, lines, byCustomer } = await sales();
    // a customer id no sales line has: a new row of gold.customer_lines, two of gold.fact_sales
    const idle = String(Math.max(...[...byCustomer.keys()].map(Number)) + 1);
    // and a third order of a customer of three lines or more: its row is replaced, in the same rule
    const [grows] = [...(await cleanCustomers(byCustomer))].find(([, n]) => n >= 3)!;
    const template = lines[byCustomer.get(grows)![0]!]!.split(',');
    const added = [
      ...['SO99999901', 'SO99999902'].map((order) => [order, template[1], idle, ...template.slice(3)].join(',')),
      ['SO99999903', ...template.slice(1)].join(','),
    ];
    await writeSales(header, [...lines, ...added]);

    const events = await build();
    const { runId, forms } = runOf(events);
    expectForms(forms);
    const counts = await expectRecountEqual(runId);
    expect(linesRule(counts, 'customer_lines_few')).toBe(linesRule(previous, 'customer_lines_few') + 1);
    expect(linesRule(counts, 'customer_lines_many')).toBe(linesRule(previous, 'customer_lines_many'));
    previous = counts;
  }, 180_000);

  it('rows removed: the last CRM customer and three late sales lines; the counts equal a recount', async () => {
    const crmFile = path.join(seeds, 'cust_info.csv');
    const crm = (await readFile(crmFile, 'utf8')).trimEnd().split('\n');
    await writeFile(crmFile, `${crm.slice(0, -1).join('\n')}\n`);
    const factsBefore = await factRows();
    const { header, lines } = await sales();
    // the last three lines not of the newest order date: the data's own as_of does not move
    const dates = lines.map((l) => Number(l.split(',')[3]) || 0);
    const newest = Math.max(...dates);
    const removed = new Set(
      dates
        .map((d, i) => (d === newest ? -1 : i))
        .filter((i) => i >= 0)
        .slice(-3),
    );
    await writeSales(
      header,
      lines.filter((_, i) => !removed.has(i)),
    );

    const events = await build();
    const { runId, forms } = runOf(events);
    expectForms(forms);
    const counts = await expectRecountEqual(runId);
    expect(await factRows()).toBeLessThan(factsBefore);
    previous = counts;
  }, 180_000);

  it('a line moved from a customer of three lines to another: it passes from one rule to the other; the counts equal a recount', async () => {
    const { header, lines, byCustomer } = await sales();
    const clean = [...(await cleanCustomers(byCustomer))];
    const [from] = clean.find(([, n]) => n === 3)!;
    const [to] = clean.find(([id, n]) => id !== from && n >= 3)!;
    const moved = byCustomer.get(from)![0]!;
    await writeSales(
      header,
      lines.map((l, i) =>
        i === moved
          ? l
              .split(',')
              .map((f, j) => (j === 2 ? to : f))
              .join(',')
          : l,
      ),
    );

    const events = await build();
    const { runId, forms } = runOf(events);
    expectForms(forms);
    const counts = await expectRecountEqual(runId);
    expect(linesRule(counts, 'customer_lines_many')).toBe(linesRule(previous, 'customer_lines_many') - 1);
    expect(linesRule(counts, 'customer_lines_few')).toBe(linesRule(previous, 'customer_lines_few') + 1);
  }, 180_000);
});
