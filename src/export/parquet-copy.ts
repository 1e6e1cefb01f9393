/**
 * One query → Parquet: Postgres' `COPY (query) TO STDOUT (format csv)` through a named pipe into
 * DuckDB (parquet-encoder.ts), into one file or one file per month of a date column or bucket of
 * an integer column. What every export writes through (export-table.ts, export-months.ts).
 *
 * Every file is checked before this returns: rows DuckDB wrote = rows in the files' footers = rows
 * Postgres says it sent (COPY's `COPY n`), in the caller's snapshot. COPY's own count replaces a
 * `count(*)` of the same query, which scanned the table a second time after the export (seconds at
 * 6M rows, on the critical path).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Client } from '../db/index.ts';
import { DataError, fromDatabaseError, isConnectionError, MedallionError } from '../errors.ts';
import { CopyOutStream } from './copy-out.ts';
import { ioError } from './exports-dir.ts';
import { makeNamedPipe, openPipeWriter } from './fifo.ts';
import { MONTH_PARTS, type PartKey, PartRouter, type RoutedPart } from './part-router.ts';
import { type Compression, ParquetEncoder } from './parquet-encoder.ts';
import type { ExportColumn } from './types.ts';

export const EXPORT_FORMAT_VERSION = '1';

/**
 * The text forms parquet-encoder.ts reads: ISO dates, timestamptz in UTC, floats in their shortest
 * exact form (so that `real` 1.1 becomes the double 1.1). The month of a timestamptz is taken in
 * UTC under them too. Every scan starts at the table's first page (no synchronized scans): a COPY
 * beside another scan of the table, or after one that stopped early, would otherwise start where
 * that one is and send the rows out of the table's order.
 */
export const SESSION_SETTINGS = `set local datestyle = 'ISO, YMD'; set local timezone = 'UTC'; set local extra_float_digits = 1; set local synchronize_seqscans = off`;

/**
 * Bytes of COPY output held between Postgres and DuckDB, so that Postgres keeps writing while
 * DuckDB parses its last buffer (parquet-encoder.ts, CSV_BUFFER_BYTES).
 */
const PIPE_BUFFER_BYTES = 16 << 20;

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
  /** Month files: the month (`YYYY-MM`, or `none`). */
  month?: string;
  /** Bucket files: the bucket (`017`, or `none`). */
  bucket?: string;
  /** Fingerprinted files (reuse.ts): the fingerprint of the file's rows, and the file's settings. */
  fingerprint?: string;
  settings?: string;
  /** Hard-linked (or copied) from this version instead of written. */
  reusedFrom?: string;
}

export interface CopyJob {
  client: Client;
  columns: readonly ExportColumn[];
  /** The query whose rows are written. */
  select: string;
  /** The file written. */
  file: string;
  meta: ReadonlyMap<string, string>;
  /** The table, as errors name it. */
  where: string;
  rowGroupSize: number;
  compression: Compression;
  /** The files may be hard-linked into a later version (reuse.ts): written read-only. */
  linkable?: boolean;
  onRows?: (rows: number) => void;
  signal?: AbortSignal;
}

/** The file names of the month files. */
export function monthFileName(month: string): string {
  return `part-${month}.parquet`;
}

/** The file names of the bucket files: `part-bucket-017.parquet`, in the buckets' order by name. */
export function bucketFileName(bucket: string): string {
  return `part-bucket-${bucket}.parquet`;
}

/** How a table splits into files by its first CSV column: by month (the default) or by bucket. */
export interface PartFiles {
  partKey: PartKey;
  fileName: (part: string) => string;
  /** The field of each file that names its part. */
  field: 'month' | 'bucket';
}

export const MONTH_FILES: PartFiles = { partKey: MONTH_PARTS, fileName: monthFileName, field: 'month' };

/**
 * COPY one query into one Parquet file: Postgres → named pipe → DuckDB. Checks the rows DuckDB
 * wrote against the file's footer and COPY's own count.
 *
 * Each file gets its own DuckDB, closed when the file is done: a DuckDB kept for the next file
 * keeps the memory of the last one, and the scale-100 export then peaked at 412-458 MB during
 * customer_features instead of staying under 370 MB.
 */
export async function copyToParquet(o: CopyJob): Promise<ExportedFile[]> {
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
    if (sent !== written) {
      throw new DataError('EXPORT_ROW_COUNT_MISMATCH', `${path.basename(o.file)} of ${o.where} has ${written} rows, Postgres sent ${sent}`, { file: o.file });
    }
    return await checkedFiles([{ file: o.file }], written, o, encoder);
  } catch (err) {
    copy?.destroy();
    throw exportError(err, o, o.file);
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    await encoding.catch(() => {});
    encoder.close();
    await pipe.remove();
  }
}

/**
 * COPY the rows, whose first column is the split column (`csvColumns[0]`), into one Parquet file
 * per part (`parts`: per month, `part-YYYY-MM.parquet`, by default; or per bucket) in `dir`. The
 * rows go out in the COPYs of `selects`, one after the other, each a scan of the table in its
 * order, each holding whole parts (export-months.ts chooses them); part-router.ts splits each
 * COPY into a CSV file per part in a folder of its own inside `dir`. One DuckDB (one thread)
 * encodes the parts of a COPY as soon as it is over, beside the next COPY: Postgres writes the
 * next parts' CSV on one core while DuckDB encodes the last ones on the other, where one COPY
 * left the encoding after it. One DuckDB only: a second one holds a second row group being
 * encoded, which took the export's peak memory over its 400 MB (decision 0014). Checks, per COPY, the rows routed against COPY's own count; per part, the rows
 * DuckDB wrote against the rows routed to it; in all, the rows routed against the files' footers
 * (copyToParquet's checks).
 */
export async function copyPartsToParquet(
  o: Omit<CopyJob, 'file' | 'select'> & { selects: readonly string[]; dir: string; csvColumns: readonly ExportColumn[]; parts?: PartFiles; onCopied?: () => void },
): Promise<ExportedFile[]> {
  const parts = o.parts ?? MONTH_FILES;
  const work = path.join(o.dir, `.${parts.field}s`);
  await mkdir(work, { recursive: true });
  let encoder: ParquetEncoder | null = null;
  let copy: CopyOutStream | null = null;
  let failure: { error: unknown } | null = null;
  const fail = (error: unknown) => {
    failure ??= { error };
    encoder?.interrupt();
    copy?.destroy(error instanceof Error ? error : new Error(String(error)));
  };
  const onAbort = () => fail(o.signal?.reason instanceof Error ? o.signal.reason : new Error('aborted'));
  o.signal?.addEventListener('abort', onAbort, { once: true });
  // The parts of the COPYs that are over, in their order, waiting for the encoder.
  const queue: RoutedPart[] = [];
  let copying = true;
  let wake = () => {};
  const encoding = (async () => {
    encoder = await ParquetEncoder.open();
    for (;;) {
      if (failure) return;
      const m = queue.shift();
      if (m === undefined) {
        if (!copying) return;
        await new Promise<void>((resolve) => { wake = resolve; });
        continue;
      }
      const file = path.join(o.dir, parts.fileName(m.part));
      const written = await encoder.csvToParquet({
        source: m.file, columns: o.columns, csvColumns: o.csvColumns, outFile: file, rowGroupSize: o.rowGroupSize, compression: o.compression, metadata: o.meta,
      }).catch((err: unknown) => { throw encoderError(err, { ...o, select: '', file }); });
      if (written !== m.rows) {
        throw new DataError('EXPORT_ROW_COUNT_MISMATCH', `${path.basename(file)} of ${o.where} has ${written} rows, Postgres sent ${m.rows}`, { file });
      }
      await rm(m.file);
    }
  })();
  encoding.catch(fail);
  try {
    const routedParts: RoutedPart[] = [];
    for (const select of o.selects) {
      if (failure) break;
      const router = new PartRouter(work, parts.partKey);
      copy = o.client.query(new CopyOutStream(`copy (${select}) to stdout (format csv)`));
      try {
        await pipeline(copy, router);
      } catch (err) {
        fail(err);
        break;
      }
      const sent = await copy.completed;
      copy = null;
      const routedHere = router.routed();
      const routed = routedHere.reduce((n, m) => n + m.rows, 0);
      if (sent !== routed) {
        fail(new DataError('EXPORT_ROW_COUNT_MISMATCH', `${o.where}: Postgres sent ${sent} rows, ${routed} were split into ${parts.field}s`, { file: o.dir }));
        break;
      }
      routedParts.push(...routedHere);
      queue.push(...routedHere);
      wake();
    }
    copying = false;
    wake();
    if (!failure) o.onCopied?.();
    await encoding.catch(() => {});
    if (failure) throw (failure as { error: unknown }).error;
    o.signal?.throwIfAborted();
    // the footers are read by the DuckDB that wrote the files, not a second one
    return await checkedFiles(routedParts.map((m) => ({ file: path.join(o.dir, parts.fileName(m.part)), [parts.field]: m.part })), routedParts.reduce((n, m) => n + m.rows, 0), o, (encoder as ParquetEncoder | null) ?? undefined);
  } catch (err) {
    fail(err);
    throw exportError(err, o, o.dir);
  } finally {
    copying = false;
    wake();
    o.signal?.removeEventListener('abort', onAbort);
    await encoding.catch(() => {});
    (encoder as ParquetEncoder | null)?.close();
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The written files as the manifest lists them, each read back: its footer's rows and row groups,
 * size and SHA-256; made read-only when linkable. Their rows must sum to `written`.
 */
async function checkedFiles(
  outputs: readonly { file: string; month?: string; bucket?: string }[], written: number, o: Pick<CopyJob, 'linkable' | 'onRows'> & { file?: string; dir?: string }, open?: ParquetEncoder,
): Promise<ExportedFile[]> {
  const encoder = open ?? (await ParquetEncoder.open());
  try {
    const files: ExportedFile[] = [];
    const footers = await encoder.footers(outputs.map((x) => x.file));
    for (const [i, { file, month, bucket }] of outputs.entries()) {
      const footer = footers[i]!;
      const { size } = await stat(file);
      // Read-only: the file may be hard-linked into the next version, which must not change it.
      if (o.linkable) await chmod(file, 0o444);
      files.push({ path: file, rows: footer.rows, bytes: size, sha256: await sha256File(file), rowGroups: footer.rowGroupRows.length, rowGroupRows: footer.rowGroupRows, ...(month !== undefined ? { month } : {}), ...(bucket !== undefined ? { bucket } : {}) });
    }
    const inFiles = files.reduce((n, f) => n + f.rows, 0);
    if (inFiles !== written) {
      const where = o.file ?? o.dir ?? '';
      throw new DataError('EXPORT_ROW_COUNT_MISMATCH', `${where}: DuckDB wrote ${written} rows but the files' footers say ${inFiles}`, { file: where });
    }
    o.onRows?.(written);
    return files;
  } finally {
    if (!open) encoder.close();
  }
}

/** An error of a COPY into Parquet as the export reports it: the signal's reason, ours, Postgres' or an I/O error. */
function exportError(err: unknown, o: Pick<CopyJob, 'signal' | 'where'>, file: string): unknown {
  if (o.signal?.aborted && o.signal.reason instanceof MedallionError) return o.signal.reason;
  if (err instanceof MedallionError) return err;
  const e = err as Error & { code?: string };
  if ((typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) || isConnectionError(err)) return fromDatabaseError(err, `exporting ${o.where}`);
  if (e && typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return ioError(err, 'writing', file);
  return err;
}

/** DuckDB's error (a value it cannot convert, a full disk …) as ours, naming the table and file. */
function encoderError(err: unknown, o: CopyJob): MedallionError {
  // DuckDB's CSV errors run to 30 lines of reader options; the first paragraph says what and where.
  const message = (err instanceof Error ? err.message : String(err)).split(/\n\s*\n/)[0]!.replace(/\s*\n\s*/g, '; ');
  if (/No space left|Permission denied|Could not (open|write)|IO Error/i.test(message)) return ioError(new Error(message, { cause: err }), 'writing', o.file);
  return new DataError('EXPORT_FAILED', `${o.where}: ${message}`, { file: o.file, hint: 'See src/export/README.md for the types the export supports.' }, { cause: err });
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}
