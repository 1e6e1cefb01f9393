/**
 * A table as one plain file per part, each hard-linked from the previous version when its
 * fingerprint matches that version's file (reuse.ts), the others written by one COPY that
 * part-router.ts splits (parquet-copy.ts). An empty table gets one empty `part-00000.parquet`.
 *
 * - By month of a date column: `part-YYYY-MM.parquet` (`part-none.parquet` for NULLs).
 * - By bucket of an integer column, the value modulo a power of two (its low bits, `value &
 *   (buckets - 1)`, as two's complement for negative values): `part-bucket-017.parquet`
 *   (`part-bucket-none.parquet` for NULLs). A row stays in its bucket whatever else changes, so a
 *   change to a few customers rewrites their buckets only.
 */
import path from 'node:path';
import { ident, literal } from '../db/index.ts';
import { fromDatabaseError } from '../errors.ts';
import { bucketParts } from './part-router.ts';
import { bucketFileName, copyPartsToParquet, copyToParquet, MONTH_FILES, monthFileName, type PartFiles } from './parquet-copy.ts';
import { type Fingerprints, type Part, type ReuseJob, type ReuseResult, writeOrReuse } from './reuse.ts';
import type { ExportColumn } from './types.ts';

/** The column kinds a table can be split by month of. */
export const MONTH_KINDS: ReadonlySet<string> = new Set(['date', 'timestamp', 'timestamptz']);
/** The column kinds a table can be split into buckets of. */
export const BUCKET_KINDS: ReadonlySet<string> = new Set(['int64']);

export interface PartsJob extends ReuseJob {
  columns: readonly ExportColumn[];
  /** `select <exported columns> from <table>`. */
  select: string;
  /** The folder of the part files. */
  dir: string;
  /**
   * The COPYs a write of every part is split into, each holding whole parts (a range of months or
   * of buckets), so that DuckDB encodes the parts of one beside the next (parquet-copy.ts). By
   * default COPIES for a table of COPIES_FROM_ROWS rows or more (pg_class' estimate), else one.
   * A write of parts holding less than a third of the table's rows is one COPY (partsByCopy).
   */
  copies?: number;
}

/**
 * The COPYs of a table's parts when every part is written. Each is a scan of the whole table that
 * formats the rows of its parts only, and scanning costs little beside formatting. With four,
 * DuckDB encodes the parts of three of them beside Postgres' next COPY, and only the last COPY's
 * after it (docs/decisions/0019 has the measurements).
 */
export const COPIES = 4;
/** The table size, in rows, from which the parts go out in COPIES COPYs: below it, one COPY. */
export const COPIES_FROM_ROWS = 200_000;

export interface MonthsJob extends PartsJob {
  monthColumn: string;
}

export interface BucketsJob extends PartsJob {
  bucketColumn: string;
  /** A power of two. */
  buckets: number;
}

export async function exportMonths(o: MonthsJob): Promise<ReuseResult> {
  return exportParts(o, {
    column: o.monthColumn,
    key: `coalesce(to_char(${ident(o.monthColumn)}, 'YYYY-MM'), 'none')`,
    splitBy: o.monthColumn,
    files: MONTH_FILES,
    fileOf: monthFileName,
    rowsOf: (months) => inMonths(o.monthColumn, months),
    ranges: async (copies) => {
      // The months at the quantiles of the column's histogram (pg_stats: equal numbers of rows
      // between its bounds), as the starts of the COPYs after the first.
      const { rows } = await o.client.query<{ bounds: string | null }>(
        `select s.histogram_bounds::text as bounds from pg_stats s
           join pg_class c on c.relname = s.tablename join pg_namespace n on n.oid = c.relnamespace and n.nspname = s.schemaname
          where c.oid = to_regclass(${literal(o.rel)}) and s.attname = ${literal(o.monthColumn)}`,
      ).catch((err) => { throw fromDatabaseError(err, `reading the statistics of ${o.where}`); });
      const months = rows[0]?.bounds?.match(/(?<![0-9])[0-9]{4}-[0-9]{2}(?=-)/g) ?? [];
      const starts: string[] = [];
      for (let i = 1; i < copies && months.length > 0; i++) {
        const m = months[Math.round((i * (months.length - 1)) / copies)]!;
        if (m > (starts.at(-1) ?? months[0]!)) starts.push(m);
      }
      const c = ident(o.monthColumn);
      return rangesOf(starts.map((m) => `${literal(`${m}-01`)}::date`), (from, to) =>
        from === null ? `${c} < ${to}` : to === null ? `(${c} >= ${from} or ${c} is null)` : `(${c} >= ${from} and ${c} < ${to})`);
    },
  });
}

export async function exportBuckets(o: BucketsJob): Promise<ReuseResult> {
  const c = ident(o.bucketColumn);
  const mask = o.buckets - 1;
  const width = bucketParts(o.buckets).name(mask, Buffer.alloc(0), 0).length;
  return exportParts(o, {
    column: o.bucketColumn,
    key: `coalesce(lpad((${c} & ${mask})::text, ${width}, '0'), 'none')`,
    splitBy: `${o.bucketColumn} & ${mask}`,
    files: { partKey: bucketParts(o.buckets), fileName: bucketFileName, field: 'bucket' },
    fileOf: bucketFileName,
    rowsOf: (buckets) => {
      const numbers = buckets.filter((b) => b !== 'none' && b !== null).map((b) => Number(b));
      const terms = [...(numbers.length > 0 ? [`(${c} & ${mask}) in (${numbers.join(', ')})`] : []), ...(buckets.some((b) => b === 'none' || b === null) ? [`${c} is null`] : [])];
      return `(${terms.join(' or ')})`;
    },
    ranges: async (copies) => {
      const starts: string[] = [];
      for (let i = 1; i < Math.min(copies, o.buckets); i++) starts.push(String(Math.round((i * o.buckets) / copies)));
      return rangesOf(starts, (from, to) =>
        from === null ? `(${c} & ${mask}) < ${to}` : to === null ? `((${c} & ${mask}) >= ${from} or ${c} is null)` : `((${c} & ${mask}) >= ${from} and (${c} & ${mask}) < ${to})`);
    },
  });
}

/**
 * The conditions of consecutive ranges that start at `starts` (ascending SQL values), the first
 * open below, the last open above and holding the NULLs: every row in exactly one. None for no
 * starts (one COPY of every row).
 */
function rangesOf(starts: readonly string[], range: (from: string | null, to: string | null) => string): string[] {
  if (starts.length === 0) return [];
  return [null, ...starts].map((from, i) => range(from, starts[i] ?? null));
}

interface PartSplit {
  column: string;
  /** The SQL of a row's part, as the files name it. */
  key: string;
  splitBy: string;
  files: PartFiles;
  fileOf: (part: string) => string;
  /** The condition that selects the rows of the given parts. */
  rowsOf: (parts: readonly Part[]) => string;
  /** The conditions of up to `copies` COPYs that hold every part between them, each part whole; none for one COPY. */
  ranges: (copies: number) => Promise<string[]>;
}

/** The COPYs of a write of `rows` rows: the job's `copies`, else COPIES from COPIES_FROM_ROWS rows, else one. */
function copiesFor(o: PartsJob, rows: number): number {
  return o.copies ?? (rows >= COPIES_FROM_ROWS ? COPIES : 1);
}

/**
 * The COPYs of every part when the parts' rows are not known yet: `copies`, or COPIES for a table
 * of COPIES_FROM_ROWS rows by pg_class' estimate, split as `ranges` (none: one COPY of every row).
 */
async function rangesOfTable(o: PartsJob, s: PartSplit): Promise<string[]> {
  let copies = o.copies;
  if (copies === undefined) {
    const { rows } = await o.client.query<{ rows: number | null }>(`select reltuples::float8 as rows from pg_class where oid = to_regclass(${literal(o.rel)})`)
      .catch((err) => { throw fromDatabaseError(err, `reading the statistics of ${o.where}`); });
    copies = copiesFor(o, rows[0]?.rows ?? 0);
  }
  return copies > 1 ? s.ranges(copies) : [];
}

/**
 * The parts to write, by COPY: consecutive parts (in their order, `none` last) with about equal
 * rows by their fingerprints' counts, `copies` of them or COPIES for COPIES_FROM_ROWS rows, else
 * one COPY; one COPY too for parts holding less than a third of the table's rows.
 *
 * Every COPY scans the whole table. Splitting a write of a share s of the rows into k COPYs
 * overlaps DuckDB's encoding of (k - 1) / k of them with Postgres, and costs k - 1 more scans,
 * each about a tenth of formatting every row (docs/decisions/0019); with encoding about as costly
 * as formatting, k = 4 gains only above s = 1/3. A day's changed buckets of
 * customer_training_set (33 of 256, about 13% of its 9M rows) take one scan, not four.
 */
function partsByCopy(o: PartsJob, parts: readonly Part[], fingerprints: Fingerprints | null): Part[][] {
  const rowsOf = (p: Part) => fingerprints?.get(p)?.rows ?? 0;
  const total = parts.reduce((n, p) => n + rowsOf(p), 0);
  const tableRows = [...(fingerprints?.values() ?? [])].reduce((n, f) => n + f.rows, 0);
  const copies = total * 3 < tableRows ? 1 : Math.min(parts.length, copiesFor(o, total));
  const ordered = [...parts].sort((a, b) => (a === b ? 0 : a === null || a === 'none' ? 1 : b === null || b === 'none' ? -1 : a < b ? -1 : 1));
  if (copies <= 1) return [ordered];
  const groups: Part[][] = [[]];
  let sum = 0;
  for (const p of ordered) {
    if (groups.at(-1)!.length > 0 && groups.length < copies && sum >= (total * groups.length) / copies) groups.push([]);
    groups.at(-1)!.push(p);
    sum += rowsOf(p);
  }
  return groups;
}

async function exportParts(o: PartsJob, s: PartSplit): Promise<ReuseResult> {
  const { files, fingerprints } = await writeOrReuse(o, {
    key: s.key,
    splitBy: s.splitBy,
    field: s.files.field,
    fileOf: (part) => path.join(o.dir, s.fileOf(part!)),
    write: async (parts, fingerprints, copied) => {
      // The split column first: part-router.ts reads each row's part from its first bytes.
      const csvColumns = [...o.columns.filter((c) => c.name === s.column), ...o.columns.filter((c) => c.name !== s.column)];
      const from = `select ${csvColumns.map((c) => ident(c.name)).join(', ')} from ${o.rel}`;
      const conditions = parts === null ? await rangesOfTable(o, s) : partsByCopy(o, parts, fingerprints).map(s.rowsOf);
      const selects = conditions.length > 0 ? conditions.map((c) => `${from} where ${c}`) : [from];
      return copyPartsToParquet({ ...o, selects, dir: o.dir, csvColumns, parts: s.files, linkable: true, onCopied: copied });
    },
  });
  if (files.length === 0) return { files: await copyToParquet({ ...o, file: path.join(o.dir, 'part-00000.parquet') }), fingerprints };
  const name = (f: (typeof files)[number]) => f.month ?? f.bucket!;
  return { fingerprints, files: files.sort((a, b) => (name(a) === name(b) ? 0 : name(a) === 'none' ? 1 : name(b) === 'none' ? -1 : name(a) < name(b) ? -1 : 1)) };
}

/**
 * The rows of the given months (`YYYY-MM`, or `none` for NULL) as ranges of the column: the same
 * rows as comparing each row's `to_char` with the months, in the same scan order, without
 * formatting every row of the table for each COPY.
 */
function inMonths(column: string, months: readonly Part[]): string {
  const c = ident(column);
  // Consecutive months as one range: fewer comparisons for each row of the scan.
  const next = (m: string) => {
    const [y, mm] = m.split('-').map(Number) as [number, number];
    return mm === 12 ? `${String(y + 1).padStart(4, '0')}-01` : `${String(y).padStart(4, '0')}-${String(mm + 1).padStart(2, '0')}`;
  };
  const ranges: { from: string; to: string }[] = [];
  for (const m of [...months].filter((x): x is string => x !== null && x !== 'none').sort()) {
    const last = ranges.at(-1);
    if (last !== undefined && last.to === m) last.to = next(m);
    else ranges.push({ from: m, to: next(m) });
  }
  const terms = [
    ...ranges.map(({ from, to }) => `(${c} >= ${literal(`${from}-01`)}::date and ${c} < ${literal(`${to}-01`)}::date)`),
    ...(months.some((m) => m === 'none' || m === null) ? [`${c} is null`] : []),
  ];
  return `(${terms.join(' or ')})`;
}
