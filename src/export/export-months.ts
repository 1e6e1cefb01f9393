/**
 * A table as one plain file per month of a date column, `part-YYYY-MM.parquet` (`part-none.parquet`
 * for NULLs): the months whose fingerprint matches the previous version's file are hard-linked
 * from it (reuse.ts), the others are written by COPYs that DuckDB splits by month. An empty table
 * gets one empty `part-00000.parquet`.
 */
import path from 'node:path';
import { ident, literal } from '../db/index.ts';
import { copyMonthsToParquet, copyToParquet, monthFileName } from './parquet-copy.ts';
import { type Part, type ReuseJob, type ReuseResult, writeOrReuse } from './reuse.ts';
import type { ExportColumn } from './types.ts';

/** The column kinds a table can be split by month of. */
export const MONTH_KINDS: ReadonlySet<string> = new Set(['date', 'timestamp', 'timestamptz']);

export interface MonthsJob extends ReuseJob {
  columns: readonly ExportColumn[];
  /** `select <exported columns> from <table>`. */
  select: string;
  /** The folder of the month files. */
  dir: string;
  monthColumn: string;
}

export async function exportMonths(o: MonthsJob): Promise<ReuseResult> {
  const key = `coalesce(to_char(${ident(o.monthColumn)}, 'YYYY-MM'), 'none')`;
  const { files, fingerprints } = await writeOrReuse(o, {
    key,
    monthColumn: o.monthColumn,
    fileOf: (month) => path.join(o.dir, monthFileName(month!)),
    afterCopy: true,
    write: async (months, _fingerprints, copied) => {
      // The month column first: month-router.ts reads each row's month from its first bytes.
      const csvColumns = [...o.columns.filter((c) => c.name === o.monthColumn), ...o.columns.filter((c) => c.name !== o.monthColumn)];
      const from = `select ${csvColumns.map((c) => ident(c.name)).join(', ')} from ${o.rel}`;
      const select = months === null ? from : `${from} where ${inMonths(o.monthColumn, months)}`;
      return copyMonthsToParquet({ ...o, select, dir: o.dir, csvColumns, linkable: true, onCopied: copied });
    },
  });
  if (files.length === 0) return { files: await copyToParquet({ ...o, file: path.join(o.dir, 'part-00000.parquet') }), fingerprints };
  return { fingerprints, files: files.sort((a, b) => (a.month === b.month ? 0 : a.month === 'none' ? 1 : b.month === 'none' ? -1 : a.month! < b.month! ? -1 : 1)) };
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
