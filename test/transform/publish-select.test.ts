/**
 * publishRelations, the publish of a selection: only the selected relations change, in one
 * transaction; the others keep their identity; privileges, our views and the user's views that
 * read a replaced relation follow it; nothing is published when the transaction fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '../../src/db/client.ts';
import { publishRelations } from '../../src/transform/publish.ts';
import { dropSchemas, setUpTarget, testClient, uniqueTarget } from './helpers.ts';

const target = uniqueTarget('pubsel');
const role = `${target}_reader`;
let client: Client;
let schemas: Awaited<ReturnType<typeof setUpTarget>>['schemas'];

async function publishedState(): Promise<void> {
  const s = schemas;
  for (const schema of [s.silver, s.gold, s.staging.silver, s.staging.gold]) await client.query(`drop schema if exists ${schema} cascade`);
  await client.query(`drop view if exists public.${target}_user_view`);
  await client.query(`create schema ${s.silver}; create schema ${s.gold}; create schema ${s.staging.silver}; create schema ${s.staging.gold}`);
  await client.query(`create table ${s.silver}.a as select 1 as n; create table ${s.silver}.keep as select 1 as n`);
  await client.query(`create view ${s.gold}.v as select n from ${s.silver}.a`);
  await client.query(`grant usage on schema ${s.silver} to ${role}; grant select on ${s.silver}.a to ${role}`);
  await client.query(`create view public.${target}_user_view as select n * 10 as n10 from ${s.silver}.a`);
  await client.query(`create table ${s.staging.silver}.a as select 2 as n`);
}

beforeAll(async () => {
  client = await testClient();
  ({ schemas } = await setUpTarget(client, target));
  await client.query(`do $$ begin create role ${role}; exception when duplicate_object then null; end $$`);
});
afterAll(async () => {
  await client.query(`drop view if exists public.${target}_user_view`);
  await dropSchemas(client, schemas);
  await client.query(`drop schema if exists ${schemas.silver}__prev_1 cascade`);
  await client.query(`drop owned by ${role}; drop role if exists ${role}`).catch(() => {});
  await client.end();
});

describe('publishRelations', () => {
  it('swaps only the selected relation; grants, our views and the user view follow it', async () => {
    await publishedState();
    const keepOid = (await client.query(`select '${schemas.silver}.keep'::regclass::oid as o`)).rows[0].o;
    const result = await publishRelations(client, schemas, ['silver.a'], {
      prevSuffix: '1',
    });
    expect(result.leftovers).toEqual([]);
    expect((await client.query(`select n from ${schemas.silver}.a`)).rows).toEqual([{ n: 2 }]);
    expect((await client.query(`select n from ${schemas.gold}.v`)).rows).toEqual([{ n: 2 }]);
    expect((await client.query(`select n10 from public.${target}_user_view`)).rows).toEqual([{ n10: 20 }]);
    expect((await client.query(`select has_table_privilege('${role}', '${schemas.silver}.a', 'select') as ok`)).rows[0].ok).toBe(true);
    expect((await client.query(`select '${schemas.silver}.keep'::regclass::oid as o`)).rows[0].o).toBe(keepOid);
    const left = await client.query(`select nspname from pg_namespace where nspname like '${target}\\_%' and (nspname like '%prev%' or nspname like '%next%')`);
    expect(left.rows).toEqual([]);
  });

  it('reports as carried only the user\'s views: a view the schema records as ours follows silently', async () => {
    await publishedState();
    // the record a publish leaves on the schema (markOurs in src/transform/publish.ts)
    await client.query(`comment on schema ${schemas.gold} is 'medallion-etl relations: v'`);
    const result = await publishRelations(client, schemas, ['silver.a'], { prevSuffix: '1' });
    expect((await client.query(`select n from ${schemas.gold}.v`)).rows).toEqual([{ n: 2 }]);
    expect((await client.query(`select n10 from public.${target}_user_view`)).rows).toEqual([{ n10: 20 }]);
    expect(result.carried).toEqual([`public.${target}_user_view`]);
  });

  it('publishes nothing when the transaction fails', async () => {
    await publishedState();
    await expect(
      publishRelations(client, schemas, ['silver.a'], {
        prevSuffix: '1',
        insideTransaction: async () => {
          throw new Error('lock lost');
        },
      }),
    ).rejects.toThrow();
    expect((await client.query(`select n from ${schemas.silver}.a`)).rows).toEqual([{ n: 1 }]);
    expect((await client.query(`select n from ${schemas.gold}.v`)).rows).toEqual([{ n: 1 }]);
  });
});
