/**
 * Change detection in bronze: a file that is the one its table was loaded from is kept (not
 * loaded again, its rows keep the loading run's id, the run's ledger rows reconcile); a changed
 * file is diffed by key against the table it replaces, with duplicated and NULL keys, into exact
 * counts and an exact `<source>__changes` table.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { BLOCK_LINES, BlockHashStream, differingBlocks, type LoadBlocks } from '../../src/bronze/block-hashes.ts';
import { currentBronzeChanges } from '../../src/bronze/changes.ts';
import type { SourceChange } from '../../src/bronze/index.ts';
import { changeText } from '../../src/runs/output.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, schemaNames, testClient, uniqueTarget } from '../support/database.ts';
import { type FixtureDir, headerOf, writeSources } from '../support/source-fixtures.ts';

const target = uniqueTarget('bchanges');
const schemas = schemaNames(target);
const fixtures: FixtureDir[] = [];

afterAll(async () => {
  await dropTarget(target);
  for (const f of fixtures) await f.cleanup();
});

async function sources(overrides: Parameters<typeof writeSources>[0] = {}) {
  const f = await writeSources(overrides);
  fixtures.push(f);
  return f;
}

async function load(dir: string) {
  const r = await runCli(['load', '--seeds', dir, '--target', target]);
  expect(r.code, r.stderr).toBe(0);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { runId: Number(events.find((e) => e.event === 'run_started')!.run_id), events };
}

async function changesOf(runId: number) {
  return query(`select source, status, from_sha256, to_sha256, added::int, changed::int, removed::int, moved::int from ${schemas.etl}.source_changes where run_id = $1 order by source`, [runId]);
}

async function bronzeTables(): Promise<string[]> {
  return (await query<{ t: string }>('select tablename as t from pg_tables where schemaname = $1 order by 1', [schemas.bronze])).map((r) => r.t);
}

// cust_info, keyed by cst_id: a removed key, a changed one, a duplicated key with one row
// changed, a NULL key that gains a row, an exact duplicate that loses a copy, a key that only
// moves (a line above it went), and two added keys, one of them empty ('' is not NULL).
const CUST = headerOf('cust_info');
const OLD_CUSTOMERS = [
  CUST,
  '11000,AW00011000,Jon,Yang,M,M,2025-10-06', //     2 the same line in both
  '11001,AW00011001,Eug,Huang,S,F,2025-10-06', //    3 removed
  '11002,AW00011002,Ruben,Torres,,,2025-10-07', //   4 changed
  '11003,AW00011003,Ann,Bo,M,M,2025-10-01', //       5 duplicated key, one row changes
  '11003,AW00011003,Ann,Bo,M,M,2025-10-02', //       6
  ',SF566,,,,,', //                                  7 NULL key
  '11004,AW00011004,Cy,Do,S,M,2025-10-03', //        8 moves to 7
  '11005,AW00011005,Ed,Fu,S,M,2025-10-04', //        9 exact duplicate …
  '11005,AW00011005,Ed,Fu,S,M,2025-10-04', //       10 … that loses a copy
].join('\r\n');
const NEW_CUSTOMERS = [
  CUST,
  '11000,AW00011000,Jon,Yang,M,M,2025-10-06', //     2
  '11002,AW00011002,Ruben,Torrez,,,2025-10-07', //   3
  '11003,AW00011003,Ann,Bo,M,M,2025-10-01', //       4
  '11003,AW00011003,Ann,Bo,M,M,2025-10-09', //       5
  ',SF566,,,,,', //                                  6
  '11004,AW00011004,Cy,Do,S,M,2025-10-03', //        7
  '11005,AW00011005,Ed,Fu,S,M,2025-10-04', //        8
  '11006,AW00011006,Gil,Ha,M,F,2025-10-05', //       9 added
  ',13451235,,,,,', //                              10 a second NULL-key row
  '"",X1,,,,,', //                                  11 added: the empty key
].join('\r\n');

describe('bronze change detection', () => {
  let first: number;
  let oldCustomers: FixtureDir;

  it('a first load is new for every source and writes no __changes table', async () => {
    oldCustomers = await sources({ cust_info: OLD_CUSTOMERS });
    ({ runId: first } = await load(oldCustomers.dir));
    const changes = await changesOf(first);
    expect(changes.map((c) => [c.source, c.status, c.from_sha256, c.added])).toEqual(
      ['cust_az12', 'cust_info', 'loc_a101', 'prd_info', 'px_cat_g1v2', 'sales_details'].map((s) => [s, 'new', null, null]),
    );
    expect((await bronzeTables()).filter((t) => t.includes('__'))).toEqual([]);
  });

  it('the same files again are kept: nothing is loaded, the rows keep the first run id, and the ledger reconciles', async () => {
    const { runId, events } = await load(oldCustomers.dir);
    expect(events.filter((e) => e.event === 'bronze_file_loaded')).toEqual([]);
    expect(events.filter((e) => e.event === 'bronze_file_kept').map((e) => e.kept_from_run)).toEqual([first, first, first, first, first, first]);
    for (const t of ['cust_info', 'sales_details', 'px_cat_g1v2']) {
      expect(await query(`select distinct _run_id::int as run from ${schemas.bronze}.${t}`)).toEqual([{ run: first }]);
    }
    expect((await changesOf(runId)).every((c) => c.status === 'unchanged' && c.from_sha256 === c.to_sha256 && c.added === 0 && c.moved === 0)).toBe(true);
    // The run's source_files rows are the kept loads' figures, and every line is accounted for.
    const files = await query<{ source: string; lines: number; blank_lines: number; row_lines: number; rejects: number; rows_loaded: number; kept_from_run: number; rows: number }>(
      `select f.source, f.lines::int, f.blank_lines::int, f.row_lines::int, f.rejects::int, f.rows_loaded::int, f.kept_from_run::int,
              (select count(*)::int from ${schemas.etl}.source_files k where k.run_id = f.kept_from_run and k.source = f.source and k.sha256 = f.sha256 and k.rows_loaded = f.rows_loaded) as rows
         from ${schemas.etl}.source_files f where f.run_id = $1 order by f.source`,
      [runId],
    );
    expect(files).toHaveLength(6);
    for (const f of files) {
      expect(f.kept_from_run).toBe(first);
      expect(f.rows).toBe(1);
      expect(1 + f.blank_lines + f.row_lines + f.rejects).toBe(f.lines);
    }
    expect(files.find((f) => f.source === 'cust_info')).toMatchObject({ lines: 10, rows_loaded: 9 });
    const [summary] = await query<{ bronze: { source: string; kept_from_run?: number }[] }>(`select summary -> 'bronze' as bronze from ${schemas.etl}.runs where run_id = $1`, [runId]);
    expect(summary!.bronze.map((b) => b.kept_from_run)).toEqual([first, first, first, first, first, first]);
  });

  it('a changed file is diffed by key: exact added, changed, removed and moved counts with duplicated and NULL keys', async () => {
    const changed = await sources({ cust_info: NEW_CUSTOMERS });
    const { runId, events } = await load(changed.dir);
    const [cust] = (await changesOf(runId)).filter((c) => c.source === 'cust_info');
    const [before] = await query<{ sha256: string }>(`select sha256 from ${schemas.etl}.source_files where run_id = $1 and source = 'cust_info'`, [first]);
    const [after] = await query<{ sha256: string }>(`select sha256 from ${schemas.etl}.source_files where run_id = $1 and source = 'cust_info'`, [runId]);
    expect(cust).toEqual({ source: 'cust_info', status: 'changed', from_sha256: before!.sha256, to_sha256: after!.sha256, added: 2, changed: 4, removed: 1, moved: 1 });
    // the other five were kept, their rows still the first run's
    expect((await changesOf(runId)).filter((c) => c.source !== 'cust_info').map((c) => c.status)).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged', 'unchanged']);
    expect(await query(`select distinct _run_id::int as run from ${schemas.bronze}.sales_details`)).toEqual([{ run: first }]);
    expect(await query(`select distinct _run_id::int as run from ${schemas.bronze}.cust_info`)).toEqual([{ run: runId }]);
    // the run's bronze summary says it, as the pretty output does
    const block = events.find((e) => e.event === 'bronze_summary') as { changes: SourceChange[] } | undefined;
    expect(block?.changes.find((c) => c.source === 'cust_info')).toMatchObject({ added: 2, changed: 4, removed: 1, moved: 1 });
    const [summary] = await query<{ changes: { source: string; status: string }[] }>(`select summary -> 'changes' as changes from ${schemas.etl}.runs where run_id = $1`, [runId]);
    expect(summary!.changes.find((c) => c.source === 'cust_info')).toMatchObject({ status: 'changed', added: 2, changed: 4, removed: 1, moved: 1 });

    // __changes: every row of each key that differs, old side from the previous table, new side from the current one
    const rows = await query(
      `select change_side, change_kind, cst_id, cst_lastname, cst_create_date, _line_number::int as line, _run_id::int as run
         from ${schemas.bronze}.cust_info__changes order by change_side desc, _line_number`,
    );
    const old = (kind: string, id: string | null, last: string | null, date: string | null, line: number) => ({ change_side: 'old', change_kind: kind, cst_id: id, cst_lastname: last, cst_create_date: date, line, run: first });
    const neu = (kind: string, id: string | null, last: string | null, date: string | null, line: number) => ({ change_side: 'new', change_kind: kind, cst_id: id, cst_lastname: last, cst_create_date: date, line, run: runId });
    expect(rows).toEqual([
      old('removed', '11001', 'Huang', '2025-10-06', 3),
      old('changed', '11002', 'Torres', '2025-10-07', 4),
      old('changed', '11003', 'Bo', '2025-10-01', 5),
      old('changed', '11003', 'Bo', '2025-10-02', 6),
      old('changed', null, null, null, 7),
      old('moved', '11004', 'Do', '2025-10-03', 8),
      old('changed', '11005', 'Fu', '2025-10-04', 9),
      old('changed', '11005', 'Fu', '2025-10-04', 10),
      neu('changed', '11002', 'Torrez', '2025-10-07', 3),
      neu('changed', '11003', 'Bo', '2025-10-01', 4),
      neu('changed', '11003', 'Bo', '2025-10-09', 5),
      neu('changed', null, null, null, 6),
      neu('moved', '11004', 'Do', '2025-10-03', 7),
      neu('changed', '11005', 'Fu', '2025-10-04', 8),
      neu('added', '11006', 'Ha', '2025-10-05', 9),
      neu('changed', null, null, null, 10),
      neu('added', '', null, null, 11),
    ]);
    // the table's columns: the bronze table's, then change_side and change_kind
    const columns = await query<{ column_name: string }>('select column_name from information_schema.columns where table_schema = $1 and table_name = $2 order by ordinal_position', [schemas.bronze, 'cust_info__changes']);
    expect(columns.map((c) => c.column_name)).toEqual(['cst_id', 'cst_key', 'cst_firstname', 'cst_lastname', 'cst_marital_status', 'cst_gndr', 'cst_create_date', '_line_number', '_run_id', '_source_file', 'change_side', 'change_kind']);
    const [comment] = await query<{ c: string }>(`select obj_description($1::regclass) as c`, [`${schemas.bronze}.cust_info__changes`]);
    expect(comment!.c).toContain(`from ${before!.sha256} to ${after!.sha256}`);

    // what the incremental models read: the step __changes describes, per source
    const client = await testClient('bchanges');
    try {
      const described = await currentBronzeChanges(client, schemas);
      expect(described.get('cust_info')).toEqual({
        runId, source: 'cust_info', status: 'changed', fromSha256: before!.sha256, toSha256: after!.sha256, added: 2, changed: 4, removed: 1, moved: 1, changesTable: `${schemas.bronze}.cust_info__changes`,
      });
      // a source never diffed: its loading run recorded it new, and it has no __changes
      expect(described.get('sales_details')).toMatchObject({ runId: first, status: 'new', changesTable: null });
    } finally {
      await client.end();
    }

    // the same changed files once more: kept, and __changes still describes the step to them
    const again = await load(changed.dir);
    expect((await changesOf(again.runId)).every((c) => c.status === 'unchanged')).toBe(true);
    expect(await query(`select count(*)::int as n from ${schemas.bronze}.cust_info__changes`)).toEqual([{ n: 17 }]);
    expect((await bronzeTables()).filter((t) => t.includes('__'))).toEqual(['cust_info__changes']);
  });

  it('a table that no longer holds its recorded load is loaded again, not kept', async () => {
    const f = await sources({ cust_info: NEW_CUSTOMERS });
    await query(`delete from ${schemas.bronze}.px_cat_g1v2 where _line_number = 2`);
    const { runId, events } = await load(f.dir);
    expect(events.filter((e) => e.event === 'bronze_file_loaded').map((e) => e.source)).toEqual(['px_cat_g1v2']);
    expect(await query(`select count(*)::int as n, min(_run_id)::int as run from ${schemas.bronze}.px_cat_g1v2`)).toEqual([{ n: 2, run: runId }]);
    // diffed against what the table held: the deleted row is back
    expect((await changesOf(runId)).find((c) => c.source === 'px_cat_g1v2')).toMatchObject({ status: 'unchanged', added: 1, changed: 0, removed: 0, moved: 0 });
  });

  it('says each source in one line', () => {
    const c = (x: Partial<SourceChange>): SourceChange => ({ source: 'sales_details', status: 'changed', fromSha256: 'a', toSha256: 'b', added: 0, changed: 0, removed: 0, moved: 0, ...x });
    expect(changeText(c({ added: 5512, changed: 3 }))).toBe('5,512 added, 3 changed, 0 removed');
    expect(changeText(c({ removed: 2, moved: 1200 }))).toBe('0 added, 0 changed, 2 removed, 1,200 moved');
    expect(changeText(c({ status: 'unchanged', toSha256: 'a' }))).toBe('unchanged');
    expect(changeText(c({ status: 'new', fromSha256: null, added: null, changed: null, removed: null, moved: null }))).toBe('new');
  });
});

describe('block hashes', () => {
  // COPY bytes as the scanner forwards them: each record's bytes and `,<line>\n`.
  const records = (rows: [string, number][]) => rows.map(([r, line]) => Buffer.from(`${r},${line}\n`));
  const reference = (rows: [string, number][], columns: string[]): LoadBlocks => {
    const byBlock = new Map<number, Buffer[]>();
    const bytes = records(rows);
    rows.forEach(([, line], i) => {
      const b = Math.floor(line / BLOCK_LINES);
      byBlock.set(b, [...(byBlock.get(b) ?? []), bytes[i]!]);
    });
    const blocks = [...byBlock.keys()];
    return { blocks, digests: blocks.map((b) => createHash('sha1').update(`medallion blocks v1 ${BLOCK_LINES}\n${columns.join(',')}\n`).update(Buffer.concat(byBlock.get(b)!)).digest()) };
  };
  // the stream gets whole records per chunk, cut at varying places
  const hashed = async (rows: [string, number][], columns: string[], multiLine: boolean, cut: number): Promise<LoadBlocks> => {
    const chunks = records(rows);
    const stream = new BlockHashStream(columns, multiLine);
    const grouped: Buffer[] = [];
    for (let i = 0; i < chunks.length; i += cut) grouped.push(Buffer.concat(chunks.slice(i, i + cut)));
    const out: Buffer[] = [];
    await pipeline(Readable.from(grouped), stream, async (source: AsyncIterable<Buffer>) => {
      for await (const c of source) out.push(c);
    });
    expect(Buffer.concat(out).equals(Buffer.concat(chunks))).toBe(true);
    return stream.blocks;
  };

  it('hashes each block of lines the same however the records are chunked, also with quoted line breaks', async () => {
    const plain: [string, number][] = [];
    for (let line = 2, i = 0; line < 3000; i++, line += 1 + (i % 7 === 0 ? 3 : 0)) plain.push([`${10000 + i},"x ""${i}""",name ${i}`, line]);
    for (const cut of [1, 5, 97, 256, 1000, 5000]) {
      expect(await hashed(plain, ['a', 'b', 'c'], false, cut)).toEqual(reference(plain, ['a', 'b', 'c']));
      expect(await hashed(plain, ['a', 'b', 'c'], true, cut)).toEqual(reference(plain, ['a', 'b', 'c']));
    }
    // a quoted value holding line breaks, and what looks like a line number before one
    const spanning: [string, number][] = [];
    for (let line = 2, i = 0; line < 2000; i++) {
      const lines = i % 5 === 0 ? 3 : 1;
      spanning.push([lines > 1 ? `${i},"a,${255 + i}\n""b"",9999\nc"` : `${i},"plain ""q""",x`, line]);
      line += lines;
    }
    for (const cut of [1, 3, 300, 2000]) expect(await hashed(spanning, ['a', 'b'], true, cut)).toEqual(reference(spanning, ['a', 'b']));
    // the column order is part of every block's hash
    const [x, y] = [await hashed(plain, ['a', 'b', 'c'], false, 50), await hashed(plain, ['a', 'c', 'b'], false, 50)];
    expect(x.blocks).toEqual(y.blocks);
    expect(x.digests.some((d, i) => d.equals(y.digests[i]!))).toBe(false);
  });

  it('tells the blocks that differ, and those only one load has', () => {
    const d = (s: string) => createHash('sha1').update(s).digest();
    const before: LoadBlocks = { blocks: [0, 1, 2, 4], digests: [d('a'), d('b'), d('c'), d('e')] };
    const after: LoadBlocks = { blocks: [0, 1, 2, 3, 5], digests: [d('a'), d('B'), d('c'), d('d'), d('f')] };
    expect(differingBlocks(before, after)).toEqual([1, 3, 4, 5]);
    expect(differingBlocks(after, after)).toEqual([]);
  });
});

describe('the diff by recorded block hashes', () => {
  const blocksTarget = uniqueTarget('bblocks');
  const s = schemaNames(blocksTarget);
  afterAll(async () => {
    await dropTarget(blocksTarget);
  });
  const loadInto = async (dir: string) => {
    const r = await runCli(['load', '--seeds', dir, '--target', blocksTarget]);
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const runId = Number(events.find((e) => e.event === 'run_started')!.run_id);
    const [c] = await query(`select added::int, changed::int, removed::int, moved::int from ${s.etl}.source_changes where run_id = $1 and source = 'cust_info'`, [runId]);
    const rows = await query(
      `select change_side, change_kind, cst_id, cst_key, cst_firstname, cst_lastname, cst_marital_status, cst_gndr, cst_create_date, _line_number::int as line
         from ${s.bronze}.cust_info__changes order by change_side, _line_number`,
    );
    return { runId, counts: c, rows };
  };
  // 2,000 customers over eight blocks of lines: a changed value (block 0), a removed key and an
  // added one 19 lines further (the keys between move up a line, block 2), the same value quoted
  // (block 3: other bytes, no change), one copy of a key held three times changed (block 4; its
  // third copy is in block 6), three keys appended (block 7, one of them NULL, one empty); blocks
  // 5 and 6 are the same in both files.
  const person = (i: number) => `${20000 + i},AW000${20000 + i},First${i},Last${i},M,F,2025-10-06`;
  const oldRows = Array.from({ length: 2000 }, (_, i) => person(i === 1201 || i === 1600 ? 1200 : i));
  const newRows = [...oldRows.slice(0, 700), ...oldRows.slice(701, 720), person(5000), ...oldRows.slice(720)];
  newRows[100] = newRows[100]!.replace('Last100', 'Other');
  newRows[1000] = newRows[1000]!.replace('First1000', '"First1000"');
  newRows[1201] = newRows[1201]!.replace('2025-10-06', '2025-10-07');
  newRows.push(person(6000), ',AW-NULL,,,,,', '"",AW-EMPTY,,,,,');
  const file = (rows: string[]) => [headerOf('cust_info'), ...rows].join('\n');

  it('finds the changes that hashing both tables finds, and diffs a table edited by hand as it is', async () => {
    const before = await sources({ cust_info: file(oldRows) });
    const after = await sources({ cust_info: file(newRows) });
    expect((await runCli(['load', '--seeds', before.dir, '--target', blocksTarget])).code).toBe(0);
    const recorded = await loadInto(after.dir);
    expect(recorded.counts).toEqual({ added: 4, changed: 2, removed: 1, moved: 19 });
    expect(recorded.rows).toHaveLength(2 + 2 * 3 + 1 + 2 * 19 + 4);
    expect(recorded.rows.filter((r) => r.cst_id === '21200').map((r) => [r.change_side, r.line, r.cst_create_date])).toEqual([
      ['new', 1202, '2025-10-06'],
      ['new', 1203, '2025-10-07'],
      ['new', 1602, '2025-10-06'],
      ['old', 1202, '2025-10-06'],
      ['old', 1203, '2025-10-06'],
      ['old', 1602, '2025-10-06'],
    ]);
    // the table holds the hashes of the loads bronze holds, one row per source
    const held = await query<{ source: string; run_id: number; blocks: number }>(`select source, run_id::int, cardinality(blocks) as blocks from ${s.etl}.source_blocks order by source`);
    expect(held.map((h) => h.source)).toEqual(['cust_az12', 'cust_info', 'loc_a101', 'prd_info', 'px_cat_g1v2', 'sales_details']);
    expect(held.find((h) => h.source === 'cust_info')).toEqual({ source: 'cust_info', run_id: recorded.runId, blocks: 8 });

    // the same step without recorded hashes: both tables hashed
    await loadInto(before.dir);
    await query(`delete from ${s.etl}.source_blocks where source = 'cust_info'`);
    const hashed = await loadInto(after.dir);
    expect(hashed.counts).toEqual(recorded.counts);
    expect(hashed.rows).toEqual(recorded.rows);

    // a row changed by hand in a block the file does not change: the table is diffed as it is
    await query(`update ${s.bronze}.cust_info set cst_lastname = 'Hand' where _line_number = 1700`);
    const back = await loadInto(before.dir);
    expect(back.counts).toEqual({ added: 1, changed: 3, removed: 4, moved: 19 });
    expect(back.rows.filter((r) => r.cst_id === '21698')).toEqual([
      { change_side: 'new', change_kind: 'changed', cst_id: '21698', cst_key: 'AW00021698', cst_firstname: 'First1698', cst_lastname: 'Last1698', cst_marital_status: 'M', cst_gndr: 'F', cst_create_date: '2025-10-06', line: 1700 },
      { change_side: 'old', change_kind: 'changed', cst_id: '21698', cst_key: 'AW00021698', cst_firstname: 'First1698', cst_lastname: 'Hand', cst_marital_status: 'M', cst_gndr: 'F', cst_create_date: '2025-10-06', line: 1700 },
    ]);
  });
});
