/**
 * planTests (src/quality/run-tests.ts): the data tests scheduled with the model builds, as
 * `medallion build` runs them. A test waits for every model it reads (its own, a relationship's
 * parent, the relations its SQL names), and the tests of an early model run while a slow later
 * model is still building on the other connection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SchemaNames } from '../../src/config.ts';
import type { Client } from '../../src/db/client.ts';
import { planRuleCounts, planTests, type RuleCountsResult, type TestSummary } from '../../src/quality/index.ts';
import { relationsRead } from '../../src/transform/dependencies.ts';
import { buildModels, loadProject, type Project } from '../../src/transform/index.ts';
import { waitForActiveQuery } from '../support/activity.ts';
import { caught, createBronze, dropSchemas, removeProject, SOURCES, setUpTarget, testClient, uniqueTarget, modelYml, writeProject } from '../transform/helpers.ts';

let clients: Client[];
let schemas: SchemaNames;
let dir: string;
let project: Project;
let runId: number;
/** Holds the advisory locks the models and tests below wait for (the gates the tests open). */
let gatekeeper: Client;

// Advisory lock keys of this file's gates (random: other test files share the server).
const GATE = Math.floor(Math.random() * 1e9);
const SLOW_GATE = GATE;
const BROKEN_GATE = GATE + 1;
const NEVER_GATE = GATE + 2;

// gold.slow cannot build until its gate opens (an advisory lock the test holds); silver.items'
// tests do not read it, silver.items' `equal` test does (so it must wait), and so does the
// relationships test of gold.summary.
const FILES = {
  'silver/items.sql': 'select sls_ord_num as order_number, sls_quantity::int as quantity from bronze.sales_details',
  'silver/items.yml': modelYml('items', `
description: items.
columns:
  - name: order_number
    data_tests: [not_null, unique]
  - name: quantity
    data_tests:
      - accepted_values: { values: [1, 2] }
data_tests:
  - scalar_equality: { name: items_eq_slow, left: "select count(*) from silver.items", right: "select count(*) from gold.slow" }
`),
  'gold/slow.sql': `select order_number, quantity from silver.items cross join (select pg_advisory_xact_lock(${SLOW_GATE})) as gate`,
  'gold/slow.yml': modelYml('slow', `
description: a model that waits for its gate to open.
config:
  meta:
    rules:
      - { name: slow_quantity_two, kind: flag, where: "quantity = 2", description: a line of two }
`),
  'gold/summary.sql': 'select order_number from gold.slow',
  'gold/summary.yml': modelYml('summary', `
description: summary.
columns:
  - name: order_number
    data_tests:
      - relationships: { to: silver.items, field: order_number }
`),
};

beforeAll(async () => {
  clients = [await testClient(), await testClient(), await testClient()];
  gatekeeper = await testClient('medallion-test-gatekeeper');
  await gatekeeper.query('select pg_advisory_lock($1), pg_advisory_lock($2), pg_advisory_lock($3)', [SLOW_GATE, BROKEN_GATE, NEVER_GATE]);
  ({ schemas, runId } = await setUpTarget(clients[0]!, uniqueTarget('plan')));
  await createBronze(clients[0]!, schemas, 'sales_details', ['sls_ord_num', 'sls_quantity'], [
    ['SO1', '1'],
    ['SO2', '2'],
  ]);
  dir = await writeProject(FILES);
  project = await loadProject({ sqlDir: dir, sources: SOURCES });
});

afterAll(async () => {
  await dropSchemas(clients[0]!, schemas);
  await Promise.all([...clients, gatekeeper].map((c) => c?.end()));
  await removeProject(dir);
});

describe('relationsRead', () => {
  it('names the model, the parent of a relationship and every relation of the SQL', () => {
    const tests = new Map(project.models.flatMap((m) => m.tests).map((t) => [t.name, t]));
    expect(relationsRead(tests.get('items_eq_slow')!).sort()).toEqual(['gold.slow', 'silver.items']);
    const relationship = project.models.find((m) => m.name === 'gold.summary')!.tests[0]!;
    expect(relationsRead(relationship).sort()).toEqual(['gold.summary', 'silver.items']);
    expect(relationsRead(tests.get('unique_silver_items_order_number')!)).toEqual(['silver.items']);
  });
});

describe('planTests with buildModels', () => {
  let log: string[];
  let summary: TestSummary;
  let rules: RuleCountsResult;

  const EARLY_TESTS = ['unique_silver_items_order_number', 'not_null_silver_items_order_number', 'accepted_values_silver_items_quantity'];
  let slowGateOpened: Promise<unknown> | undefined;
  const openSlowGate = () => (slowGateOpened ??= gatekeeper.query('select pg_advisory_unlock($1)', [SLOW_GATE]));

  beforeAll(async () => {
    log = [];
    const plan = planTests({
      ledger: clients[2]!,
      schemas,
      project,
      runId,
      modelTasks: new Set(project.models.map((m) => m.name)),
      onEvent: (e) => {
        if (e.type !== 'test_finished') return;
        log.push(`tested ${e.result.name}`);
        // gold.slow may build once silver.items' own tests have run beside it
        if (EARLY_TESTS.every((name) => log.includes(`tested ${name}`))) void openSlowGate();
      },
    });
    const ruling = planRuleCounts({ ledger: clients[2]!, schemas, project, runId, modelTasks: new Set(project.models.map((m) => m.name)) });
    await buildModels({
      client: clients[0]!,
      parallelClients: [clients[1]!],
      schemas,
      project,
      asOf: '2024-05-01',
      runId,
      alongside: [...plan.tasks, ...ruling.tasks],
      onEvent: (e) => void (e.type === 'model_started' ? log.push(`start ${e.model}`) : e.type === 'model_built' && log.push(`built ${e.model}`)),
    });
    await slowGateOpened;
    summary = plan.summary();
    rules = await ruling.record();
  });

  it("runs an early model's tests while a later model builds on the other connection", () => {
    const builtSlow = log.indexOf('built gold.slow');
    expect(log.indexOf('start gold.slow')).toBeGreaterThanOrEqual(0);
    for (const name of EARLY_TESTS) {
      expect(log.indexOf(`tested ${name}`)).toBeGreaterThan(log.indexOf('built silver.items'));
      expect(log.indexOf(`tested ${name}`)).toBeLessThan(builtSlow);
    }
  });

  it('starts a test only when every model it reads is built, so it sees them', () => {
    expect(log.indexOf('tested items_eq_slow')).toBeGreaterThan(log.indexOf('built gold.slow'));
    expect(log.indexOf('tested relationships_gold_summary_order_number_to_silver_items_order_number')).toBeGreaterThan(log.indexOf('built gold.summary'));
    expect(summary.results.map((r) => [r.name, r.status])).toEqual([
      ['not_null_silver_items_order_number', 'pass'],
      ['unique_silver_items_order_number', 'pass'],
      ['accepted_values_silver_items_quantity', 'pass'],
      ['items_eq_slow', 'pass'],
      // every model's implied volume guard: nothing is published in this target, so no baseline
      ['row_count_change_silver_items', 'pass'],
      ['row_count_change_gold_slow', 'pass'],
      ['relationships_gold_summary_order_number_to_silver_items_order_number', 'pass'],
      ['row_count_change_gold_summary', 'pass'],
    ]);
    expect(summary.counts).toEqual({ pass: 8, warn: 0, fail: 0, error: 0 });
  });

  it('counts the rules of a model in the same schedule, once it is built, and writes them to the ledger', async () => {
    expect(rules.counts).toEqual([{ model: 'gold.slow', rule: 'slow_quantity_two', kind: 'flag', rows: 1, description: 'a line of two' }]);
    const { rows } = await clients[2]!.query(`select rule, rows::int from ${schemas.etl}.rule_counts where run_id = $1`, [runId]);
    expect(rows).toEqual([{ rule: 'slow_quantity_two', rows: 1 }]);
  });

  it('a failing model stops the schedule: its error is thrown, not recorded as a test result', async () => {
    const broken = await loadProject({ sqlDir: dir, sources: SOURCES });
    const slow = broken.models.find((m) => m.name === 'gold.slow')!;
    // fails (division by zero) once its gate opens: after the test below is seen running
    Object.assign(slow, { sql: `select order_number, quantity, 1 / (quantity - 1) as boom from silver.items cross join (select pg_advisory_xact_lock(${BROKEN_GATE})) as gate` });
    // a test still running when the model fails: it waits for a lock that is never released, so it
    // ends only if the schedule cancels it; and it is not a test result
    const items = broken.models.find((m) => m.name === 'silver.items')!;
    const never = `select 1 as n from (select pg_advisory_xact_lock(${NEVER_GATE})) as never`;
    items.tests.push({ kind: 'query', name: 'never_ends', model: 'silver.items', severity: 'error', file: items.ymlFile, declaredAt: 'tests[9]', sql: never });
    const plan = planTests({ ledger: clients[2]!, schemas, project: broken, runId, modelTasks: new Set(broken.models.map((m) => m.name)) });
    const build = caught(buildModels({ client: clients[0]!, parallelClients: [clients[1]!], schemas, project: broken, asOf: '2024-05-01', runId, alongside: plan.tasks }));
    const running = await waitForActiveQuery(gatekeeper, { like: `%pg_advisory_xact_lock(${NEVER_GATE})%` }, build);
    expect(running, 'never_ends was seen running').not.toBeNull();
    await gatekeeper.query('select pg_advisory_unlock($1)', [BROKEN_GATE]);
    const error = await build;
    expect(error).toMatchObject({ code: 'MODEL_SQL_FAILED' });
    expect(error.message).toMatch(/division by zero/);
    // the lock never_ends waits for is still held: it is gone because the schedule cancelled it
    const { rows: still } = await gatekeeper.query("select 1 from pg_stat_activity where pid = $1 and state = 'active'", [running!.pid]);
    expect(still).toEqual([]);
    expect(plan.summary().results.map((r) => r.name)).not.toContain('never_ends');
    expect(plan.summary().results.filter((r) => r.status === 'error')).toEqual([]);
  });
});
