/**
 * Every supported Postgres type through COPY (csv) → named pipe → DuckDB, read back with hyparquet (an
 * independent reader) and compared value by value with what Postgres says.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '../../src/db/client.ts';
import { exportTable } from '../../src/export/export-table.ts';
import { readColumns } from '../../src/export/types.ts';
import { readMetadata, readParquet, withSchema } from './helpers.ts';

let client: Client;
let schema: string;
let drop: () => Promise<void>;
let dir: string;

const SPECIAL_TEXT = [
  '', 'plain', 'comma, "quotes" and \'apostrophes\'', 'tab\there', 'new\nline', 'cr\rlf\r\n', 'back\\slash', '\\N', 'NULL',
  '\\\\N\\t', 'Zoë née Ünïcödé — 日本語 — 👩‍👩‍👧', 'trailing backslash \\', '\b\f\v controls', 'x'.repeat(5000),
];

beforeAll(async () => {
  ({ client, schema, drop } = await withSchema('export_rt'));
  dir = await mkdtemp(path.join(tmpdir(), 'export-rt-'));
  await client.query(`
    create table ${schema}.every_type (
      id            integer not null,
      small         smallint,
      big           bigint,
      big_notnull   bigint not null,
      num           numeric,
      money_col     numeric(12, 2),
      dbl           double precision,
      rl            real,
      flag          boolean,
      flag_notnull  boolean not null,
      d             date,
      ts            timestamp,
      tstz          timestamptz,
      txt           text,
      vc            varchar(20000),
      ch            char(3)
    )`);
  // Edge rows first, then generated ones.
  await client.query(`
    insert into ${schema}.every_type values
      (1, 32767, 9007199254740993, -9223372036854775808, 12345678901234567.891, 9999999999.99, 1.7976931348623157e308, 3.4e38,
       true, true, '1970-01-01', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00', '', 'a', 'abc'),
      (2, -32768, 9223372036854775807, 9223372036854775807, -0.000000123456789, -0.01, -0.0, -1.5,
       false, false, '1899-12-31', '1969-12-31 23:59:59.999999', '2000-02-29 12:34:56.789012+05:30', 'x', 'b', 'de'),
      (3, null, null, 0, null, null, null, null, null, true, null, null, null, null, null, null),
      (4, 0, -9007199254740993, 1, 'NaN', 0, 'Infinity', '-Infinity', true, false, '9999-12-31', '2262-04-11 23:47:16.854775',
       '1900-01-01 00:00:00+00', 'y', 'c', 'f'),
      (5, 1, 123456789012345, -123456789012345, 0.1, 0.1, 0.1, 0.1, false, true, '2024-02-29', '2024-02-29 23:59:59', '2024-02-29 23:59:59-08',
       'z', 'd', 'g')`);
  await client.query(`insert into ${schema}.every_type (id, big_notnull, flag_notnull, txt) select 100 + i, i, i % 2 = 0, t
                        from unnest($1::text[]) with ordinality u(t, i)`, [SPECIAL_TEXT]);
  await client.query(`
    insert into ${schema}.every_type
    select 1000 + g, (g % 30000)::smallint, g::bigint * 1000003, g, round((g * 1.37)::numeric, 3), round((g * 0.07)::numeric, 2),
           g / 7.0, (g / 3.0)::real, g % 3 = 0, g % 2 = 0,
           case when g % 11 = 0 then null else date '2011-01-01' + g % 2000 end,
           timestamp '2015-06-01' + g * interval '1 minute 1.000001 second',
           timestamptz '2015-06-01 00:00:00+00' + g * interval '1 second',
           case when g % 13 = 0 then null else 'row ' || g || repeat('é', g % 5) end,
           'v' || g, 'c'
      from generate_series(1, 5000) g`);
});

afterAll(async () => {
  await drop?.();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Postgres's own view of each value, as text or exact integers, in id order. */
async function expected() {
  const { rows } = await client.query(`
    select id::text, small::text, big::text, big_notnull::text, num::text, money_col::text, dbl::text, rl::text,
           flag, flag_notnull,
           ((d - date '1970-01-01')::bigint * 86400000)::text as d,
           (extract(epoch from ts) * 1000000)::bigint::text as ts,
           (extract(epoch from tstz) * 1000000)::bigint::text as tstz,
           txt, vc, ch
      from ${schema}.every_type t order by t.id`);
  return rows as Record<string, string | boolean | null>[];
}

function asInt(v: string | boolean | null): bigint | null {
  return v === null ? null : BigInt(v as string);
}
function asFloat(v: string | boolean | null): number | null {
  return v === null ? null : Number(v as string);
}

describe('exportTable round trip', () => {
  for (const compression of ['zstd', 'snappy'] as const) {
    it(`keeps every value of every type (${compression}, several row groups)`, async () => {
      const out = path.join(dir, `every_${compression}.parquet`);
      const result = await exportTable({ client, schema, table: 'every_type', outFile: out, rowGroupSize: 1000, compression });
      const want = await expected();
      expect(result.rows).toBe(want.length);
      const rows = (await readParquet(out)).sort((a, b) => Number(a.id) - Number(b.id));
      expect(rows).toHaveLength(want.length);
      for (let i = 0; i < want.length; i++) {
        const w = want[i]!;
        const g = rows[i]!;
        const ctx = `row id ${w.id}`;
        expect(g.id, ctx).toBe(asInt(w.id ?? null));
        for (const c of ['small', 'big', 'big_notnull']) expect(g[c], `${ctx} ${c}`).toBe(asInt(w[c]!));
        for (const c of ['num', 'money_col', 'dbl', 'rl']) {
          const e = asFloat(w[c]!);
          if (e === null) expect(g[c], `${ctx} ${c}`).toBeNull();
          else expect(Object.is(g[c], e) || (Number.isNaN(e) && Number.isNaN(g[c] as number)), `${ctx} ${c}: ${g[c]} vs ${w[c]}`).toBe(true);
        }
        expect(g.flag, ctx).toBe(w.flag);
        expect(g.flag_notnull, ctx).toBe(w.flag_notnull);
        for (const c of ['d', 'ts', 'tstz']) expect(g[c], `${ctx} ${c}`).toBe(asInt(w[c]!));
        for (const c of ['txt', 'vc', 'ch']) expect(g[c], `${ctx} ${c}`).toBe(w[c]);
      }
      // The special strings survive byte for byte, and the text '\N' is not NULL.
      const texts = rows.filter((r) => Number(r.id) >= 101 && Number(r.id) < 1000).map((r) => r.txt);
      expect(texts).toEqual(SPECIAL_TEXT);
      expect(result.columns.map((c) => c.name)).toEqual((await readColumns(client, schema, 'every_type')).map((c) => c.name));
      const meta = await readMetadata(out);
      // 1,000 rounds up to DuckDB's 2,048-row vectors
      expect(meta.row_groups.map((g) => Number(g.num_rows))).toEqual([2048, 2048, 923]);
      expect(meta.row_groups[0]!.columns[0]!.meta_data!.codec).toBe(compression === 'zstd' ? 'ZSTD' : 'SNAPPY');
    });
  }

  it('writes the Parquet types of the mapping table', async () => {
    const out = path.join(dir, 'types.parquet');
    await exportTable({ client, schema, table: 'every_type', outFile: out, rowGroupSize: 100_000, compression: 'snappy' });
    const meta = await readMetadata(out);
    const byName = Object.fromEntries(meta.schema.slice(1).map((s) => [s.name, s]));
    expect(byName.big!.type).toBe('INT64');
    expect(byName.small!.type).toBe('INT64');
    expect(byName.num!.type).toBe('DOUBLE');
    expect(byName.flag!.type).toBe('BOOLEAN');
    expect(byName.d!.type).toBe('INT64');
    expect(byName.d!.logical_type).toMatchObject({ type: 'TIMESTAMP', unit: 'MILLIS', isAdjustedToUTC: false });
    expect(byName.ts!.logical_type).toMatchObject({ type: 'TIMESTAMP', unit: 'MICROS', isAdjustedToUTC: false });
    expect(byName.tstz!.logical_type).toMatchObject({ type: 'TIMESTAMP', unit: 'MICROS', isAdjustedToUTC: true });
    expect(byName.txt!.type).toBe('BYTE_ARRAY');
    expect(byName.txt!.converted_type).toBe('UTF8');
    const kv = Object.fromEntries((meta.key_value_metadata ?? []).map((e) => [e.key, e.value]));
    const pandas = JSON.parse(kv.pandas!);
    const dtype = Object.fromEntries(pandas.columns.map((c: { name: string; numpy_type: string }) => [c.name, c.numpy_type]));
    expect(dtype).toMatchObject({ id: 'int64', big: 'Int64', flag: 'boolean', flag_notnull: 'bool', d: 'datetime64[ms]' });
    expect(kv['medallion.source']).toBe(`${schema}.every_type`);
  });

  it('cuts row groups at the configured size, rounded up to whole 2,048-row vectors', async () => {
    await client.query(`create table ${schema}.seq as select g as n from generate_series(1, 10000) g`);
    for (const [rowGroupSize, groups] of [[2048, [2048, 2048, 2048, 2048, 1808]], [4096, [4096, 4096, 1808]], [3000, [4096, 4096, 1808]], [20000, [10000]]] as const) {
      const out = path.join(dir, `seq_${rowGroupSize}.parquet`);
      const r = await exportTable({ client, schema, table: 'seq', outFile: out, rowGroupSize, compression: 'snappy' });
      expect(r.files[0]!.rowGroupRows).toEqual(groups);
      expect((await readParquet(out)).map((x) => Number(x.n))).toEqual(Array.from({ length: 10000 }, (_, i) => i + 1));
    }
  });

  it('exports an empty table as a valid file with its schema', async () => {
    await client.query(`create table ${schema}.empty (a bigint, b text)`);
    const out = path.join(dir, 'empty.parquet');
    const r = await exportTable({ client, schema, table: 'empty', outFile: out, rowGroupSize: 10, compression: 'zstd' });
    expect(r.rows).toBe(0);
    const meta = await readMetadata(out);
    expect(Number(meta.num_rows)).toBe(0);
    expect(meta.schema.slice(1).map((s) => s.name)).toEqual(['a', 'b']);
  });

  for (const [n, [kind, bad]] of ([['date', "'infinity'::date"], ['date', "'-infinity'::date"], ['date', "'0044-03-15 BC'::date"], ['date', "'10000-01-01'::date"],
    ['timestamp', "'10000-01-01'::timestamp"], ['timestamptz', "'0044-03-15 12:00+00 BC'::timestamptz"]] as const).entries()) {
    it(`fails, naming the column, on a ${kind} pandas cannot hold (${bad}) met mid-stream, and leaves the connection usable`, async () => {
      const table = `bad_${n}_${kind}`;
      // 300k rows: Postgres is still sending when DuckDB stops reading at the bad row.
      await client.query(`create table ${schema}.${table} as
        select g as id, case when g = 1000 then ${bad} else '2020-01-01'::${kind} end as at from generate_series(1, 300000) g`);
      await expect(exportTable({ client, schema, table, outFile: path.join(dir, `${table}.parquet`), rowGroupSize: 131072, compression: 'zstd' }))
        .rejects.toMatchObject({ code: 'EXPORT_FAILED', message: expect.stringMatching(new RegExp(`${schema}\\.${table}: .*\\bat\\b`)) });
      expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    });
  }

  it('keeps column names that need quoting, in their order', async () => {
    const names = ['it\'s', 'say "hi"', 'Ünï cödé', 'a,b', 'MixedCase'];
    await client.query(`create table ${schema}.odd_names (${names.map((n, i) => `"${n.replaceAll('"', '""')}" ${i % 2 ? 'text' : 'bigint'}`).join(', ')})`);
    await client.query(`insert into ${schema}.odd_names values (1, 'x', 2, 'y', 3), (null, null, null, null, null)`);
    const out = path.join(dir, 'odd_names.parquet');
    await exportTable({ client, schema, table: 'odd_names', outFile: out, rowGroupSize: 2048, compression: 'zstd' });
    const meta = await readMetadata(out);
    expect(meta.schema.slice(1).map((s) => s.name)).toEqual(names);
    expect(await readParquet(out)).toEqual([
      { "it's": 1n, 'say "hi"': 'x', 'Ünï cödé': 2n, 'a,b': 'y', MixedCase: 3n },
      { "it's": null, 'say "hi"': null, 'Ünï cödé': null, 'a,b': null, MixedCase: null },
    ]);
  });

  it('refuses a column type it has no mapping for, naming it', async () => {
    await client.query(`create table ${schema}.odd (a integer, j jsonb)`);
    await expect(exportTable({ client, schema, table: 'odd', outFile: path.join(dir, 'odd.parquet'), rowGroupSize: 10, compression: 'zstd' }))
      .rejects.toMatchObject({ code: 'EXPORT_FAILED', message: expect.stringContaining('j (jsonb)') });
  });
});
