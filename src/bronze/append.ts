/**
 * Appended files: a source file whose first bytes are, byte for byte, the file the bronze table was
 * loaded from, and which goes on past them (the daily sales export grows at its end). Only its
 * tail is scanned and copied; the published table keeps its rows, and the tail's rows join it in
 * the swap's transaction (load.ts), so a failed or killed run leaves bronze as it was.
 *
 * Exactness: a whole load of the file scans the prefix into the rows the table holds when the
 * scanner's reading of the prefix does not depend on what follows it, which holds when
 * - the prefix ends with the file's line end (a record boundary: no quote is open there, as
 *   none of the six contracts lets a quoted value hold a line break; a CR-only file whose tail
 *   starts with an LF is not taken, as the LF would join the last line),
 * - no line near its end was rejected for a quote open at its end: the scanner decides such a
 *   line by the lines after it (at most MAX_SPAN_LINES, record-scanner.ts), and at the end of the
 *   old file it saw none of the tail's,
 * - and the table holds that load whole (loadIntact's check, one scan, which also finds the
 *   previous rows of the tail's keys).
 * The tail is then scanned from the next line number on, as the whole scan would. Header,
 * encoding and line end lie in the prefix, so a prefix with the recorded sha256 has the recorded ones.
 *
 * The diff of an append is the whole-file diff: a key of the tail without previous rows is
 * `added`, one with previous rows `changed` (its new rows are the previous ones plus the tail's);
 * no key is removed or moved. `__changes` holds, per such key, its previous rows (old side), the
 * same rows as the table keeps them and the tail's (new side).
 *
 * The rows that stay keep the `_run_id` of the run that loaded them, and their xmin: the ledger
 * row of the appending run names the transaction of the swap (load_xid, the tail's rows) and the
 * ones its reused rows carry (reused_xids), so loadIntact still proves the table is the load. The
 * run's rejects are the whole file's: the previous load's are copied to the run beside the tail's.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { SchemaNames } from '../config.ts';
import { type Client, ident } from '../db/index.ts';
import { BLOCK_LINES, type LoadBlocks, pageLines, readLoadBlocks } from './block-hashes.ts';
import { type BronzeLoadRecord, LOAD_TOUCHED_SQL, type SourceChange } from './changes.ts';
import { bronzeColumns, bronzeKeyColumns, LINEAGE_COLUMNS, type SourceContract } from './contracts.ts';
import type { SourceHeader } from './source-file.ts';

/**
 * Lines at the end of the previous file in which a reject for an open quote makes the file not
 * appendable: more than the scanner's look-ahead past an open quote (MAX_SPAN_LINES, record-scanner.ts).
 */
export const QUOTE_LOOKAHEAD_MARGIN = 64;

/** A file found to extend the previous load's: the sha256 state after its prefix, continued by the tail. */
export interface AppendablePrefix {
  previous: BronzeLoadRecord;
  /** The whole file's sha256, fed the prefix; the tail's bytes go in as they stream. */
  hash: Hash;
}

/**
 * Whether the file extends the file of `previous` (see the module comment), or null: a whole load.
 * The cheap checks come first; the prefix is then hashed, one read of its bytes, whose hash state
 * goes on with the tail (no byte of the file is read twice).
 */
export async function appendablePrefix(client: Client, schemas: SchemaNames, previous: BronzeLoadRecord | undefined, header: SourceHeader): Promise<AppendablePrefix | null> {
  if (!previous || header.bytes <= previous.bytes || previous.lines === null || previous.rowLines === null || previous.loadXid === null) return null;
  if (1 + previous.blankLines + previous.rowLines + previous.rejects !== previous.lines) return null;
  if (previous.lineEnding !== header.lineEnding || previous.encoding !== (header.hasBom ? 'UTF-8 with BOM' : 'UTF-8') || previous.lineEnding === 'none') return null;
  const edge = Buffer.alloc(2);
  const handle = await open(header.path, 'r');
  try {
    await handle.read(edge, 0, 2, previous.bytes - 1);
  } finally {
    await handle.close();
  }
  const terminator = header.terminator === 'CR' ? 0x0d : 0x0a;
  if (edge[0] !== terminator || (header.terminator === 'CR' && edge[1] === 0x0a)) return null;
  const { rows } = await client.query<{ n: string }>(
    `select count(*) as n from ${ident(schemas.etl)}.rejects
      where run_id = $1 and source = $2 and line_number > $3 and reason in ('RECORD_UNCLOSED_QUOTE', 'RECORD_LINE_BREAK_IN_FIELD')`,
    [previous.runId, previous.source, previous.lines - QUOTE_LOOKAHEAD_MARGIN],
  );
  if (Number(rows[0]!.n) > 0) return null;
  const hash = createHash('sha256');
  await pipeline(createReadStream(header.path, { start: 0, end: previous.bytes - 1, highWaterMark: 1 << 20 }), new HashThrough(hash, false));
  return hash.copy().digest('hex') === previous.sha256 ? { previous, hash } : null;
}

/** Feeds every chunk to a hash; passes them on (`forward`) or drops them. */
export class HashThrough extends Transform {
  bytes = 0;

  constructor(
    private readonly hash: Hash,
    private readonly forward: boolean,
  ) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, this.forward ? chunk : undefined);
  }
}

/**
 * In the tail's load transaction: whether the bronze table still holds the previous load (the
 * recorded rows, none written since, the recorded rejects), and if so `into` is created with the
 * whole-file diff of the append (module comment; the columns of diffIntoChanges'). One scan of the
 * previous table. Null (nothing created) when the table does not hold its load.
 */
export async function appendIntoChanges(
  client: Client,
  schemas: SchemaNames,
  contract: SourceContract,
  previous: BronzeLoadRecord,
  tail: string,
  into: string,
): Promise<Pick<SourceChange, 'added' | 'changed' | 'removed' | 'moved'> | null> {
  const table = `${ident(schemas.bronze)}.${ident(contract.name)}`;
  const keys = bronzeKeyColumns(contract).map(ident);
  const key = `row(${keys.map((c) => `t.${c}`).join(', ')})::text`;
  const first = `t.${keys[0]}`;
  await client.query("select set_config('jit', 'off', true), set_config('work_mem', '256MB', true)");
  await client.query(`create temporary table medallion_tail_keys on commit drop as select distinct ${first} as first_key, ${key} as change_key from ${tail} as t`);
  await client.query('analyze medallion_tail_keys');
  const ofTailKey = `(${first} in (select first_key from medallion_tail_keys) or (${first} is null and exists (select from medallion_tail_keys where first_key is null)))`;
  const { rows } = await client.query<{ rows: string; touched: string; rejects: string; candidates: string[] }>(
    `select s.rows, s.touched, (select count(*) from ${ident(schemas.etl)}.rejects where run_id = $1 and source = $2) as rejects, s.candidates::text[] as candidates
       from (select count(*) as rows, count(*) filter (where ${LOAD_TOUCHED_SQL}) as touched,
                    coalesce(array_agg(t.ctid) filter (where ${ofTailKey}), '{}') as candidates
               from ${table} as t) as s`,
    [previous.runId, previous.source, previous.loadXid, previous.reusedXids],
  );
  const scanned = rows[0]!;
  if (Number(scanned.rows) !== previous.rowsLoaded || Number(scanned.touched) !== 0 || Number(scanned.rejects) !== previous.rejects) return null;
  const columns = [...bronzeColumns(contract), ...LINEAGE_COLUMNS].map((c) => `t.${ident(c)}`).join(', ');
  await client.query(
    `create temporary table medallion_kept_rows on commit drop as
     select ${columns}, ${key} as change_key from ${table} as t
      where t.ctid = any ($1::tid[]) and ${key} in (select change_key from medallion_tail_keys)`,
    [scanned.candidates],
  );
  await client.query(
    `create table ${into} as
     select ${columns}, 'old'::text as change_side, 'changed'::text as change_kind from medallion_kept_rows as t
     union all
     select ${columns}, 'new', 'changed' from medallion_kept_rows as t
     union all
     select ${columns}, 'new', case when ${key} in (select change_key from medallion_kept_rows) then 'changed' else 'added' end from ${tail} as t`,
  );
  const { rows: counts } = await client.query<{ added: string; changed: string }>(
    `select count(*) filter (where k.change_key not in (select change_key from medallion_kept_rows)) as added,
            count(*) filter (where k.change_key in (select change_key from medallion_kept_rows)) as changed
       from medallion_tail_keys as k`,
  );
  await client.query('drop table medallion_tail_keys, medallion_kept_rows');
  return { added: Number(counts[0]!.added), changed: Number(counts[0]!.changed), removed: 0, moved: 0 };
}

/** What the swap needs of an appended load: the load it extends and the block hashes of its tail. */
export interface AppendedLoad {
  previous: BronzeLoadRecord;
  tailBlocks: LoadBlocks;
  change: SourceChange;
}

/**
 * In the swap's transaction: the tail's rows (`tail`, quoted) go into the bronze table after its
 * rows, in line order, and the tail's table is dropped; the run's ledger row names this
 * transaction (the tail's rows' xmin) and the reused rows' transactions. Returns the block hashes
 * of the whole table for the next diff, or null when none can stand for it (whose previous
 * record is deleted).
 *
 * The invariant of `<etl>.source_blocks` (block-hashes.ts, read by the next whole diff): each
 * recorded block's digest is that of the rows on its lines, and the rows of any span of lines lie
 * between the pages its page map gives (lineReads in changes.ts): for each sampled page, the rows
 * of earlier lines lie on earlier pages and those of later lines on it or later. An insert, unlike
 * the load's COPY into a new table, takes pages from the free space map, so the tail's rows may
 * be out of line order among themselves; they are all on the previous last page or after it. So the
 * appended load's record keeps the previous load's blocks and gets the tail's, but not the block
 * the two share (its digest would cover part of its rows: left out, it counts as differing and
 * the next diff compares its rows), and its page map samples only the previous pages (the
 * previous record's, or sampled before the insert), so that a span past them reads to the end of
 * the table. With no record of the previous load for this very table (same relfilenode), a tail
 * row on an earlier page, or no page map in line order, the source has no record and the next
 * whole diff hashes both tables.
 */
export async function publishAppend(client: Client, schemas: SchemaNames, contract: SourceContract, tail: string, load: AppendedLoad, runId: number): Promise<LoadBlocks | null> {
  const table = `${ident(schemas.bronze)}.${ident(contract.name)}`;
  const columns = [...bronzeColumns(contract), ...LINEAGE_COLUMNS].map(ident).join(', ');
  const { rows: size } = await client.query<{ pages: number }>("select (pg_relation_size($1::regclass) / current_setting('block_size')::int)::int as pages", [table]);
  const lastPage = Math.max(0, size[0]!.pages - 1);
  const before = await readLoadBlocks(client, schemas, load.previous.runId, contract.name);
  const pages = before ? (before.pages ?? (await pageLines(client, table))) : null;
  const { rows: placed } = await client.query<{ early: string }>(
    `with moved as (insert into ${table} (${columns}) select ${columns} from ${tail} order by _line_number returning ctid)
     select count(*) filter (where (ctid::text::point)[0] < $1) as early from moved`,
    [lastPage],
  );
  await client.query(`drop table ${tail}`);
  await client.query(
    `update ${ident(schemas.etl)}.source_files set load_xid = pg_current_xact_id()::xid::text, reused_xids = $3::text[]
      where run_id = $1 and source = $2`,
    [runId, contract.name, [...load.previous.reusedXids, load.previous.loadXid!]],
  );
  const { rows: node } = await client.query<{ filenode: string }>('select pg_relation_filenode($1::regclass)::text as filenode', [table]);
  if (!before || !pages || before.filenode !== node[0]!.filenode || Number(placed[0]!.early) > 0) {
    const { rows: exists } = await client.query<{ t: string | null }>('select to_regclass($1) as t', [`${ident(schemas.etl)}.source_blocks`]);
    if (exists[0]?.t) await client.query(`delete from ${ident(schemas.etl)}.source_blocks where source = $1`, [contract.name]);
    return null;
  }
  return mergeBlocks({ ...before, pages }, load.tailBlocks, load.previous.lines!);
}

/** The previous load's blocks and the tail's, less the block the two share (`lines`: the previous file's). */
export function mergeBlocks(before: LoadBlocks, tail: LoadBlocks, lines: number): LoadBlocks {
  const shared = Math.floor(lines / BLOCK_LINES) === Math.floor((lines + 1) / BLOCK_LINES) ? Math.floor(lines / BLOCK_LINES) : -1;
  const merged: LoadBlocks = { blocks: [], digests: [], pages: before.pages ?? null };
  for (const from of [before, tail]) {
    from.blocks.forEach((b, i) => {
      if (b === shared) return;
      merged.blocks.push(b);
      merged.digests.push(from.digests[i]!);
    });
  }
  return merged;
}
