/**
 * One table (or view) → one Parquet file, one plain file per month of a date column
 * (`part-2013-07.parquet`, export-months.ts) or per bucket of an integer column
 * (`part-bucket-017.parquet`, export-months.ts), or one file per partition value in Hive-style
 * folders. Rows stream out of Postgres with `COPY ... TO STDOUT (format csv)` through a named pipe
 * into DuckDB (parquet-copy.ts), which writes row groups of `rowGroupSize` rows; memory holds
 * about one row group at a time, whatever the table size. An unpartitioned file whose rows are
 * those of the previous version's file is hard-linked from it instead (reuse.ts).
 *
 * Every file is checked before this returns: rows DuckDB wrote = rows in the file's footer = rows
 * Postgres says it sent (or, for a linked file, counts), all in one snapshot (the caller's
 * REPEATABLE READ transaction, or our own).
 */
import path from 'node:path';
import { type Client, ident, literal } from '../db/index.ts';
import { DataError, fromDatabaseError } from '../errors.ts';
import { BUCKET_KINDS, exportBuckets, exportMonths, MONTH_KINDS } from './export-months.ts';
import { copyToParquet, EXPORT_FORMAT_VERSION, type ExportedFile, SESSION_SETTINGS } from './parquet-copy.ts';
import type { Compression } from './parquet-encoder.ts';
import { type FingerprintSource, type PreviousFile, type TableChange, writeOrReuse } from './reuse.ts';
import { type ColumnDoc, type ExportColumn, KINDS, pandasDtype, pandasMetadata, readColumns } from './types.ts';

export interface ExportTableOptions {
  client: Client;
  schema: string;
  /** Where the table's column facts (types, NOT NULL) are read, when not `schema` (see exportGold's columnSchemas). */
  columnsSchema?: string;
  table: string;
  /** Write one file here (no partitioning) … */
  outFile?: string;
  /** … or files under this folder: per month with `monthsOf`, Hive folders `col=value/` when partitioned, else `part-00000.parquet`. */
  outDir?: string;
  /** Column whose values split the output into `outDir/col=value/part-00000.parquet`. */
  partitionBy?: string | null;
  rowGroupSize: number;
  compression: Compression;
  /** Provenance written into every file's key-value metadata (strings). */
  metadata?: Record<string, string>;
  /** Description and role of each column, by name: into `medallion.columns` and the result's columns. */
  columnDocs?: Readonly<Record<string, ColumnDoc>>;
  /** Columns of the table not exported (a gold table's lifetime columns, by default, and those its .yml leaves out). */
  leaveOut?: readonly string[];
  /** Called with the rows of each file once it is written (progress). */
  onRows?: (rows: number) => void;
  /** Set when the caller already opened the transaction whose snapshot the export must use. */
  inTransaction?: boolean;
  signal?: AbortSignal;
  /**
   * Unpartitioned `outDir` only: one file per month of this date or timestamp column,
   * `part-YYYY-MM.parquet` (`part-none.parquet` for NULLs), each with a fingerprint of its rows.
   * Ignored when the table has no such column (one `part-00000.parquet`, as without it).
   */
  monthsOf?: string | null;
  /**
   * Unpartitioned `outDir` only, instead of `monthsOf`: one file per bucket of this integer
   * column, its value modulo `buckets` (a power of two), `part-bucket-017.parquet`
   * (`part-bucket-none.parquet` for NULLs), each with a fingerprint of its rows. Ignored when the
   * table has no such column (one `part-00000.parquet`, as without it).
   */
  bucketsOf?: BucketSplit | null;
  /**
   * Month or bucket files, every part written: the COPYs the rows go out in, each holding whole
   * parts, DuckDB encoding the parts of one beside the next (export-months.ts; by default by the
   * table's size).
   */
  copies?: number;
  /**
   * The files of the version published before (absolute paths, as its manifest lists them). Given
   * (even empty), an unpartitioned export fingerprints the rows of its file too (month files are
   * fingerprinted whether given or not); a file whose fingerprint, rows and settings are those of
   * a previous file of the same part (month, or the whole table) is hard-linked from there, not
   * written.
   */
  previousFiles?: readonly PreviousFile[];
  /**
   * How the rows stand against the published table `previousFiles` were written from, when the
   * caller knows (reuse.ts, TableChange): the fingerprints are then carried over or derived from
   * the changed rows instead of scanned. The caller vouches that `previousFiles` are the export of
   * that published table.
   */
  change?: TableChange;
  /**
   * A second connection whose transaction uses the same snapshot (`set transaction snapshot`): the
   * fingerprints are computed there while the rows are written, when nothing can be reused anyway.
   * Without it they are computed on `client` first.
   */
  fingerprintClient?: Client;
}

/** A table split into files by an integer column modulo `buckets` (a power of two). */
export interface BucketSplit {
  column: string;
  buckets: number;
}

export interface ColumnDescription {
  name: string;
  postgres: string;
  parquet: string;
  arrow: string;
  pandas: string;
  nullable: boolean;
  /** From the model's .yml, when documented. */
  description?: string;
  role?: string;
}

export interface ExportTableResult {
  schema: string;
  table: string;
  rows: number;
  columns: ColumnDescription[];
  files: ExportedFile[];
  /** Files encoded by this export, and files taken over unchanged from the previous version. */
  written: number;
  reused: number;
  /** How the files' fingerprints were had (reuse.ts); absent for files without one (Hive partitions). */
  fingerprints?: FingerprintSource;
}

/**
 * The columns as a reader sees them. A Hive partition column is not stored in the files (only in
 * the folder names, as Hive, Spark and pyarrow expect: stored in both, pandas.read_parquet fails
 * with "Unable to merge: Field … has incompatible types"); pandas appends it as the last column,
 * with the `category` dtype, polars and DuckDB as the last column with the type they infer (Int64,
 * BIGINT for an integer).
 */
export function describeColumns(columns: readonly ExportColumn[], partitionBy?: string | null, docs: Readonly<Record<string, ColumnDoc>> = {}): ColumnDescription[] {
  const described = columns.map((c) => {
    const doc = Object.hasOwn(docs, c.name) ? docs[c.name]! : {};
    return {
      name: c.name,
      postgres: c.pgType,
      parquet: c.name === partitionBy ? 'Hive partition (folder name)' : KINDS[c.kind].parquet,
      arrow: c.name === partitionBy ? 'Dictionary<Int32>' : KINDS[c.kind].arrow,
      pandas: c.name === partitionBy ? 'category' : pandasDtype(c),
      nullable: !c.notNull,
      ...(doc.description !== undefined ? { description: doc.description } : {}),
      ...(doc.role !== undefined ? { role: doc.role } : {}),
    };
  });
  return [...described.filter((c) => c.name !== partitionBy), ...described.filter((c) => c.name === partitionBy)];
}

export async function exportTable(options: ExportTableOptions): Promise<ExportTableResult> {
  const { client, schema, table } = options;
  const where = `${schema}.${table}`;
  if (!options.outFile === !options.outDir) throw new DataError('EXPORT_FAILED', `exportTable(${where}): give exactly one of outFile and outDir`);
  if (options.partitionBy && !options.outDir) throw new DataError('EXPORT_FAILED', `exportTable(${where}): partitioning needs outDir`);
  if (!options.inTransaction) await client.query('begin isolation level repeatable read read only');
  try {
    await client.query(SESSION_SETTINGS);
    const leftOut = new Set(options.leaveOut ?? []);
    const allColumns = (await readColumns(client, options.columnsSchema ?? schema, table).catch((err) => { throw fromDatabaseError(err, `reading the columns of ${where}`); }))
      .filter((c) => !leftOut.has(c.name));
    if (options.partitionBy && !allColumns.some((c) => c.name === options.partitionBy)) {
      throw new DataError('EXPORT_FAILED', `${where} has no column ${options.partitionBy} to partition by`);
    }
    // A partition column lives in the folder names only (Hive layout), not in the files.
    const columns = allColumns.filter((c) => c.name !== options.partitionBy);
    const rel = `${ident(schema)}.${ident(table)}`;
    const list = columns.map((c) => ident(c.name)).join(', ');
    const meta = new Map<string, string>([
      ['medallion.format', EXPORT_FORMAT_VERSION],
      ['medallion.source', where],
      // Per-field metadata cannot be written through DuckDB's COPY TO: description and role are here.
      ['medallion.columns', JSON.stringify(describeColumns(allColumns, options.partitionBy, options.columnDocs)
        .map(({ name, postgres, parquet, description, role }) => ({ name, postgres, parquet, ...(description !== undefined ? { description } : {}), ...(role !== undefined ? { role } : {}) })))],
      ...Object.entries(options.metadata ?? {}),
      ['pandas', pandasMetadata(columns, EXPORT_FORMAT_VERSION)],
    ]);

    const monthColumn = options.outDir && !options.partitionBy && options.monthsOf
      ? columns.find((c) => c.name === options.monthsOf && MONTH_KINDS.has(c.kind))?.name
      : undefined;
    const bucketColumn = options.outDir && !options.partitionBy && options.bucketsOf
      ? columns.find((c) => c.name === options.bucketsOf!.column && BUCKET_KINDS.has(c.kind))?.name
      : undefined;
    const select = `select ${list} from ${rel}`;
    const reusing = { ...options, columns, select, meta, where, rel, list };
    let files: ExportedFile[];
    let fingerprints: FingerprintSource | undefined;
    if (bucketColumn !== undefined) {
      ({ files, fingerprints } = await exportBuckets({ ...reusing, dir: options.outDir!, bucketColumn, buckets: options.bucketsOf!.buckets }));
    } else if (monthColumn !== undefined) {
      ({ files, fingerprints } = await exportMonths({ ...reusing, dir: options.outDir!, monthColumn }));
    } else if (!options.partitionBy && options.previousFiles !== undefined) {
      const file = options.outFile ?? path.join(options.outDir!, 'part-00000.parquet');
      ({ files, fingerprints } = await writeOrReuse(reusing, { key: null, splitBy: null, fileOf: () => file, write: () => copyToParquet({ ...reusing, file, linkable: true }) }));
    } else {
      files = await writeFiles(reusing);
    }
    if (!options.inTransaction) await client.query('commit');
    const reused = files.filter((f) => f.reusedFrom !== undefined).length;
    return { schema, table, rows: files.reduce((n, f) => n + f.rows, 0), columns: describeColumns(allColumns, options.partitionBy, options.columnDocs), files, written: files.length - reused, reused, ...(fingerprints !== undefined ? { fingerprints } : {}) };
  } catch (err) {
    if (!options.inTransaction) await client.query('rollback').catch(() => {});
    throw err;
  }
}

type WriteJob = ExportTableOptions & { columns: ExportColumn[]; select: string; meta: Map<string, string>; where: string; rel: string };

/**
 * The table without reuse: one file, or with `partitionBy` one file per value (one COPY each), or
 * one empty `part-00000.parquet` for an empty partitioned table.
 */
async function writeFiles(o: WriteJob): Promise<ExportedFile[]> {
  const jobs: { file: string; filter: string; partition?: Record<string, string> }[] = [];
  if (o.partitionBy) {
    const p = o.partitionBy;
    const { rows } = await o.client.query<{ v: string | null }>(`select distinct ${ident(p)}::text as v from ${o.rel} order by 1`)
      .catch((err) => { throw fromDatabaseError(err, `listing the partitions of ${o.where}`); });
    for (const { v } of rows) {
      if (v === null) {
        // pandas.read_parquet cannot read Hive's NULL folder (`col=__HIVE_DEFAULT_PARTITION__`):
        // "Cannot yet unify dictionaries with nulls" beside other partitions, "couldn't infer
        // type" alone. Refused before any file is written.
        throw new DataError('EXPORT_FAILED', `${o.where}.${p} has NULLs: pandas cannot read a NULL partition (Hive's __HIVE_DEFAULT_PARTITION__ folder)`, {
          column: p,
          hint: `Give ${p} a value in every row of the model (and a not_null test), or export without --partition-by.`,
        });
      }
      jobs.push({
        file: path.join(o.outDir!, `${p}=${encodeURIComponent(v)}`, 'part-00000.parquet'),
        filter: `${ident(p)}::text = ${literal(v)}`,
        partition: { [p]: v },
      });
    }
    if (jobs.length === 0) {
      // An empty table still gets one (empty) file, so readers find its schema.
      jobs.push({ file: path.join(o.outDir!, 'part-00000.parquet'), filter: 'true' });
    }
  } else {
    jobs.push({ file: o.outFile ?? path.join(o.outDir!, 'part-00000.parquet'), filter: 'true' });
  }
  const files: ExportedFile[] = [];
  for (const job of jobs) {
    o.signal?.throwIfAborted();
    const select = job.filter === 'true' ? o.select : `${o.select} where ${job.filter}`;
    const [file] = await copyToParquet({ ...o, select, file: job.file });
    files.push(job.partition ? { ...file!, partition: job.partition } : file!);
  }
  return files;
}
