/**
 * Change detection in bronze: whether a source file is the one its bronze table was loaded from,
 * and, for a file that changed, which keys of the source changed.
 *
 * The load that a bronze table holds is the newest load of its source whose swap committed
 * (currentBronzeLoads); its file's sha256 and counts are that run's `<etl>.source_files` row, and
 * every row of the table carries that run's id (`_run_id`). A file is unchanged when its sha256
 * is that one: a file of another size is changed without reading it, a file of the same size is
 * hashed (an mtime proves nothing: a copy of the same bytes has a new one, a rewrite within the
 * same second or with `touch -r` keeps the old one).
 *
 * Cost, scale 10 (`node bin/medallion.js generate --scale 10 --out /tmp/cd-seeds`: six files,
 * 55.7 MB, sales_details.csv 37.3 MB and 604,577 lines), on 2 shared cores (load average 3-6):
 * - deciding: stat's size+mtime takes 0.0003 s, the pre-pass sha256 of sales_details.csv
 *   0.05-0.14 s (`time sha256sum /tmp/cd-seeds/sales_details.csv`: 0.1 s). Run twice,
 *   `node bin/medallion.js load --seeds /tmp/cd-seeds --target cdbench`: the first load's bronze
 *   stage takes 2.35 s, the second, which hashes all six files, finds them unchanged and checks
 *   the kept tables' row counts, 0.32 s (etl.runs.stages of the two runs).
 * - the diff of a changed file, day-01 of `generate --days 1` after day-00 (sales_details: 482
 *   lines appended; cust_info: about 40 rows changed across the file and 20 appended), on a
 *   machine at load average 5-14, seconds per diff: scale 10, sales_details 2.5-4.2 hashing
 *   both tables against 1.1-2.3 with the recorded block hashes, cust_info 1.2-1.8 against
 *   0.6-1.0; scale 100, sales_details 42-47 against 20, cust_info 9.5-15.5 against 3.8. What is
 *   left is five scans without hashing: the intact check of the previous table, one pass per
 *   side that keeps the rows of the differing blocks (`_line_number` is the last column: every
 *   row is deformed whole), and one pass per side for the rows of the keys that differ. Taking
 *   the block hashes costs the load about 0.05 s of Node CPU per 37 MB (SHA-1), beside the
 *   scanner's 0.2-0.3 s.
 *
 * A changed file is loaded as any other, then diffed against the previous table inside the swap's
 * transaction (so the previous table is still there, and the diff, the swap and the ledger rows
 * commit together; diffIntoChanges). Each load's block hashes, taken while the file streams into
 * COPY, are kept with it (block-hashes.ts), so neither table is hashed whole to find the blocks
 * of lines that changed, as long as the previous table still holds its load (loadIntact). Keys
 * are `keyColumns` as a row literal, so a NULL key is one key and differs from an empty one; per
 * key the multiset of its rows' hashes is compared (the data columns only, never the lineage
 * columns): added, changed, removed, or `moved` when its rows are equal by value but sit on other
 * lines (silver carries line numbers). The rows of every key that is not the same go to
 * `<source>__changes`.
 */
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { SchemaNames } from '../config.ts';
import { type Client, ident } from '../db/index.ts';
import { BLOCK_LINES, differingBlocks, type LoadBlocks, readLoadBlocks } from './block-hashes.ts';
import { bronzeColumns, bronzeKeyColumns, CHANGES_SUFFIX, LINEAGE_COLUMNS, SOURCE_CONTRACTS, type SourceContract, type SourceName } from './contracts.ts';

/** `new`: no previous bronze table · `unchanged`: the same sha256 · `changed`: another file. */
export type SourceChangeStatus = 'new' | 'unchanged' | 'changed';

/** One row of `<etl>.source_changes`: what a run's load did to one source. */
export interface SourceChange {
  source: SourceName;
  status: SourceChangeStatus;
  /** The file of the previous bronze table (null: none, or a table the ledger has no load for). */
  fromSha256: string | null;
  toSha256: string;
  /** Keys counted by the diff; null for a `new` source (nothing to compare with). */
  added: number | null;
  changed: number | null;
  removed: number | null;
  /** Keys whose rows are all equal by value but on other lines. */
  moved: number | null;
}

/** The `<etl>.source_files` row of the load a bronze table holds now. */
export interface BronzeLoadRecord {
  source: SourceName;
  /** The run that loaded the table (its rows' `_run_id`). */
  runId: number;
  file: string;
  sha256: string;
  bytes: number;
  lineEnding: string;
  encoding: string;
  /** Null in a ledger from before lines were counted. */
  lines: number | null;
  /** The load's transaction id (its rows' xmin); null in a ledger from before it was recorded. */
  loadXid: string | null;
  rowLines: number | null;
  records: number;
  rowsLoaded: number;
  rejects: number;
  blankLines: number;
}

/** `<bronze>.<source>__changes`, quoted. */
export function changesTable(schemas: SchemaNames, source: string): string {
  return `${ident(schemas.bronze)}.${ident(`${source}${CHANGES_SUFFIX}`)}`;
}

/**
 * The load each bronze table holds now, by source, from the ledger: the newest run that loaded
 * the source's file (`kept_from_run` null) and committed its swap (its `source_changes` rows are
 * written in the swap's transaction), for the sources whose table exists. The tables themselves
 * are not read, so a lock on one does not hold up a run before it loads. A ledger from before
 * `source_changes` names the load by the table's `_run_id` instead. A source missing here is
 * loaded as new.
 */
export async function currentBronzeLoads(client: Client, schemas: SchemaNames, contracts: readonly SourceContract[] = SOURCE_CONTRACTS): Promise<Map<SourceName, BronzeLoadRecord>> {
  const { rows: tables } = await client.query<{ name: SourceName }>('select tablename as name from pg_tables where schemaname = $1 and tablename = any($2) order by 1', [
    schemas.bronze,
    contracts.map((c) => c.name),
  ]);
  const loads = new Map<SourceName, BronzeLoadRecord>();
  if (!tables.length || !(await ledgerHas(client, schemas, 'source_files'))) return loads;
  const e = ident(schemas.etl);
  const names = tables.map((t) => t.name);
  const swapped = (await ledgerHas(client, schemas, 'source_changes'))
    ? await client.query<{ source: SourceName; run_id: string }>(
        `select distinct on (c.source) c.source, c.run_id
           from ${e}.source_changes c join ${e}.source_files f on f.run_id = c.run_id and f.source = c.source and f.kept_from_run is null
          where c.source = any($1) order by c.source, c.run_id desc`,
        [names],
      )
    : { rows: [] };
  const runs = new Map(swapped.rows.map((r) => [r.source, Number(r.run_id)]));
  const b = ident(schemas.bronze);
  for (const name of names.filter((n) => !runs.has(n))) {
    const { rows } = await client.query<{ run_id: string }>(`select _run_id as run_id from ${b}.${ident(name)} limit 1`);
    if (rows[0]) runs.set(name, Number(rows[0].run_id));
  }
  if (!runs.size) return loads;
  const { rows } = await client.query<{
    source: SourceName; run_id: string; file: string; sha256: string; bytes: string; line_ending: string; encoding: string;
    lines: string | null; row_lines: string | null; records: string; rows_loaded: string; rejects: string; blank_lines: string; load_xid: string | null;
  }>(
    `select f.source, f.run_id, f.file, f.sha256, f.bytes, f.line_ending, f.encoding, f.lines, f.row_lines, f.records, f.rows_loaded, f.rejects, f.blank_lines, f.load_xid
       from ${e}.source_files f join unnest($1::text[], $2::bigint[]) as l (source, run_id) on l.source = f.source and l.run_id = f.run_id`,
    [[...runs.keys()], [...runs.values()]],
  );
  const n = (v: string | null) => (v === null ? null : Number(v));
  for (const r of rows) {
    loads.set(r.source, {
      source: r.source,
      runId: Number(r.run_id),
      file: r.file,
      sha256: r.sha256,
      bytes: Number(r.bytes),
      lineEnding: r.line_ending,
      encoding: r.encoding,
      lines: n(r.lines),
      loadXid: r.load_xid,
      rowLines: n(r.row_lines),
      records: Number(r.records),
      rowsLoaded: Number(r.rows_loaded),
      rejects: Number(r.rejects),
      blankLines: Number(r.blank_lines),
    });
  }
  return loads;
}

async function ledgerHas(client: Client, schemas: SchemaNames, table: string): Promise<boolean> {
  const { rows } = await client.query<{ t: string | null }>('select to_regclass($1) as t', [`${ident(schemas.etl)}.${ident(table)}`]);
  return rows[0]?.t !== null && rows[0]?.t !== undefined;
}

/** The sha256 of a whole file, read once (the same digest the loader computes while it streams). */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}

/**
 * Whether the file at `path` (`bytes` long) is the one the bronze table was loaded from, and the
 * table still holds that load whole (loadIntact). A table that does not is not kept: the file is
 * loaded again.
 */
export async function isUnchanged(client: Client, schemas: SchemaNames, previous: BronzeLoadRecord | undefined, file: { path: string; bytes: number }): Promise<boolean> {
  if (!previous || previous.bytes !== file.bytes) return false;
  return (await fileSha256(file.path)) === previous.sha256 && (await loadIntact(client, schemas, previous));
}

/**
 * Whether a bronze table holds its recorded load and nothing else: the recorded lines reconcile
 * (header + blank + row lines + rejects), the table has the rows the load recorded, every one
 * written by the load's transaction (a row updated or inserted since carries another xmin; a
 * deleted one lowers the count), and the ledger has the rejects it recorded. One scan of the table.
 */
export async function loadIntact(client: Client, schemas: SchemaNames, load: BronzeLoadRecord): Promise<boolean> {
  if (load.lines === null || load.rowLines === null || load.loadXid === null) return false;
  if (1 + load.blankLines + load.rowLines + load.rejects !== load.lines) return false;
  const { rows } = await client.query<{ rows: string; touched: string; rejects: string }>(
    `select t.rows, t.touched, (select count(*) from ${ident(schemas.etl)}.rejects where run_id = $1 and source = $2) as rejects
       from (select count(*) as rows, count(*) filter (where xmin <> $3::xid) as touched from ${ident(schemas.bronze)}.${ident(load.source)}) as t`,
    [load.runId, load.source, load.loadXid],
  );
  const r = rows[0]!;
  return Number(r.rows) === load.rowsLoaded && Number(r.touched) === 0 && Number(r.rejects) === load.rejects;
}

/** What the diff of a source may read instead of hashing both tables (block-hashes.ts). */
export interface DiffBlocks {
  /** The load the bronze table holds (currentBronzeLoads): its recorded block hashes stand for the table while it is intact. */
  previous: BronzeLoadRecord | undefined;
  /** The block hashes taken while the new file streamed into `loading`. */
  loaded: LoadBlocks | undefined;
}

/**
 * Diffs the loaded table `loading` (the new file) against the bronze table of `contract` (the
 * previous one), and writes the rows of every key that differs into `into` (created here, the
 * columns of the bronze table, then `change_side` 'old' | 'new' and `change_kind` 'added' |
 * 'changed' | 'removed' | 'moved'). Runs inside the caller's transaction: its temporary tables
 * and settings go at commit.
 *
 * 1. The blocks of BLOCK_LINES lines that may differ: those whose recorded hashes differ
 *    (block-hashes.ts), when the previous load's hashes are recorded and its table still holds
 *    that load (loadIntact: one scan, no hashing); otherwise one pass per side, per block the
 *    count and the sum of its rows' hashes (the data columns and the line;
 *    hash_record_extended: NULL and '' hash apart).
 * 2. In those blocks, each row's 128-bit hash of its data columns (two seeds) and its line; a hash
 *    full join on (hash, line) leaves the rows that are not on the same line with the same values
 *    in both files.
 * 3. Their keys (fetched by ctid), then every row of those keys from both sides (one scan per
 *    side that compares the first key column with a hashed set of the few keys' first columns,
 *    and builds the whole key only for the rows that pass), and per key: only new rows → added,
 *    only old → removed, the same multiset of row hashes → moved, else changed.
 */
export async function diffIntoChanges(
  client: Client,
  schemas: SchemaNames,
  contract: SourceContract,
  loading: string,
  into: string,
  blocks?: DiffBlocks,
): Promise<Pick<SourceChange, 'added' | 'changed' | 'removed' | 'moved'>> {
  const previous = `${ident(schemas.bronze)}.${ident(contract.name)}`;
  const keyColumns = bronzeKeyColumns(contract).map(ident);
  const key = (t: string) => `row(${keyColumns.map((c) => `${t}.${c}`).join(', ')})::text`;
  const firstKey = (t: string) => `${t}.${keyColumns[0]}`;
  const data = `row(${bronzeColumns(contract).map(ident).join(', ')})`;
  const sides = [
    { side: 'old', table: previous },
    { side: 'new', table: loading },
  ];
  await client.query("select set_config('jit', 'off', true), set_config('work_mem', '256MB', true)");
  const differing = (await recordedDifferingBlocks(client, schemas, contract, blocks)) ?? (await hashedDifferingBlocks(client, contract, previous, loading));
  const inBlocks = `_line_number / ${BLOCK_LINES} = any ('{${differing.join(',')}}'::bigint[])`;
  const hashed = (table: string) => `select hash_record_extended(${data}, 0) as h0, hash_record_extended(${data}, 1) as h1, _line_number as line, ctid as row_ctid from ${table} where ${inBlocks}`;
  // Within those blocks: the rows not on the same line with the same values in both files.
  await client.query(
    `create temporary table medallion_unmatched on commit drop as
     select case when n.h0 is null then 'old' else 'new' end as side, coalesce(o.row_ctid, n.row_ctid) as row_ctid
       from (${hashed(previous)}) as o full join (${hashed(loading)}) as n on n.h0 = o.h0 and n.h1 = o.h1 and n.line = o.line
      where o.h0 is null or n.h0 is null`,
  );
  await client.query(
    `create temporary table medallion_diff_keys on commit drop as
     ${sides.map((s) => `select ${firstKey('t')} as first_key, ${key('t')} as change_key from ${s.table} as t where ctid = any (array(select row_ctid from medallion_unmatched where side = '${s.side}'))`).join('\n     union\n     ')}`,
  );
  // A row whose whole key is one of them has its first column among theirs (or NULL with one of
  // theirs): that cheap test comes first, the key's text is built only for the rows it passes.
  await client.query(
    `create temporary table medallion_key_rows on commit drop as
     ${sides
       .map((s) => `select '${s.side}'::text as side, t.ctid as row_ctid, ${key('t')} as change_key, hash_record_extended(${data}, 0)::text || ':' || hash_record_extended(${data}, 1)::text as row_hash
       from ${s.table} as t
      where (${firstKey('t')} in (select first_key from medallion_diff_keys) or (${firstKey('t')} is null and exists (select from medallion_diff_keys where first_key is null)))
        and ${key('t')} in (select change_key from medallion_diff_keys)`)
       .join('\n     union all\n     ')}`,
  );
  await client.query(
    `create temporary table medallion_key_changes on commit drop as
     select change_key,
            case when not bool_or(side = 'old') then 'added'
                 when not bool_or(side = 'new') then 'removed'
                 when array_agg(row_hash order by row_hash) filter (where side = 'old') = array_agg(row_hash order by row_hash) filter (where side = 'new') then 'moved'
                 else 'changed' end as change_kind
       from medallion_key_rows group by change_key`,
  );
  const columns = [...bronzeColumns(contract), ...LINEAGE_COLUMNS].map((c) => `t.${ident(c)}`).join(', ');
  await client.query(
    `create table ${into} as
     ${sides
       .map((s) => `select ${columns}, r.side as change_side, k.change_kind
       from medallion_key_rows r join medallion_key_changes k using (change_key) join ${s.table} t on t.ctid = r.row_ctid
      where r.side = '${s.side}' and t.ctid = any (array(select row_ctid from medallion_key_rows where side = '${s.side}'))`)
       .join('\n     union all\n     ')}`,
  );
  const { rows } = await client.query<{ change_kind: string; keys: string }>('select change_kind, count(*) as keys from medallion_key_changes group by 1');
  const count = (kind: string) => Number(rows.find((r) => r.change_kind === kind)?.keys ?? 0);
  await client.query('drop table medallion_unmatched, medallion_diff_keys, medallion_key_rows, medallion_key_changes');
  return { added: count('added'), changed: count('changed'), removed: count('removed'), moved: count('moved') };
}

/**
 * The blocks that differ by the recorded hashes, or null when they cannot tell: no hashes of the
 * loaded file, none recorded for the previous load, or a bronze table that no longer holds that
 * load (a row changed, added or deleted by hand since: its hashes describe the file, not the table).
 */
async function recordedDifferingBlocks(client: Client, schemas: SchemaNames, contract: SourceContract, blocks: DiffBlocks | undefined): Promise<number[] | null> {
  if (!blocks?.previous || !blocks.loaded) return null;
  const before = await readLoadBlocks(client, schemas, blocks.previous.runId, contract.name);
  if (!before || !(await loadIntact(client, schemas, blocks.previous))) return null;
  return differingBlocks(before, blocks.loaded);
}

/**
 * The blocks that differ by hashing both tables: one pass per side, per block the count and sum
 * of its rows' hashes (the data columns and the line), a small hash table.
 */
async function hashedDifferingBlocks(client: Client, contract: SourceContract, previous: string, loading: string): Promise<number[]> {
  const blocks = (table: string) =>
    `select _line_number / ${BLOCK_LINES} as block, count(*) as n, sum(hash_record_extended(row(${bronzeColumns(contract).map(ident).join(', ')}, _line_number), 0)) as h
       from ${table} group by 1`;
  const { rows } = await client.query<{ block: string }>(
    `select coalesce(o.block, n.block) as block from (${blocks(previous)}) as o full join (${blocks(loading)}) as n on n.block = o.block
      where (o.n, o.h) is distinct from (n.n, n.h)`,
  );
  return rows.map((r) => Number(r.block));
}

/** Writes the run's `<etl>.source_changes` rows (inside the load's swap transaction). */
export async function recordSourceChanges(client: Client, schemas: SchemaNames, runId: number, changes: readonly SourceChange[]): Promise<void> {
  if (!changes.length) return;
  await client.query(
    `insert into ${ident(schemas.etl)}.source_changes (run_id, source, status, from_sha256, to_sha256, added, changed, removed, moved)
     select $1, c.source, c.status, c.from_sha256, c.to_sha256, c.added, c.changed, c.removed, c.moved
       from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[])
         as c (source, status, from_sha256, to_sha256, added, changed, removed, moved)`,
    [
      runId,
      changes.map((c) => c.source),
      changes.map((c) => c.status),
      changes.map((c) => c.fromSha256),
      changes.map((c) => c.toSha256),
      changes.map((c) => c.added),
      changes.map((c) => c.changed),
      changes.map((c) => c.removed),
      changes.map((c) => c.moved),
    ],
  );
}

/** What `<bronze>.<source>__changes` holds now: the step from one file to the one bronze holds. */
export interface BronzeChanges extends SourceChange {
  /** The run that loaded the current bronze table and wrote the source_changes row. */
  runId: number;
  /** `<bronze>.<source>__changes` (unquoted), or null: a `new` source has none. */
  changesTable: string | null;
}

/**
 * For each source whose bronze table was loaded by a run that recorded its change: that change,
 * which `<source>__changes` describes (from_sha256 → to_sha256, the sha256 of the file the bronze
 * table holds). Later runs that kept the table (status `unchanged`) leave it as it is, so this is
 * the loading run's row, not the newest run's. A caller that built from another file than
 * `fromSha256` cannot apply the changes and rebuilds the source's models whole.
 */
export async function currentBronzeChanges(client: Client, schemas: SchemaNames, contracts: readonly SourceContract[] = SOURCE_CONTRACTS): Promise<Map<SourceName, BronzeChanges>> {
  const loads = await currentBronzeLoads(client, schemas, contracts);
  const result = new Map<SourceName, BronzeChanges>();
  if (!loads.size) return result;
  const { rows } = await client.query<{ run_id: string; source: SourceName; status: SourceChangeStatus; from_sha256: string | null; to_sha256: string; added: string | null; changed: string | null; removed: string | null; moved: string | null; has_table: boolean }>(
    `select c.run_id, c.source, c.status, c.from_sha256, c.to_sha256, c.added, c.changed, c.removed, c.moved,
            exists (select 1 from pg_tables where schemaname = $3 and tablename = c.source || $4) as has_table
       from ${ident(schemas.etl)}.source_changes c
       join unnest($1::bigint[], $2::text[]) as l (run_id, source) on l.run_id = c.run_id and l.source = c.source`,
    [[...loads.values()].map((l) => l.runId), [...loads.keys()], schemas.bronze, CHANGES_SUFFIX],
  );
  const n = (v: string | null) => (v === null ? null : Number(v));
  for (const r of rows) {
    result.set(r.source, {
      runId: Number(r.run_id),
      source: r.source,
      status: r.status,
      fromSha256: r.from_sha256,
      toSha256: r.to_sha256,
      added: n(r.added),
      changed: n(r.changed),
      removed: n(r.removed),
      moved: n(r.moved),
      changesTable: r.has_table ? `${schemas.bronze}.${r.source}${CHANGES_SUFFIX}` : null,
    });
  }
  return result;
}
