/**
 * One table (or view) → one Parquet file, or one file per partition value in Hive-style folders.
 * Rows stream out of Postgres with `COPY ... TO STDOUT (format csv)` through a named pipe into
 * DuckDB (parquet-encoder.ts), which writes row groups of `rowGroupSize` rows; memory holds about
 * one row group at a time, whatever the table size.
 *
 * Every file is checked before this returns: rows DuckDB wrote = rows in the file's footer = rows
 * Postgres says it sent (COPY's `COPY n`), all in one snapshot (the caller's REPEATABLE READ
 * transaction, or our own). COPY's own count replaces a `count(*)` of the same query, which
 * scanned the table a second time after the export (seconds at 6M rows, on the critical path).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type Client, ident, literal } from '../db/index.ts';
import { DataError, fromDatabaseError, isConnectionError, MedallionError } from '../errors.ts';
import { CopyOutStream } from './copy-out.ts';
import { ioError } from './exports-dir.ts';
import { makeNamedPipe, openPipeWriter } from './fifo.ts';
import { type Compression, ParquetEncoder } from './parquet-encoder.ts';
import { type ColumnDoc, type ExportColumn, KINDS, pandasDtype, pandasMetadata, readColumns } from './types.ts';

export const EXPORT_FORMAT_VERSION = '1';
/**
 * Bytes of COPY output held between Postgres and DuckDB, so that Postgres keeps writing while
 * DuckDB parses its last buffer (parquet-encoder.ts, CSV_BUFFER_BYTES).
 */
const PIPE_BUFFER_BYTES = 16 << 20;

export interface ExportTableOptions {
  client: Client;
  schema: string;
  table: string;
  /** Write one file here (no partitioning) … */
  outFile?: string;
  /** … or `part-00000.parquet` files under this folder (Hive folders `col=value/` when partitioned). */
  outDir?: string;
  /** Column whose values split the output into `outDir/col=value/part-00000.parquet`. */
  partitionBy?: string | null;
  rowGroupSize: number;
  compression: Compression;
  /** Provenance written into every file's key-value metadata (strings). */
  metadata?: Record<string, string>;
  /** Description and role of each column, by name: into `medallion.columns` and the result's columns. */
  columnDocs?: Readonly<Record<string, ColumnDoc>>;
  /** Columns of the table not exported (the lifetime columns of a gold table, by default). */
  leaveOut?: readonly string[];
  /** Called with the rows of each file once it is written (progress). */
  onRows?: (rows: number) => void;
  /** Set when the caller already opened the transaction whose snapshot the export must use. */
  inTransaction?: boolean;
  signal?: AbortSignal;
}

export interface ExportedFile {
  /** Absolute path of the written file. */
  path: string;
  rows: number;
  bytes: number;
  sha256: string;
  rowGroups: number;
  rowGroupRows: number[];
  /** Partition column → value (its text form, never NULL), when partitioned. */
  partition?: Record<string, string>;
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

/**
 * The text forms parquet-encoder.ts reads: ISO dates, timestamptz in UTC, floats in their shortest
 * exact form (so that `real` 1.1 becomes the double 1.1).
 */
const SESSION_SETTINGS = `set local datestyle = 'ISO, YMD'; set local timezone = 'UTC'; set local extra_float_digits = 1`;

export async function exportTable(options: ExportTableOptions): Promise<ExportTableResult> {
  const { client, schema, table } = options;
  const where = `${schema}.${table}`;
  if (!options.outFile === !options.outDir) throw new DataError('EXPORT_FAILED', `exportTable(${where}): give exactly one of outFile and outDir`);
  if (options.partitionBy && !options.outDir) throw new DataError('EXPORT_FAILED', `exportTable(${where}): partitioning needs outDir`);
  if (!options.inTransaction) await client.query('begin isolation level repeatable read read only');
  try {
    await client.query(SESSION_SETTINGS);
    const leftOut = new Set(options.leaveOut ?? []);
    const allColumns = (await readColumns(client, schema, table).catch((err) => { throw fromDatabaseError(err, `reading the columns of ${where}`); }))
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

    const jobs: { file: string; filter: string; partition?: Record<string, string> }[] = [];
    if (options.partitionBy) {
      const p = options.partitionBy;
      const { rows } = await client.query<{ v: string | null }>(`select distinct ${ident(p)}::text as v from ${rel} order by 1`)
        .catch((err) => { throw fromDatabaseError(err, `listing the partitions of ${where}`); });
      for (const { v } of rows) {
        if (v === null) {
          // pandas.read_parquet cannot read Hive's NULL folder (`col=__HIVE_DEFAULT_PARTITION__`):
          // "Cannot yet unify dictionaries with nulls" beside other partitions, "couldn't infer
          // type" alone. Refused before any file is written.
          throw new DataError('EXPORT_FAILED', `${where}.${p} has NULLs: pandas cannot read a NULL partition (Hive's __HIVE_DEFAULT_PARTITION__ folder)`, {
            column: p,
            hint: `Give ${p} a value in every row of the model (and a not_null test), or export without --partition-by.`,
          });
        }
        jobs.push({
          file: path.join(options.outDir!, `${p}=${encodeURIComponent(v)}`, 'part-00000.parquet'),
          filter: `${ident(p)}::text = ${literal(v)}`,
          partition: { [p]: v },
        });
      }
      if (jobs.length === 0) {
        // An empty table still gets one (empty) file, so readers find its schema.
        jobs.push({ file: path.join(options.outDir!, 'part-00000.parquet'), filter: 'true' });
      }
    } else {
      jobs.push({ file: options.outFile ?? path.join(options.outDir!, 'part-00000.parquet'), filter: 'true' });
    }

    const files: ExportedFile[] = [];
    for (const job of jobs) {
      options.signal?.throwIfAborted();
      const select = job.filter === 'true' ? `select ${list} from ${rel}` : `select ${list} from ${rel} where ${job.filter}`;
      const file = await copyToParquet({ ...options, columns, select, file: job.file, meta, where });
      files.push(job.partition ? { ...file, partition: job.partition } : file);
    }
    if (!options.inTransaction) await client.query('commit');
    return { schema, table, rows: files.reduce((n, f) => n + f.rows, 0), columns: describeColumns(allColumns, options.partitionBy, options.columnDocs), files };
  } catch (err) {
    if (!options.inTransaction) await client.query('rollback').catch(() => {});
    throw err;
  }
}

type CopyJob = ExportTableOptions & {
  columns: ExportColumn[];
  select: string;
  file: string;
  meta: Map<string, string>;
  where: string;
};

/**
 * COPY one query into one Parquet file: Postgres → named pipe → DuckDB. Checks the rows DuckDB
 * wrote against the file's footer and COPY's own count.
 *
 * Each file gets its own DuckDB, closed when the file is done: a DuckDB kept for the next file
 * keeps the memory of the last one, and the scale-100 export then peaked at 412-458 MB during
 * customer_features instead of staying under 370 MB.
 */
async function copyToParquet(o: CopyJob): Promise<ExportedFile> {
  await mkdir(path.dirname(o.file), { recursive: true });
  const pipe = await makeNamedPipe();
  const encoder = await ParquetEncoder.open().catch(async (err: unknown) => {
    await pipe.remove();
    throw err;
  });
  const encoding = encoder.csvToParquet({
    source: pipe.path, columns: o.columns, outFile: o.file, rowGroupSize: o.rowGroupSize, compression: o.compression, metadata: o.meta,
  });
  encoding.catch(() => {});
  let copy: CopyOutStream | null = null;
  const onAbort = () => {
    encoder.interrupt();
    copy?.destroy(o.signal?.reason instanceof Error ? o.signal.reason : new Error('aborted'));
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let sent: number | null = null;
  let copyError: unknown = null;
  try {
    const sink = await openPipeWriter(pipe.path, encoding);
    if (sink) {
      copy = o.client.query(new CopyOutStream(`copy (${o.select}) to stdout (format csv)`));
      try {
        await pipeline(copy, sink.createWriteStream({ highWaterMark: PIPE_BUFFER_BYTES }));
        // Postgres's own count of the rows it sent (COPY's CommandComplete), in the same snapshot.
        sent = await copy.completed;
      } catch (err) {
        copyError = err;
      }
    }
    // Postgres' error explains a failed COPY better than DuckDB's view of a pipe closed early; a
    // broken pipe (EPIPE) means DuckDB stopped reading, and DuckDB's error says why.
    const pipeBroken = (copyError as { code?: string } | null)?.code === 'EPIPE';
    if (copyError && !pipeBroken) throw copyError;
    const written = await encoding.catch((err: unknown) => { throw encoderError(err, o); });
    if (copyError) throw copyError;
    const footer = await encoder.footer(o.file);
    if (footer.rows !== written) {
      throw new DataError('EXPORT_ROW_COUNT_MISMATCH', `${o.file}: DuckDB wrote ${written} rows but the file's footer says ${footer.rows}`, { file: o.file });
    }
    if (sent !== written) {
      throw new DataError('EXPORT_ROW_COUNT_MISMATCH', `${path.basename(o.file)} of ${o.where} has ${written} rows, Postgres sent ${sent}`, { file: o.file });
    }
    const { size } = await stat(o.file);
    o.onRows?.(written);
    return { path: o.file, rows: written, bytes: size, sha256: await sha256File(o.file), rowGroups: footer.rowGroupRows.length, rowGroupRows: footer.rowGroupRows };
  } catch (err) {
    copy?.destroy();
    if (o.signal?.aborted && o.signal.reason instanceof MedallionError) throw o.signal.reason;
    if (err instanceof MedallionError) throw err;
    const e = err as Error & { code?: string };
    if ((typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) || isConnectionError(err)) throw fromDatabaseError(err, `exporting ${o.where}`);
    if (e && typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) throw ioError(err, `writing ${o.file}`, o.file);
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    await encoding.catch(() => {});
    encoder.close();
    await pipe.remove();
  }
}

/** DuckDB's error (a value it cannot convert, a full disk …) as ours, naming the table and file. */
function encoderError(err: unknown, o: CopyJob): MedallionError {
  // DuckDB's CSV errors run to 30 lines of reader options; the first paragraph says what and where.
  const message = (err instanceof Error ? err.message : String(err)).split(/\n\s*\n/)[0]!.replace(/\s*\n\s*/g, '; ');
  if (/No space left|Permission denied|Could not (open|write)|IO Error/i.test(message)) return ioError(new Error(message, { cause: err }), `writing ${o.file}`, o.file);
  return new DataError('EXPORT_FAILED', `${o.where}: ${message}`, { file: o.file, hint: 'See src/export/README.md for the types the export supports.' }, { cause: err });
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}
