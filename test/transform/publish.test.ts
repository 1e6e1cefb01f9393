/**
 * The publish guarantee: what readers see (silver, gold) changes only when a build and all its
 * error tests succeed, and then in one step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SchemaNames } from '../../src/config.ts';
import { type Client, ident } from '../../src/db/client.ts';
import { DependencyError, MedallionError } from '../../src/errors.ts';
import { assertTestsPassed, recordRuleCounts, runTests } from '../../src/quality/index.ts';
import { buildModels, loadProject, publishModels } from '../../src/transform/index.ts';
import { caught, checksum, createBronze, dropSchemas, newRun, removeProject, SOURCES, schemaExists, setUpTarget, testClient, uniqueTarget, writeProject } from './helpers.ts';

let client: Client;
let other: Client;
let schemas: SchemaNames;
const dirs: string[] = [];

const MODELS = {
  'silver/customers.sql': "select cst_id::int as customer_id, cst_firstname as first_name from bronze.cust_info where cst_id ~ '^[0-9]+$'",
  'silver/customers.yml': 'unique_key: [customer_id]\ncolumns:\n  - name: first_name\n    tests: [not_null]\n',
  'gold/names.sql': 'select customer_id, upper(first_name) as name from silver.customers',
  'gold/names.yml': 'unique_key: [customer_id]\n',
  'gold/names_view.sql': 'select customer_id, name from gold.names join silver.customers using (customer_id)',
  'gold/names_view.yml': 'materialized: view\n',
};

async function runPipeline(client: Client, files: Record<string, string> = MODELS, publish = true): Promise<void> {
  const dir = await writeProject(files);
  dirs.push(dir);
  const project = await loadProject({ sqlDir: dir, sources: SOURCES });
  const runId = await newRun(client, schemas);
  await buildModels({ client, schemas, project, asOf: '2024-01-01', runId });
  await recordRuleCounts({ client, ledger: client, schemas, project, runId });
  const summary = await runTests({ client, ledger: client, schemas, project, runId });
  assertTestsPassed(summary);
  if (publish) await publishModels(client, schemas, { lockTimeout: '500ms' });
}

async function setCustomers(rows: (string | null)[][]) {
  await createBronze(client, schemas, 'cust_info', ['cst_id', 'cst_firstname'], rows);
}

const publishedGold = () => checksum(client, `${ident(schemas.gold)}.names`);
const publishedView = () => checksum(client, `${ident(schemas.gold)}.names_view`);

beforeAll(async () => {
  client = await testClient();
  other = await testClient('medallion-test-other');
  ({ schemas } = await setUpTarget(client, uniqueTarget('publish')));
});

afterAll(async () => {
  await other.end();
  await dropSchemas(client, schemas);
  await client.end();
  for (const d of dirs) await removeProject(d);
});

describe('publishModels', () => {
  let good: string | null;

  it('publishes a first good build (creating the published schemas) and drops the staging and _prev schemas', async () => {
    await setCustomers([['1', 'ann'], ['2', 'bob']]);
    expect(await schemaExists(client, schemas.gold)).toBe(false);
    await runPipeline(client);
    good = await publishedGold();
    expect(good).not.toBeNull();
    const { rows } = await client.query(`select name from ${ident(schemas.gold)}.names_view order by 1`);
    expect(rows.map((r) => r.name)).toEqual(['ANN', 'BOB']);
    for (const s of [`${schemas.silver}_next`, `${schemas.gold}_next`, `${schemas.silver}_prev`, `${schemas.gold}_prev`]) expect(await schemaExists(client, s)).toBe(false);
  });

  it('a build whose error test fails publishes nothing', async () => {
    const view = await publishedView();
    await setCustomers([['1', 'ann'], ['2', null]]); // first_name not_null fails
    const err = await caught(runPipeline(client));
    expect(err).toBeInstanceOf(MedallionError);
    expect((err as unknown as MedallionError).code).toBe('TESTS_FAILED');
    expect(await publishedGold()).toBe(good);
    expect(await publishedView()).toBe(view);
  });

  it('an SQL error in a model publishes nothing', async () => {
    await setCustomers([['1', 'ann'], ['2', 'bob'], ['3', 'cy']]);
    const err = await caught(runPipeline(client, { ...MODELS, 'gold/names.sql': 'select customer_id, upper(first_nam) as name from silver.customers' }));
    expect((err as unknown as MedallionError).code).toBe('MODEL_SQL_FAILED');
    expect(await publishedGold()).toBe(good);
  });

  it('a connection killed mid-build → DependencyError, published unchanged', async () => {
    const victim = await testClient('medallion-test-victim');
    const { rows } = await victim.query<{ pid: number }>('select pg_backend_pid() as pid');
    const slow = { ...MODELS, 'gold/names.sql': 'select customer_id, upper(first_name) as name from silver.customers, pg_sleep(5)' };
    const pipeline = caught(runPipeline(victim, slow));
    // Wait until the slow model runs, then terminate the build connection.
    for (let i = 0; i < 100; i++) {
      const a = await other.query("select 1 from pg_stat_activity where pid = $1 and query like '%pg_sleep%' and state = 'active'", [rows[0]!.pid]);
      if (a.rows.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await other.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
    const err = await pipeline;
    await victim.end().catch(() => {});
    expect(err).toBeInstanceOf(DependencyError);
    expect((err as unknown as MedallionError).code).toBe('DB_CONNECTION_LOST');
    expect(await publishedGold()).toBe(good);
  });

  it('a second good build replaces both layers at once; gold views read the newly published silver', async () => {
    await setCustomers([['1', 'ann'], ['2', 'bob'], ['3', 'cy']]);
    await runPipeline(client);
    expect(await publishedGold()).not.toBe(good);
    const { rows } = await client.query(`select name from ${ident(schemas.gold)}.names_view order by 1`);
    expect(rows.map((r) => r.name)).toEqual(['ANN', 'BOB', 'CY']);
    // The view's silver table is the published one, not a dropped or staging one.
    const dep = await client.query(
      `select distinct n.nspname from pg_depend d join pg_rewrite w on w.oid = d.objid join pg_class c on c.oid = d.refobjid join pg_namespace n on n.oid = c.relnamespace
        where w.ev_class = $1::regclass and c.oid <> w.ev_class order by 1`,
      [`${ident(schemas.gold)}.names_view`],
    );
    expect(dep.rows.map((r) => r.nspname)).toEqual([schemas.gold, schemas.silver]);
  });

  it('a reader inside a query on the old tables does not block the swap; the _prev schema it holds is left and dropped next time', async () => {
    await other.query('begin');
    await other.query(`select count(*) from ${ident(schemas.gold)}.names`);
    await setCustomers([['1', 'ann']]);
    const dir = await writeProject(MODELS);
    dirs.push(dir);
    const project = await loadProject({ sqlDir: dir, sources: SOURCES });
    await buildModels({ client, schemas, project, asOf: '2024-01-01', runId: await newRun(client, schemas) });
    const result = await publishModels(client, schemas, { lockTimeout: '200ms' });
    expect(result.published).toEqual([schemas.silver, schemas.gold]);
    expect(result.leftovers).toEqual([`${schemas.gold}_prev`]);
    expect((await client.query(`select count(*)::int as n from ${ident(schemas.gold)}.names`)).rows[0].n).toBe(1);

    // While the reader still holds it, the next publish cannot clear the leftover: it fails clearly.
    await buildModels({ client, schemas, project, asOf: '2024-01-01', runId: await newRun(client, schemas) });
    const before = await publishedGold();
    const err = await caught(publishModels(client, schemas, { lockTimeout: '200ms' }));
    expect(err).toBeInstanceOf(DependencyError);
    expect((err as unknown as MedallionError).code).toBe('PUBLISH_BLOCKED');
    expect(err.message).toMatch(/lock_timeout \(200ms\) on t_publish_\w+_gold_prev; nothing was published/);
    expect(await publishedGold()).toBe(before);

    await other.query('commit');
    const again = await publishModels(client, schemas, { lockTimeout: '200ms' });
    expect(again.leftovers).toEqual([]);
    expect(await schemaExists(client, `${schemas.gold}_prev`)).toBe(false);
  });

  it('refuses to publish without a build', async () => {
    const err = await caught(publishModels(client, schemas));
    expect(err.message).toMatch(/nothing to publish: the staging schema .*_silver_next and .*_gold_next does not exist/);
  });
});
