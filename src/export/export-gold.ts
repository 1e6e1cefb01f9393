/**
 * Gold tables → Parquet under the output folder, all or nothing (the folder's layout and the
 * switch are in exports-dir.ts):
 *
 *   DIR/fact_sales/part-2013-07.parquet    (one per order month; or fact_sales/order_year=2012/part-00000.parquet …)
 *   DIR/customer_features.parquet
 *   DIR/sales_daily.parquet
 *   DIR/customer_training_set/part-bucket-017.parquet    (one per bucket of customer_id, TRAINING_SET_BUCKETS)
 *   DIR/_manifest.json
 *
 * Every table is written from one REPEATABLE READ snapshot into a staging folder inside DIR;
 * every file's footer row count is checked against the rows DuckDB wrote and the rows Postgres'
 * COPY reports in that snapshot (export-table.ts); the manifest is written last. Then:
 *
 *   1. seal: fsync everything, rename staging → versions/<version>     (not visible yet)
 *   2. commit(version): the caller's commit point — the build's publishing transaction, which
 *      records the version in the ledger together with the schema renames; `medallion export`'s
 *      ledger update. A failure or a signal before it returns leaves DIR as it was.
 *   3. switch: the `current` link is renamed over (atomic), top-level links follow; after the
 *      commit this always runs to its end, signal or not. A crash before it is finished by the next
 *      run (reconcileExports, from the ledger's record).
 *   4. versions other than the new one and the one before it are removed.
 *
 * The folder table is written one file per month of `monthsOf` (export-months.ts), the tables of
 * `bucketsOf` one file per bucket (export-months.ts), the other tables one file each. A file (a
 * month, a bucket, or a whole table) whose rows have the fingerprint, count
 * and settings the current version's manifest records for its file is hard-linked from it instead
 * of written (reuse.ts), so a version stays complete on its own and an unchanged file costs no
 * encoding. Hive-partitioned files are written every time.
 *
 * A build tells which tables it did not change (kept as published, or updated by no partition)
 * and which it changed by known rows (the rows of the updated partitions, published and new):
 * `changes`. They are taken only when the current version is the one the published tables were
 * exported into (`publishedVersion`, from the ledger) and the table's source is the same; then an
 * unchanged table's files are linked with the previous manifest's fingerprints, and a changed
 * table's fingerprints are corrected by the changed rows alone (reuse.ts). Otherwise every table is
 * fingerprinted by a scan, as without them.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ConnectionConfig, SchemaNames } from '../config.ts';
import { type Client, connect } from '../db/index.ts';
import { DataError, fromDatabaseError, MedallionError } from '../errors.ts';
import { failpoint } from '../failpoints.ts';
import { type BucketSplit, type ColumnDescription, exportTable, type ExportTableResult } from './export-table.ts';
import { createStaging, currentVersion, type ExportsDir, exportEntryNames, ioError, MANIFEST_FILE, openExportsDir, reconcileExports, sealVersion, switchTo, versionName } from './exports-dir.ts';
import { EXPORT_FORMAT_VERSION } from './parquet-copy.ts';
import { type Compression, ParquetEncoder } from './parquet-encoder.ts';
import type { PreviousFile, TableChange } from './reuse.ts';
import { type ColumnDoc, LIFETIME_ROLE } from './types.ts';

export const GOLD_EXPORTS = ['fact_sales', 'customer_features', 'sales_daily', 'customer_training_set'] as const;
export type GoldExport = (typeof GOLD_EXPORTS)[number];

/**
 * customer_training_set's files: one per bucket of customer_id (its low bits). A customer's rows
 * of every cutoff are in one bucket, so a day that changes a few customers rewrites their buckets
 * and links the others; by cutoff every file would change daily (a changed birthdate changes the
 * customer's age at every cutoff). The count trades files (a footer read per linked file,
 * smaller row groups) against the share of rows a day's changed customers touch, which falls as
 * the buckets grow in number: decision 0016 has the measurements.
 */
export const TRAINING_SET_BUCKETS = 256;

/** The tables written one file per bucket, by default. */
export const GOLD_BUCKETS: Readonly<Record<string, BucketSplit>> = { customer_training_set: { column: 'customer_id', buckets: TRAINING_SET_BUCKETS } };

/** The gold exports written as folders (fact_sales by month, the bucketed tables by bucket). */
export const GOLD_FOLDERS: readonly string[] = ['fact_sales', ...Object.keys(GOLD_BUCKETS)];

export interface InputFile {
  file: string;
  sha256: string;
  bytes?: number;
}

export interface ExportGoldOptions {
  connection: ConnectionConfig;
  schemas: Pick<SchemaNames, 'gold'>;
  exportsDir: string;
  runId: number | string | null;
  /** The target (schema prefix) the gold comes from, recorded in the manifest; null: the default target. */
  target?: string | null;
  asOf: string | null;
  /** The source files of the run that built gold, with their SHA-256. */
  inputFiles: readonly InputFile[];
  rowGroupSize: number;
  compression: Compression;
  partitionBy?: 'order_year' | null;
  /**
   * Each table's column descriptions and roles (the models' .yml), by table then column: written
   * into every file's `medallion.columns` and the manifest. A column without one has neither. A
   * column with `leaveOut` (the model's `config.meta.export.leave_out`) is not exported.
   */
  columnDocs?: Readonly<Record<string, Readonly<Record<string, ColumnDoc>>>>;
  /**
   * Export the `lifetime` columns too (default false: they use information after the row's time,
   * so a model trained on them looks better than it will be; they stay in PostgreSQL, and the
   * manifest names them under `left_out`, with the columns the .yml leaves out).
   */
  lifetimeColumns?: boolean;
  /** Defaults to the gold exports (GOLD_EXPORTS); tests export their own tables. */
  tables?: readonly string[];
  /** The table written as a folder of part files (optionally partitioned). Default fact_sales. */
  folderTable?: string;
  /**
   * Without `partitionBy`: the folder table's date column whose months split it into
   * `part-YYYY-MM.parquet` files, each reused from the previous version when its rows are
   * unchanged. Default order_date; a table without it (or null) gets one `part-00000.parquet`.
   */
  monthsOf?: string | null;
  /**
   * Tables written as a folder of one file per bucket of an integer column (its value modulo a
   * power of two, `part-bucket-017.parquet`), each reused from the previous version when its rows
   * are unchanged. Default GOLD_BUCKETS; a table without its column gets one `part-00000.parquet`.
   */
  bucketsOf?: Readonly<Record<string, BucketSplit>>;
  signal?: AbortSignal;
  /** Called after each table with its result (progress output). */
  onTable?: (result: ExportTableResult, seconds: number) => void;
  /** Called as rows are exported: the table and its rows so far (after each file). */
  onRows?: (table: string, rows: number) => void;
  /**
   * Live progress while a table is written: once when the table starts (0 rows), then about 10
   * times a second the rows and CSV bytes Postgres has sent so far (pg_stat_progress_copy, read on
   * a connection of its own, opened only when this is given: a terminal's progress line, not a log).
   */
  onProgress?: (progress: ExportProgress) => void;
  /**
   * The schema name recorded as the source in the manifest and the files, when `schemas.gold` is a
   * staging schema that is published under another name (the build exports before it publishes).
   */
  publishedGoldSchema?: string;
  /**
   * Tables read from another schema than `schemas.gold`: a build of a selection exports the gold
   * tables it did not rebuild from where they are published (their own catalog entries, so their
   * NOT NULL columns keep their dtypes; a view over them would make every column nullable).
   */
  tableSchemas?: Readonly<Record<string, string>>;
  /**
   * Tables whose column facts (types, NOT NULL) come from another schema than their rows: an
   * incremental model updated by a run is a view in staging over its published table and the delta
   * (src/transform/incremental.ts); its published table declares which columns are never NULL.
   */
  columnSchemas?: Readonly<Record<string, string>>;
  /**
   * What the caller knows of each table's rows against the published table its previous export
   * was written from, by table: `{ unchanged: true }`, or the rows `removed` from and `added` to it
   * (reuse.ts, TableChange). Taken only when `publishedVersion` is the current version and the
   * previous manifest's source of the table is this one's.
   */
  changes?: Readonly<Record<string, TableChange>>;
  /** The version (path) the published tables were exported into: what `changes` are relative to. */
  publishedVersion?: string | null;
  /**
   * The commit point, called with the sealed version's path once every file is written, checked
   * and fsynced: whatever it records (the ledger) decides that this export is the published one.
   * It throws to publish nothing. Default: nothing to record (the switch itself publishes).
   */
  commit?: (versionPath: string) => Promise<void> | void;
}

export interface ExportProgress {
  table: string;
  /** Rows and bytes of the table's COPY so far (the files of the table written before it included). */
  rows: number;
  bytes: number;
  /** Since the table started. */
  seconds: number;
}

export interface ManifestFile {
  path: string;
  rows: number;
  bytes: number;
  sha256: string;
  row_groups: number;
  partition?: Record<string, string>;
  /** Month files: the month (`YYYY-MM`, `none` for a NULL date). */
  month?: string;
  /** Bucket files: the bucket (`017`, `none` for a NULL), of the table's `bucket_by`. */
  bucket?: string;
  /** Every unpartitioned file: the fingerprint of its rows and the file's settings (reuse.ts). */
  fingerprint?: string;
  settings?: string;
  /** The version that wrote this file, when this one took it over (hard link) unchanged. */
  reused_from?: string;
}

export interface Manifest {
  format: string;
  /** The target the tables come from; null for the default target. */
  target: string | null;
  run_id: number | string | null;
  as_of: string | null;
  exported_at: string;
  writer: string;
  compression: Compression;
  row_group_size: number;
  partition_by: string | null;
  /** Whether the `lifetime` columns are exported (false: each table lists them under `left_out`, beside those its .yml leaves out). */
  lifetime_columns: boolean;
  inputs: { file: string; sha256: string; bytes?: number }[];
  tables: Record<string, { source: string; rows: number; columns: ColumnDescription[]; left_out: string[]; bucket_by?: { column: string; buckets: number }; files: ManifestFile[] }>;
}

export interface ExportGoldResult {
  exportsDir: string;
  /** The published version's folder (`.medallion/versions/<version>`). */
  versionPath: string;
  manifest: Manifest;
  /** Parquet files encoded by this export, and files hard-linked unchanged from the version before. */
  files: { written: number; reused: number };
  seconds: number;
}

export async function exportGold(options: ExportGoldOptions): Promise<ExportGoldResult> {
  const started = performance.now();
  const tables = options.tables ?? GOLD_EXPORTS;
  const folderTable = options.folderTable ?? 'fact_sales';
  const bucketsOf = options.bucketsOf ?? GOLD_BUCKETS;
  for (const [table, b] of Object.entries(bucketsOf)) {
    if (table === folderTable || !Number.isInteger(b.buckets) || b.buckets < 1 || b.buckets > 1 << 20 || (b.buckets & (b.buckets - 1)) !== 0) {
      throw new DataError('EXPORT_FAILED', `${table}: buckets must be a power of two up to 2^20 (not ${b.buckets}), of a table other than the folder table ${folderTable}`);
    }
  }
  const dirs = await openExportsDir(options.exportsDir, exportEntryNames(tables, [folderTable, ...Object.keys(bucketsOf)]));
  const version = versionName(options.runId);
  const stagingDir = await createStaging(dirs, version);
  let versionPath: string | null = null;
  let manifest: Manifest;
  try {
    const previous = await previousExport(dirs);
    manifest = await writeTables({ ...options, bucketsOf }, stagingDir, tables, folderTable, previous.files, knownChanges(options, previous));
    options.signal?.throwIfAborted();
    versionPath = await sealVersion(dirs, stagingDir, version);
    options.signal?.throwIfAborted();
    failpoint('before-commit');
    await options.commit?.(versionPath);
    failpoint('after-commit');
  } catch (err) {
    await removeQuietly(versionPath ?? stagingDir);
    if (options.signal?.aborted && options.signal.reason instanceof MedallionError) throw options.signal.reason;
    if (err instanceof MedallionError) throw err;
    if (err instanceof Error && (err as { code?: string }).code?.startsWith('E')) throw ioError(err, 'exporting', stagingDir);
    throw new DataError('EXPORT_FAILED', `export failed: ${(err as Error)?.message ?? String(err)}`, {}, { cause: err });
  }
  // Committed: from here on the switch runs to its end, whatever signal arrives.
  const previous = await currentVersion(dirs);
  await switchTo(dirs, versionPath);
  await reconcileExports(dirs, versionPath, previous ? [previous] : []).catch(() => {
    // Clean-up only: what is left is removed by the next export.
  });
  const files = Object.values(manifest.tables).flatMap((t) => t.files);
  const reused = files.filter((f) => f.reused_from !== undefined).length;
  return { exportsDir: dirs.root, versionPath, manifest, files: { written: files.length - reused, reused }, seconds: (performance.now() - started) / 1000 };
}

async function removeQuietly(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true }).catch(() => {});
}

interface PreviousExport {
  /** The current version's folder, null when there is none. */
  version: string | null;
  /** Its manifest's source of each table. */
  sources: Map<string, string>;
  /** Its fingerprinted files, by table. */
  files: Map<string, PreviousFile[]>;
}

/**
 * The fingerprinted files of the current version, by table, from its manifest: what an unchanged
 * file can be linked from. None when there is no current version or its manifest has none.
 */
async function previousExport(dirs: ExportsDir): Promise<PreviousExport> {
  const current = await currentVersion(dirs);
  if (!current) return { version: null, sources: new Map(), files: new Map() };
  const manifest = await readFile(path.join(current, MANIFEST_FILE), 'utf8').then((text) => JSON.parse(text) as Manifest, () => null);
  const tables = Object.entries(manifest?.tables ?? {});
  return {
    version: current,
    sources: new Map(tables.map(([table, t]) => [table, t.source])),
    files: new Map(tables.map(([table, t]) => [table, (t.files ?? []).flatMap((f) => f.fingerprint !== undefined && f.settings !== undefined
      ? [{ ...(f.month !== undefined ? { month: f.month } : {}), ...(f.bucket !== undefined ? { bucket: f.bucket } : {}), path: path.join(current, f.path), rows: f.rows, fingerprint: f.fingerprint, settings: f.settings, sha256: f.sha256, bytes: f.bytes, version: f.reused_from ?? path.basename(current) }]
      : [])])),
  };
}

/**
 * The caller's `changes` that hold against the current version: all of them when it is the
 * version the published tables were exported into, each for a table whose previous source is the
 * one exported now; none otherwise (another folder, an export of other tables or settings since,
 * a publish without an export), and the tables are then fingerprinted by a scan.
 */
function knownChanges(options: ExportGoldOptions, previous: PreviousExport): Map<string, TableChange> {
  const published = options.publishedVersion ? path.resolve(options.publishedVersion) : null;
  if (!options.changes || published === null || previous.version === null || path.resolve(previous.version) !== published) return new Map();
  return new Map(Object.entries(options.changes).filter(([table]) => previous.sources.get(table) === sourceOf(options, table)));
}

/** The source a table's manifest entry records. */
function sourceOf(options: ExportGoldOptions, table: string): string {
  return `${options.publishedGoldSchema ?? options.schemas.gold}.${table}`;
}

/** Every table from one snapshot into `outDir`, then the manifest. */
async function writeTables(
  options: ExportGoldOptions,
  outDir: string,
  tables: readonly string[],
  folderTable: string,
  previous: ReadonlyMap<string, PreviousFile[]>,
  changes: ReadonlyMap<string, TableChange>,
): Promise<Manifest> {
  let client: Client | null = null;
  let fingerprintClient: Client | null = null;
  let watch: Awaited<ReturnType<typeof watchCopyProgress>> | null = null;
  const monthsOf = options.partitionBy ? null : options.monthsOf === undefined ? 'order_date' : options.monthsOf;
  try {
    client = await connect(options.connection, 'medallion export');
    await client.query('begin isolation level repeatable read read only').catch((err) => { throw fromDatabaseError(err, 'starting the export snapshot'); });
    if (tables.some((t) => t !== folderTable || !options.partitionBy)) {
      // The fingerprints are computed on a connection of their own, in the same snapshot.
      const snapshot = (await client.query<{ id: string }>('select pg_export_snapshot() as id')).rows[0]!.id;
      fingerprintClient = await connect(options.connection, 'medallion export fingerprints');
      await fingerprintClient.query(`begin isolation level repeatable read read only; set transaction snapshot '${snapshot}'`)
        .catch((err) => { throw fromDatabaseError(err, 'sharing the export snapshot'); });
    }
    const provenance: Record<string, string> = {
      'medallion.run_id': String(options.runId ?? ''),
      'medallion.as_of': options.asOf ?? '',
      'medallion.inputs': JSON.stringify(options.inputFiles.map(({ file, sha256 }) => ({ file, sha256 }))),
    };
    const manifest: Manifest = {
      format: EXPORT_FORMAT_VERSION,
      target: options.target ?? null,
      run_id: options.runId,
      as_of: options.asOf,
      exported_at: new Date().toISOString(),
      writer: `DuckDB ${ParquetEncoder.version}, from COPY TO STDOUT (format csv)`,
      compression: options.compression,
      row_group_size: options.rowGroupSize,
      partition_by: options.partitionBy ?? null,
      lifetime_columns: options.lifetimeColumns ?? false,
      inputs: options.inputFiles.map((f) => ({ ...f })),
      tables: {},
    };
    watch = options.onProgress ? await watchCopyProgress(options.connection, client, options.onProgress) : null;
    for (const table of tables) {
      options.signal?.throwIfAborted();
      const t0 = performance.now();
      let exportedRows = 0;
      const asFolder = table === folderTable;
      const buckets = Object.hasOwn(options.bucketsOf!, table) ? options.bucketsOf![table]! : null;
      watch?.start(table);
      const docs = options.columnDocs?.[table] ?? {};
      const leaveOut = Object.keys(docs).filter((c) => docs[c]!.leaveOut === true || (!options.lifetimeColumns && docs[c]!.role === LIFETIME_ROLE));
      const result = await exportTable({
        client,
        schema: options.tableSchemas?.[table] ?? options.schemas.gold,
        ...(options.columnSchemas?.[table] !== undefined ? { columnsSchema: options.columnSchemas[table] } : {}),
        table,
        ...(asFolder ? { outDir: path.join(outDir, table), partitionBy: options.partitionBy ?? null } : buckets ? { outDir: path.join(outDir, table), bucketsOf: buckets } : { outFile: path.join(outDir, `${table}.parquet`) }),
        rowGroupSize: options.rowGroupSize,
        compression: options.compression,
        metadata: options.publishedGoldSchema ? { ...provenance, 'medallion.source': `${options.publishedGoldSchema}.${table}` } : provenance,
        columnDocs: docs,
        leaveOut,
        inTransaction: true,
        signal: options.signal,
        ...(asFolder && monthsOf !== null ? { monthsOf } : {}),
        ...(asFolder && options.partitionBy ? {} : { previousFiles: previous.get(table) ?? [], ...(fingerprintClient ? { fingerprintClient } : {}) }),
        ...(changes.has(table) ? { change: changes.get(table)! } : {}),
        onRows: (n) => {
          exportedRows += n;
          options.onRows?.(table, exportedRows);
        },
      });
      manifest.tables[table] = {
        source: sourceOf(options, table),
        rows: result.rows,
        columns: result.columns,
        left_out: leaveOut,
        ...(buckets && result.files.some((f) => f.bucket !== undefined) ? { bucket_by: { column: buckets.column, buckets: buckets.buckets } } : {}),
        files: result.files.map((f) => ({
          path: path.relative(outDir, f.path).split(path.sep).join('/'),
          rows: f.rows,
          bytes: f.bytes,
          sha256: f.sha256,
          row_groups: f.rowGroups,
          ...(f.partition ? { partition: f.partition } : {}),
          ...(f.month !== undefined ? { month: f.month } : {}),
          ...(f.bucket !== undefined ? { bucket: f.bucket } : {}),
          ...(f.fingerprint !== undefined ? { fingerprint: f.fingerprint, settings: f.settings! } : {}),
          ...(f.reusedFrom !== undefined ? { reused_from: f.reusedFrom } : {}),
        })),
      };
      watch?.stop();
      options.onTable?.(result, (performance.now() - t0) / 1000);
    }
    await client.query('commit');
    await fingerprintClient?.query('commit');
    await writeFile(path.join(outDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`).catch((err) => { throw ioError(err, `writing ${MANIFEST_FILE}`, outDir); });
    return manifest;
  } finally {
    await watch?.close();
    await fingerprintClient?.end().catch(() => {});
    await client?.end().catch(() => {});
  }
}

/**
 * The sampling pace: the logger's redraw pace (REDRAW_MS of src/runs/logger.ts), so a table whose
 * COPY lasts a few tenths of a second still shows its rows. One indexed read of shared memory per
 * sample, on a connection of its own.
 */
export const PROGRESS_EVERY_MS = 100;

/**
 * Samples the COPY of the export's connection from pg_stat_progress_copy (PostgreSQL 14 and
 * later: tuples and bytes sent so far) on a connection of its own. Progress only: a sample that
 * fails is skipped, and the connection is closed with the export's.
 */
async function watchCopyProgress(connection: ConnectionConfig, exporting: Client, onProgress: (p: ExportProgress) => void) {
  const pid = (await exporting.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
  const watcher = await connect(connection, 'medallion export progress').catch(() => null);
  let timer: NodeJS.Timeout | null = null;
  let table = '';
  let started = 0;
  // Rows and bytes of the table's files that are done (a partitioned table runs one COPY per file).
  let done = { rows: 0, bytes: 0 };
  let last = { rows: 0, bytes: 0 };
  let sampling = false;
  const sample = async () => {
    if (!watcher || sampling) return;
    sampling = true;
    try {
      const { rows } = await watcher.query<{ rows: string; bytes: string }>(
        'select tuples_processed as rows, bytes_processed as bytes from pg_stat_progress_copy where pid = $1', [pid]);
      const now = rows[0] ? { rows: Number(rows[0].rows), bytes: Number(rows[0].bytes) } : { rows: 0, bytes: 0 };
      // A new COPY (the next partition) starts again from 0: the previous one is done.
      if (now.rows < last.rows) done = { rows: done.rows + last.rows, bytes: done.bytes + last.bytes };
      last = now;
      if (table) onProgress({ table, rows: done.rows + now.rows, bytes: done.bytes + now.bytes, seconds: (performance.now() - started) / 1000 });
    } catch {
      // A progress sample is never worth failing the export for.
    } finally {
      sampling = false;
    }
  };
  const stop = () => {
    if (timer) clearInterval(timer);
    timer = null;
    table = '';
  };
  return {
    start(name: string) {
      stop();
      table = name;
      started = performance.now();
      done = { rows: 0, bytes: 0 };
      last = { rows: 0, bytes: 0 };
      // The table's line shows from its start, before the first sample.
      onProgress({ table, rows: 0, bytes: 0, seconds: 0 });
      timer = setInterval(() => void sample(), PROGRESS_EVERY_MS);
      timer.unref();
    },
    stop,
    async close() {
      stop();
      await watcher?.end().catch(() => {});
    },
  };
}
