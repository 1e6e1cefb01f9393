/** PostgreSQL's errors on the project's SQL as MedallionErrors (src/sql-runtime/sql-error.ts, fromDatabaseError). */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeFor, fromDatabaseError, type MedallionError } from '../../src/errors.ts';
import { modelSqlError } from '../../src/sql-runtime/sql-error.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, testClient, uniqueTarget } from '../support/database.ts';
import { type FixtureDir, headerOf, VALID_ROWS, writeSources } from '../support/source-fixtures.ts';

const target = uniqueTarget('sql_error');
const scratch = `${target}_scratch`;
const fixtures: FixtureDir[] = [];

/** Random letters and digits: text PostgreSQL cannot compress below the size of an index entry. */
const incompressible = (chars: number) => randomBytes(chars).toString('base64').replace(/[^A-Za-z0-9]/g, 'x').slice(0, chars);

/** The error of indexing a column that holds one value of `chars` characters. */
async function indexError(chars: number): Promise<unknown> {
  const client = await testClient();
  try {
    await client.query(`create table ${scratch}.t${chars} (v text)`);
    await client.query(`insert into ${scratch}.t${chars} values ($1)`, [incompressible(chars)]);
    return await client.query(`create index on ${scratch}.t${chars} (v)`).then(() => undefined, (err: unknown) => err);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  await query(`create schema ${scratch}`);
});
afterAll(async () => {
  await query(`drop schema if exists ${scratch} cascade`);
  await dropTarget(target);
  await Promise.all(fixtures.map((f) => f.cleanup()));
});

describe('a value longer than an index entry holds', () => {
  // past 8191 bytes: "index row requires N bytes"; past 2704: "index row size N exceeds btree version 4 maximum"
  it.each([20_000, 3_000])('is the data, exit 1, with what to do, for a model build and for the publish (%i characters)', async (chars) => {
    const err = await indexError(chars);
    expect(err).toMatchObject({ code: '54000' });
    const built = modelSqlError(err, { model: 'silver.int_customers', file: 'sql/silver/int_customers.sql', doing: 'building silver.int_customers' });
    const published = fromDatabaseError(err, 'publishing the new silver and gold schemas');
    for (const e of [built, published] as MedallionError[]) {
      expect(e.code).toBe('MODEL_VALUE_TOO_LONG');
      expect(exitCodeFor(e)).toBe(1);
      expect(e.describe()).toContain('run with --max-field-bytes 1000 so that bronze loads the file again');
      expect(e.describe()).not.toMatch(/Fix the SQL|MD5 hash/);
    }
  });

  it('a build stops with exit 1 naming it, and goes on with the line rejected in bronze under --max-field-bytes 1000', async () => {
    const long = `SO${incompressible(3_000)},BK-R93R-62,11000,20101229,20110105,20110110,3578,1,3578`;
    const f = await writeSources({ sales_details: [headerOf('sales_details'), ...VALID_ROWS.sales_details, long].join('\r\n') });
    fixtures.push(f);
    const args = ['build', '--seeds', f.dir, '--target', target, '--skip-export', '--max-reject-rate', '0.5', '--log-format', 'json'];
    const failed = await runCli(args);
    expect(failed.code, failed.stderr).toBe(1);
    const last = JSON.parse(failed.stderr.trim().split('\n').at(-1)!);
    expect(last).toMatchObject({ event: 'run_finished', status: 'failed', error_code: 'MODEL_VALUE_TOO_LONG' });
    const rejected = await runCli([...args, '--max-field-bytes', '1000']);
    expect(rejected.code, rejected.stderr).toBe(0);
    const rejects = await query<{ reason: string }>(`select reason from ${target}_etl.rejects where run_id = (select max(run_id) from ${target}_etl.runs) and source = 'sales_details'`);
    expect(rejects.map((r) => r.reason)).toEqual(['RECORD_FIELD_TOO_LARGE']);
  });
});
