/**
 * Change detection in bronze: whether a source file is the one its bronze table was loaded from,
 * and, for a file that changed, which keys of the source changed.
 *
 * The load that a bronze table holds is the newest load of its source whose swap committed
 * (currentBronzeLoads); its file's sha256 and counts are that run's `<etl>.source_files` row, and
 * every row of the table carries that run's id (`_run_id`), but for a load that appended a tail
 * (append.ts), whose reused rows keep the ids of the runs that loaded them. A file is unchanged when its sha256
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
 * - the diff of a changed file reads the recorded block hashes instead of hashing both tables,
 *   so nearly all of its cost is the one scan of the previous table that checks it still holds its
 *   load (loadIntact's guarantee) and finds the old rows of the differing keys; taking the hashes
 *   runs in Node beside the scanner while PostgreSQL copies (the bench's daily stage times both).

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
import { OPTIONS, type SchemaNames } from '../config.ts';
import { type Client, ident } from '../db/index.ts';
import { BLOCK_LINES, differingBlocks, type LoadBlocks, type PageMap, pageLines, readLoadBlocks } from './block-hashes.ts';
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
  /** An appended load's (append.ts): the transaction ids its reused rows carry as xmin; empty for a whole load. */
  reusedXids: string[];
  rowLines: number | null;
  records: number;
  rowsLoaded: number;
  rejects: number;
  blankLines: number;
  /** The --max-field-bytes of the load; null in a ledger from before it was recorded. */
  maxFieldBytes: number | null;
}

/**
 * Whether a load kept whole or extended by a tail gives the table a load under `maxFieldBytes` would:
 * it was loaded with the same --max-field-bytes (a load recorded without one, with the default), as
 * the limit decides which lines are rows and which are rejects (RECORD_FIELD_TOO_LARGE).
 */
export function loadedUnderLimit(load: BronzeLoadRecord, maxFieldBytes: number): boolean {
  return (load.maxFieldBytes ?? OPTIONS['max-field-bytes'].default) === maxFieldBytes;
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
    lines: string | null; row_lines: string | null; records: string; rows_loaded: string; rejects: string; blank_lines: string; load_xid: string | null; reused_xids: string[] | null;
    max_field_bytes: string | null;
  }>(
    // max_field_bytes through the row's jsonb: a ledger a command that only reads it (source
    // freshness) finds from before the column was added has none, and reads null
    `select f.source, f.run_id, f.file, f.sha256, f.bytes, f.line_ending, f.encoding, f.lines, f.row_lines, f.records, f.rows_loaded, f.rejects, f.blank_lines, f.load_xid, f.reused_xids,
            to_jsonb(f) ->> 'max_field_bytes' as max_field_bytes
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
      reusedXids: r.reused_xids ?? [],
      rowLines: n(r.row_lines),
      records: Number(r.records),
      rowsLoaded: Number(r.rows_loaded),
      rejects: Number(r.rejects),
      blankLines: Number(r.blank_lines),
      maxFieldBytes: n(r.max_field_bytes),
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
  const { rows } = await client.query<IntactCounts>(
    `select s.rows, s.touched, ${rejectsCountSql(schemas)} as rejects
       from (select count(*) as rows, count(*) filter (where ${LOAD_TOUCHED_SQL}) as touched from ${ident(schemas.bronze)}.${ident(load.source)} as t) as s`,
    [load.runId, load.source, load.loadXid, load.reusedXids],
  );
  return holdsLoad(load, rows[0]!);
}

/**
 * Whether row `t` was written after its load: its xmin is neither the load's transaction ($3) nor
 * one of those of the rows an appended load reused ($4, append.ts).
 */
export const LOAD_TOUCHED_SQL = 't.xmin <> $3::xid and t.xmin <> all ($4::xid[])';

/** What loadIntact counts in one scan of the table. */
interface IntactCounts {
  rows: string;
  touched: string;
  rejects: string;
}

/** The ledger's rejects of the load ($1 its run, $2 its source). */
function rejectsCountSql(schemas: SchemaNames): string {
  return `(select count(*) from ${ident(schemas.etl)}.rejects where run_id = $1 and source = $2)`;
}

function holdsLoad(load: BronzeLoadRecord, counts: IntactCounts): boolean {
  return Number(counts.rows) === load.rowsLoaded && Number(counts.touched) === 0 && Number(counts.rejects) === load.rejects;
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
 *    (block-hashes.ts; recordedKeyRows), or, without them, one pass per side, per block the count
 *    and the sum of its rows' hashes (the data columns and the line; hash_record_extended: NULL
 *    and '' hash apart; hashedKeyRows).
 * 2. In those blocks, each row's 128-bit hash of its data columns (two seeds) and its line; a hash
 *    full join on (hash, line) leaves the rows that are not on the same line with the same values
 *    in both files.
 * 3. Their keys (fetched by ctid), then every row of those keys from both sides (a scan that
 *    compares the first key column with a hashed set of the few keys' first columns, and builds
 *    the whole key only for the rows that pass; by the recorded hashes the previous table only,
 *    as the blocks that do not differ hold the same rows in both), and per key: only new rows →
 *    added, only old → removed, the same multiset of row hashes → moved, else changed.
 */
export async function diffIntoChanges(
  client: Client,
  schemas: SchemaNames,
  contract: SourceContract,
  loading: string,
  into: string,
  blocks?: DiffBlocks,
): Promise<Pick<SourceChange, 'added' | 'changed' | 'removed' | 'moved'>> {
  const sql = new DiffSql(contract, `${ident(schemas.bronze)}.${ident(contract.name)}`, loading);
  await client.query("select set_config('jit', 'off', true), set_config('work_mem', '256MB', true)");
  if (!(await recordedKeyRows(client, schemas, contract, sql, blocks))) {
    await client.query('drop table if exists medallion_unmatched, medallion_diff_keys, medallion_key_rows');
    await hashedKeyRows(client, sql);
  }
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
     ${sql.sides
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

/** The SQL of one diff: the previous table (`old`), the loaded one (`new`), the key and data expressions. */
class DiffSql {
  readonly sides: readonly { side: 'old' | 'new'; table: string }[];
  private readonly keyColumns: string[];
  private readonly dataColumns: string;
  private readonly data: string;

  constructor(
    contract: SourceContract,
    readonly previous: string,
    readonly loading: string,
  ) {
    this.sides = [
      { side: 'old', table: previous },
      { side: 'new', table: loading },
    ];
    this.keyColumns = bronzeKeyColumns(contract).map(ident);
    this.dataColumns = bronzeColumns(contract).map((c) => `t.${ident(c)}`).join(', ');
    this.data = `row(${this.dataColumns})`;
  }

  /** Per block of `table`, the count and the sum of its rows' hashes (the data columns and the line). */
  blockSums(table: string): string {
    return `select t._line_number / ${BLOCK_LINES} as block, count(*) as n, sum(hash_record_extended(row(${this.dataColumns}, t._line_number), 0)) as h
       from ${table} as t group by 1`;
  }

  /** The key of row `t` as one value: a row literal, so NULL and '' differ. */
  key(): string {
    return `row(${this.keyColumns.map((c) => `t.${c}`).join(', ')})::text`;
  }

  /** Whether row `t` is of a key in medallion_diff_keys: its first column first, a hashed test; the whole key only for the rows that pass. */
  ofDiffKey(): string {
    return `${this.firstKeyOf()} and ${this.key()} in (select change_key from medallion_diff_keys)`;
  }

  /** Whether row `t`'s first key column is one of the differing keys' (NULL: one of theirs is NULL). */
  firstKeyOf(): string {
    const first = `t.${this.keyColumns[0]}`;
    return `(${first} in (select first_key from medallion_diff_keys) or (${first} is null and exists (select from medallion_diff_keys where first_key is null)))`;
  }

  /** Row `t`'s 128-bit hash of its data columns, as text. */
  rowHash(): string {
    return `hash_record_extended(${this.data}, 0)::text || ':' || hash_record_extended(${this.data}, 1)::text`;
  }

  /** The rows of `table` in `blocks`, hashed: each of `reads` is a condition on `t` that one scan reads (a ctid range, or none). */
  hashed(table: string, blocks: readonly number[], reads: readonly string[]): string {
    return reads
      .map(
        (read) => `select hash_record_extended(${this.data}, 0) as h0, hash_record_extended(${this.data}, 1) as h1, t._line_number as line, t.ctid as row_ctid
         from ${table} as t where ${read} and t._line_number / ${BLOCK_LINES} = any ('{${blocks.join(',')}}'::bigint[])`,
      )
      .join('\n         union all\n         ');
  }

  /** Within the blocks: the rows not on the same line with the same values in both files; then their keys. */
  async unmatchedKeys(client: Client, oldRows: string, newRows: string): Promise<void> {
    await client.query(
      `create temporary table medallion_unmatched on commit drop as
       select case when n.h0 is null then 'old' else 'new' end as side, coalesce(o.row_ctid, n.row_ctid) as row_ctid
         from (${oldRows}) as o full join (${newRows}) as n on n.h0 = o.h0 and n.h1 = o.h1 and n.line = o.line
        where o.h0 is null or n.h0 is null`,
    );
    await client.query(
      `create temporary table medallion_diff_keys on commit drop as
       ${this.sides
         .map((s) => `select t.${this.keyColumns[0]} as first_key, ${this.key()} as change_key from ${s.table} as t where t.ctid = any (array(select row_ctid from medallion_unmatched where side = '${s.side}'))`)
         .join('\n       union\n       ')}`,
    );
    await client.query('create temporary table medallion_key_rows (side text, row_ctid tid, change_key text, row_hash text, line bigint) on commit drop');
  }

  /** Inserts the rows of `side` that any of `reads` (conditions on `t`, one scan each) keeps into medallion_key_rows. */
  keyRows(side: 'old' | 'new', reads: readonly string[]): string {
    const table = side === 'old' ? this.previous : this.loading;
    return `insert into medallion_key_rows (side, row_ctid, change_key, row_hash, line)
     ${reads.map((read) => `select '${side}', t.ctid, ${this.key()}, ${this.rowHash()}, t._line_number from ${table} as t where ${read}`).join('\n     union all\n     ')}`;
  }
}

/**
 * The diff's rows by hashing both tables: per block the count and sum of its rows' hashes (the
 * data columns and the line), one pass per side; the rows of the blocks that differ; every row of
 * their keys, one pass per side.
 */
async function hashedKeyRows(client: Client, sql: DiffSql): Promise<void> {
  const { rows } = await client.query<{ block: string }>(
    `select coalesce(o.block, n.block) as block from (${sql.blockSums(sql.previous)}) as o full join (${sql.blockSums(sql.loading)}) as n on n.block = o.block
      where (o.n, o.h) is distinct from (n.n, n.h)`,
  );
  const differing = rows.map((r) => Number(r.block));
  await sql.unmatchedKeys(client, sql.hashed(sql.previous, differing, ['true']), sql.hashed(sql.loading, differing, ['true']));
  await client.query(sql.keyRows('old', [sql.ofDiffKey()]));
  await client.query(sql.keyRows('new', [sql.ofDiffKey()]));
}

/**
 * The diff's rows by the recorded block hashes, or false when they cannot stand for the previous
 * table: no hashes of the loaded file, none recorded for the previous load, or a table rewritten
 * (another relfilenode: CLUSTER, VACUUM FULL) or no longer holding that load (a row changed, added
 * or deleted by hand since; checked in the same scan that finds the old rows of the differing
 * keys). The rows of the differing blocks are read by ctid ranges: a table loaded by one COPY and
 * never written since holds its rows in line order (pageLines samples each side's pages).
 */
async function recordedKeyRows(client: Client, schemas: SchemaNames, contract: SourceContract, sql: DiffSql, blocks: DiffBlocks | undefined): Promise<boolean> {
  const load = blocks?.previous;
  const loaded = blocks?.loaded;
  if (!load || !loaded || load.lines === null || load.rowLines === null || load.loadXid === null) return false;
  if (1 + load.blankLines + load.rowLines + load.rejects !== load.lines) return false;
  const before = await readLoadBlocks(client, schemas, load.runId, contract.name);
  if (!before) return false;
  const { rows: node } = await client.query<{ filenode: string }>('select pg_relation_filenode($1::regclass)::text as filenode', [sql.previous]);
  if (node[0]?.filenode !== before.filenode) return false;
  const differing = differingBlocks(before, loaded);
  const spans = blockSpans(differing);
  // the loaded table's page map goes on record with its hashes (recordLoadBlocks); the previous
  // table's is on record unless it was loaded as a new source
  if (loaded.pages === undefined) loaded.pages = await pageLines(client, sql.loading);
  const newReads = lineReads(loaded.pages, spans);
  const oldPages = before.pages ?? (await pageLines(client, sql.previous));
  await sql.unmatchedKeys(client, sql.hashed(sql.previous, differing, lineReads(oldPages, spans)), sql.hashed(sql.loading, differing, newReads));
  // One scan of the previous table: whether it holds its load, and the ctids of the rows whose
  // first key column is one of the differing keys'; their rows go in with the whole key checked.
  const { rows } = await client.query<IntactCounts>(
    `with scanned as (
       select count(*) as rows, count(*) filter (where ${LOAD_TOUCHED_SQL}) as touched,
              coalesce(array_agg(t.ctid) filter (where ${sql.firstKeyOf()}), '{}') as candidates
         from ${sql.previous} as t),
     kept as (${sql.keyRows('old', [`t.ctid = any ((select candidates from scanned)::tid[]) and ${sql.key()} in (select change_key from medallion_diff_keys)`])} returning 1)
     select s.rows, s.touched, ${rejectsCountSql(schemas)} as rejects, (select count(*) from kept) as kept from scanned as s`,
    [load.runId, load.source, load.loadXid, load.reusedXids],
  );
  if (!holdsLoad(load, rows[0]!)) return false;
  // The new rows of those keys: in the differing blocks, read as above; outside them both files
  // have the same rows on the same lines, so they are on the lines of the old ones there, one
  // row per line (a line that does not come back means the tables are not what the hashes say).
  const inBlocks = `t._line_number / ${BLOCK_LINES} = any ('{${differing.join(',')}}'::bigint[])`;
  await client.query(sql.keyRows('new', newReads.map((read) => `${read} and ${inBlocks} and ${sql.ofDiffKey()}`)));
  const { rows: outside } = await client.query<{ line: string }>(`select line from medallion_key_rows where side = 'old' and not (line / ${BLOCK_LINES} = any ('{${differing.join(',')}}'::bigint[])) order by line`);
  if (!outside.length) return true;
  const lines = outside.map((r) => Number(r.line));
  const atLines = `t._line_number = any ('{${lines.join(',')}}'::bigint[]) and ${sql.key()} in (select change_key from medallion_diff_keys)`;
  const found = await client.query(sql.keyRows('new', lineReads(loaded.pages, lines.map((l) => [l, l + 1])).map((read) => `${read} and ${atLines}`)));
  return found.rowCount === lines.length;
}

/** More ctid ranges than this are read as one scan of the table. */
const MAX_RANGES = 256;

/**
 * The ctid ranges (conditions on `t`) that hold the rows of the lines in `spans` ([first, past)
 * each, ascending), given the first lines of sampled pages: from the last sampled page that starts
 * at or before a span's first line to the first that starts at or past its end. ['true'] (one
 * scan) without a page map or with too many ranges, ['false'] for no span.
 */
function lineReads(map: PageMap | null, spans: readonly (readonly [number, number])[]): string[] {
  if (!spans.length) return ['false'];
  if (!map) return ['true'];
  const ranges: { from: number; to: number | null }[] = [];
  for (const [first, past] of spans) {
    const startAt = firstAtLeast(map.lines, first + 1) - 1;
    const endAt = firstAtLeast(map.lines, past);
    const range = { from: startAt < 0 ? 0 : map.pages[startAt]!, to: endAt === map.lines.length ? null : map.pages[endAt]! };
    const last = ranges[ranges.length - 1];
    if (last && (last.to === null || last.to >= range.from)) last.to = last.to === null || range.to === null ? null : Math.max(last.to, range.to);
    else ranges.push(range);
  }
  if (ranges.length > MAX_RANGES) return ['true'];
  return ranges.map((r) => `t.ctid >= '(${r.from},0)'::tid${r.to === null ? '' : ` and t.ctid < '(${r.to},0)'::tid`}`);
}

/** The line spans of blocks. */
function blockSpans(blocks: readonly number[]): [number, number][] {
  return blocks.map((b) => [b * BLOCK_LINES, (b + 1) * BLOCK_LINES]);
}

/** The index of the first of the ascending `values` that is at least `value` (their length: none). */
function firstAtLeast(values: readonly number[], value: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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
