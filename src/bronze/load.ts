/**
 * The bronze stage: every source file streamed through the record scanner into
 * `COPY ... FROM STDIN (format csv, freeze true)`. Each file is loaded into a fresh
 * `<table>__loading` table in its own transaction, the files spread over the connections given
 * (`--jobs`: the largest first, each on the next free connection, as the model builds are); only
 * when every file has loaded and reconciled does one short transaction drop the old tables and
 * rename the new ones into place. A failed load (any error, a lost connection, a signal) therefore
 * leaves bronze exactly as the last good run left it: the `__loading` tables already committed are
 * dropped on the way out, and any that a crash leaves behind are replaced by the next load.
 *
 * A file that is the one its bronze table was loaded from (changes.ts: the same sha256) is not
 * loaded again: its table stays, and the run records the load it kept. A file that extends it
 * (append.ts: its first bytes are that file) has only its tail loaded, into `__loading`, whose rows
 * the swap's transaction inserts into the bronze table after the ones it keeps. A changed file is diffed
 * against the table it replaces inside the swap's transaction, into `<table>__changes`; the run's
 * `<etl>.source_changes` rows and the block hashes of the files it loaded (block-hashes.ts, taken
 * while each file streams into COPY) commit with the swap.
 *
 * Rejected records go to etl.rejects on the ledger connection, outside the load transactions: a run
 * that fails on too many rejects still shows which records they were.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { SchemaNames } from '../config.ts';
import { type Client, ident, literal } from '../db/index.ts';
import { runScheduled, type ScheduledTask } from '../schedule/index.ts';
import { attempt, readersSql, recreateViewSql, type ViewReader } from '../sql-runtime/index.ts';
import { DataError, DependencyError, fromDatabaseError, MedallionError } from '../errors.ts';
import { failpoint } from '../failpoints.ts';
import { type AppendablePrefix, type AppendedLoad, appendablePrefix, appendIntoChanges, HashThrough, publishAppend } from './append.ts';
import { BlockHashStream, type LoadBlocks, recordLoadBlocks } from './block-hashes.ts';
import { type BronzeLoadRecord, currentBronzeLoads, diffIntoChanges, isUnchanged, loadedUnderLimit, recordSourceChanges, type SourceChange } from './changes.ts';
import { bronzeColumns, CHANGES_SUFFIX, lineBreaksByColumn, SOURCE_CONTRACTS, type SourceContract } from './contracts.ts';
import type { RejectedRecord, RejectReason } from './record-scanner.ts';
import { type ScanProgress, ScanStream } from './scan-stream.ts';
import { readSourceHeader, type SourceHeader } from './source-file.ts';

export interface BronzeLoadOptions {
  /** Loads files, and swaps the loaded tables into place (one transaction). */
  client: Client;
  /** More connections that load files at the same time as `client` (`--jobs` - 1); none: one file at a time. */
  parallelClients?: readonly Client[];
  /** Connection for etl.rejects and etl.source_files (autocommit). */
  ledger: Client;
  schemas: SchemaNames;
  seedsDir: string;
  runId: number;
  maxRejectRate: number;
  maxFieldBytes: number;
  signal?: AbortSignal;
  onProgress?: (event: BronzeProgress) => void;
  /** Defaults to all six contracts; tests may load a subset. */
  contracts?: readonly SourceContract[];
  /** Loads every file, also those that are the ones their bronze tables hold (`--full-refresh`). */
  reloadUnchanged?: boolean;
}

export type BronzeProgress =
  | { kind: 'file-start'; source: string; bytes: number }
  | ({ kind: 'file-progress'; source: string; bytes: number } & ScanProgress)
  | { kind: 'file-done'; result: FileLoadResult }
  | { kind: 'file-kept'; result: FileLoadResult };

export interface FileLoadResult {
  source: string;
  /** Set when the file was not loaded: the run whose load of the same file the bronze table keeps. */
  keptFromRun?: number;
  /** Set when only the file's tail was loaded (append.ts): the previous file's lines, whose rows the table keeps. */
  reusedLines?: number;
  file: string;
  sha256: string;
  bytes: number;
  lineEnding: SourceHeader['lineEnding'];
  encoding: 'UTF-8' | 'UTF-8 with BOM';
  /** Physical lines of the file, the header included: header + blank + row lines + rejects. */
  lines: number;
  /** Lines of the loaded rows (a row whose quoted value spans two lines counts two). */
  rowLines: number;
  /** Rows loaded plus rejected lines. */
  records: number;
  rowsLoaded: number;
  rejects: number;
  rejectsByReason: Partial<Record<RejectReason, number>>;
  blankLines: number;
  seconds: number;
  /** The load transaction's id, which every row it wrote carries as xmin (absent: a kept load). */
  loadXid?: string;
  /** The --max-field-bytes the rows were loaded with (a kept load's own; absent: not recorded). */
  maxFieldBytes?: number;
}

export interface BronzeLoadResult {
  files: FileLoadResult[];
  /** Per source, in contract order: new, unchanged or changed, and the diff's counts. */
  changes: SourceChange[];
  seconds: number;
}

export async function loadBronze(options: BronzeLoadOptions): Promise<BronzeLoadResult> {
  const contracts = options.contracts ?? SOURCE_CONTRACTS;
  const started = performance.now();
  // Every header is checked before anything is loaded: a bad export fails in milliseconds.
  const headers = await readAllHeaders(options.seedsDir, contracts);
  const { client, schemas } = options;
  const b = ident(schemas.bronze);
  try {
    await client.query(`create schema if not exists ${b}`);
    const previous = await currentBronzeLoads(client, schemas, contracts);
    const kept = new Map<string, FileLoadResult>();
    const blocks = new Map<string, LoadBlocks>();
    const appends = new Map<string, AppendedLoad>();
    for (const [i, contract] of contracts.entries()) {
      const before = previous.get(contract.name);
      if (options.reloadUnchanged || !before || !loadedUnderLimit(before, options.maxFieldBytes) || !(await isUnchanged(client, schemas, before, headers[i]!))) continue;
      const result = keptLoad(before);
      kept.set(contract.name, result);
      options.onProgress?.({ kind: 'file-kept', result });
    }
    // Largest file first: with two connections the sales lines load on one while the other takes
    // the customer files, instead of the sales lines starting last and running alone.
    const tasks: ScheduledTask<FileLoadResult>[] = contracts.flatMap((contract, i) =>
      kept.has(contract.name) ? [] : [{ id: contract.name, priority: headers[i]!.bytes, run: (connection: Client) => loadFileInOwnTransaction(options, connection, contract, headers[i]!, blocks, appends, previous.get(contract.name)) }],
    );
    const loaded = await runScheduled(tasks, [client, ...(options.parallelClients ?? [])], { signal: options.signal });
    const files = contracts.map((c) => kept.get(c.name) ?? loaded.get(c.name)!);
    await client.query('begin');
    const changes = await diffLoadedTables(client, schemas, contracts.filter((c) => !kept.has(c.name) && !appends.has(c.name)), previous, files, blocks);
    for (const c of contracts) {
      if (appends.has(c.name)) changes.push(appends.get(c.name)!.change);
      if (kept.has(c.name)) changes.push({ source: c.name, status: 'unchanged', fromSha256: kept.get(c.name)!.sha256, toSha256: kept.get(c.name)!.sha256, added: 0, changed: 0, removed: 0, moved: 0 });
    }
    changes.sort((x, y) => contracts.findIndex((c) => c.name === x.source) - contracts.findIndex((c) => c.name === y.source));
    await swapInLoadedTables(client, schemas, contracts.filter((c) => !kept.has(c.name)), changes, appends);
    for (const [source, load] of appends) {
      const whole = await publishAppend(client, schemas, contracts.find((c) => c.name === source)!, loadingTable(schemas, contracts.find((c) => c.name === source)!), load, options.runId);
      if (whole) blocks.set(source, whole);
    }
    if (appends.size) failpoint('after-bronze-append');
    await recordLoadBlocks(client, schemas, options.runId, blocks);
    for (const f of kept.values()) await recordSourceFile(client, schemas, options.runId, f);
    await recordSourceChanges(client, schemas, options.runId, changes);
    await client.query('commit');
    return { files, changes, seconds: (performance.now() - started) / 1000 };
  } catch (err) {
    await client.query('rollback').catch(() => {});
    // On the ledger connection: the load's own connection may be the one that was lost.
    for (const contract of contracts) {
      await options.ledger.query(`drop table if exists ${loadingTable(schemas, contract)}, ${ident(schemas.bronze)}.${ident(`${contract.name}${CHANGES_SUFFIX}__loading`)}`).catch(() => {});
    }
    throw options.signal?.aborted && options.signal.reason instanceof MedallionError ? options.signal.reason : fromDatabaseError(err, 'loading bronze');
  }
}

/**
 * The swap, inside the caller's transaction: each old table is renamed aside and its loaded
 * replacement renamed into place; the views that read the old tables (a user's views on bronze:
 * no model may be a view over bronze) are recreated from their definitions so they read the new
 * ones; then the old tables are dropped, without CASCADE. A view that cannot follow (its columns
 * no longer fit, a materialized view) stops the load with a clear error instead of being dropped.
 */
async function swapInLoadedTables(
  client: Client,
  schemas: SchemaNames,
  contracts: readonly SourceContract[],
  changes: readonly SourceChange[],
  appends: ReadonlyMap<string, AppendedLoad>,
): Promise<void> {
  const b = ident(schemas.bronze);
  // Each loaded table replaces its bronze table, and its diff (if any) the source's __changes; a
  // new source's __changes, left from a table dropped by hand, describes nothing and goes. An
  // appended source keeps its table (publishAppend adds the tail) and gets its __changes.
  const swaps = contracts.flatMap((c) => {
    const change = changes.find((x) => x.source === c.name);
    const changesName = `${c.name}${CHANGES_SUFFIX}`;
    const table = appends.has(c.name) ? [] : [{ name: c.name, loading: `${c.name}__loading` }];
    return [...table, change?.status === 'new' ? { name: changesName, loading: null } : { name: changesName, loading: `${changesName}__loading` }];
  });
  await client.query("select set_config('search_path', 'pg_catalog', true)");
  const { rows: readers } = await client.query<ViewReader>(
    readersSql(`select c.oid from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = any($2) and c.relkind = 'r'`),
    [schemas.bronze, swaps.map((s) => s.name)],
  );
  const replaced: string[] = [];
  for (const swap of swaps) {
    const exists = await client.query('select 1 from pg_tables where schemaname = $1 and tablename = $2', [schemas.bronze, swap.name]);
    if (exists.rowCount) {
      const aside = `${swap.name}__replaced`;
      await client.query(`drop table if exists ${b}.${ident(aside)}`);
      await client.query(`alter table ${b}.${ident(swap.name)} rename to ${ident(aside)}`);
      replaced.push(aside);
    }
    if (swap.loading) await client.query(`alter table ${b}.${ident(swap.loading)} rename to ${ident(swap.name)}`);
  }
  for (const view of readers) {
    const carried = view.relkind === 'v' ? await attempt(client, recreateViewSql(view)) : 'a materialized view cannot be recreated without a refresh';
    if (carried !== true) {
      throw new DependencyError('PUBLISH_BLOCKED', `${view.schema}.${view.name} reads ${schemas.bronze} and cannot follow the new load (${carried}); nothing was loaded`, {
        hint: 'Change or drop that view (or make it read silver), then run again.',
      });
    }
  }
  if (replaced.length) await client.query(`drop table ${replaced.map((t) => `${b}.${ident(t)}`).join(', ')}`);
}

/**
 * Inside the swap's transaction, before it: each loaded table against the bronze table it is
 * about to replace (changes.ts), into `<table>__changes__loading`, which the swap renames into
 * place with the table. A source without a bronze table is `new` and has no diff.
 */
async function diffLoadedTables(
  client: Client,
  schemas: SchemaNames,
  contracts: readonly SourceContract[],
  previous: ReadonlyMap<string, BronzeLoadRecord>,
  files: readonly FileLoadResult[],
  blocks: ReadonlyMap<string, LoadBlocks>,
): Promise<SourceChange[]> {
  const changes: SourceChange[] = [];
  for (const contract of contracts) {
    const file = files.find((f) => f.source === contract.name)!;
    const exists = await client.query('select 1 from pg_tables where schemaname = $1 and tablename = $2', [schemas.bronze, contract.name]);
    if (!exists.rowCount) {
      changes.push({ source: contract.name, status: 'new', fromSha256: null, toSha256: file.sha256, added: null, changed: null, removed: null, moved: null });
      continue;
    }
    const into = `${ident(schemas.bronze)}.${ident(`${contract.name}${CHANGES_SUFFIX}__loading`)}`;
    await client.query(`drop table if exists ${into}`);
    const counts = await diffIntoChanges(client, schemas, contract, loadingTable(schemas, contract), into, { previous: previous.get(contract.name), loaded: blocks.get(contract.name) });
    const fromSha256 = previous.get(contract.name)?.sha256 ?? null;
    await client.query(`comment on table ${into} is ${literal(`rows of ${contract.name} that differ from ${fromSha256 ?? 'a file the ledger does not name'} to ${file.sha256} (change_side old: the previous bronze rows, new: the current ones)`)}`);
    changes.push({ source: contract.name, status: fromSha256 === file.sha256 ? 'unchanged' : 'changed', fromSha256, toSha256: file.sha256, ...counts });
  }
  return changes;
}

/** The result of a file that is not loaded again: the figures of the load its bronze table keeps. */
function keptLoad(load: BronzeLoadRecord): FileLoadResult {
  return {
    source: load.source,
    keptFromRun: load.runId,
    file: load.file,
    sha256: load.sha256,
    bytes: load.bytes,
    lineEnding: load.lineEnding as SourceHeader['lineEnding'],
    encoding: load.encoding as FileLoadResult['encoding'],
    lines: load.lines!,
    rowLines: load.rowLines!,
    records: load.records,
    rowsLoaded: load.rowsLoaded,
    rejects: load.rejects,
    rejectsByReason: {},
    blankLines: load.blankLines,
    seconds: 0,
    ...(load.maxFieldBytes !== null ? { maxFieldBytes: load.maxFieldBytes } : {}),
  };
}

/** Where a file is loaded before the swap; no model reads it. */
function loadingTable(schemas: SchemaNames, contract: SourceContract): string {
  return `${ident(schemas.bronze)}.${ident(`${contract.name}__loading`)}`;
}

/**
 * `create table … __loading` and `copy … freeze` need the same transaction (freeze's condition).
 * A file that extends the previous load's (append.ts) has its tail loaded; when the bronze table
 * turns out not to hold that load, the tail's transaction is rolled back, the run's ledger rows of
 * the source deleted, and the file loaded whole.
 */
async function loadFileInOwnTransaction(
  options: BronzeLoadOptions,
  connection: Client,
  contract: SourceContract,
  header: SourceHeader,
  blocks: Map<string, LoadBlocks>,
  appends: Map<string, AppendedLoad>,
  previous: BronzeLoadRecord | undefined,
): Promise<FileLoadResult> {
  const prefix = options.reloadUnchanged || (previous && !loadedUnderLimit(previous, options.maxFieldBytes)) ? null : await appendablePrefix(connection, options.schemas, previous, header);
  if (prefix) {
    await connection.query('begin');
    try {
      const result = await appendFile(options, connection, contract, header, prefix, appends);
      await connection.query(result ? 'commit' : 'rollback');
      if (result) {
        options.onProgress?.({ kind: 'file-done', result });
        return result;
      }
    } catch (err) {
      await connection.query('rollback').catch(() => {});
      throw err;
    }
    const e = ident(options.schemas.etl);
    for (const t of ['rejects', 'source_files']) await options.ledger.query(`delete from ${e}.${t} where run_id = $1 and source = $2`, [options.runId, contract.name]);
  }
  await connection.query('begin');
  try {
    const result = await loadFile(options, connection, contract, header, blocks);
    await connection.query('commit');
    options.onProgress?.({ kind: 'file-done', result });
    return result;
  } catch (err) {
    await connection.query('rollback').catch(() => {});
    throw err;
  }
}

async function readAllHeaders(dir: string, contracts: readonly SourceContract[]): Promise<SourceHeader[]> {
  const settled = await Promise.allSettled(contracts.map((c) => readSourceHeader(dir, c)));
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    const first = failures[0] as MedallionError;
    const all = failures.map((f) => (f instanceof MedallionError ? f.describe() : String(f)));
    throw new DataError(first.code ?? 'BRONZE_FILE_MISSING', `${failures.length} source files cannot be loaded:\n  - ${all.join('\n  - ')}`, { file: first.context?.file });
  }
  return settled.map((s) => (s as PromiseFulfilledResult<SourceHeader>).value);
}

/** Loads one file into its `__loading` table; its block hashes go to `blocks` (block-hashes.ts). */
async function loadFile(options: BronzeLoadOptions, client: Client, contract: SourceContract, header: SourceHeader, blocks: Map<string, LoadBlocks>): Promise<FileLoadResult> {
  const { ledger, schemas, runId } = options;
  const started = performance.now();
  const copied = await copyIntoLoading(options, client, contract, header, { start: header.headerBytes.length, firstLine: 2 });
  blocks.set(contract.name, copied.blocks);
  const { scan } = copied;
  const s = scan.scanner;
  const result: FileLoadResult = {
    source: contract.name,
    file: header.fileName,
    sha256: scan.hash.digest('hex'),
    bytes: scan.bytesRead,
    lineEnding: header.lineEnding,
    encoding: header.hasBom ? 'UTF-8 with BOM' : 'UTF-8',
    lines: 1 + s.linesRead,
    rowLines: s.rowLines,
    records: copied.rowsLoaded + copied.rejectsWritten,
    rowsLoaded: copied.rowsLoaded,
    rejects: copied.rejectsWritten,
    rejectsByReason: copied.rejectsByReason,
    blankLines: s.blankLines,
    seconds: (performance.now() - started) / 1000,
    loadXid: copied.xid,
    maxFieldBytes: options.maxFieldBytes,
  };
  await recordSourceFile(ledger, schemas, runId, result);
  checkLoad(options, contract, header, result, copied);
  return result;
}

/**
 * Loads the tail of a file that extends the previous load's (append.ts) into its `__loading`
 * table: the records after the prefix, numbered on from the previous file's lines, and the diff
 * into `<source>__changes__loading`. The run's record of the file holds the whole file's figures
 * (the previous load's plus the tail's) and its rejects are the whole file's (the previous load's
 * copied beside the tail's). Null when the bronze table no longer holds the previous load.
 */
async function appendFile(options: BronzeLoadOptions, client: Client, contract: SourceContract, header: SourceHeader, prefix: AppendablePrefix, appends: Map<string, AppendedLoad>): Promise<FileLoadResult | null> {
  const { ledger, schemas, runId } = options;
  const { previous } = prefix;
  const started = performance.now();
  const whole = new HashThrough(prefix.hash, true);
  const copied = await copyIntoLoading(options, client, contract, header, { start: previous.bytes, firstLine: previous.lines! + 1, through: whole });
  const into = `${ident(schemas.bronze)}.${ident(`${contract.name}${CHANGES_SUFFIX}__loading`)}`;
  await client.query(`drop table if exists ${into}`);
  const counts = await appendIntoChanges(client, schemas, contract, previous, loadingTable(schemas, contract), into);
  if (!counts) return null;
  const e = ident(schemas.etl);
  const { rows: reasons } = await ledger.query<{ reason: RejectReason; n: string }>(
    `with copied as (
       insert into ${e}.rejects (run_id, source, file, line_number, column_number, reason, message, raw_text, raw_bytes, raw_length, raw_sha256)
       select $1, source, file, line_number, column_number, reason, message, raw_text, raw_bytes, raw_length, raw_sha256
         from ${e}.rejects where run_id = $2 and source = $3 and line_number <= $4
       returning reason)
     select reason, count(*) as n from copied group by reason`,
    [runId, previous.runId, contract.name, previous.lines],
  );
  const rejectsByReason = { ...copied.rejectsByReason };
  for (const r of reasons) rejectsByReason[r.reason] = (rejectsByReason[r.reason] ?? 0) + Number(r.n);
  const s = copied.scan.scanner;
  const sha256 = prefix.hash.digest('hex');
  await client.query(`comment on table ${into} is ${literal(`rows of ${contract.name} that differ from ${previous.sha256} to ${sha256}, a file that appends to it (change_side old: the previous bronze rows, new: the current ones)`)}`);
  const rowsLoaded = previous.rowsLoaded + copied.rowsLoaded;
  const rejects = previous.rejects + copied.rejectsWritten;
  const result: FileLoadResult = {
    source: contract.name,
    reusedLines: previous.lines!,
    file: header.fileName,
    sha256,
    bytes: previous.bytes + whole.bytes,
    lineEnding: header.lineEnding,
    encoding: header.hasBom ? 'UTF-8 with BOM' : 'UTF-8',
    lines: previous.lines! + s.linesRead,
    rowLines: previous.rowLines! + s.rowLines,
    records: rowsLoaded + rejects,
    rowsLoaded,
    rejects,
    rejectsByReason,
    blankLines: previous.blankLines + s.blankLines,
    seconds: (performance.now() - started) / 1000,
    maxFieldBytes: options.maxFieldBytes,
  };
  await recordSourceFile(ledger, schemas, runId, result);
  checkLoad(options, contract, header, result, copied);
  appends.set(contract.name, {
    previous,
    tailBlocks: copied.blocks,
    change: { source: contract.name, status: 'changed', fromSha256: previous.sha256, toSha256: sha256, ...counts },
  });
  return result;
}

/** What copyIntoLoading did: the scanner, COPY's row count, the rejects it wrote, the block hashes, the transaction. */
interface Copied {
  scan: ScanStream;
  rowsLoaded: number;
  rejectsWritten: number;
  rejectsByReason: Partial<Record<RejectReason, number>>;
  blocks: LoadBlocks;
  xid: string;
}

/**
 * Creates the file's `__loading` table and streams the file from byte `start` (its line
 * `firstLine`) through the scanner into it; the rejects go to the ledger as they come.
 * `through` sees the bytes before the scanner (the whole file's hash of an append).
 */
async function copyIntoLoading(
  options: BronzeLoadOptions,
  client: Client,
  contract: SourceContract,
  header: SourceHeader,
  from: { start: number; firstLine: number; through?: HashThrough },
): Promise<Copied> {
  const { ledger, schemas, runId } = options;
  const table = loadingTable(schemas, contract);
  const columns = bronzeColumns(contract);
  await client.query(`drop table if exists ${table}`);
  // The lineage constants of the load are not in the rows COPY writes: lineageAsMissingValues adds them after it.
  await client.query(`create table ${table} (${columns.map((c) => `${ident(c)} text`).join(', ')}, _line_number bigint not null)`);
  // the bytes this load reads: the whole file, or an append's tail
  const bytes = from.through ? header.bytes - from.start : header.bytes;
  options.onProgress?.({ kind: 'file-start', source: contract.name, bytes });

  const rejectsByReason: Partial<Record<RejectReason, number>> = {};
  let rejectsWritten = 0;
  const sink = async (rejects: RejectedRecord[]) => {
    for (const r of rejects) rejectsByReason[r.reason] = (rejectsByReason[r.reason] ?? 0) + 1;
    rejectsWritten += rejects.length;
    await writeRejects(ledger, schemas, runId, contract.name, header.fileName, rejects);
  };
  const scan = new ScanStream({
    fieldCount: contract.header.length,
    columns: header.columns,
    maxFieldBytes: options.maxFieldBytes,
    firstLine: from.firstLine,
    lineBreaks: lineBreaksByColumn(contract, header.columns),
    terminator: header.terminator,
    sink,
    alreadyRead: from.through ? undefined : header.headerBytes,
    onProgress: options.onProgress ? (p) => options.onProgress!({ kind: 'file-progress', source: contract.name, bytes, ...p }) : undefined,
  });
  // COPY takes the columns in the file's order, so a reordered header still lands right.
  const hasher = new BlockHashStream(header.columns, lineBreaksByColumn(contract, header.columns).some(Boolean));
  const copy = client.query(copyFrom(`copy ${table} (${header.columns.map(ident).join(', ')}, _line_number) from stdin with (format csv, freeze true)`));
  const input = createReadStream(header.path, { start: from.start, highWaterMark: 1 << 20 });
  try {
    if (from.through) await pipeline(input, from.through, scan, hasher, copy, { signal: options.signal });
    else await pipeline(input, scan, hasher, copy, { signal: options.signal });
  } catch (err) {
    if (err instanceof MedallionError || (err as Error).name === 'AbortError') throw err;
    // fs errors carry the path; socket errors (EPIPE, ECONNRESET) and Postgres errors do not.
    if ((err as NodeJS.ErrnoException).path) {
      throw new DataError('BRONZE_FILE_UNREADABLE', `cannot read the file: ${(err as Error).message}`, { file: header.path });
    }
    throw fromDatabaseError(err, `copying ${header.fileName} into ${schemas.bronze}.${contract.name}`, { file: header.path });
  }
  await lineageAsMissingValues(client, table, runId, header.fileName);
  // The transaction id the rows carry (xmin): a row written after the load carries another.
  const { rows: written } = await client.query<{ xid: string }>('select pg_current_xact_id()::xid::text as xid');
  return { scan, rowsLoaded: Number(copy.rowCount), rejectsWritten, rejectsByReason, blocks: hasher.blocks, xid: written[0]!.xid };
}

/**
 * `_run_id` and `_source_file` of a freshly copied `__loading` table, in the load's transaction
 * before anything reads it: added with the load's values as defaults, which PostgreSQL keeps as the
 * columns' missing value (pg_attribute.attmissingval) for every row already written, without
 * rewriting or scanning the table; no row stores them. The defaults are then dropped (the missing
 * value stays): a row inserted later without them is refused by NOT NULL instead of claiming this
 * load's run and file, so every writer names its own (publishAppend does).
 */
async function lineageAsMissingValues(client: Client, table: string, runId: number, fileName: string): Promise<void> {
  await client.query(`alter table ${table} add column _run_id bigint not null default ${runId}, add column _source_file text not null default ${literal(fileName)}`);
  await client.query(`alter table ${table} alter column _run_id drop default, alter column _source_file drop default`);
}

/**
 * The checks of every load, on the whole file's figures: every physical line is the header, a
 * blank line, a line of a loaded row or a rejected line; COPY's own row count and the rejects
 * written must be the scanner's; the reject threshold; a required source with rows.
 */
function checkLoad(options: BronzeLoadOptions, contract: SourceContract, header: SourceHeader, result: FileLoadResult, copied: Copied): void {
  const { schemas, runId } = options;
  const s = copied.scan.scanner;
  const accounted = 1 + result.blankLines + result.rowLines + result.rejects;
  if (accounted !== result.lines || copied.rowsLoaded !== s.rowsOut || copied.rejectsWritten !== s.rejected) {
    throw new DataError(
      'BRONZE_RECONCILIATION',
      `read ${result.lines} lines but accounted for ${accounted} (1 header + ${result.blankLines} blank + ${result.rowLines} lines of ${result.rowsLoaded} loaded rows + ${result.rejects} rejected lines); the scanner forwarded ${s.rowsOut} rows and rejected ${s.rejected} lines`,
      { file: header.path, hint: 'This is a bug in the loader; nothing was published. Please report it with the file.' },
    );
  }
  if (result.records > 0 && result.rejects / result.records > options.maxRejectRate) {
    const reasons = Object.entries(result.rejectsByReason).map(([k, v]) => `${k} ×${v}`).join(', ');
    throw new DataError('BRONZE_REJECT_THRESHOLD', `${result.rejects} of ${result.records} records rejected (${pct(result.rejects / result.records)}), more than the allowed ${pct(options.maxRejectRate)}: ${reasons}`, {
      file: header.path,
      hint: `See select line_number, reason, message from ${schemas.etl}.rejects where run_id = ${runId}; fix the export or raise --max-reject-rate. Nothing was published.`,
    });
  }
  if (contract.required && result.rowsLoaded === 0) {
    const what = result.rejects > 0 ? `every one of its ${result.rejects} data lines was rejected` : result.blankLines > 0 ? `it has only blank lines after the header` : 'it has no data lines after the header';
    throw new DataError('BRONZE_SOURCE_EMPTY', `${contract.file} (${contract.description}) is a required source and loaded no rows: ${what}`, {
      file: header.path,
      line: 2,
      expected: `at least one record after the header ${contract.header.join(',')}`,
      hint: 'Check that the export ran to completion and re-export the file; nothing was published.',
    });
  }
}

function pct(x: number): string {
  return `${(x * 100).toFixed(x < 0.001 ? 3 : 2)}%`;
}

async function writeRejects(ledger: Client, schemas: SchemaNames, runId: number, source: string, file: string, rejects: RejectedRecord[]): Promise<void> {
  await ledger.query(
    `insert into ${ident(schemas.etl)}.rejects (run_id, source, file, line_number, column_number, reason, message, raw_text, raw_bytes, raw_length, raw_sha256)
     select $1, $2, $3, r.line, r.col, r.reason, r.message, r.raw_text, r.raw_bytes, r.raw_length, r.raw_sha256
       from unnest($4::bigint[], $5::int[], $6::text[], $7::text[], $8::text[], $9::bytea[], $10::bigint[], $11::text[])
         as r (line, col, reason, message, raw_text, raw_bytes, raw_length, raw_sha256)`,
    [
      runId,
      source,
      file,
      rejects.map((r) => r.line),
      rejects.map((r) => r.column ?? null),
      rejects.map((r) => r.reason),
      rejects.map((r) => r.message),
      rejects.map((r) => r.raw.toString('utf8').replace(/\0/g, '\u2400')),
      rejects.map((r) => r.raw),
      rejects.map((r) => r.rawLength),
      rejects.map((r) => r.rawSha256),
    ],
  );
}

/** A file's etl.source_files row; a kept file's names the run whose load it keeps (`kept_from_run`), an appended one the lines it reused. */
async function recordSourceFile(ledger: Client, schemas: SchemaNames, runId: number, r: FileLoadResult): Promise<void> {
  await ledger.query(
    `insert into ${ident(schemas.etl)}.source_files (run_id, source, file, sha256, bytes, line_ending, encoding, lines, row_lines, records, rows_loaded, rejects, blank_lines, seconds, kept_from_run, load_xid, reused_lines, max_field_bytes)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
    [runId, r.source, r.file, r.sha256, r.bytes, r.lineEnding, r.encoding, r.lines, r.rowLines, r.records, r.rowsLoaded, r.rejects, r.blankLines, r.seconds, r.keptFromRun ?? null, r.loadXid ?? null, r.reusedLines ?? null, r.maxFieldBytes ?? null],
  );
}
