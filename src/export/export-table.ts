/**
 * One table (or view) → one Parquet file, one plain file per month of a date column
 * (`part-2013-07.parquet`, reused from the previous version when its rows are unchanged), or one
 * file per partition value in Hive-style folders.
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
import { constants, createReadStream } from 'node:fs';
import { chmod, copyFile, link, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type Client, ident, literal } from '../db/index.ts';
import { DataError, fromDatabaseError, isConnectionError, MedallionError } from '../errors.ts';
import { CopyOutStream } from './copy-out.ts';
import { ioError } from './exports-dir.ts';
import { makeNamedPipe, openPipeWriter } from './fifo.ts';
import { type Compression, MONTH_FOLDER, ParquetEncoder } from './parquet-encoder.ts';
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
  /** Columns of the table not exported (the lifetime columns of a gold table, by default). */
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
   * The month files of the version published before (absolute paths, as its manifest lists them):
   * a month whose fingerprint, rows and settings are the same is hard-linked from there, not written.
   */
  previousMonths?: readonly PreviousMonthFile[];
  /**
   * A second connection whose transaction uses the same snapshot (`set transaction snapshot`): the
   * fingerprints are computed there while the rows are written, when nothing can be reused anyway.
   * Without it they are computed on `client` first.
   */
  fingerprintClient?: Client;
}

export interface PreviousMonthFile {
  month: string;
  /** Absolute path of the file in the previous version. */
  path: string;
  rows: number;
  fingerprint: string;
  settings: string;
  sha256: string;
  bytes: number;
  /** The version that wrote the file. */
  version: string;
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
  /** With `monthsOf`: the month (`YYYY-MM`, or `none`), the fingerprint of its rows, the file's settings. */
  month?: string;
  fingerprint?: string;
  settings?: string;
  /** Hard-linked (or copied) from this version instead of written. */
  reusedFrom?: string;
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

    const monthColumn = options.outDir && !options.partitionBy && options.monthsOf
      ? columns.find((c) => c.name === options.monthsOf && MONTH_KINDS.has(c.kind))?.name
      : undefined;
    if (monthColumn !== undefined) {
      const files = await exportMonths({ ...options, columns, select: `select ${list} from ${rel}`, file: options.outDir!, meta, where, rel, list, monthColumn });
      if (!options.inTransaction) await client.query('commit');
      const reused = files.filter((f) => f.reusedFrom !== undefined).length;
      return { schema, table, rows: files.reduce((n, f) => n + f.rows, 0), columns: describeColumns(allColumns, null, options.columnDocs), files, written: files.length - reused, reused };
    }

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
      const [file] = await copyToParquet({ ...options, columns, select, file: job.file, meta, where });
      files.push(job.partition ? { ...file!, partition: job.partition } : file!);
    }
    if (!options.inTransaction) await client.query('commit');
    return { schema, table, rows: files.reduce((n, f) => n + f.rows, 0), columns: describeColumns(allColumns, options.partitionBy, options.columnDocs), files, written: files.length, reused: 0 };
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
  /** Split by month: `file` is the folder of DuckDB's month folders (parquet-encoder.ts). */
  splitMonthsOf?: string;
};

const MONTH_KINDS = new Set(['date', 'timestamp', 'timestamptz']);

/**
 * The month fingerprint: the row count and the sum, as an exact numeric (no wrap-around), of
 * `hash_record_extended(row(exported columns), 0)`, per `to_char(month column, 'YYYY-MM')`, in
 * one scan of the table in the export's snapshot.
 *
 * Why this one: it hashes each value with its type's own hash function, without turning the row
 * into text, and costs 1.05-1.13 s at scale 10 where `hashtextextended(row::text, 0)` costs
 * 2.4-2.6 s (fact_sales, 604k rows; src/export/README.md). A sum, not an XOR: the same row
 * twice adds twice instead of cancelling, so the multiset of rows is what is fingerprinted, in
 * any order. Collisions: a month changed by some rows keeps its sum only when the 64-bit hashes of
 * the rows it gained and lost sum to the same value, which for a hash that behaves as random is a
 * chance of about 2^-64 per changed month (and the row count must agree too); nothing here is
 * adversarial. What the hash cannot see does not change the file either: numeric 1.0 and 1.00 are
 * the same double; the one exception is float -0.0 and 0.0 (equal, so hashed alike), which a
 * reused file keeps as it was.
 *
 * The fingerprint is order-independent: a month whose rows are the same but lie in another order
 * in the table keeps its file (and that file's row order). The fingerprint query runs on a second
 * connection in the same snapshot while the rows are written when no previous file can be reused,
 * so a first export pays it only in the time Postgres waits on DuckDB.
 */
const FINGERPRINT_METHOD = 'count, sum(hash_record_extended(row, 0))';

/** The file names of the month files. */
export function monthFileName(month: string): string {
  return `part-${month}.parquet`;
}

type MonthsJob = CopyJob & { rel: string; list: string; monthColumn: string };
type Fingerprints = Map<string, { rows: number; fingerprint: string }>;

/**
 * What makes two month files with the same rows the same bytes apart from the run's provenance:
 * the format, the columns and their docs (`medallion.columns`, `pandas`), the source, compression
 * and row groups. A previous file is reused only when its settings are these.
 */
function monthFileSettings(o: MonthsJob): string {
  const perRun = new Set(['medallion.run_id', 'medallion.as_of', 'medallion.inputs']);
  const fixed = [...o.meta].filter(([k]) => !perRun.has(k)).sort(([a], [b]) => (a < b ? -1 : 1));
  return createHash('sha256').update(JSON.stringify([FINGERPRINT_METHOD, EXPORT_FORMAT_VERSION, o.compression, o.rowGroupSize, o.monthColumn, fixed])).digest('hex').slice(0, 32);
}

async function fingerprintMonths(o: MonthsJob, key: string): Promise<Fingerprints> {
  const client = o.fingerprintClient ?? o.client;
  if (o.fingerprintClient) await client.query(SESSION_SETTINGS);
  const { rows } = await client.query<{ month: string; rows: string; fingerprint: string }>(
    `select ${key} as month, count(*) as rows, sum(hash_record_extended(row(${o.list}), 0))::text as fingerprint from ${o.rel} group by 1 order by 1`,
  ).catch((err) => { throw fromDatabaseError(err, `fingerprinting the months of ${o.where}`); });
  return new Map(rows.map((r) => [r.month, { rows: Number(r.rows), fingerprint: r.fingerprint }]));
}

/**
 * The table as one file per month: the months whose fingerprint matches the previous version's
 * file are hard-linked from it, the others are written by one COPY (one scan) that DuckDB splits
 * by month. Every file's rows are checked against the fingerprint's count, taken in the same
 * snapshot; an empty table gets one empty `part-00000.parquet`.
 */
async function exportMonths(o: MonthsJob): Promise<ExportedFile[]> {
  const key = `coalesce(to_char(${ident(o.monthColumn)}, 'YYYY-MM'), 'none')`;
  const settings = monthFileSettings(o);
  const previous = new Map((o.previousMonths ?? []).filter((p) => p.settings === settings).map((p) => [p.month, p]));
  const fingerprinting = fingerprintMonths(o, key);
  fingerprinting.catch(() => {});
  const sameAsBefore = (month: string, f: { rows: number; fingerprint: string }) => {
    const p = previous.get(month);
    return p !== undefined && p.rows === f.rows && p.fingerprint === f.fingerprint;
  };
  // Nothing to reuse: write every month while the fingerprints are computed beside the COPY.
  let fingerprints = previous.size > 0 || !o.fingerprintClient ? await fingerprinting : null;
  const toWrite = fingerprints === null ? null : [...fingerprints].filter(([m, f]) => !sameAsBefore(m, f)).map(([m]) => m);
  const written: ExportedFile[] = [];
  for (const batch of await monthBatches(o, key, toWrite, fingerprints)) {
    const select = batch === null ? o.select : `${o.select} where ${key} in (${batch.map(literal).join(', ')})`;
    written.push(...(await copyToParquet({ ...o, select, file: path.join(o.file, '.months'), splitMonthsOf: o.monthColumn })));
  }
  fingerprints ??= await fingerprinting;
  const files: ExportedFile[] = [];
  for (const f of written) {
    const fp = fingerprints.get(f.month!);
    if (!fp || fp.rows !== f.rows) {
      throw new DataError('EXPORT_ROW_COUNT_MISMATCH', `${path.basename(f.path)} of ${o.where} has ${f.rows} rows, Postgres counts ${fp?.rows ?? 0} in that month`, { file: f.path });
    }
    files.push({ ...f, fingerprint: fp.fingerprint, settings });
  }
  const writtenMonths = new Set(written.map((f) => f.month));
  const reuse = [...fingerprints].filter(([m]) => !writtenMonths.has(m));
  const missing = reuse.find(([m, f]) => !sameAsBefore(m, f));
  if (missing) {
    throw new DataError('EXPORT_ROW_COUNT_MISMATCH', `${o.where}: Postgres counts ${missing[1].rows} rows in ${missing[0]}, of which no file was written`, { file: o.file });
  }
  if (reuse.length > 0) files.push(...(await reuseMonths(o, reuse, previous, settings)));
  if (files.length === 0) return copyToParquet({ ...o, file: path.join(o.file, 'part-00000.parquet') });
  return files.sort((a, b) => (a.month === b.month ? 0 : a.month === 'none' ? 1 : b.month === 'none' ? -1 : a.month! < b.month! ? -1 : 1));
}

/**
 * Rows DuckDB holds per COPY that splits by month, counted as each month's rows up to one row
 * group (what its open writer buffers): about two row groups, the memory of a one-file export
 * plus one row group (at scale 10, one COPY of all 38 months held 472 MB at peak against 335 MB
 * for one file).
 */
const MONTH_BATCH_ROW_GROUPS = 2;

/**
 * The months to write, in COPYs (each one scan of the table) whose buffered rows stay under the
 * budget; `null` for one COPY of the whole table. The months' rows come from the fingerprints
 * when they are known, else from a count by month (one scan without hashing).
 */
async function monthBatches(o: MonthsJob, key: string, toWrite: string[] | null, fingerprints: Fingerprints | null): Promise<(string[] | null)[]> {
  if (toWrite !== null && toWrite.length === 0) return [];
  let counts: [string, number][];
  if (fingerprints) {
    counts = [...fingerprints].filter(([m]) => toWrite === null || toWrite.includes(m)).map(([m, f]) => [m, f.rows]);
  } else {
    const { rows } = await o.client.query<{ month: string; rows: string }>(`select ${key} as month, count(*) as rows from ${o.rel} group by 1 order by 1`)
      .catch((err) => { throw fromDatabaseError(err, `counting the months of ${o.where}`); });
    counts = rows.map((r) => [r.month, Number(r.rows)]);
  }
  const budget = MONTH_BATCH_ROW_GROUPS * o.rowGroupSize;
  const batches: string[][] = [];
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

/**
 * Takes over the unchanged months: a hard link to the previous version's file (a copy where a
 * link cannot be made, e.g. across devices). Both versions stay complete; the shared file is
 * read-only and nothing opens a version's files for writing. Its footer must hold the rows the
 * fingerprint counts.
 */
async function reuseMonths(o: MonthsJob, months: [string, { rows: number; fingerprint: string }][], previous: Map<string, PreviousMonthFile>, settings: string): Promise<ExportedFile[]> {
  const encoder = await ParquetEncoder.open();
  try {
    const files: ExportedFile[] = [];
    for (const [month, fp] of months) {
      o.signal?.throwIfAborted();
      const p = previous.get(month)!;
      const file = path.join(o.file, monthFileName(month));
      await mkdir(o.file, { recursive: true });
      await link(p.path, file).catch(() => copyFile(p.path, file, constants.COPYFILE_EXCL))
        .catch((err) => { throw ioError(err, `reusing ${p.path}`, file); });
      const footer = await encoder.footer(file);
      const { size } = await stat(file);
      if (footer.rows !== fp.rows || size !== p.bytes) {
        throw new DataError('EXPORT_ROW_COUNT_MISMATCH', `${p.path} (reused for ${o.where}) has ${footer.rows} rows and ${size} bytes, expected ${fp.rows} rows and ${p.bytes} bytes`, { file: p.path });
      }
      o.onRows?.(fp.rows);
      files.push({ path: file, rows: fp.rows, bytes: size, sha256: p.sha256, rowGroups: footer.rowGroupRows.length, rowGroupRows: footer.rowGroupRows, month, fingerprint: fp.fingerprint, settings, reusedFrom: p.version });
    }
    return files;
  } finally {
    encoder.close();
  }
}

/**
 * COPY one query into one Parquet file: Postgres → named pipe → DuckDB. Checks the rows DuckDB
 * wrote against the file's footer and COPY's own count.
 *
 * Each file gets its own DuckDB, closed when the file is done: a DuckDB kept for the next file
 * keeps the memory of the last one, and the scale-100 export then peaked at 412-458 MB during
 * customer_features instead of staying under 370 MB.
 */
async function copyToParquet(o: CopyJob): Promise<ExportedFile[]> {
  await mkdir(path.dirname(o.file), { recursive: true });
  const pipe = await makeNamedPipe();
  const encoder = await ParquetEncoder.open().catch(async (err: unknown) => {
    await pipe.remove();
    throw err;
  });
  const encoding = encoder.csvToParquet({
    source: pipe.path, columns: o.columns, outFile: o.file, rowGroupSize: o.rowGroupSize, compression: o.compression, metadata: o.meta,
    ...(o.splitMonthsOf !== undefined ? { monthsOf: o.splitMonthsOf } : {}),
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
    if (sent !== written) {
      throw new DataError('EXPORT_ROW_COUNT_MISMATCH', `${path.basename(o.file)} of ${o.where} has ${written} rows, Postgres sent ${sent}`, { file: o.file });
    }
    const outputs: { file: string; month?: string }[] = o.splitMonthsOf === undefined ? [{ file: o.file }] : await placeMonthFiles(o.file);
    const files: ExportedFile[] = [];
    for (const { file, month } of outputs) {
      const footer = await encoder.footer(file);
      const { size } = await stat(file);
      // Read-only: a month file may later be hard-linked into the next version.
      if (month !== undefined) await chmod(file, 0o444);
      files.push({ path: file, rows: footer.rows, bytes: size, sha256: await sha256File(file), rowGroups: footer.rowGroupRows.length, rowGroupRows: footer.rowGroupRows, ...(month !== undefined ? { month } : {}) });
    }
    const inFiles = files.reduce((n, f) => n + f.rows, 0);
    if (inFiles !== written) {
      throw new DataError('EXPORT_ROW_COUNT_MISMATCH', `${o.file}: DuckDB wrote ${written} rows but the files' footers say ${inFiles}`, { file: o.file });
    }
    o.onRows?.(written);
    return files;
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

/**
 * DuckDB's month folders (`DIR/medallion_month=2013-07/part.parquet`) → `part-2013-07.parquet`
 * beside DIR, which is then removed: plain files, so that no reader sees a Hive key (pandas would
 * read it as a `category` column).
 */
async function placeMonthFiles(dir: string): Promise<{ file: string; month: string }[]> {
  const placed: { file: string; month: string }[] = [];
  const prefix = `${MONTH_FOLDER}=`;
  for (const folder of await readdir(dir).catch(() => [] as string[])) {
    const month = decodeURIComponent(folder.slice(prefix.length));
    const inside = await readdir(path.join(dir, folder));
    if (!folder.startsWith(prefix) || !/^(\d{4}-\d{2}|none)$/.test(month) || inside.length !== 1) {
      throw new DataError('EXPORT_FAILED', `${dir}: DuckDB wrote ${folder}/${inside.join(', ')}, not one file per month`, { file: dir });
    }
    const file = path.join(path.dirname(dir), monthFileName(month));
    await rename(path.join(dir, folder, inside[0]!), file);
    placed.push({ file, month });
  }
  await rm(dir, { recursive: true, force: true });
  return placed;
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
