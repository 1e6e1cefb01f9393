/**
 * The published gold tables → `exports/` (or `--out DIR`), all or nothing:
 *
 *   exports/fact_sales/part-00000.parquet      (or fact_sales/order_year=2012/part-00000.parquet …)
 *   exports/customer_features.parquet
 *   exports/sales_daily.parquet
 *   exports/_manifest.json
 *
 * Everything is written into a fresh folder beside the target (`.exports.tmp-…`, same file system),
 * all tables from one REPEATABLE READ snapshot; every file's footer row count is checked against
 * the rows DuckDB wrote and the rows Postgres' COPY reports in that snapshot (export-table.ts); the
 * manifest is written last. Only then is the folder swapped in:
 *
 *   1. rename exports → .exports.old-…      (skipped on the first export)
 *   2. rename .exports.tmp-… → exports
 *   3. remove .exports.old-…
 *
 * Crash windows: before 1 the previous export is untouched (a stale tmp folder is removed by the
 * next export). Between 1 and 2 — two renames, microseconds apart — `exports` is missing; the next
 * export (or `recoverExports`) renames the old folder back before doing anything else. After 2 the
 * new export is complete; a left-over old folder is removed next time.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, writeFile, copyFile } from 'node:fs/promises';
import path from 'node:path';
import type { ConnectionConfig, SchemaNames } from '../config.ts';
import { type Client, connect } from '../db/client.ts';
import { DataError, DependencyError, fromDatabaseError, MedallionError } from '../errors.ts';
import { type ColumnDescription, EXPORT_FORMAT_VERSION, exportTable, type ExportTableResult } from './export-table.ts';
import { type Compression, ParquetEncoder } from './parquet-encoder.ts';

export const GOLD_EXPORTS = ['fact_sales', 'customer_features', 'sales_daily'] as const;
export type GoldExport = (typeof GOLD_EXPORTS)[number];

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
  asOf: string | null;
  /** The source files of the run that built gold, with their SHA-256. */
  inputFiles: readonly InputFile[];
  rowGroupSize: number;
  compression: Compression;
  partitionBy?: 'order_year' | null;
  /** Defaults to the three gold exports; tests export their own tables. */
  tables?: readonly string[];
  /** The table written as a folder of part files (optionally partitioned). Default fact_sales. */
  folderTable?: string;
  signal?: AbortSignal;
  /** Called after each table with its result (progress output). */
  onTable?: (result: ExportTableResult, seconds: number) => void;
  /** Called as rows are exported: the table and its rows so far (live progress). */
  onRows?: (table: string, rows: number) => void;
  /**
   * The schema name recorded as the source in the manifest and the files, when `schemas.gold` is a
   * staging schema that is published under another name (the build exports before it publishes).
   */
  publishedGoldSchema?: string;
  /** Test hook: runs after every file is written and checked, before the swap. */
  beforePublish?: (tmpDir: string) => Promise<void> | void;
}

export interface ManifestFile {
  path: string;
  rows: number;
  bytes: number;
  sha256: string;
  row_groups: number;
  partition?: Record<string, string>;
}

export interface Manifest {
  format: string;
  run_id: number | string | null;
  as_of: string | null;
  exported_at: string;
  writer: string;
  compression: Compression;
  row_group_size: number;
  partition_by: string | null;
  inputs: { file: string; sha256: string; bytes?: number }[];
  tables: Record<string, { source: string; rows: number; columns: ColumnDescription[]; files: ManifestFile[] }>;
}

export interface ExportGoldResult {
  exportsDir: string;
  manifest: Manifest;
  seconds: number;
}

const TMP_PREFIX = '.tmp-';
const OLD_PREFIX = '.old-';

function siblings(exportsDir: string) {
  const dir = path.dirname(exportsDir);
  const base = path.basename(exportsDir);
  return { dir, base, tmpStem: `.${base}${TMP_PREFIX}`, oldStem: `.${base}${OLD_PREFIX}` };
}

/**
 * Puts the folder back into a consistent state after a crash: restores an old export that was
 * moved aside when the new one never arrived, and removes left-over temporary and old folders.
 */
export async function recoverExports(exportsDir: string): Promise<void> {
  const { dir, tmpStem, oldStem } = siblings(exportsDir);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return;
  }
  const olds = entries.filter((e) => e.startsWith(oldStem)).sort();
  const exists = await stat(exportsDir).then(() => true, () => false);
  if (!exists && olds.length > 0) {
    // Crashed between the two renames: the newest old folder is the last published export.
    await rename(path.join(dir, olds.pop()!), exportsDir);
  }
  for (const e of entries) {
    if (e.startsWith(tmpStem) && !ownedByLiveProcess(e)) await rm(path.join(dir, e), { recursive: true, force: true });
    else if (e.startsWith(oldStem) && olds.includes(e)) await rm(path.join(dir, e), { recursive: true, force: true });
  }
}

/** Temporary folders are named `.NAME.tmp-RUN-PID-RANDOM`; one whose process still runs is left alone. */
function ownedByLiveProcess(name: string): boolean {
  const pid = Number(/-(\d+)-[0-9a-f]{8}$/.exec(name)?.[1]);
  if (!pid || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } catch {
    // Some file systems do not support fsync on directories; the rename is still atomic.
  } finally {
    await h.close();
  }
}

function ioError(err: unknown, doing: string, file?: string): MedallionError {
  if (err instanceof MedallionError) return err;
  const e = err as Error & { code?: string };
  return new DependencyError('IO_ERROR', `${doing}: ${e?.message ?? String(err)}`, { file, hint: 'Check the output folder exists, is writable and has space.' }, { cause: err });
}

export async function exportGold(options: ExportGoldOptions): Promise<ExportGoldResult> {
  const started = performance.now();
  const exportsDir = path.resolve(options.exportsDir);
  const { dir, tmpStem, oldStem } = siblings(exportsDir);
  const tables = options.tables ?? GOLD_EXPORTS;
  const folderTable = options.folderTable ?? 'fact_sales';
  try {
    await mkdir(dir, { recursive: true });
    await recoverExports(exportsDir);
  } catch (err) {
    throw ioError(err, `preparing ${exportsDir}`, exportsDir);
  }
  const stamp = `${options.runId ?? 'adhoc'}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmpDir = path.join(dir, `${tmpStem}${stamp}`);
  let client: Client | null = null;
  try {
    await mkdir(tmpDir).catch((err) => { throw ioError(err, `creating ${tmpDir}`, tmpDir); });
    client = await connect(options.connection, 'medallion export');
    await client.query('begin isolation level repeatable read read only').catch((err) => { throw fromDatabaseError(err, 'starting the export snapshot'); });
    const provenance: Record<string, string> = {
      'medallion.run_id': String(options.runId ?? ''),
      'medallion.as_of': options.asOf ?? '',
      'medallion.inputs': JSON.stringify(options.inputFiles.map(({ file, sha256 }) => ({ file, sha256 }))),
    };
    const manifest: Manifest = {
      format: EXPORT_FORMAT_VERSION,
      run_id: options.runId,
      as_of: options.asOf,
      exported_at: new Date().toISOString(),
      writer: `DuckDB ${ParquetEncoder.version}, from COPY TO STDOUT (format csv)`,
      compression: options.compression,
      row_group_size: options.rowGroupSize,
      partition_by: options.partitionBy ?? null,
      inputs: options.inputFiles.map((f) => ({ ...f })),
      tables: {},
    };
    for (const table of tables) {
      options.signal?.throwIfAborted();
      const t0 = performance.now();
      let exportedRows = 0;
      const asFolder = table === folderTable;
      const result = await exportTable({
        client,
        schema: options.schemas.gold,
        table,
        ...(asFolder ? { outDir: path.join(tmpDir, table), partitionBy: options.partitionBy ?? null } : { outFile: path.join(tmpDir, `${table}.parquet`) }),
        rowGroupSize: options.rowGroupSize,
        compression: options.compression,
        metadata: options.publishedGoldSchema ? { ...provenance, 'medallion.source': `${options.publishedGoldSchema}.${table}` } : provenance,
        inTransaction: true,
        signal: options.signal,
        onRows: (n) => {
          exportedRows += n;
          options.onRows?.(table, exportedRows);
        },
      });
      manifest.tables[table] = {
        source: `${options.publishedGoldSchema ?? options.schemas.gold}.${table}`,
        rows: result.rows,
        columns: result.columns,
        files: result.files.map((f) => ({
          path: path.relative(tmpDir, f.path).split(path.sep).join('/'),
          rows: f.rows,
          bytes: f.bytes,
          sha256: f.sha256,
          row_groups: f.rowGroups,
          ...(f.partition ? { partition: f.partition } : {}),
        })),
      };
      options.onTable?.(result, (performance.now() - t0) / 1000);
    }
    await client.query('commit');
    await client.end().catch(() => {});
    client = null;

    await writeFile(path.join(tmpDir, '_manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`).catch((err) => { throw ioError(err, 'writing _manifest.json', tmpDir); });
    await fsyncDir(tmpDir);
    await options.beforePublish?.(tmpDir);
    options.signal?.throwIfAborted();
    await publish(exportsDir, tmpDir, path.join(dir, `${oldStem}${stamp}`));
    return { exportsDir, manifest, seconds: (performance.now() - started) / 1000 };
  } catch (err) {
    if (client) await client.end().catch(() => {});
    await rm(tmpDir, { recursive: true, force: true }).catch(() => {});
    if (options.signal?.aborted && options.signal.reason instanceof MedallionError) throw options.signal.reason;
    if (err instanceof MedallionError) throw err;
    if (err instanceof Error && (err as { code?: string }).code?.startsWith('E')) throw ioError(err, 'exporting', tmpDir);
    throw new DataError('EXPORT_FAILED', `export failed: ${(err as Error)?.message ?? String(err)}`, {}, { cause: err });
  }
}

/** The swap (see the file comment for its crash windows). */
async function publish(exportsDir: string, tmpDir: string, oldDir: string): Promise<void> {
  const hadPrevious = await stat(exportsDir).then((s) => s.isDirectory(), () => false);
  try {
    // Keep a .gitkeep the previous folder had (the repository tracks an empty exports/).
    if (hadPrevious) await copyFile(path.join(exportsDir, '.gitkeep'), path.join(tmpDir, '.gitkeep')).catch(() => {});
    if (hadPrevious) await rename(exportsDir, oldDir);
    try {
      await rename(tmpDir, exportsDir);
    } catch (err) {
      if (hadPrevious) await rename(oldDir, exportsDir).catch(() => {});
      throw err;
    }
    await fsyncDir(path.dirname(exportsDir));
  } catch (err) {
    throw ioError(err, `publishing ${exportsDir}`, exportsDir);
  }
  if (hadPrevious) await rm(oldDir, { recursive: true, force: true }).catch(() => {});
}
