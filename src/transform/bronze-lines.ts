/**
 * A bronze table's rows of an update's partitions, read by line instead of by a scan of the table
 * (incremental.ts, for an input under `partition_inputs`).
 *
 * The rows of the partitions in this run's table are (1) the new rows of `<source>__changes` in
 * them (every row of a key that is not the same in both loads), and (2) the rows of the keys that
 * are the same: each on the same line with the same values as in the load the published model
 * was built from, so on a line that a published row of its partition names (the model's
 * `bronze_lines` column), or on a line that is the partition value itself (an expression
 * `_line_number`). (2) is read at those lines, less the lines of `__changes` (which hold no row of
 * a key that is the same), by ctid ranges: a table loaded by one COPY and not written since holds
 * its rows in line order (the bronze loader's page map, src/bronze/block-hashes.ts). Every such
 * line holds a row; when fewer rows come back than lines (a table not in line order) the caller
 * reads the table by a scan instead. The partition expression then filters (1) and (2), so lines
 * read in excess change nothing.
 */
import { type PageMap, pageLines } from '../bronze/index.ts';
import { type Client, ident } from '../db/index.ts';
import { inPartitions } from './partition-predicates.ts';

/** More ctid ranges than this are merged across their smallest gaps: one plan node each. */
const MAX_RANGES = 64;

/**
 * More lines than this are read by a scan: the line numbers come into this process as one array,
 * whose memory must not grow with the table, and an update that reads that many lines reads a
 * large part of the table anyway.
 */
export const MAX_LINES = 100_000;

export interface BronzeLineRead {
  /** The bronze table, quoted. */
  table: string;
  /** Its `<source>__changes`, quoted, when this run's load is not the published one. */
  changes?: string;
  /** The bronze table's columns, in order. */
  columns: readonly string[];
  /** The query of the lines to read (one column `line`): the published rows' lines of the partitions, or the partitions. */
  lines: string;
  /** The partition value of a row `t` of the table (its expression), and the partitions (column `key`), quoted. */
  value: string;
  partitions: string;
  /** The table to create with the rows, and two work tables: the lines, and the rows found at them (quoted). */
  into: string;
  work: { lines: string; found: string };
  /** The most lines read by line (default MAX_LINES); more are read by a scan. */
  maxLines?: number;
}

/**
 * Creates `into` with the table's rows of the partitions, read by line; false (nothing created)
 * when the table is not in line order or the lines are more than `maxLines`, and the caller reads
 * it by a scan.
 */
export async function readBronzeByLines(client: Client, read: BronzeLineRead): Promise<boolean> {
  const { table, changes, columns } = read;
  const { lines: work, found: foundRows } = read.work;
  const changedLines = changes ? ` except select _line_number from ${changes}` : '';
  const listed = await client.query(`create table ${work} as select distinct line from (${read.lines}) as l where line is not null${changedLines}`);
  if ((listed.rowCount ?? 0) > (read.maxLines ?? MAX_LINES)) return false;
  const { rows } = await client.query<{ lines: string[] | null }>(`select array_agg(line order by line) as lines from ${work}`);
  const lines = (rows[0]?.lines ?? []).map(Number);
  let found = `select t.* from ${table} as t where false`;
  if (lines.length) {
    const map = await pageLines(client, table);
    if (!map) return false;
    found = lineRanges(map, lines)
      .map((range) => `select t.* from ${table} as t where ${range} and t._line_number in (select line from ${work})`)
      .join('\n union all\n');
  }
  const list = columns.map((c) => `t.${ident(c)}`).join(', ');
  const kept = await client.query(`create table ${foundRows} as ${found}`);
  if ((kept.rowCount ?? 0) !== lines.length) {
    await client.query(`drop table ${foundRows}`);
    return false;
  }
  const partitionValue = ident('medallion partition');
  const newRows = changes ? `\n union all\n select ${list} from ${changes} as t where t.change_side = 'new'` : '';
  // the expression computed once per row (the fence), not once per use in the predicate
  await client.query(
    `create table ${read.into} as
     select ${columns.map(ident).join(', ')}
       from (select t.*, ${read.value} as ${partitionValue} from (select ${list} from ${foundRows} as t${newRows}) as t offset 0) as t
      where ${inPartitions(partitionValue, read.partitions)}`,
  );
  await client.query(`analyze ${read.into}`);
  return true;
}

/**
 * The ctid ranges (conditions on `t`) that hold the rows of `lines` (ascending), given the first
 * lines of sampled pages: a line lies from the last sampled page that starts at or before it to
 * the first that starts after it. Overlapping ranges are one; past MAX_RANGES the closest are
 * merged, which reads the pages between them too.
 */
export function lineRanges(map: PageMap, lines: readonly number[]): string[] {
  const ranges: { from: number; to: number | null }[] = [];
  for (const line of lines) {
    const after = firstAbove(map.lines, line);
    const range = { from: after === 0 ? 0 : map.pages[after - 1]!, to: after === map.lines.length ? null : map.pages[after]! };
    const last = ranges[ranges.length - 1];
    if (last && (last.to === null || last.to >= range.from)) last.to = last.to === null || range.to === null ? null : Math.max(last.to, range.to);
    else ranges.push(range);
  }
  while (ranges.length > MAX_RANGES) {
    let closest = 0;
    for (let i = 1; i < ranges.length - 1; i++) if (ranges[i + 1]!.from - ranges[i]!.to! < ranges[closest + 1]!.from - ranges[closest]!.to!) closest = i;
    ranges[closest]!.to = ranges[closest + 1]!.to;
    ranges.splice(closest + 1, 1);
  }
  return ranges.map((r) => `t.ctid >= '(${r.from},0)'::tid${r.to === null ? '' : ` and t.ctid < '(${r.to},0)'::tid`}`);
}

/** The index of the first of `sorted` greater than `value` (its length when none is). */
function firstAbove(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
