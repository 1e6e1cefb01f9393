/**
 * Bronze lineage (src/bronze/load.ts, lineageAsMissingValues): every row reads the `_run_id` and
 * `_source_file` of the load that wrote it, after a whole load and after an append; the rows COPY
 * wrote do not store them (the columns' missing value holds them); a table in the column order of
 * an older loader (`_run_id`, `_source_file`, `_line_number`) still takes an append and a diff.
 */
import { describe, expect, it } from 'vitest';
import { query, schemaNames, testClient } from '../support/database.ts';
import { useBronzeLoads } from '../support/bronze-loads.ts';
import { headerOf } from '../support/source-fixtures.ts';

const bronze = useBronzeLoads();
const { target, sales } = bronze;
/** Loads `dir` into `t` (exit 0) and returns the run's id. */
const load = async (t: string, dir: string) => (await bronze.load(t, dir)).runId;

const line = (n: number, p = 'BK-R93R-62') => `SO${50000 + n},${p},${11000 + (n % 50)},20131229,20140105,20140110,3578,1,3578`;
const OLD_LINES = [headerOf('sales_details'), ...Array.from({ length: 600 }, (_, i) => line(i))];
const OLD = `${OLD_LINES.join('\r\n')}\r\n`;
const NEW = `${OLD}${[line(5), line(900), line(901)].join('\r\n')}\r\n`;
const EDITED = NEW.replace(`${line(100)}\r\n`, `${line(100, 'FR-R92B-58')}\r\n`);

/** The lines the load of `run` kept from the previous load (null: a whole load). */
async function reusedLines(t: string, run: number): Promise<number | null> {
  const [row] = await query<{ n: number | null }>(
    `select reused_lines::int as n from ${schemaNames(t).etl}.source_files where run_id = $1 and source = 'sales_details'`,
    [run],
  );
  return row!.n;
}

const DATA = 'sls_ord_num, sls_prd_key, sls_cust_id, sls_order_dt, sls_ship_dt, sls_due_dt, sls_sales, sls_quantity, sls_price, _source_file, _line_number';

/** Per run, the lines whose rows carry it, and the files they name. */
async function lineage(t: string) {
  return query(
    `select _run_id::int as run, min(_line_number)::int as first, max(_line_number)::int as last, count(*)::int as n, array_agg(distinct _source_file) as files
       from ${schemaNames(t).bronze}.sales_details group by 1 order by 1`,
  );
}

/** The lineage constants as pg_attribute holds them: a missing value, no default. */
async function lineageAttributes(t: string) {
  return query(
    `select attname, atthasmissing, attmissingval::text as missing, atthasdef, attnotnull from pg_attribute
      where attrelid = $1::regclass and attname in ('_run_id', '_source_file') order by attnum`,
    [`${schemaNames(t).bronze}.sales_details`],
  );
}

async function columnOrder(t: string, table = 'sales_details'): Promise<string[]> {
  const rows = await query<{ c: string }>(
    'select column_name as c from information_schema.columns where table_schema = $1 and table_name = $2 order by ordinal_position',
    [schemaNames(t).bronze, table],
  );
  return rows.map((r) => r.c);
}

/** The sales_details table rewritten in the older column order, in one transaction that the ledger names as its load. */
async function toOlderColumnOrder(t: string, runId: number) {
  const s = schemaNames(t);
  const data = DATA.replace(', _source_file, _line_number', '');
  await query(
    `begin;
     create table ${s.bronze}.sales_details__older as select ${data}, _run_id, _source_file, _line_number from ${s.bronze}.sales_details order by _line_number;
     drop table ${s.bronze}.sales_details;
     alter table ${s.bronze}.sales_details__older rename to sales_details;
     update ${s.etl}.source_files set load_xid = pg_current_xact_id()::xid::text where run_id = ${runId} and source = 'sales_details';
     commit;`,
  );
}

describe('bronze lineage columns', () => {
  const t = target('blina');

  it('a whole load: every row reads its run and file, which no row stores', async () => {
    const run = await load(t, await sales(OLD));
    expect(await lineage(t)).toEqual([{ run, first: 2, last: 601, n: 600, files: ['sales_details.csv'] }]);
    expect(await lineageAttributes(t)).toEqual([
      { attname: '_run_id', atthasmissing: true, missing: `{${run}}`, atthasdef: false, attnotnull: true },
      { attname: '_source_file', atthasmissing: true, missing: '{sales_details.csv}', atthasdef: false, attnotnull: true },
    ]);
    expect((await columnOrder(t)).slice(-3)).toEqual(['_line_number', '_run_id', '_source_file']);
    // the same rows with the two columns stored take more pages
    const s = schemaNames(t);
    const client = await testClient('blineage');
    try {
      await client.query(`create temporary table stored as select * from ${s.bronze}.sales_details`);
      const { rows } = await client.query<{ loaded: string; stored: string }>(
        `select pg_relation_size($1::regclass) as loaded, pg_relation_size('stored') as stored`,
        [`${s.bronze}.sales_details`],
      );
      expect(Number(rows[0]!.loaded)).toBeLessThan(Number(rows[0]!.stored));
    } finally {
      await client.end();
    }
    // an insert that does not name them claims no load
    await expect(query(`insert into ${s.bronze}.sales_details (sls_ord_num, _line_number) values ('SO1', 9999)`)).rejects.toThrow(/_run_id/);
  });

  it('an append: the kept rows read the run that loaded them, the tail rows the appending run', async () => {
    const [{ run: first }] = (await lineage(t)) as [{ run: number }];
    const run = await load(t, await sales(NEW));
    expect(await reusedLines(t, run)).toBe(OLD_LINES.length);
    expect(await lineage(t)).toEqual([
      { run: first, first: 2, last: 601, n: 600, files: ['sales_details.csv'] },
      { run, first: 602, last: 604, n: 3, files: ['sales_details.csv'] },
    ]);
    expect((await lineageAttributes(t)).map((a) => a.missing)).toEqual([`{${first}}`, '{sales_details.csv}']);
  });
});

describe('bronze lineage columns: a table in the older column order', () => {
  const older = target('blino');
  const fresh = target('blinf');
  const rowsOf = (x: string) => query(`select ${DATA} from ${schemaNames(x).bronze}.sales_details order by _line_number`);
  const changesOf = (x: string) =>
    query(
      `select ${DATA}, _run_id is not null as has_run, change_side, change_kind from ${schemaNames(x).bronze}.sales_details__changes order by change_side, _line_number`,
    );

  it('takes an append', async () => {
    const first = await load(older, await sales(OLD));
    await toOlderColumnOrder(older, first);
    expect((await columnOrder(older)).slice(-3)).toEqual(['_run_id', '_source_file', '_line_number']);
    const newDir = await sales(NEW);
    const run = await load(older, newDir);
    expect(await reusedLines(older, run)).toBe(OLD_LINES.length);
    expect(await lineage(older)).toEqual([
      { run: first, first: 2, last: 601, n: 600, files: ['sales_details.csv'] },
      { run, first: 602, last: 604, n: 3, files: ['sales_details.csv'] },
    ]);
    await load(fresh, await sales(OLD));
    await load(fresh, newDir);
    expect(await rowsOf(older)).toEqual(await rowsOf(fresh));
    expect(await changesOf(older)).toEqual(await changesOf(fresh));
  });

  it('is diffed by a whole load, which replaces it in the new order', async () => {
    const s = schemaNames(older);
    expect((await columnOrder(older)).slice(-3)).toEqual(['_run_id', '_source_file', '_line_number']);
    const editedDir = await sales(EDITED);
    await load(older, editedDir);
    await load(fresh, editedDir);
    expect(await changesOf(older)).toEqual(await changesOf(fresh));
    expect(await query(`select count(*)::int as n from ${s.bronze}.sales_details__changes`)).toEqual([{ n: 2 }]);
    expect(await rowsOf(older)).toEqual(await rowsOf(fresh));
    expect((await columnOrder(older)).slice(-3)).toEqual(['_line_number', '_run_id', '_source_file']);
  });
});
