/**
 * Test database access. Tests run against a real PostgreSQL: TEST_DATABASE_URL, else DATABASE_URL,
 * else the local server's `test` database. Each test file works in its own target (schema prefix)
 * so files can run in parallel, and drops its schemas when it is done.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import {
  type ConnectionConfig,
  type PipelineConfig,
  parseArgs,
  PIPELINE_OPTIONS,
  resolveConnection,
  resolvePipelineConfig,
  schemaNames,
} from '../../src/config.ts';
import { type Client, connect } from '../../src/db/client.ts';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

/** A unique target name, e.g. `t_bronze_3fa2c1`: schemas t_bronze_3fa2c1_bronze, ..._etl. */
export function uniqueTarget(prefix: string): string {
  return `t_${prefix}_${randomBytes(3).toString('hex')}`.slice(0, 31);
}

/** The test database as the pipeline's own connection settings (the one definition tests use). */
export function testConnection(): ConnectionConfig {
  return resolveConnection({ 'database-url': TEST_DATABASE_URL }, { DATABASE_URL: TEST_DATABASE_URL });
}

export function testClient(purpose = 'medallion-test'): Promise<Client> {
  return connect(testConnection(), purpose);
}

export async function query<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = await testClient();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Drops every schema of a target (bronze, silver, gold, etl and their staging variants). */
export async function dropTarget(target: string): Promise<void> {
  const rows = await query<{ nspname: string }>('select nspname from pg_namespace where nspname like $1', [`${target}\\_%`]);
  for (const { nspname } of rows) await query(`drop schema if exists "${nspname}" cascade`);
}

/** A pipeline config for a test: the test database, the given target and folders. */
export function testConfig(target: string, argv: string[] = [], cwd = process.cwd()): PipelineConfig {
  const env = { DATABASE_URL: TEST_DATABASE_URL } as NodeJS.ProcessEnv;
  const { options } = parseArgs(['--target', target, ...argv], PIPELINE_OPTIONS, env);
  return resolvePipelineConfig(options, env, cwd);
}

export { schemaNames };
