/**
 * A bronze table's rows of an update's partitions read by line (src/transform/bronze-lines.ts):
 * the new rows of `__changes` and the rows at the published rows' lines, less the lines of
 * `__changes`, read by ctid ranges; the same rows as the filter of the whole table by the
 * partition expression, and nothing read by line when the table is not in line order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '../../src/db/client.ts';
import { ident } from '../../src/db/client.ts';
import { lineRanges, readBronzeByLines } from '../../src/transform/bronze-lines.ts';
import { inPartitions } from '../../src/transform/partition-predicates.ts';
import { testClient, uniqueTarget } from '../support/database.ts';

const schema = uniqueTarget('blines');
const s = ident(schema);
let client: Client;

/** The bronze columns of the test table: a key, a value, and the lineage. */
const COLUMNS = ['k', 'v', '_run_id', '_source_file', '_line_number'];
/** The partition expression of a row: the key's group (several keys, and so several lines, per partition). */
const VALUE = "(nullif(btrim(k), '')::int / 10)";

async function rowsOf(relation: string): Promise<string[]> {
  const { rows } = await client.query<{ r: string }>(`select t::text as r from ${relation} as t order by _line_number`);
  return rows.map((r) => r.r);
}

beforeAll(async () => {
  client = await testClient('bronze-lines-test');
  await client.query(`create schema ${s}`);
  // 20,000 lines in line order, as one COPY leaves them (several pages per sampled page)
  await client.query(
    `create table ${s}.loaded as
     select lpad(n::text, 6) as k, md5(n::text) as v, 2::bigint as _run_id, 'f.csv' as _source_file, (n + 1)::bigint as _line_number
       from generate_series(1, 20000) as n order by n`,
  );
  // the change since the published load: line 101 changed its value, line 5001 is a new key,
  // key 7000 (line 7001) is gone; the published model had a row per line of the previous load
  await client.query(
    `create table ${s}.changes as
     select t.*, 'new' as change_side, 'changed' as change_kind from ${s}.loaded t where _line_number in (101, 5001)
     union all select lpad('100', 6), 'old value', 1, 'f.csv', 101, 'old', 'changed'
     union all select lpad('7000', 6), md5('7000'), 1, 'f.csv', 7001, 'old', 'removed'`,
  );
  await client.query(`delete from ${s}.loaded where _line_number = 7001`);
  await client.query(`vacuum ${s}.loaded`);
  await client.query(
    `create table ${s}.published as select ${VALUE} as p, _line_number as line_number from ${s}.changes where change_side = 'old' union all select ${VALUE}, _line_number from ${s}.loaded where _line_number not in (101, 5001)`,
  );
  await client.query(`create table ${s}.partitions as select * from (values (10), (500), (700), (1999)) as p (key)`);
}, 60_000);

afterAll(async () => {
  await client.query(`drop schema if exists ${s} cascade`);
  await client.end();
});

describe('a bronze table read by line', () => {
  /** readBronzeByLines of the four partitions' lines of the fixture into `<s>.<into>`, its work tables suffixed. */
  const readPartitionsByLine = (into: string, suffix: string, maxLines?: number) =>
    readBronzeByLines(client, {
      table: `${s}.loaded`,
      changes: `${s}.changes`,
      columns: COLUMNS,
      lines: `select line_number as line from ${s}.published where p in (select key from ${s}.partitions)`,
      value: VALUE,
      partitions: `${s}.partitions`,
      into: `${s}.${into}`,
      work: { lines: `${s}.lines${suffix}`, found: `${s}.found${suffix}` },
      ...(maxLines !== undefined ? { maxLines } : {}),
    });

  it('gives a line the pages between the sampled pages around it, one range for lines close together', () => {
    const map = { pages: [0, 10, 20, 30], lines: [2, 500, 1000, 1500] };
    expect(lineRanges(map, [2])).toEqual(["t.ctid >= '(0,0)'::tid and t.ctid < '(10,0)'::tid"]);
    expect(lineRanges(map, [600, 700])).toEqual(["t.ctid >= '(10,0)'::tid and t.ctid < '(20,0)'::tid"]);
    expect(lineRanges(map, [600, 1200])).toEqual(["t.ctid >= '(10,0)'::tid and t.ctid < '(30,0)'::tid"]);
    expect(lineRanges(map, [2, 1600])).toEqual(["t.ctid >= '(0,0)'::tid and t.ctid < '(10,0)'::tid", "t.ctid >= '(30,0)'::tid"]);
  });

  it('holds the rows of the partitions, as a filter of the whole table does, from the changes and the published lines', async () => {
    const read = await readPartitionsByLine('by_line', '');
    expect(read).toBe(true);
    const expected = await rowsOf(`(select * from ${s}.loaded as t where ${inPartitions(VALUE, `${s}.partitions`)})`);
    // keys 100..109 (100 changed), 5000..5009 (5000 new), 7001..7009 (7000 gone), 19990..19999
    expect(expected.length).toBe(10 + 10 + 9 + 10);
    expect(await rowsOf(`${s}.by_line`)).toEqual(expected);
    // read by ctid ranges: the lines of the four partitions, not every line
    const { rows } = await client.query<{ n: number }>(`select count(*)::int as n from ${s}.lines`);
    expect(rows[0]!.n).toBe(9 + 9 + 9 + 10);
  });

  it('reads nothing by line when the lines are more than its bound, for a scan instead', async () => {
    const read = await readPartitionsByLine('by_line_bounded', '_bounded', 36);
    expect(read).toBe(false);
    const { rows } = await client.query<{ t: string | null }>(`select to_regclass($1) as t`, [`${schema}.by_line_bounded`]);
    expect(rows[0]!.t).toBeNull();
  });

  it('reads nothing by line from a table whose rows are not in line order, for a scan instead', async () => {
    // the rows of lines 102..104 (of partition 10) move to other pages, outside the range of the
    // lines of the partition
    await client.query(`update ${s}.loaded set v = v where _line_number between 102 and 104`);
    await client.query(`create table ${s}.partition_10 as select 10 as key`);
    const read = await readBronzeByLines(client, {
      table: `${s}.loaded`,
      changes: `${s}.changes`,
      columns: COLUMNS,
      lines: `select line_number as line from ${s}.published where p = 10`,
      value: VALUE,
      partitions: `${s}.partition_10`,
      into: `${s}.by_line_moved`,
      work: { lines: `${s}.lines_moved`, found: `${s}.found_moved` },
    });
    expect(read).toBe(false);
    const { rows } = await client.query<{ t: string | null }>(`select to_regclass($1) as t`, [`${schema}.by_line_moved`]);
    expect(rows[0]!.t).toBeNull();
  });
});
