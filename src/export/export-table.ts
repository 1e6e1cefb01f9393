/**
 * One table (or view) → one Parquet file, or one file per partition value in Hive-style folders.
 * Rows stream out of Postgres with `COPY ... TO STDOUT` (text format), are parsed into row groups of
 * `rowGroupSize` rows and written by parquet-wasm; memory holds about one row group at a time.
 *
 * Every file is checked before this returns: rows parsed = rows in the file's footer = rows
 * Postgres says it sent (COPY's `COPY n`), all in one snapshot (the caller's REPEATABLE READ
 * transaction, or our own). COPY's own count replaces a `count(*)` of the same query, which
 * scanned the table a second time after the export (seconds at 6M rows, on the critical path).
 */
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { type Client, ident, literal } from '../db/client.ts';
import { DataError, DependencyError, fromDatabaseError, isConnectionError, MedallionError } from '../errors.ts';
import { CopyOutStream } from './copy-out.ts';
import { CopyTextParser } from './copy-text.ts';
import { type Compression, ParquetFileWriter } from './parquet-writer.ts';
import { type ExportColumn, KINDS, pandasDtype, pandasMetadata, readColumns } from './types.ts';

export const EXPORT_FORMAT_VERSION = '1';
/**
 * Rows per batch handed to the encoder. Larger batches cost arrow-rs less per row, but 16,384 took
 * the scale-100 export to 401 MB peak RSS (32,768: 459 MB) against a 400 MB budget (README).
 */
const DEFAULT_BATCH_ROWS = 8_192;

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
  /** Called with the number of rows of each batch parsed (live progress). */
  onRows?: (rows: number) => void;
  /** Rows per batch handed to the writer (memory vs per-batch overhead; default 8192). */
  batchRows?: number;
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
  /** Partition column → value ('__HIVE_DEFAULT_PARTITION__' for NULL), when partitioned. */
  partition?: Record<string, string>;
}

export interface ColumnDescription {
  name: string;
  postgres: string;
  parquet: string;
  arrow: string;
  pandas: string;
  nullable: boolean;
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
 * the folder names, as Hive, Spark and pyarrow expect); pandas appends it as the last column, with
 * the `category` dtype.
 */
export function describeColumns(columns: readonly ExportColumn[], partitionBy?: string | null): ColumnDescription[] {
  const described = columns.map((c) => ({
    name: c.name,
    postgres: c.pgType,
    parquet: c.name === partitionBy ? 'Hive partition (folder name)' : KINDS[c.kind].parquet,
    arrow: c.name === partitionBy ? 'Dictionary<Int32>' : KINDS[c.kind].arrow,
    pandas: c.name === partitionBy ? 'category' : pandasDtype(c),
    nullable: !c.notNull,
  }));
  return [...described.filter((c) => c.name !== partitionBy), ...described.filter((c) => c.name === partitionBy)];
}

/** The session settings the COPY text parser relies on (see copy-text.ts). */
const SESSION_SETTINGS = `set local datestyle = 'ISO, YMD'; set local timezone = 'UTC'; set local extra_float_digits = 1; set local intervalstyle = 'iso_8601'`;

export async function exportTable(options: ExportTableOptions): Promise<ExportTableResult> {
  const { client, schema, table } = options;
  const where = `${schema}.${table}`;
  if (!options.outFile === !options.outDir) throw new DataError('EXPORT_FAILED', `exportTable(${where}): give exactly one of outFile and outDir`);
  if (options.partitionBy && !options.outDir) throw new DataError('EXPORT_FAILED', `exportTable(${where}): partitioning needs outDir`);
  if (!options.inTransaction) await client.query('begin isolation level repeatable read read only');
  try {
    await client.query(SESSION_SETTINGS);
    const allColumns = await readColumns(client, schema, table).catch((err) => { throw fromDatabaseError(err, `reading the columns of ${where}`); });
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
      ['medallion.columns', JSON.stringify(describeColumns(allColumns, options.partitionBy).map(({ name, postgres, parquet }) => ({ name, postgres, parquet })))],
      ...Object.entries(options.metadata ?? {}),
      ['pandas', pandasMetadata(columns, EXPORT_FORMAT_VERSION)],
    ]);

    const jobs: { file: string; filter: string; partition?: Record<string, string> }[] = [];
    if (options.partitionBy) {
      const p = options.partitionBy;
      const { rows } = await client.query<{ v: string | null }>(`select distinct ${ident(p)}::text as v from ${rel} order by 1`)
        .catch((err) => { throw fromDatabaseError(err, `listing the partitions of ${where}`); });
      for (const { v } of rows) {
        const folder = `${p}=${v === null ? '__HIVE_DEFAULT_PARTITION__' : encodeURIComponent(v)}`;
        jobs.push({
          file: path.join(options.outDir!, folder, 'part-00000.parquet'),
          filter: v === null ? `${ident(p)} is null` : `${ident(p)}::text = ${literal(v)}`,
          partition: { [p]: v ?? '__HIVE_DEFAULT_PARTITION__' },
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
    return { schema, table, rows: files.reduce((n, f) => n + f.rows, 0), columns: describeColumns(allColumns, options.partitionBy), files };
  } catch (err) {
    if (!options.inTransaction) await client.query('rollback').catch(() => {});
    throw err;
  }
}

/** COPY one query into one Parquet file; checks parsed rows against the written footer and COPY's count. */
async function copyToParquet(o: ExportTableOptions & { columns: ExportColumn[]; select: string; file: string; meta: Map<string, string>; where: string }): Promise<ExportedFile> {
  await mkdir(path.dirname(o.file), { recursive: true });
  const writer = new ParquetFileWriter({ path: o.file, columns: o.columns, rowGroupSize: o.rowGroupSize, compression: o.compression, metadata: o.meta });
  const prepared: ReturnType<ParquetFileWriter['prepare']>[] = [];
  // The parser hands over small batches; the Parquet writer gathers them into row groups of
  // rowGroupSize rows (it encodes and compresses each batch as it arrives), so memory holds a few
  // batches and one compressed row group instead of several uncompressed row groups.
  const batchRows = Math.min(o.rowGroupSize, o.batchRows ?? DEFAULT_BATCH_ROWS);
  const parser = new CopyTextParser(o.columns, batchRows, (buffers, rows) => {
    // Buffers are reused after this returns: serialise them now (a copy).
    prepared.push(writer.prepare(buffers, rows));
    o.onRows?.(rows);
  }, o.where);
  const stream = o.client.query(new CopyOutStream(`copy (${o.select}) to stdout`));
  const onAbort = () => stream.destroy(o.signal?.reason instanceof Error ? o.signal.reason : new Error('aborted'));
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let written: Awaited<ReturnType<ParquetFileWriter['close']>>;
  let sent: number | null;
  try {
    for await (const chunk of stream as AsyncIterable<Uint8Array>) {
      parser.push(chunk);
      while (prepared.length) await writer.put(prepared.shift()!);
    }
    parser.finish();
    // Postgres's own count of the rows it sent (COPY's CommandComplete), in the same snapshot.
    sent = await stream.completed;
    while (prepared.length) await writer.put(prepared.shift()!);
    written = await writer.close();
  } catch (err) {
    prepared.length = 0;
    stream.destroy();
    await writer.abort();
    if (o.signal?.aborted && o.signal.reason instanceof MedallionError) throw o.signal.reason;
    if (err instanceof MedallionError) throw err;
    const e = err as Error & { code?: string };
    if (e && typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) {
      throw new DependencyError('IO_ERROR', `writing ${o.file}: ${e.message}`, { file: o.file }, { cause: err });
    }
    if (e instanceof Error && e.message.startsWith('Parquet writer')) throw new DataError('EXPORT_FAILED', `${o.where}: ${e.message}`, { file: o.file }, { cause: err });
    if ((typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) || isConnectionError(err)) throw fromDatabaseError(err, `exporting ${o.where}`);
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  if (written.rows !== parser.totalRows || writer.rows !== parser.totalRows) {
    throw new DataError('EXPORT_ROW_COUNT_MISMATCH', `${o.file}: parsed ${parser.totalRows} rows from COPY but the file's footer says ${written.rows}`, { file: o.file });
  }
  if (sent !== parser.totalRows) {
    throw new DataError('EXPORT_ROW_COUNT_MISMATCH', `${path.basename(o.file)} of ${o.where} has ${parser.totalRows} rows, Postgres sent ${sent}`, { file: o.file });
  }
  const { size } = await stat(o.file);
  if (size !== written.bytes) throw new DataError('EXPORT_FAILED', `${o.file}: wrote ${written.bytes} bytes but the file has ${size}`, { file: o.file });
  return { path: o.file, rows: written.rows, bytes: size, sha256: written.sha256, rowGroups: written.rowGroups, rowGroupRows: written.rowGroupRows };
}
