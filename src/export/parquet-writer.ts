/**
 * Writing one Parquet file from a sequence of row groups with parquet-wasm (arrow-rs compiled to
 * WebAssembly). Each row group the COPY parser fills becomes an Arrow record batch built by hand
 * from the parser's buffers (no per-value JS objects), serialised to Arrow IPC and transferred to
 * an encoder thread (parquet-worker.mjs) that feeds parquet-wasm's `transformParquetStream` and
 * writes its output to the file as it comes.
 */
import { Worker } from 'node:worker_threads';
import {
  Bool, Field, Float64, Int64, makeData, RecordBatch, Schema, Struct, Table, TimestampMicrosecond, TimestampMillisecond,
  tableToIPC, Utf8, type Data, type DataType,
} from 'apache-arrow';
import type { ColumnBuffers } from './copy-text.ts';
import type { ExportColumn } from './types.ts';

export type Compression = 'zstd' | 'snappy';

function arrowType(col: ExportColumn): DataType {
  switch (col.kind) {
    case 'int64': return new Int64();
    case 'float64': return new Float64();
    case 'bool': return new Bool();
    case 'date': return new TimestampMillisecond();
    case 'timestamp': return new TimestampMicrosecond();
    case 'timestamptz': return new TimestampMicrosecond('UTC');
    case 'string': return new Utf8();
  }
}

export function arrowSchema(columns: readonly ExportColumn[], metadata: ReadonlyMap<string, string>): Schema {
  return new Schema(columns.map((c) => new Field(c.name, arrowType(c), !c.notNull)), new Map(metadata));
}

function emptyBatch(schema: Schema): RecordBatch {
  const children = schema.fields.map((f) => makeData({ type: f.type, length: 0, nullCount: 0 } as never) as Data);
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: 0, nullCount: 0, children }));
}

/** Builds an Arrow record batch over (copies of) the parser's buffers for `rows` rows. */
export function toRecordBatch(schema: Schema, buffers: readonly ColumnBuffers[], rows: number): RecordBatch {
  const children: Data[] = buffers.map((b, i) => {
    const type = schema.fields[i]!.type;
    const nullBitmap = b.nullCount > 0 ? b.validity.subarray(0, (rows + 7) >> 3) : undefined;
    const common = { type, length: rows, nullCount: b.nullCount, nullBitmap };
    if (b.offsets) {
      return makeData({ ...common, valueOffsets: b.offsets.subarray(0, rows + 1), data: b.data!.subarray(0, b.dataLength) } as never);
    }
    if (b.bits) return makeData({ ...common, data: b.bits.subarray(0, (rows + 7) >> 3) } as never);
    if (b.f64) return makeData({ ...common, data: b.f64.subarray(0, rows) } as never);
    return makeData({ ...common, data: b.i64!.subarray(0, rows) } as never);
  });
  const struct = makeData({ type: new Struct(schema.fields), length: rows, nullCount: 0, children });
  return new RecordBatch(schema, struct);
}

export interface ParquetFileWriterOptions {
  path: string;
  columns: readonly ExportColumn[];
  rowGroupSize: number;
  compression: Compression;
  /** Key-value metadata written into the file footer (and the Arrow schema). */
  metadata: ReadonlyMap<string, string>;
}

export interface WrittenFile {
  bytes: number;
  sha256: string;
  /** From the footer of the file as read back from disk. */
  rows: number;
  rowGroups: number;
  rowGroupRows: number[];
}

/** What the encoder thread posts back (see the protocol in parquet-worker.mjs). */
type WorkerMessage = { type: string } & WrittenFile & { message?: string; code?: string };

const WORKER_URL = new URL('./parquet-worker.mjs', import.meta.url);
/** Row groups handed to the encoder thread but not yet taken by it (bounds memory). */
const MAX_QUEUED = 1;

/**
 * The encoder thread left by the last file that finished cleanly, kept for the next one (see
 * parquet-worker.mjs). It is unref'd while idle, so it never keeps the process alive.
 */
let idleWorker: Worker | null = null;
// While idle, a thread that fails or exits is simply not reused (removed again when taken).
const forgetIdle = () => { idleWorker = null; };

function acquireWorker(): Worker {
  const worker = idleWorker ?? new Worker(WORKER_URL);
  idleWorker = null;
  worker.off('exit', forgetIdle).off('error', forgetIdle);
  worker.ref();
  return worker;
}

function releaseWorker(worker: Worker): void {
  if (idleWorker) {
    void worker.terminate();
    return;
  }
  worker.unref();
  worker.on('exit', forgetIdle).on('error', forgetIdle);
  idleWorker = worker;
}

/** Starts the encoder thread (and its WebAssembly compilation) ahead of the first file. */
export function warmUpEncoder(): void {
  if (!idleWorker) releaseWorker(new Worker(WORKER_URL));
}

/**
 * Streams row groups into one Parquet file. The encoding runs in a worker thread
 * (parquet-worker.mjs) so that COPY parsing and Parquet encoding overlap; `write` resolves once
 * the row group has been handed over and fewer than MAX_QUEUED wait, so memory stays at about
 * three row groups whatever the table size. `close` resolves with the file's size, SHA-256 and
 * footer row count; `abort` stops the worker and leaves a partial file for the caller to remove.
 */
export class ParquetFileWriter {
  readonly schema: Schema;
  rows = 0;
  rowGroups = 0;
  private readonly worker: Worker;
  private queued = 0;
  private failure: Error | null = null;
  private waiting: (() => void) | null = null;
  private readonly result: Promise<WrittenFile>;

  /** This file's listeners on the (possibly reused) thread, removed when the file is done. */
  private readonly listeners: { message: (msg: WorkerMessage) => void; error: (err: Error) => void; exit: (code: number) => void };

  constructor(options: ParquetFileWriterOptions) {
    this.schema = arrowSchema(options.columns, options.metadata);
    this.worker = acquireWorker();
    let settle!: { resolve: (w: WrittenFile) => void; reject: (e: Error) => void };
    this.result = new Promise<WrittenFile>((resolve, reject) => { settle = { resolve, reject }; });
    const { resolve, reject } = settle;
    this.listeners = {
      message: (msg) => {
        if (msg.type === 'taken') {
          this.queued--;
          this.wake();
        } else if (msg.type === 'done') {
          resolve({ bytes: msg.bytes, sha256: msg.sha256, rows: msg.rows, rowGroups: msg.rowGroups, rowGroupRows: msg.rowGroupRows });
        } else if (msg.type === 'error') {
          const err = Object.assign(new Error(`Parquet writer: ${msg.message}`), { code: msg.code });
          this.failure ??= err;
          this.wake();
          reject(err);
        }
      },
      error: (err) => {
        this.failure ??= err;
        this.wake();
        reject(err);
      },
      exit: (code) => {
        const err = new Error(`Parquet writer thread exited (code ${code}) before finishing`);
        this.failure ??= err;
        this.wake();
        reject(err);
      },
    };
    this.worker.on('message', this.listeners.message);
    this.worker.on('error', this.listeners.error);
    this.worker.on('exit', this.listeners.exit);
    this.result.catch(() => {});
    this.worker.postMessage({
      type: 'open',
      path: options.path,
      compression: options.compression,
      rowGroupSize: options.rowGroupSize,
      keyValue: [...options.metadata],
      createdBy: 'medallion-etl (parquet-wasm 0.8 / arrow-rs)',
    });
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = null;
    w?.();
  }

  /**
   * Serialises one row group from the parser's buffers to Arrow IPC (a copy, synchronously, so the
   * parser may reuse its buffers as soon as this returns).
   */
  prepare(buffers: readonly ColumnBuffers[], rows: number): { ipc: Uint8Array; rows: number } {
    const ipc = tableToIPC(new Table(this.schema, [toRecordBatch(this.schema, buffers, rows)]) as Table, 'stream');
    return { ipc, rows };
  }

  /** Hands a prepared row group to the encoder thread, waiting while it is behind. */
  async put(batch: { ipc: Uint8Array; rows: number }): Promise<void> {
    while (this.queued >= MAX_QUEUED && !this.failure) await new Promise<void>((r) => { this.waiting = r; });
    if (this.failure) throw this.failure;
    this.queued++;
    const { ipc } = batch;
    const transferable = ipc.byteOffset === 0 && ipc.byteLength === ipc.buffer.byteLength ? ipc : ipc.slice();
    this.worker.postMessage({ type: 'batch', ipc: transferable }, [transferable.buffer as ArrayBuffer]);
    this.rows += batch.rows;
    this.rowGroups++;
  }

  /** Both steps for one row group. */
  async write(buffers: readonly ColumnBuffers[], rows: number): Promise<void> {
    await this.put(this.prepare(buffers, rows));
  }

  /** Finishes the file (footer included) and resolves when it is on disk, read back and hashed. */
  async close(): Promise<WrittenFile> {
    if (this.failure) throw this.failure;
    // The wasm writer needs at least one batch to know the schema: an empty table sends an empty one.
    if (this.rowGroups === 0) await this.put({ ipc: tableToIPC(new Table(this.schema, [emptyBatch(this.schema)]) as Table, 'stream'), rows: 0 });
    this.worker.postMessage({ type: 'close' });
    let written: WrittenFile;
    try {
      written = await this.result;
    } catch (err) {
      await this.worker.terminate();
      throw err;
    }
    this.worker.off('message', this.listeners.message);
    this.worker.off('error', this.listeners.error);
    this.worker.off('exit', this.listeners.exit);
    releaseWorker(this.worker);
    return written;
  }

  /** Stops the writer after a failure; the partial file is the caller's to remove. */
  async abort(): Promise<void> {
    this.worker.postMessage({ type: 'abort' });
    await this.result.catch(() => {});
    await this.worker.terminate();
  }
}

/** Reads the row count, row groups and key-value metadata from a Parquet file's footer. */
export async function readParquetFooter(path: string): Promise<{ rows: number; rowGroups: number; rowGroupRows: number[]; keyValue: Map<string, string> }> {
  const wasm = await import('parquet-wasm/node');
  const { openAsBlob } = await import('node:fs');
  const file = await wasm.ParquetFile.fromFile(await openAsBlob(path));
  try {
    const meta = file.metadata();
    const fileMeta = meta.fileMetadata();
    const rowGroupRows: number[] = [];
    for (let i = 0; i < meta.numRowGroups(); i++) rowGroupRows.push(meta.rowGroup(i).numRows());
    return { rows: fileMeta.numRows(), rowGroups: meta.numRowGroups(), rowGroupRows, keyValue: new Map(fileMeta.keyValueMetadata()) };
  } finally {
    file.free();
  }
}
