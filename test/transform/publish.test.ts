/**
 * The publish guarantee: what readers see (silver, gold) changes only when a build and all its
 * error tests succeed, and then in one step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SchemaNames } from '../../src/config.ts';
import { type Client, ident } from '../../src/db/client.ts';
import { DependencyError, InterruptedError, MedallionError } from '../../src/errors.ts';
import { assertTestsPassed, recordRuleCounts, runTests } from '../../src/quality/index.ts';
import { buildModels, loadProject, publishModels } from '../../src/transform/index.ts';
import { waitForActiveQuery } from '../support/activity.ts';
import { caught, checksum, createBronze, dropSchemas, newRun, removeProject, SOURCES, schemaExists, setUpTarget, testClient, uniqueTarget, modelYml, writeProject } from './helpers.ts';

let client: Client;
let other: Client;
let schemas: SchemaNames;
const dirs: string[] = [];

const MODELS = {
  'silver/customers.sql': "select cst_id::int as customer_id, cst_firstname as first_name from bronze.cust_info where cst_id ~ '^[0-9]+$'",
  'silver/customers.yml': modelYml('customers', `
config:
  unique_key: [customer_id]
columns:
  - name: first_name
    data_tests: [not_null]
`),
  'gold/names.sql': 'select customer_id, upper(first_name) as name from silver.customers',
  'gold/names.yml': modelYml('names', 'config:\n  unique_key: [customer_id]\n'),
  'gold/names_view.sql': 'select customer_id, name from gold.names join silver.customers using (customer_id)',
  'gold/names_view.yml': modelYml('names_view', 'config:\n  materialized: view\n'),
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

/** Builds the models into the staging schemas without publishing them. */
async function buildAgain(files: Record<string, string> = MODELS): Promise<void> {
  const dir = await writeProject(files);
  dirs.push(dir);
  const project = await loadProject({ sqlDir: dir, sources: SOURCES });
  await buildModels({ client, schemas, project, asOf: '2024-01-01', runId: await newRun(client, schemas) });
}

async function prevSchemas(): Promise<string[]> {
  const { rows } = await client.query<{ nspname: string }>(`select nspname from pg_namespace where nspname like $1 order by 1`, [`${schemas.silver.replace(/_silver$/, '')}%\\_\\_prev\\_%`]);
  return rows.map((r) => r.nspname);
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
    for (const s of [`${schemas.silver}_next`, `${schemas.gold}_next`]) expect(await schemaExists(client, s)).toBe(false);
    expect(await prevSchemas()).toEqual([]);
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
    // gold.names waits for an advisory lock that `other` holds: it stays running until it is killed.
    const gate = Math.floor(Math.random() * 1e9);
    await other.query('select pg_advisory_lock($1)', [gate]);
    const slow = { ...MODELS, 'gold/names.sql': `select customer_id, upper(first_name) as name from silver.customers, (select pg_advisory_xact_lock(${gate})) as gate` };
    const pipeline = caught(runPipeline(victim, slow));
    try {
      // Terminate the build connection once it is seen running gold.names, not before.
      const running = await waitForActiveQuery(other, { like: `%pg_advisory_xact_lock(${gate})%`, pid: rows[0]!.pid, waitEventType: 'Lock' }, pipeline);
      expect(running, 'gold.names was seen running on the build connection').not.toBeNull();
      expect(running!.waitEventType).toBe('Lock');
      await other.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
    } finally {
      await other.query('select pg_advisory_unlock($1)', [gate]);
    }
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

  it('a reader inside a query on the old tables does not block the swap; the __prev schema it holds is left and dropped by a later publish', async () => {
    await other.query('begin');
    await other.query(`select count(*) from ${ident(schemas.gold)}.names`);
    await setCustomers([['1', 'ann']]);
    const dir = await writeProject(MODELS);
    dirs.push(dir);
    const project = await loadProject({ sqlDir: dir, sources: SOURCES });
    await buildModels({ client, schemas, project, asOf: '2024-01-01', runId: await newRun(client, schemas) });
    const result = await publishModels(client, schemas, { lockTimeout: '200ms', prevSuffix: 'a' });
    expect(result.published).toEqual([schemas.silver, schemas.gold]);
    expect(result.leftovers).toEqual([
      { schema: `${schemas.gold}__prev_a`, reason: 'a reader held a lock for more than lock_timeout (200ms)' },
      { schema: `${schemas.silver}__prev_a`, reason: `read by ${schemas.gold}__prev_a, which is kept` },
    ]);
    expect((await client.query(`select count(*)::int as n from ${ident(schemas.gold)}.names`)).rows[0].n).toBe(1);

    // While the reader still holds it, the next publish goes through and leaves it again.
    await buildModels({ client, schemas, project, asOf: '2024-01-01', runId: await newRun(client, schemas) });
    const next = await publishModels(client, schemas, { lockTimeout: '200ms', prevSuffix: 'b' });
    expect(next.leftovers.map((l) => l.schema)).toEqual([`${schemas.gold}__prev_a`, `${schemas.silver}__prev_a`]);

    await other.query('commit');
    await buildModels({ client, schemas, project, asOf: '2024-01-01', runId: await newRun(client, schemas) });
    const again = await publishModels(client, schemas, { lockTimeout: '200ms', prevSuffix: 'c' });
    expect(again.leftovers).toEqual([]);
    expect(await prevSchemas()).toEqual([]);
  });

  it('keeps the privileges of the published schemas and tables, applies declared grants, and a read-only role reads gold right after', async () => {
    const reader = `${schemas.gold}_reader`;
    const declared = `${schemas.gold}_declared`;
    for (const r of [reader, declared]) await client.query(`drop role if exists ${ident(r)}; create role ${ident(r)} nologin`);
    try {
      await client.query(`grant usage on schema ${ident(schemas.gold)} to ${ident(reader)}; grant select on ${ident(schemas.gold)}.names to ${ident(reader)}`);
      await client.query(`alter default privileges in schema ${ident(schemas.gold)} grant select on tables to ${ident(reader)}`);
      await runPipeline(client);
      await buildAgain();
      await publishModels(client, schemas, { grants: new Map([['gold.names_view', { select: [declared] }]]) });
      for (const [role, relation] of [[reader, 'names'], [declared, 'names_view']] as const) {
        await other.query(`set role ${ident(role)}`);
        try {
          const { rows } = await other.query(`select count(*)::int as n from ${ident(schemas.gold)}.${relation}`);
          expect(rows[0].n).toBeGreaterThan(0);
        } finally {
          await other.query('reset role');
        }
      }
      // The reader was given names only: names_view stays closed to it, as before the publish.
      await other.query(`set role ${ident(reader)}`);
      await expect(other.query(`select 1 from ${ident(schemas.gold)}.names_view`)).rejects.toMatchObject({ code: '42501' });
      await other.query('reset role');
      const { rows: defaults } = await client.query(`select count(*)::int as n from pg_default_acl where defaclnamespace = $1::regnamespace`, [schemas.gold]);
      expect(defaults[0].n).toBe(1);
    } finally {
      await other.query('reset role').catch(() => {});
      for (const r of [reader, declared]) {
        await client.query(`drop owned by ${ident(r)}; drop role ${ident(r)}`);
      }
    }
  });

  it('carries the user\'s views (outside and inside gold, views on views) over to the new tables, and moves the user\'s tables', async () => {
    const mine = `${schemas.gold}_mine`;
    await client.query(`drop schema if exists ${ident(mine)} cascade; create schema ${ident(mine)}`);
    try {
      await client.query(`create view ${ident(mine)}.named as select customer_id, name from ${ident(schemas.gold)}.names`);
      await client.query(`create view ${ident(mine)}.counted as select count(*)::int as n from ${ident(mine)}.named`);
      await client.query(`create view ${ident(schemas.gold)}.user_in_gold as select name from ${ident(schemas.gold)}.names_view`);
      await client.query(`create table ${ident(schemas.gold)}.user_notes as select 1 as id, 'keep me' as note`);
      await setCustomers([['1', 'ann'], ['2', 'bob'], ['3', 'cy'], ['4', 'dee']]);
      await buildAgain();
      const result = await publishModels(client, schemas, { prevSuffix: 'views' });
      expect(result.carried.sort()).toEqual([`${mine}.counted`, `${mine}.named`, `${schemas.gold}.user_in_gold`, `${schemas.gold}.user_notes`].sort());
      expect(result.leftovers).toEqual([]);
      expect(await prevSchemas()).toEqual([]);
      expect((await client.query(`select n from ${ident(mine)}.counted`)).rows[0].n).toBe(4);
      expect((await client.query(`select count(*)::int as n from ${ident(schemas.gold)}.user_in_gold`)).rows[0].n).toBe(4);
      expect((await client.query(`select note from ${ident(schemas.gold)}.user_notes`)).rows[0].note).toBe('keep me');
    } finally {
      await client.query(`drop view if exists ${ident(schemas.gold)}.user_in_gold; drop table if exists ${ident(schemas.gold)}.user_notes; drop schema if exists ${ident(mine)} cascade`);
    }
  });

  it('a user\'s object that cannot follow keeps the previous version alive and is reported, never dropped', async () => {
    const mine = `${schemas.gold}_mine2`;
    await client.query(`drop schema if exists ${ident(mine)} cascade; create schema ${ident(mine)}`);
    try {
      await client.query(`create view ${ident(mine)}.by_name as select name from ${ident(schemas.gold)}.names`);
      await client.query(`create materialized view ${ident(mine)}.snapshot as select count(*) as n from ${ident(schemas.gold)}.names`);
      // The next build renames the column the user's view reads: it cannot be recreated.
      await buildAgain({ ...MODELS, 'gold/names.sql': 'select customer_id, upper(first_name) as full_name from silver.customers', 'gold/names_view.sql': 'select customer_id, full_name from gold.names join silver.customers using (customer_id)' });
      const result = await publishModels(client, schemas, { prevSuffix: 'kept' });
      expect(result.leftovers.map((l) => l.schema).sort()).toEqual([`${schemas.gold}__prev_kept`, `${schemas.silver}__prev_kept`]);
      expect(result.leftovers.map((l) => l.reason).join(' ')).toMatch(/by_name|snapshot/);
      // Both still answer, from the previous version.
      expect((await client.query(`select count(*)::int as n from ${ident(mine)}.by_name`)).rows[0].n).toBeGreaterThan(0);
      expect((await client.query(`select n from ${ident(mine)}.snapshot`)).rows).toHaveLength(1);
      // Once the user drops them, a later publish drops the previous version.
      await client.query(`drop schema ${ident(mine)} cascade`);
      await buildAgain({ ...MODELS, 'gold/names.sql': 'select customer_id, upper(first_name) as full_name from silver.customers', 'gold/names_view.sql': 'select customer_id, full_name from gold.names join silver.customers using (customer_id)' });
      expect((await publishModels(client, schemas)).leftovers).toEqual([]);
      expect(await prevSchemas()).toEqual([]);
    } finally {
      await client.query(`drop schema if exists ${ident(mine)} cascade`);
    }
  });

  it('publishes nothing when the check inside the transaction fails or a signal arrived before the commit', async () => {
    await buildAgain();
    const before = await publishedGold();
    const lockLost = Object.assign(new DependencyError('LOCK_LOST', 'lost the lock (test)'), {});
    const err = await caught(publishModels(client, schemas, { insideTransaction: async () => { throw lockLost; } }));
    expect((err as unknown as MedallionError).code).toBe('LOCK_LOST');
    expect(await publishedGold()).toBe(before);
    const controller = new AbortController();
    controller.abort(new InterruptedError('SIGTERM'));
    const interrupted = await caught(publishModels(client, schemas, { signal: controller.signal }));
    expect(interrupted).toBeInstanceOf(InterruptedError);
    expect(await publishedGold()).toBe(before);
    expect(await prevSchemas()).toEqual([]);
    await publishModels(client, schemas);
  });

  it('a REPEATABLE READ reader spanning a swap sees the new tables empty (PostgreSQL\'s caveat); in-place keeps its snapshot', async () => {
    await setCustomers([['1', 'ann'], ['2', 'bob']]);
    await buildAgain();
    await publishModels(client, schemas);
    for (const mode of ['swap', 'in-place'] as const) {
      await other.query('begin isolation level repeatable read');
      const before = await other.query(`select count(*)::int as n from ${ident(schemas.gold)}.names`);
      expect(before.rows[0].n).toBe(2);
      await setCustomers([['1', 'ann'], ['2', 'bob'], ['3', 'cy']]);
      await buildAgain();
      await publishModels(client, schemas, { mode, lockTimeout: '200ms' });
      const during = await other.query(`select count(*)::int as n from ${ident(schemas.gold)}.names`);
      await other.query('commit');
      expect(during.rows[0].n).toBe(mode === 'swap' ? 0 : 2);
      const after = await other.query(`select count(*)::int as n from ${ident(schemas.gold)}.names`);
      expect(after.rows[0].n).toBe(3);
      await setCustomers([['1', 'ann'], ['2', 'bob']]);
      await buildAgain();
      await publishModels(client, schemas);
    }
  });

  it('in-place keeps the published tables (privileges, the user\'s views) and refuses a change of columns', async () => {
    const mine = `${schemas.gold}_mine3`;
    await client.query(`drop schema if exists ${ident(mine)} cascade; create schema ${ident(mine)}`);
    try {
      await client.query(`create view ${ident(mine)}.named as select name from ${ident(schemas.gold)}.names`);
      const oid = async () => (await client.query(`select $1::regclass::oid as oid`, [`${ident(schemas.gold)}.names`])).rows[0].oid;
      const before = await oid();
      await setCustomers([['1', 'ann'], ['2', 'bob'], ['3', 'cy'], ['4', 'dee'], ['5', 'eve']]);
      await buildAgain();
      const result = await publishModels(client, schemas, { mode: 'in-place' });
      expect(result.leftovers).toEqual([]);
      expect(await oid()).toBe(before);
      expect((await client.query(`select count(*)::int as n from ${ident(mine)}.named`)).rows[0].n).toBe(5);
      expect((await client.query(`select name from ${ident(schemas.gold)}.names_view order by 1`)).rows.map((r) => r.name)).toEqual(['ANN', 'BOB', 'CY', 'DEE', 'EVE']);
      expect(await prevSchemas()).toEqual([]);
      for (const s of Object.values(schemas.staging)) expect(await schemaExists(client, s)).toBe(false);

      const good = await publishedGold();
      await buildAgain({ ...MODELS, 'gold/names.sql': 'select customer_id, upper(first_name) as full_name from silver.customers', 'gold/names_view.sql': 'select customer_id, full_name from gold.names join silver.customers using (customer_id)' });
      const err = await caught(publishModels(client, schemas, { mode: 'in-place' }));
      expect((err as unknown as MedallionError).code).toBe('PUBLISH_BLOCKED');
      expect(err.message).toMatch(/in-place publish cannot change .*names/);
      expect(await publishedGold()).toBe(good);
      await buildAgain();
      await publishModels(client, schemas);
    } finally {
      await client.query(`drop schema if exists ${ident(mine)} cascade`);
    }
  });

  it('refuses to publish without a build', async () => {
    const err = await caught(publishModels(client, schemas));
    expect(err.message).toMatch(/nothing to publish: the staging schema .*_silver_next and .*_gold_next does not exist/);
  });
});
