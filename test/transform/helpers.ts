/**
 * Shared fixtures for the transform and quality tests: tiny model projects written to a temp
 * folder, a connection to the test database, and a unique target (schema prefix) per test file.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type SchemaNames, schemaNames } from '../../src/config.ts';
import { type Client, ident } from '../../src/db/client.ts';
import { ensureLedger, startRun } from '../../src/runs/ledger.ts';

export { testClient, uniqueTarget } from '../support/database.ts';

/** Every schema a build of `schemas` may create, for clean-up. */
export function allSchemas(schemas: SchemaNames): string[] {
  return [
    schemas.bronze,
    schemas.silver,
    schemas.gold,
    schemas.etl,
    `${schemas.silver}_next`,
    `${schemas.gold}_next`,
    `${schemas.silver}_prev`,
    `${schemas.gold}_prev`,
  ];
}

export async function dropSchemas(client: Client, schemas: SchemaNames): Promise<void> {
  for (const s of allSchemas(schemas)) await client.query(`drop schema if exists ${ident(s)} cascade`);
}

/** Creates the target's bronze schema and ledger; returns the schema names and a fresh run id. */
export async function setUpTarget(client: Client, target: string): Promise<{ schemas: SchemaNames; runId: number }> {
  const schemas = schemaNames(target);
  await dropSchemas(client, schemas);
  await client.query(`create schema ${ident(schemas.bronze)}`);
  await ensureLedger(client, schemas);
  const runId = await startRun(client, schemas, { target, command: 'test' });
  return { schemas, runId };
}

export async function newRun(client: Client, schemas: SchemaNames): Promise<number> {
  return startRun(client, schemas, { target: null, command: 'test' });
}

/** Writes `files` (paths relative to the project, e.g. `silver/a.sql`) into a new temp folder. */
export async function writeProject(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'medallion-models-'));
  await writeFiles(dir, files);
  return dir;
}

export async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    const file = path.join(dir, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
  }
}

export async function removeProject(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/** A checksum of a relation's rows, independent of row order. */
export async function checksum(client: Client, relation: string): Promise<string | null> {
  const { rows } = await client.query<{ md5: string | null }>(`select md5(string_agg(t::text, ',' order by t::text)) as md5 from ${relation} t`);
  return rows[0]!.md5;
}

export async function schemaExists(client: Client, schema: string): Promise<boolean> {
  const { rows } = await client.query('select 1 from pg_namespace where nspname = $1', [schema]);
  return rows.length > 0;
}

/** Expects `promise` to reject; returns the error. */
export async function caught(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}

/** The six bronze source names. */
export const SOURCES = ['cust_info', 'cust_az12', 'loc_a101', 'prd_info', 'px_cat_g1v2', 'sales_details'] as const;

/**
 * A model's .yml in dbt's shape (`version: 2`, `models:` with one entry named `name`); `body` is the
 * rest of that entry (description, config, columns, data_tests), written from column 0.
 */
export function modelYml(name: string, body = 'description: a test model.\n'): string {
  const entry = body.replace(/\n$/, '').split('\n').map((line) => (line ? `    ${line}` : line)).join('\n');
  return `version: 2\nmodels:\n  - name: ${name}\n${entry ? `${entry}\n` : ''}`;
}

/** Creates `<bronze>.<name>` with text columns plus lineage columns, and inserts `rows`. */
export async function createBronze(client: Client, schemas: SchemaNames, name: string, columns: string[], rows: (string | null)[][]): Promise<void> {
  const table = `${ident(schemas.bronze)}.${ident(name)}`;
  await client.query(`drop table if exists ${table}`);
  await client.query(`create table ${table} (${columns.map((c) => `${ident(c)} text`).join(', ')}, _run_id bigint, _source_file text, _line_number bigint)`);
  for (const [i, row] of rows.entries()) {
    const params = [...row, `${name}.csv`, i + 2];
    await client.query(
      `insert into ${table} values (${row.map((_, j) => `$${j + 1}`).join(', ')}, 1, $${row.length + 1}, $${row.length + 2})`,
      params,
    );
  }
}
