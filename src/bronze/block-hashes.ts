/**
 * The block hashes of a load: per block of BLOCK_LINES lines of the file, the SHA-1 of the COPY
 * bytes the scanner forwarded for the records that start in it (each record's bytes and its
 * `,<line number>`), after the file's column order. They are taken while the file streams into
 * COPY, on the Node side, so the load's own transaction does no extra work, and they are kept per
 * load (`<etl>.source_blocks`, written with the swap), so the next diff of the source hashes
 * neither side in SQL to find the blocks that changed (changes.ts). Beside them goes the table's
 * page map (pageLines) once a diff has read it, by which the diff reads the rows of those blocks
 * by ctid range.
 *
 * Equal hashes mean equal bytes, hence equal values on equal lines; unequal hashes only mean that
 * the block is compared row by row (another quoting of the same values hashes apart and is found
 * equal there).
 *
 * A record is found by its line end: the scanner forwards a line break only inside a quoted value
 * of a column that may hold one (record-scanner.ts), so without such a column every LF ends a
 * record, and a block boundary inside a chunk is found by a binary search over the chunk's bytes
 * (about 20 look-ups per boundary, not one per record). With such a column, records are walked
 * one by one, counting quotes (the scanner forwards valid CSV: a stray quote is re-quoted).
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { SchemaNames } from '../config.ts';
import { type Client, ident } from '../db/index.ts';

/**
 * Lines per block. Small enough that a day's scattered updates touch few of the rows (scale 10's
 * cust_info: about 40 changed rows among 184,000 lines), large enough that the hashes of a load
 * stay small (scale 100's sales_details: 23,600 blocks, 470 kB).
 */
export const BLOCK_LINES = 256;
const DIGEST_BYTES = 20;
const LF = 0x0a;
const QUOTE = 0x22;
const COMMA = 0x2c;

/** A load's block hashes: block numbers (line / BLOCK_LINES) ascending, and their digests. */
export interface LoadBlocks {
  blocks: number[];
  digests: Buffer[];
  /** Its table's page map, once read (pageLines); recorded with the hashes. */
  pages?: PageMap | null;
}

/** Sampled pages of a table, ascending, and the line of the first row on each. */
export interface PageMap {
  pages: number[];
  lines: number[];
}

/** Pages sampled per table by pageLines: a block's ctid range spans about two sampling steps more than its rows. */
const PAGE_SAMPLES = 2048;

/**
 * The page map of a bronze table (`table` quoted): the line of the first row on every
 * n-th page, read by ctid. A table loaded by one COPY and not written since holds its rows in
 * line order, so the rows of a span of lines lie between two sampled pages; null when the sampled
 * lines do not ascend with the pages.
 */
export async function pageLines(client: Client, table: string): Promise<PageMap | null> {
  const { rows: size } = await client.query<{ pages: number }>("select (pg_relation_size($1::regclass) / current_setting('block_size')::int)::int as pages", [table]);
  const pages = size[0]!.pages;
  const { rows } = await client.query<{ page: string; line: string }>(
    `select (t.ctid::text::point)[0]::bigint as page, t._line_number as line from ${table} as t
      where t.ctid = any (array(select format('(%s,1)', p)::tid from generate_series(0, $1 - 1, $2) as p)) order by 1`,
    [pages, Math.max(1, Math.ceil(pages / PAGE_SAMPLES))],
  );
  const map = { pages: rows.map((r) => Number(r.page)), lines: rows.map((r) => Number(r.line)) };
  return map.lines.every((l, i) => i === 0 || l > map.lines[i - 1]!) ? map : null;
}

/** Passes the scanner's COPY bytes through unchanged and hashes them per block of lines. */
export class BlockHashStream extends Transform {
  private readonly seed: string;
  private readonly multiLine: boolean;
  private current = -1;
  private hash: Hash | null = null;
  private readonly result: LoadBlocks = { blocks: [], digests: [] };

  /** `columns`: the file's column order (COPY's column list); `multiLine`: a column may hold a line break. */
  constructor(columns: readonly string[], multiLine: boolean) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    this.seed = `medallion blocks v1 ${BLOCK_LINES}\n${columns.join(',')}\n`;
    this.multiLine = multiLine;
  }

  /** The hashes, once the stream has ended. */
  get blocks(): LoadBlocks {
    return this.result;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.add(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.close();
    callback();
  }

  /** A chunk holds whole records (ScanStream pushes what the scanner emitted). */
  private add(chunk: Buffer): void {
    if (this.multiLine) {
      this.walk(chunk);
      return;
    }
    let pos = 0;
    while (pos < chunk.length) {
      const block = blockAt(chunk, chunk.indexOf(LF, pos));
      if (block !== this.current) this.open(block);
      const end = this.nextBlockStart(chunk, pos);
      this.hash!.update(chunk.subarray(pos, end));
      pos = end;
    }
  }

  /** The start of the first record after `pos` in a later block (or the chunk's end), by bisection. */
  private nextBlockStart(chunk: Buffer, pos: number): number {
    const past = (p: number) => blockAt(chunk, chunk.indexOf(LF, p)) > this.current;
    if (!past(chunk.length - 1)) return chunk.length;
    // the smallest p with past(p): the LF before it ends a record of this block, so p starts one
    let lo = pos;
    let hi = chunk.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (past(mid)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Record by record: an LF ends a record only after an even number of quotes in it. */
  private walk(chunk: Buffer): void {
    let start = 0;
    let p = 0;
    let quote = chunk.indexOf(QUOTE);
    while (p < chunk.length) {
      let lf = chunk.indexOf(LF, p);
      let open = false;
      for (;;) {
        while (quote >= 0 && quote < lf) {
          open = !open;
          quote = chunk.indexOf(QUOTE, quote + 1);
        }
        if (!open) break;
        lf = chunk.indexOf(LF, lf + 1);
      }
      const block = blockAt(chunk, lf);
      if (block !== this.current) {
        if (p > start) this.hash!.update(chunk.subarray(start, p));
        this.open(block);
        start = p;
      }
      p = lf + 1;
    }
    if (p > start) this.hash!.update(chunk.subarray(start, p));
  }

  private open(block: number): void {
    this.close();
    this.current = block;
    this.hash = createHash('sha1').update(this.seed);
  }

  private close(): void {
    if (!this.hash) return;
    this.result.blocks.push(this.current);
    this.result.digests.push(this.hash.digest());
    this.hash = null;
  }
}

/** The block of the forwarded record whose LF is at `lf`: its line number is the digits between its last comma and the LF. */
function blockAt(chunk: Buffer, lf: number): number {
  let line = 0;
  let scale = 1;
  for (let i = lf - 1; chunk[i] !== COMMA; i--) {
    line += (chunk[i]! - 48) * scale;
    scale *= 10;
  }
  return Math.floor(line / BLOCK_LINES);
}

/** `<etl>.source_blocks`, quoted. */
function blocksTable(schemas: SchemaNames): string {
  return `${ident(schemas.etl)}.source_blocks`;
}

/** The recorded hashes of a load, its table's page map, and the relfilenode the table had when they were written. */
export interface RecordedBlocks extends LoadBlocks {
  pages: PageMap | null;
  filenode: string;
}

/**
 * Writes the block hashes of the sources a run loaded, inside the swap's transaction (after it:
 * each loaded table is in place), and drops those of the loads they replace: the table holds the
 * hashes of the loads bronze holds, one row per load (a kept table keeps its load's row), with
 * the table's relfilenode, which a rewrite (CLUSTER, VACUUM FULL) changes, and its page map when
 * the diff read it (a new source's is not read here: at the swap the freshly loaded pages are
 * mostly outside shared buffers, so a full load would pay for reads the next diff makes anyway).
 */
export async function recordLoadBlocks(client: Client, schemas: SchemaNames, runId: number, loads: ReadonlyMap<string, LoadBlocks>): Promise<void> {
  if (!loads.size) return;
  const e = ident(schemas.etl);
  await client.query(
    `create table if not exists ${blocksTable(schemas)} (
       run_id      bigint not null references ${e}.runs (run_id) on delete cascade,
       source      text not null,
       block_lines integer not null,
       blocks      bigint[] not null,
       digests     bytea not null,
       filenode    oid,
       pages       bigint[],
       page_lines  bigint[],
       primary key (run_id, source)
     )`,
  );
  await client.query(`alter table ${blocksTable(schemas)} add column if not exists filenode oid, add column if not exists pages bigint[], add column if not exists page_lines bigint[]`);
  const sources = [...loads.keys()];
  await client.query(`delete from ${blocksTable(schemas)} where source = any($1)`, [sources]);
  for (const [source, load] of loads) {
    const pages = load.pages ?? null;
    await client.query(
      `insert into ${blocksTable(schemas)} (run_id, source, block_lines, blocks, digests, filenode, pages, page_lines)
       values ($1, $2, $3, $4, $5, pg_relation_filenode(format('%I.%I', $6::text, $2::text)::regclass), $7, $8)`,
      [runId, source, BLOCK_LINES, load.blocks, Buffer.concat(load.digests), schemas.bronze, pages?.pages ?? null, pages?.lines ?? null],
    );
  }
}

/** The block hashes of one recorded load, or null: none recorded (a load from before them, or of another block size). */
export async function readLoadBlocks(client: Client, schemas: SchemaNames, runId: number, source: string): Promise<RecordedBlocks | null> {
  const { rows: exists } = await client.query<{ t: string | null }>('select to_regclass($1) as t', [blocksTable(schemas)]);
  if (!exists[0]?.t) return null;
  const { rows } = await client.query<{ blocks: string[]; digests: Buffer; filenode: string; pages: string[] | null; page_lines: string[] | null }>(`select blocks, digests, filenode::text, pages, page_lines from ${blocksTable(schemas)} where run_id = $1 and source = $2 and block_lines = $3`, [
    runId,
    source,
    BLOCK_LINES,
  ]);
  const row = rows[0];
  if (!row || row.digests.length !== row.blocks.length * DIGEST_BYTES) return null;
  return { blocks: row.blocks.map(Number), digests: row.blocks.map((_, i) => row.digests.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES)),
    pages: row.pages && row.page_lines ? { pages: row.pages.map(Number), lines: row.page_lines.map(Number) } : null,
    filenode: row.filenode,
  };
}

/** The blocks whose hashes differ between two loads, or that only one of them has. */
export function differingBlocks(before: LoadBlocks, after: LoadBlocks): number[] {
  const old = new Map(before.blocks.map((b, i) => [b, before.digests[i]!]));
  const differ = new Set<number>();
  after.blocks.forEach((b, i) => {
    const o = old.get(b);
    if (!o?.equals(after.digests[i]!)) differ.add(b);
    old.delete(b);
  });
  for (const b of old.keys()) differ.add(b);
  return [...differ].sort((x, y) => x - y);
}
