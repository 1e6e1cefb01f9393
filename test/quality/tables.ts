/**
 * Small tables written by hand for the tests of data tests on an update: a published model, its
 * delta and its parents, each from literal rows.
 */
import { afterAll, beforeAll } from 'vitest';
import type { SchemaNames } from '../../src/config.ts';
import { type Client, ident, literal } from '../../src/db/client.ts';
import { loadProject, type ModelUpdate, type Project } from '../../src/transform/index.ts';
import { dropSchemas, removeProject, SOURCES, setUpTarget, testClient, uniqueTarget, writeProject } from '../transform/helpers.ts';

export type Row = readonly (string | number | null)[];

/** `select * from (values …) as v` of literal rows (NULL, numbers as they are, text quoted). */
export function valuesSql(rows: readonly Row[]): string {
  return `select * from (values ${rows.map((r) => `(${r.map((v) => (v === null ? 'null' : typeof v === 'number' ? String(v) : literal(v))).join(', ')})`).join(', ')}) as v`;
}

/** Creates `schema.name (columns)` holding the rows. */
export async function createTable(client: Client, schema: string, name: string, columns: string, rows: readonly Row[]): Promise<void> {
  await client.query(`create table ${ident(schema)}.${ident(name)} (${columns})`);
  if (rows.length) await client.query(`insert into ${ident(schema)}.${ident(name)} ${valuesSql(rows)}`);
}

/**
 * An update laid out as the engine lays it out (src/transform/incremental.ts): the update schema
 * with its `partitions` (column `key`, NULL a partition of its own) and the delta named like the
 * model, and the model in staging as the published rows of the other partitions `union all` the
 * delta.
 */
export async function layOutUpdate(
  client: Client,
  schemas: SchemaNames,
  u: { layer: 'silver' | 'gold'; name: string; column: string; updateSchema: string; columns: string; partitions: readonly (number | null)[]; delta: readonly Row[] },
): Promise<ModelUpdate> {
  const schema = ident(u.updateSchema);
  await client.query(`create schema ${schema}`);
  await client.query(`create table ${schema}.partitions (key int)`);
  for (const p of u.partitions) await client.query(`insert into ${schema}.partitions values (${p === null ? 'null' : p})`);
  await createTable(client, u.updateSchema, u.name, u.columns, u.delta);
  const p = `${schema}.partitions`;
  const col = ident(u.column);
  await client.query(
    `create view ${ident(schemas.staging[u.layer])}.${ident(u.name)} as
     select * from ${ident(schemas[u.layer])}.${ident(u.name)}
      where not coalesce(${col} in (select key from ${p} where key is not null), false) and not (${col} is null and exists (select from ${p} where key is null))
     union all select * from ${schema}.${ident(u.name)}`,
  );
  return { model: `${u.layer}.${u.name}`, column: u.column, schema: u.updateSchema, partitions: u.partitions.length, rows: u.delta.length, materialized: 'table' };
}

/** What a test file works on: a connection, a target with its ledger and a run, and a project. */
export interface Fixture {
  client: Client;
  schemas: SchemaNames;
  runId: number;
  project: Project;
}

/**
 * Before the file's tests: a connection, a target named from `prefix` (with its ledger and a run)
 * and the project of `files`, handed to `use`. After them: what `dropAll` drops, the target, the
 * connection and the project's folder.
 */
export function useFixture(prefix: string, files: Record<string, string>, use: (fixture: Fixture) => void, dropAll: () => Promise<void>): void {
  let fixture: Fixture | undefined;
  let dir: string | undefined;
  beforeAll(async () => {
    const client = await testClient();
    const { schemas, runId } = await setUpTarget(client, uniqueTarget(prefix));
    dir = await writeProject(files);
    fixture = { client, schemas, runId, project: await loadProject({ sqlDir: dir, sources: SOURCES }) };
    use(fixture);
  });
  afterAll(async () => {
    if (fixture) {
      await dropAll();
      await dropSchemas(fixture.client, fixture.schemas);
      await fixture.client.end();
    }
    if (dir) await removeProject(dir);
  });
}
