import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SchemaNames } from '../../src/config.ts';
import { type Client, ident } from '../../src/db/client.ts';
import { MedallionError } from '../../src/errors.ts';
import { type BuildEvent, buildModels } from '../../src/transform/build-models.ts';
import { loadProject } from '../../src/transform/project.ts';
import { caught, createBronze, dropSchemas, removeProject, SOURCES, setUpTarget, testClient, uniqueTarget, modelYml, writeProject } from './helpers.ts';

let client: Client;
let schemas: SchemaNames;
let runId: number;
const dirs: string[] = [];

beforeAll(async () => {
  client = await testClient();
  ({ schemas, runId } = await setUpTarget(client, uniqueTarget('build')));
  await createBronze(client, schemas, 'cust_info', ['cst_id', 'cst_firstname'], [
    ['1', ' Ann '],
    ['2', 'Bob'],
    ['x', 'Bad'],
  ]);
});

afterAll(async () => {
  await dropSchemas(client, schemas);
  await client.end();
  for (const d of dirs) await removeProject(d);
});

async function project(files: Record<string, string>) {
  const dir = await writeProject(files);
  dirs.push(dir);
  return { dir, project: await loadProject({ sqlDir: dir, sources: SOURCES }) };
}

const BASE = {
  'silver/customers.sql': `-- one row per valid customer
select cst_id::int as customer_id, trim(cst_firstname) as first_name,
       current_setting('medallion.as_of')::date as as_of
from bronze.cust_info
where cst_id ~ '^[0-9]+$'
`,
  'silver/customers.yml': modelYml('customers', `
description: customers.
columns:
  - name: customer_id
  - name: first_name
  - name: not_there
`),
  'gold/customer_names.sql': 'select customer_id, upper(first_name) as name from silver.customers',
  'gold/customer_names.yml': modelYml('customer_names', 'config:\n  materialized: view\n'),
  'gold/customer_count.sql': 'select count(*) as n from gold.customer_names',
  'gold/customer_count.yml': modelYml('customer_count'),
};

describe('buildModels', () => {
  it('creates tables and views in order in the staging schemas, with as_of, row counts and events', async () => {
    const { project: p } = await project(BASE);
    const events: BuildEvent[] = [];
    const result = await buildModels({ client, schemas, project: p, asOf: '2024-03-01', runId, onEvent: (e) => events.push(e) });
    expect(result.staging).toEqual({ silver: `${schemas.silver}_next`, gold: `${schemas.gold}_next` });
    expect(result.models.map((m) => [m.model, m.materialized, m.rows])).toEqual([
      ['silver.customers', 'table', 2],
      ['gold.customer_names', 'view', null],
      ['gold.customer_count', 'table', 1],
    ]);
    expect(result.models[0]!.columns).toEqual([
      { name: 'customer_id', type: 'integer' },
      { name: 'first_name', type: 'text' },
      { name: 'as_of', type: 'date' },
    ]);
    const { rows } = await client.query(`select * from ${schemas.silver}_next.customers order by customer_id`);
    expect(rows).toEqual([
      { customer_id: 1, first_name: 'Ann', as_of: expect.any(Date) },
      { customer_id: 2, first_name: 'Bob', as_of: expect.any(Date) },
    ]);
    const asOf = await client.query(`select as_of::text from ${schemas.silver}_next.customers limit 1`);
    expect(asOf.rows[0].as_of).toBe('2024-03-01');
    const view = await client.query(`select name from ${schemas.gold}_next.customer_names order by name`);
    expect(view.rows.map((r) => r.name)).toEqual(['ANN', 'BOB']);
    // Tables are analyzed.
    const stats = await client.query(`select count(*)::int as n from pg_stats where schemaname = $1 and tablename = 'customers'`, [`${schemas.silver}_next`]);
    expect(stats.rows[0].n).toBeGreaterThan(0);
    // Memory settings were `set local`: the session keeps its own.
    expect((await client.query('show work_mem')).rows[0].work_mem).toBe('4MB');
    expect(events.map((e) => e.type)).toEqual(['build_started', 'model_started', 'warning', 'model_built', 'model_started', 'model_built', 'model_started', 'model_built']);
    expect(events[2]).toMatchObject({ type: 'warning', model: 'silver.customers', message: "column 'not_there' is documented but silver.customers has no such column" });
  });

  it('builds independent models on parallel connections with the same result as one at a time', async () => {
    const files = {
      ...BASE,
      'silver/names.sql': "select customer_id, lower(first_name) as name, current_setting('medallion.as_of') as as_of from silver.customers",
      'silver/names.yml': modelYml('names'),
      'silver/ids.sql': 'select cst_id from bronze.cust_info',
      'silver/ids.yml': modelYml('ids'),
    };
    // Two independent models that can only finish together (a barrier on advisory locks, held until
    // each model's statement ends): each takes its "arrived" lock, waits until the other's is held by
    // another backend, takes its "passed" lock, and leaves once the other has passed or ended. Each
    // records its backend, the other's, and when it started and ended. Built one at a time, the
    // first of them never sees the other arrive and fails.
    const meet = `${ident(schemas.etl)}.meet`;
    const key = Math.floor(Math.random() * 1e9);
    await client.query(`
      create or replace function ${meet}(me integer, peer integer)
      returns table (pid integer, peer_pid integer, started timestamptz, ended timestamptz) language plpgsql as $$
      declare
        t0 timestamptz := clock_timestamp();
        seen integer;
      begin
        perform pg_advisory_xact_lock(${key}, me);
        loop
          select l.pid into seen from pg_locks l
           where l.locktype = 'advisory' and l.classid = ${key} and l.objid = peer and l.objsubid = 2 and l.granted and l.pid <> pg_backend_pid();
          exit when seen is not null;
          if clock_timestamp() - t0 > interval '60 seconds' then
            raise exception 'model % never saw model % running on another connection', me, peer;
          end if;
          perform pg_sleep(0.01);
        end loop;
        perform pg_advisory_xact_lock(${key}, me + 10);
        while not exists (select 1 from pg_locks l where l.locktype = 'advisory' and l.classid = ${key} and l.objid = peer + 10 and l.objsubid = 2 and l.granted)
          and exists (select 1 from pg_locks l where l.locktype = 'advisory' and l.classid = ${key} and l.objid = peer and l.objsubid = 2 and l.granted) loop
          perform pg_sleep(0.01);
        end loop;
        return query select pg_backend_pid(), seen, t0, clock_timestamp();
      end $$`);
    const meeting = {
      'silver/meet_a.sql': `select * from ${meet}(1, 2)`,
      'silver/meet_a.yml': modelYml('meet_a'),
      'silver/meet_b.sql': `select * from ${meet}(2, 1)`,
      'silver/meet_b.yml': modelYml('meet_b'),
    };
    const { project: p } = await project(files);
    const { project: parallel } = await project({ ...files, ...meeting });
    const snapshot = async () =>
      (await client.query(`select (select json_agg(t order by customer_id) from ${schemas.silver}_next.names t) as names,
                                  (select json_agg(t order by cst_id) from ${schemas.silver}_next.ids t) as ids,
                                  (select json_agg(t) from ${schemas.gold}_next.customer_count t) as n`)).rows[0];
    await buildModels({ client, schemas, project: p, asOf: '2024-03-01', runId });
    const serial = await snapshot();
    const other = await testClient();
    try {
      const events: BuildEvent[] = [];
      const result = await buildModels({ client, parallelClients: [other], schemas, project: parallel, asOf: '2024-03-01', runId, onEvent: (e) => events.push(e) });
      expect(await snapshot()).toEqual(serial);
      expect(result.models.map((m) => m.model)).toEqual(parallel.models.map((m) => m.name)); // project order
      // a model starts only after the models it reads are built
      const at = (type: string, model: string) => events.findIndex((e) => e.type === type && 'model' in e && e.model === model);
      for (const m of parallel.models) for (const d of m.dependencies.filter((x) => x.startsWith('silver.') || x.startsWith('gold.'))) {
        expect(at('model_started', m.name)).toBeGreaterThan(at('model_built', d));
      }
      // the two meeting models ran at the same time, one on each connection
      const { rows } = await client.query<{ model: string; pid: number; peer_pid: number; started: Date; ended: Date }>(
        `select 'a' as model, * from ${schemas.silver}_next.meet_a union all select 'b', * from ${schemas.silver}_next.meet_b order by 1`,
      );
      const [a, b] = rows as [(typeof rows)[number], (typeof rows)[number]];
      const backend = async (c: Client) => (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      expect([a.pid, b.pid].sort()).toEqual([await backend(client), await backend(other)].sort());
      expect(a.peer_pid).toBe(b.pid);
      expect(b.peer_pid).toBe(a.pid);
      // each saw the other's lock (peer_pid above): they overlapped; the times agree, to the
      // millisecond a Date keeps (a start and an end may fall in the same one)
      expect(a.started.getTime()).toBeLessThanOrEqual(b.ended.getTime());
      expect(b.started.getTime()).toBeLessThanOrEqual(a.ended.getTime());
    } finally {
      await other.end();
    }
  });

  it('analyzes every bronze table it reads that has no statistics, with its connections sharing them out', async () => {
    for (const name of ['cust_az12', 'loc_a101', 'prd_info']) await createBronze(client, schemas, name, ['id'], [['1'], ['2']]);
    const { project: p } = await project({
      'silver/ids.sql': 'select id from bronze.cust_az12 union all select id from bronze.loc_a101 union all select id from bronze.prd_info',
      'silver/ids.yml': modelYml('ids'),
    });
    const analyzed = async () =>
      (await client.query<{ tablename: string }>(`select distinct tablename from pg_stats where schemaname = $1 order by 1`, [schemas.bronze])).rows.map((r) => r.tablename);
    expect(await analyzed()).not.toContain('loc_a101');
    const other = await testClient();
    try {
      await buildModels({ client, parallelClients: [other], schemas, project: p, asOf: '2024-03-01', runId });
    } finally {
      await other.end();
    }
    expect(await analyzed()).toEqual(expect.arrayContaining(['cust_az12', 'loc_a101', 'prd_info']));
  });

  it('drops and recreates the staging schemas on every build', async () => {
    await client.query(`create table ${schemas.silver}_next.stray (x int)`);
    const { project: p } = await project(BASE);
    await buildModels({ client, schemas, project: p, asOf: '2024-03-01', runId });
    const { rows } = await client.query(`select to_regclass('${schemas.silver}_next.stray') as t`);
    expect(rows[0].t).toBeNull();
  });

  it('an SQL error → MODEL_SQL_FAILED with Postgres message, file, and the line and column in the .sql file', async () => {
    const { dir, project: p } = await project({
      ...BASE,
      'gold/broken.sql': '-- a comment line\nselect customer_id,\n       no_such_column\nfrom silver.customers',
      'gold/broken.yml': modelYml('broken'),
    });
    const events: BuildEvent[] = [];
    const err = await caught(buildModels({ client, schemas, project: p, asOf: '2024-03-01', runId, onEvent: (e) => events.push(e) }));
    expect(err).toBeInstanceOf(MedallionError);
    const e = err as unknown as MedallionError;
    expect(e.code).toBe('MODEL_SQL_FAILED');
    expect(e.category).toBe('data');
    expect(e.message).toBe('gold.broken: column "no_such_column" does not exist');
    expect(e.context).toMatchObject({ file: `${dir}/gold/broken.sql`, line: 3, column: 8, model: 'gold.broken', sqlstate: '42703' });
    expect(e.describe()).toMatch(/broken\.sql:3 \(column 8\): gold\.broken: column "no_such_column" does not exist/);
    expect(events.at(-1)).toMatchObject({ type: 'model_failed', model: 'gold.broken' });
  });

  it('positions after a rewritten reference still map to the right line', async () => {
    const { project: p } = await project({
      'silver/a.sql': 'select *\nfrom bronze.cust_info c join bronze.cust_info d on c.cst_id = d.cst_id\nwhere c.cst_id = 1',
      'silver/a.yml': modelYml('a'),
    });
    const e = (await caught(buildModels({ client, schemas, project: p, asOf: '2024-03-01', runId }))) as unknown as MedallionError;
    expect(e.code).toBe('MODEL_SQL_FAILED');
    expect(e.message).toMatch(/operator does not exist: text = integer/);
    expect(e.context).toMatchObject({ line: 3, column: 16 });
  });

  it('a runtime data error (no position) is MODEL_SQL_FAILED naming the file', async () => {
    const { dir, project: p } = await project({ 'silver/a.sql': 'select 1 / (count(*) - count(*)) as x from bronze.cust_info', 'silver/a.yml': modelYml('a') });
    const e = (await caught(buildModels({ client, schemas, project: p, asOf: '2024-03-01', runId }))) as unknown as MedallionError;
    expect(e).toMatchObject({ code: 'MODEL_SQL_FAILED', message: 'silver.a: division by zero' });
    expect(e.context.file).toBe(`${dir}/silver/a.sql`);
  });

  it('declares NOT NULL on columns that unique_key, not_null or accepted_values promise; not when the data breaks it', async () => {
    const yml = modelYml(
      'people',
      `config:
  unique_key: [id]
columns:
  - name: name
    data_tests: [not_null]
  - name: status
    data_tests:
      - accepted_values: { values: [ok] }
  - name: note
    data_tests:
      - not_null: { config: { where: "id <> 'x'" } }
`,
    );
    const { project: p } = await project({
      'silver/people.sql': "select cst_id as id, cst_firstname as name, case when cst_id = 'x' then null else 'ok' end as status, cst_id as note from bronze.cust_info",
      'silver/people.yml': yml,
    });
    const staging = `${schemas.silver}_next`;
    const attnotnull = async () =>
      Object.fromEntries(
        (
          await client.query<{ attname: string; attnotnull: boolean }>(
            'select attname, attnotnull from pg_attribute where attrelid = $1::regclass and attnum > 0 order by attnum',
            [`"${staging}".people`],
          )
        ).rows.map((r) => [r.attname, r.attnotnull]),
      );
    // status is NULL on one row: the promise is broken, so no constraint at all (the test will say so)
    await buildModels({ client, schemas, project: p, asOf: '2024-03-01', runId });
    expect(await attnotnull()).toEqual({ id: false, name: false, status: false, note: false });
    const fixed = await project({
      'silver/people.sql': "select cst_id as id, cst_firstname as name, 'ok' as status, cst_id as note from bronze.cust_info",
      'silver/people.yml': yml,
    });
    await buildModels({ client, schemas, project: fixed.project, asOf: '2024-03-01', runId });
    expect(await attnotnull()).toEqual({ id: true, name: true, status: true, note: false });
  });

  it("sets a model's planner_settings for its own statement only: the next model plans with the defaults", async () => {
    const { project: p } = await project({
      'silver/steered.sql': "select current_setting('max_parallel_workers_per_gather') as workers, current_setting('enable_hashagg') as hashagg",
      'silver/steered.yml': modelYml('steered', 'config:\n  meta:\n    planner_settings:\n      max_parallel_workers_per_gather: 0\n      enable_hashagg: off\n'),
      'silver/after.sql': "select current_setting('max_parallel_workers_per_gather') as workers, current_setting('enable_hashagg') as hashagg from silver.steered",
      'silver/after.yml': modelYml('after'),
    });
    const defaults = (await client.query("select current_setting('max_parallel_workers_per_gather') as workers, current_setting('enable_hashagg') as hashagg")).rows[0];
    expect(defaults).not.toEqual({ workers: '0', hashagg: 'off' });
    await buildModels({ client, schemas, project: p, asOf: '2024-03-01', runId });
    const staging = `${schemas.silver}_next`;
    expect((await client.query(`select workers, hashagg from ${ident(staging)}.steered`)).rows).toEqual([{ workers: '0', hashagg: 'off' }]);
    expect((await client.query(`select workers, hashagg from ${ident(staging)}.after`)).rows).toEqual([defaults]);
  });

  it('a quarantine model must return exactly the quarantine columns', async () => {
    const { project: p } = await project({
      'silver/q.sql': "select 'silver.x' as model, 'r' as rule, 'm' as message, _source_file as source_file, _line_number::int as line_number, 1 as extra from bronze.cust_info",
      'silver/q.yml': modelYml('q', `
config:
  meta:
    quarantine: true
`),
    });
    const e = (await caught(buildModels({ client, schemas, project: p, asOf: '2024-03-01', runId }))) as unknown as MedallionError;
    expect(e.code).toBe('MODEL_SQL_FAILED');
    expect(e.message).toBe(
      'silver.q is a quarantine model and must return exactly the columns model text, rule text, message text, source_file text, line_number bigint, values jsonb: missing values; unexpected extra; line_number is integer, expected bigint',
    );
  });

  it('rejects a bad as_of before touching the database', async () => {
    const { project: p } = await project(BASE);
    const e = (await caught(buildModels({ client, schemas, project: p, asOf: '2024-02-30', runId }))) as unknown as MedallionError;
    expect(e).toMatchObject({ code: 'CONFIG_INVALID', category: 'usage' });
  });

  it('creates the functions of functions/ in the target etl schema before the models that call them, on every build', async () => {
    const files = {
      'functions/name_length.sql': '-- the length of a trimmed name\ncreate or replace function etl.name_length(name text) returns int language sql immutable parallel safe\nreturn length(btrim(name));\n',
      'silver/name_lengths.sql': 'select cst_id, etl.name_length(cst_firstname) as n from bronze.cust_info',
      'silver/name_lengths.yml': modelYml('name_lengths'),
    };
    const { project: p } = await project(files);
    expect(p.models[0]!.dependencies).toEqual(['bronze.cust_info']);
    await client.query(`drop function if exists ${ident(schemas.etl)}.name_length(text)`);
    await buildModels({ client, schemas, project: p, asOf: '2024-03-01', runId });
    const { rows } = await client.query(`select cst_id, n from ${ident(`${schemas.silver}_next`)}.name_lengths order by cst_id`);
    expect(rows).toEqual([
      { cst_id: '1', n: 3 },
      { cst_id: '2', n: 3 },
      { cst_id: 'x', n: 3 },
    ]);
    const fn = () => client.query('select oid::int, provolatile, proparallel from pg_proc where oid = $1::regprocedure', [`${schemas.etl}.name_length(text)`]);
    const first = (await fn()).rows;
    expect(first).toEqual([{ oid: expect.any(Number), provolatile: 'i', proparallel: 's' }]);
    // again: create or replace keeps the function (its oid), so what depends on it stays
    await buildModels({ client, schemas, project: p, asOf: '2024-03-01', runId });
    expect((await fn()).rows).toEqual(first);
  });

  it('a function file that is not one create function etl.<file name> → MODEL_FILE_INVALID naming the file and line', async () => {
    const { dir, project: p } = await project({
      ...BASE,
      'functions/twice.sql': '-- doc\ncreate function etl.other() returns int language sql return 1',
    });
    const e = (await caught(buildModels({ client, schemas, project: p, asOf: '2024-03-01', runId }))) as unknown as MedallionError;
    expect(e).toMatchObject({ code: 'MODEL_FILE_INVALID', message: `${dir}/functions/twice.sql:2: the function is named etl.other; a file of sql/functions creates etl.twice, named after the file` });
  });

  it('an SQL error in a function file → MODEL_SQL_FAILED with the line and column in that file', async () => {
    const { dir, project: p } = await project({
      ...BASE,
      'functions/broken.sql': '-- doc\ncreate or replace function etl.broken(x int) returns int language sql immutable\nreturn x + no_such_column;',
    });
    const e = (await caught(buildModels({ client, schemas, project: p, asOf: '2024-03-01', runId }))) as unknown as MedallionError;
    expect(e).toMatchObject({ code: 'MODEL_SQL_FAILED', message: 'etl.broken: column "no_such_column" does not exist' });
    expect(e.context).toMatchObject({ file: `${dir}/functions/broken.sql`, line: 3, column: 12, model: 'etl.broken' });
  });

  it('stops between models when the signal is aborted, with the reason of the signal', async () => {
    const { project: p } = await project(BASE);
    const controller = new AbortController();
    const reason = new Error('stop');
    const err = await caught(
      buildModels({ client, schemas, project: p, asOf: '2024-03-01', runId, signal: controller.signal, onEvent: (e) => e.type === 'model_built' && controller.abort(reason) }),
    );
    expect(err).toBe(reason);
  });
});
