/**
 * Appended files (src/bronze/append.ts): a file whose first bytes are the previous load's file has
 * only its tail loaded, and gives the bronze rows (but for `_run_id`), `__changes`, counts, ledger
 * figures and rejects of a whole load of the same file; every case it does not cover is a whole
 * load; a failed or killed run leaves bronze as it was.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bronzeSummary } from '../../src/runs/output.ts';
import { query, schemaNames, TEST_DATABASE_URL } from '../support/database.ts';
import { useBronzeLoads } from '../support/bronze-loads.ts';
import { headerOf } from '../support/source-fixtures.ts';

const { target, sales, load } = useBronzeLoads();

const HEADER = headerOf('sales_details');
/** A sales line: order n, product p. */
const line = (n: number, p = 'BK-R93R-62', cust = 11000 + (n % 50)) => `SO${50000 + n},${p},${cust},20131229,20140105,20140110,3578,1,3578`;
// 600 lines (three blocks of 256 and a part), a rejected line and a blank line among them
const OLD_LINES = [HEADER, ...Array.from({ length: 300 }, (_, i) => line(i)), 'SO1,too,few', '', ...Array.from({ length: 300 }, (_, i) => line(300 + i))];
const OLD = `${OLD_LINES.join('\r\n')}\r\n`;
// an existing key again (changed), an existing order with a new product (added), new orders, a
// duplicated new key, a blank line and a rejected line
const TAIL = [line(5), line(7, 'FR-R92B-58'), line(900), line(901), line(901), '', 'SO2,x,1,2,3,4,5,6,7,8', line(902)];
const NEW = `${OLD}${TAIL.join('\r\n')}\r\n`;
const TAIL2 = [line(900), line(950), line(951)];
const NEWER = `${NEW}${TAIL2.join('\r\n')}\r\n`;

const DATA = 'sls_ord_num, sls_prd_key, sls_cust_id, sls_order_dt, sls_ship_dt, sls_due_dt, sls_sales, sls_quantity, sls_price, _source_file, _line_number';

/** Everything a load leaves of sales_details but `_run_id` and the run's own ids. */
async function loadState(t: string, runId: number) {
  const s = schemaNames(t);
  return {
    rows: await query(`select ${DATA} from ${s.bronze}.sales_details order by _line_number`),
    changes: (await bronzeTables(t)).includes('sales_details__changes')
      ? await query(`select ${DATA}, change_side, change_kind from ${s.bronze}.sales_details__changes order by change_side, _line_number`)
      : [],
    counts: await query(
      `select status, added::int, changed::int, removed::int, moved::int from ${s.etl}.source_changes where run_id = $1 and source = 'sales_details'`,
      [runId],
    ),
    file: await query(
      `select sha256, bytes::int, line_ending, encoding, lines::int, row_lines::int, records::int, rows_loaded::int, rejects::int, blank_lines::int from ${s.etl}.source_files where run_id = $1 and source = 'sales_details'`,
      [runId],
    ),
    rejects: await query(
      `select line_number::int, column_number, reason, message, raw_text, raw_length::int, raw_sha256 from ${s.etl}.rejects where run_id = $1 and source = 'sales_details' order by line_number`,
      [runId],
    ),
  };
}

async function reused(t: string, runId: number): Promise<number | null> {
  const [r] = await query<{ n: number | null }>(
    `select reused_lines::int as n from ${schemaNames(t).etl}.source_files where run_id = $1 and source = 'sales_details'`,
    [runId],
  );
  return r!.n;
}

async function bronzeTables(t: string): Promise<string[]> {
  return (await query<{ t: string }>('select tablename as t from pg_tables where schemaname = $1 order by 1', [schemaNames(t).bronze])).map((r) => r.t);
}

describe('bronze: an appended file loads its tail only', () => {
  const appended = target('bappa');
  const whole = target('bappw');
  const fresh = target('bappf');

  it('says the lines appended and kept in the bronze summary', () => {
    const file = {
      source: 'sales_details',
      file: 'sales_details.csv',
      sha256: 'b',
      bytes: 1,
      lineEnding: 'CRLF',
      encoding: 'UTF-8',
      lines: 6017957,
      rowLines: 6017957,
      records: 6017956,
      rowsLoaded: 6017956,
      rejects: 0,
      rejectsByReason: {},
      blankLines: 0,
      seconds: 1,
      reusedLines: 6012345,
    } as const;
    const change = { source: 'sales_details', status: 'changed', fromSha256: 'a', toSha256: 'b', added: 5512, changed: 3, removed: 0, moved: 0 } as const;
    expect(bronzeSummary({ files: [file], changes: [change], seconds: 1 })).toContain(
      'sales_details: 5,512 added, 3 changed, 0 removed (5,612 lines appended to 6,012,345 kept)',
    );
  });

  it('gives the rows, __changes, counts, ledger figures and rejects of a whole load of the same file', async () => {
    const first = await load(appended, await sales(OLD));
    // the old file without its final line end: its last line is a record boundary only in the new file, so a whole load
    await load(whole, await sales(OLD.slice(0, -2)));
    const newDir = await sales(NEW);
    const a = await load(appended, newDir);
    const w = await load(whole, newDir);
    expect(await reused(appended, a.runId)).toBe(OLD_LINES.length);
    expect(await reused(whole, w.runId)).toBeNull();
    const stateA = await loadState(appended, a.runId);
    const stateW = await loadState(whole, w.runId);
    expect(stateA).toEqual(stateW);
    expect(stateA.counts).toEqual([{ status: 'changed', added: 4, changed: 1, removed: 0, moved: 0 }]);
    expect(stateA.file[0]).toMatchObject({ lines: OLD_LINES.length + TAIL.length, rejects: 2, blank_lines: 2 });
    expect(stateA.rejects.map((r) => r.line_number)).toEqual([302, OLD_LINES.length + 7]);
    // the kept rows keep the run that loaded them, the tail's are the appending run's
    const s = schemaNames(appended);
    expect(
      await query(`select _run_id::int as run, min(_line_number)::int as first, count(*)::int as n from ${s.bronze}.sales_details group by 1 order by 1`),
    ).toEqual([
      { run: first.runId, first: 2, n: 600 },
      { run: a.runId, first: OLD_LINES.length + 1, n: 6 },
    ]);
    // the summary says so
    const block = a.events.find((e) => e.event === 'bronze_summary') as { files: { source: string; appendedLines?: number; reusedLines?: number }[] };
    expect(block.files.find((f) => f.source === 'sales_details')).toMatchObject({ appendedLines: TAIL.length, reusedLines: OLD_LINES.length });
    expect((await bronzeTables(appended)).filter((x) => x.includes('__'))).toEqual(['sales_details__changes']);
  });

  it('appends to an appended load, and its block hashes serve the next whole diff', async () => {
    const newerDir = await sales(NEWER);
    const a = await load(appended, newerDir);
    expect(await reused(appended, a.runId)).toBe(OLD_LINES.length + TAIL.length);
    await load(fresh, newerDir);
    const rowsOf = (t: string) => query(`select ${DATA} from ${schemaNames(t).bronze}.sales_details order by _line_number`);
    expect(await rowsOf(appended)).toEqual(await rowsOf(fresh));
    expect((await loadState(appended, a.runId)).counts).toEqual([{ status: 'changed', added: 2, changed: 1, removed: 0, moved: 0 }]);
    const [blocks] = await query<{ n: number }>(
      `select array_length(blocks, 1) as n from ${schemaNames(appended).etl}.source_blocks where run_id = $1 and source = 'sales_details'`,
      [a.runId],
    );
    expect(blocks?.n).toBeGreaterThan(0);
    // a line in the middle changes: the appended table (by its merged hashes) and a table loaded
    // whole (by its own) give the same diff
    const edited = await sales(NEWER.replace(`${line(100)}\r\n`, `${line(100, 'FR-R92B-58')}\r\n`));
    const e = await load(appended, edited);
    const f = await load(fresh, edited);
    expect(await reused(appended, e.runId)).toBeNull();
    const stateE = await loadState(appended, e.runId);
    const stateF = await loadState(fresh, f.runId);
    expect(stateE.changes).toEqual(stateF.changes);
    expect(stateE.counts).toEqual([{ status: 'changed', added: 1, changed: 0, removed: 1, moved: 0 }]);
  });
});

describe('bronze: what is not an append is loaded whole', () => {
  const lf = OLD.replaceAll('\r\n', '\n');
  const cases: [string, string, string][] = [
    ['a truncated file', OLD, OLD.slice(0, OLD.lastIndexOf('\r\n', OLD.length - 3) + 2)],
    ['a changed line in the prefix', OLD, `${OLD.replace(line(10), line(10, 'FR-R92B-58'))}${line(990)}\r\n`],
    ['a changed header', OLD, `${OLD.replace(HEADER, HEADER.toUpperCase())}${line(990)}\r\n`],
    ['the same lines with another line ending', lf, `${OLD}${line(990)}\r\n`],
    ['a quote open at the end of the last line', `${OLD}SO3,"BK,11000,1,2,3,4,5,6\r\n`, `${OLD}SO3,"BK,11000,1,2,3,4,5,6\r\n${line(990)}\r\n`],
  ];
  for (const [name, before, after] of cases) {
    it(name, async () => {
      const t = target('bappx');
      await load(t, await sales(before));
      const dir = await sales(after);
      const run = await load(t, dir);
      expect(await reused(t, run.runId)).toBeNull();
      const f = target('bappy');
      const single = await load(f, dir);
      const rowsOf = (x: string) => query(`select ${DATA} from ${schemaNames(x).bronze}.sales_details order by _line_number`);
      expect(await rowsOf(t)).toEqual(await rowsOf(f));
      const { counts, changes, ...state } = await loadState(t, run.runId);
      const { counts: _c, changes: _ch, ...single_ } = await loadState(f, single.runId);
      expect(state).toEqual(single_);
    });
  }

  it('a table edited by hand since its load: the tail is dropped and the file loaded whole', async () => {
    const t = target('bappe');
    await load(t, await sales(OLD));
    const s = schemaNames(t);
    await query(`update ${s.bronze}.sales_details set sls_sales = '1' where _line_number = 3`);
    const run = await load(t, await sales(NEW));
    expect(await reused(t, run.runId)).toBeNull();
    const { file, rejects } = await loadState(t, run.runId);
    expect(file[0]).toMatchObject({ rejects: 2, lines: OLD_LINES.length + TAIL.length });
    expect(rejects).toHaveLength(2);
    expect(await query(`select sls_sales from ${s.bronze}.sales_details where _line_number = 3`)).toEqual([{ sls_sales: '3578' }]);
  });
});

describe('bronze: a failed or killed append leaves bronze as it was', () => {
  const t = target('bappk');
  const s = schemaNames(t);
  const snapshot = async () => ({
    rows: await query(`select ${DATA}, _run_id from ${s.bronze}.sales_details order by _line_number`),
    changes: await query(`select count(*)::int as n from ${s.bronze}.sales_details__changes`).catch(() => null),
  });

  it('too many rejects in the tail: exit 1, bronze unchanged', async () => {
    await load(t, await sales(OLD));
    const before = await snapshot();
    const bad = `${OLD}${Array.from({ length: 20 }, () => 'SO4,too,few').join('\r\n')}\r\n`;
    await load(t, await sales(bad), 1);
    expect(await snapshot()).toEqual(before);
    expect((await bronzeTables(t)).filter((x) => x.includes('__'))).toEqual([]);
  });

  it('killed inside the swap, the tail inserted: bronze unchanged, and the next run appends', async () => {
    const before = await snapshot();
    const dir = await sales(NEW);
    const child = spawn(process.execPath, [path.resolve('bin/medallion.js'), 'load', '--seeds', dir, '--target', t, '--log-format', 'json'], {
      env: { ...process.env, DATABASE_URL: TEST_DATABASE_URL, MEDALLION_FAILPOINTS: 'after-bronze-append' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
    expect(signal, output).toBe('SIGKILL');
    expect(output).toContain('bronze_file_loaded');
    expect(await snapshot()).toEqual(before);
    const next = await load(t, dir);
    expect(next.events.some((e) => e.event === 'run_abandoned')).toBe(true);
    expect(await reused(t, next.runId)).toBe(OLD_LINES.length);
    expect((await bronzeTables(t)).filter((x) => x.includes('__'))).toEqual(['sales_details__changes']);
  });
});
