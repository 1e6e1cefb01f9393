/**
 * A table as one plain file per month of a date column, `part-YYYY-MM.parquet` (`part-none.parquet`
 * for NULLs): the months whose fingerprint matches the previous version's file are hard-linked
 * from it (reuse.ts), the others are written by COPYs that DuckDB splits by month. An empty table
 * gets one empty `part-00000.parquet`.
 */
import path from 'node:path';
import { fromDatabaseError } from '../errors.ts';
import { ident, literal } from '../db/index.ts';
import { copyToParquet, type ExportedFile, monthFileName } from './parquet-copy.ts';
import { type Fingerprints, type Part, type ReuseJob, type ReuseResult, writeOrReuse } from './reuse.ts';
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
    write: async (months, fingerprints) => {
      const written: ExportedFile[] = [];
      for (const batch of await monthBatches(o, key, months, fingerprints)) {
        const select = batch === null ? o.select : `${o.select} where ${inMonths(o.monthColumn, batch)}`;
        written.push(...(await copyToParquet({ ...o, select, file: path.join(o.dir, '.months'), splitMonthsOf: o.monthColumn, linkable: true })));
      }
      return written;
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

/**
 * Rows DuckDB holds per COPY that splits by month, counted as each month's rows up to one row
 * group (what its open writer buffers; the rows waiting for the writers are fewer,
 * parquet-encoder.ts PARTITION_FLUSH_ROWS): about two row groups, the memory of a one-file export
 * plus one row group. Each COPY scans the table, so fewer batches are faster and more memory.
 */
const MONTH_BATCH_ROW_GROUPS = 2;

/**
 * The months to write, in COPYs (each one scan of the table) whose buffered rows stay under the
 * budget; `null` for one COPY of the whole table. The months' rows come from the fingerprints
 * when they are known, else from a count by month (one scan without hashing).
 */
async function monthBatches(o: MonthsJob, key: string, toWrite: Part[] | null, fingerprints: Fingerprints | null): Promise<(Part[] | null)[]> {
  let counts: [Part, number][];
  if (fingerprints) {
    counts = [...fingerprints].filter(([m]) => toWrite === null || toWrite.includes(m)).map(([m, f]) => [m, f.rows]);
  } else {
    const { rows } = await o.client.query<{ month: string; rows: string }>(`select ${key} as month, count(*) as rows from ${o.rel} group by 1 order by 1`)
      .catch((err) => { throw fromDatabaseError(err, `counting the months of ${o.where}`); });
    counts = rows.map((r) => [r.month, Number(r.rows)]);
  }
  const budget = MONTH_BATCH_ROW_GROUPS * o.rowGroupSize;
  const batches: Part[][] = [];
  let held = Number.POSITIVE_INFINITY;
  for (const [month, rows] of counts) {
    const buffered = Math.min(rows, o.rowGroupSize);
    if (held + buffered > budget) {
      batches.push([]);
      held = 0;
    }
    batches.at(-1)!.push(month);
    held += buffered;
  }
  return toWrite === null && batches.length <= 1 ? [null] : batches;
}
