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
import { bucketParts } from './part-router.ts';
import { bucketFileName, copyPartsToParquet, copyToParquet, MONTH_FILES, monthFileName, type PartFiles } from './parquet-copy.ts';
import { type Part, type ReuseJob, type ReuseResult, writeOrReuse } from './reuse.ts';
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
}

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
  });
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
}

async function exportParts(o: PartsJob, s: PartSplit): Promise<ReuseResult> {
  const { files, fingerprints } = await writeOrReuse(o, {
    key: s.key,
    splitBy: s.splitBy,
    field: s.files.field,
    fileOf: (part) => path.join(o.dir, s.fileOf(part!)),
    afterCopy: true,
    write: async (parts, _fingerprints, copied) => {
      // The split column first: part-router.ts reads each row's part from its first bytes.
      const csvColumns = [...o.columns.filter((c) => c.name === s.column), ...o.columns.filter((c) => c.name !== s.column)];
      const from = `select ${csvColumns.map((c) => ident(c.name)).join(', ')} from ${o.rel}`;
      const select = parts === null ? from : `${from} where ${s.rowsOf(parts)}`;
      return copyPartsToParquet({ ...o, select, dir: o.dir, csvColumns, parts: s.files, linkable: true, onCopied: copied });
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
  return `(${months
    .map((m) => (m === 'none' || m === null ? `${c} is null` : `(${c} >= ${literal(`${m}-01`)}::date and ${c} < ${literal(`${m}-01`)}::date + interval '1 month')`))
    .join(' or ')})`;
}
