/**
 * The functions of sql/functions, created from their files as a build creates them (compiled into
 * a target's etl schema): etl.real_date agrees with the calendar (JavaScript's, proleptic
 * Gregorian) on every year, month and day that matters, returns NULL instead of an error, and is
 * inlined by the planner, so the models that call it cost what the expression written out costs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaNames } from '../../src/config.ts';
import { type Client, ident } from '../../src/db/client.ts';
import { compileSql } from '../../src/transform/compile.ts';
import { dropTarget, testClient, uniqueTarget } from '../support/database.ts';

const target = uniqueTarget('sql_functions');
const schemas = schemaNames(target);
let client: Client;

beforeAll(async () => {
  client = await testClient();
  await client.query(`create schema ${ident(schemas.etl)}`);
  const file = path.resolve(import.meta.dirname, '../../sql/functions/real_date.sql');
  await client.query(compileSql(readFileSync(file, 'utf8'), schemas).sql);
});

afterAll(async () => {
  await client?.end();
  await dropTarget(target);
});

/** The date of (year, month, day) as YYYY-MM-DD, or null when the calendar has no such day. */
function calendarDate(year: number, month: number, day: number): string | null {
  if (year < 1 || year > 9999) return null;
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return null;
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

describe('etl.real_date', () => {
  it('is the calendar date, or NULL where the calendar has no such day (leap years, month lengths, bounds)', async () => {
    const years = [-1, 0, 1, 4, 100, 400, 1582, 1899, 1900, 1996, 2000, 2023, 2024, 2100, 9996, 9999, 10000];
    const cases: [number, number, number][] = [];
    for (const y of years) for (let m = -1; m <= 14; m++) for (let d = -1; d <= 33; d++) cases.push([y, m, d]);
    const { rows } = await client.query<{ y: number; m: number; d: number; date: string | null }>(
      `select y, m, d, ${ident(schemas.etl)}.real_date(y, m, d)::text as date
         from unnest($1::int[], $2::int[], $3::int[]) as c(y, m, d)`,
      [cases.map((c) => c[0]), cases.map((c) => c[1]), cases.map((c) => c[2])],
    );
    const wrong = rows.filter((r) => r.date !== calendarDate(r.y, r.m, r.d));
    expect(wrong).toEqual([]);
    // 14 years within 1 .. 9999, six of them leap years (4, 400, 1996, 2000, 2024, 9996; not 100, 1900, 2100)
    expect(rows.filter((r) => r.date !== null).length).toBe(14 * 365 + 6);
  });

  it('NULL in, NULL out', async () => {
    const { rows } = await client.query(`select ${ident(schemas.etl)}.real_date(null, 1, 1) as a, ${ident(schemas.etl)}.real_date(2024, null, 1) as b, ${ident(schemas.etl)}.real_date(2024, 1, null) as c`);
    expect(rows).toEqual([{ a: null, b: null, c: null }]);
  });

  it('is inlined: the plan holds the expression, not a call', async () => {
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(
      `explain (verbose, costs off) select ${ident(schemas.etl)}.real_date(g / 10000, g / 100 % 100, g % 100) from generate_series(20240101, 20240131) as g`,
    );
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toMatch(/make_date\(\(g \/ 10000\)/);
    expect(plan).not.toMatch(/real_date/);
  });
});
