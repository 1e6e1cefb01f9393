/**
 * Files taken over from the version published before: every unpartitioned export fingerprints
 * the rows of each file it would write (a month's, a bucket's, or the whole table's), and a file whose
 * fingerprint, row count and settings equal those the previous version's manifest records is
 * hard-linked from that version instead of written. The others are written (the caller's `write`)
 * and checked against the fingerprint's count, taken in the same snapshot.
 *
 * When the caller knows how the table's rows stand against the published table the previous
 * version was written from (a `TableChange`, which export-gold.ts passes only when the current
 * version is that export), no part is fingerprinted by a scan: an unchanged table carries the
 * previous manifest's fingerprints over, and a table changed by known rows gets them corrected by
 * the hashes of the rows removed and added (one query over those rows). The result is the
 * fingerprint a scan would give, since it is a count and a sum.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '../db/index.ts';
import { DataError, fromDatabaseError } from '../errors.ts';
import { ioError } from './exports-dir.ts';
import { EXPORT_FORMAT_VERSION, type ExportedFile, SESSION_SETTINGS } from './parquet-copy.ts';
import { type Compression, ParquetEncoder } from './parquet-encoder.ts';

/** A file of the version published before, as its manifest records it. */
export interface PreviousFile {
  /** Month files: the month (`YYYY-MM`, or `none`); a whole table's file has none. */
  month?: string;
  /** Bucket files: the bucket (`017`, or `none`). */
  bucket?: string;
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

/**
 * What the caller knows of a table's rows against the published table its previous export was
 * written from: the same rows, or those rows less `removed` plus `added` (each a query, `select *`
 * of rows with the table's columns; `removed` a sub-multiset of the published rows).
 */
export type TableChange = { unchanged: true } | { removed: string; added: string };

/**
 * How a table's fingerprints were had: `scanned` (its rows hashed), `carried` (the previous
 * manifest's, the table unchanged), `derived` (the previous manifest's, corrected by the changed
 * rows' hashes).
 */
export type FingerprintSource = 'scanned' | 'carried' | 'derived';

export interface Fingerprint {
  rows: number;
  fingerprint: string;
}

/** A file's part of the table: its month or bucket, or null for the whole table. */
export type Part = string | null;

/** The part a file holds (its month or bucket), null for a whole table's file. */
export function partOf(f: { month?: string; bucket?: string }): Part {
  return f.month ?? f.bucket ?? null;
}
export type Fingerprints = Map<Part, Fingerprint>;

export interface ReuseJob {
  client: Client;
  /**
   * A second connection whose transaction uses the same snapshot (`set transaction snapshot`): the
   * fingerprints are computed there while the rows are written, when nothing can be reused anyway.
   * Without it they are computed on `client` first.
   */
  fingerprintClient?: Client;
  /** The table (quoted) and its exported columns (quoted, comma-separated). */
  rel: string;
  list: string;
  /** The table, as errors name it. */
  where: string;
  meta: ReadonlyMap<string, string>;
  compression: Compression;
  rowGroupSize: number;
  previousFiles?: readonly PreviousFile[];
  /** How the rows stand against the published table `previousFiles` were written from (see TableChange). */
  change?: TableChange;
  onRows?: (rows: number) => void;
  signal?: AbortSignal;
}

/** The files of a table and how their fingerprints were had. */
export interface ReuseResult {
  files: ExportedFile[];
  fingerprints: FingerprintSource;
}

/** How the table's rows split into files. */
export interface Split {
  /** The SQL of each row's part (month or bucket), or null: the whole table is one file. */
  key: string | null;
  /** What the split is, in the files' settings: the month column, or the bucket's SQL; null for a whole table. */
  splitBy: string | null;
  /** The field of each file that names its part: `month` (the default) or `bucket`. */
  field?: 'month' | 'bucket';
  /** The file of a part, where a reused file is linked. */
  fileOf: (part: Part) => string;
  /**
   * Writes the parts given (null: every part, the fingerprints not known yet), each file with its
   * `month` or `bucket` when split. `fingerprints` are the counts of the parts, when known. A
   * split write of every part calls `copied` once Postgres has sent the last row, when only the
   * encoding is left.
   */
  write: (parts: Part[] | null, fingerprints: Fingerprints | null, copied: () => void) => Promise<ExportedFile[]>;
}

/**
 * The fingerprint: the row count and the sum, as an exact numeric (no wrap-around), of
 * `hash_record_extended(row(exported columns), 0)`, per `to_char(month column, 'YYYY-MM')`, per
 * bucket or of the whole table, in one scan of the table in the export's snapshot.
 *
 * Why this one: it hashes each value with its type's own hash function, without turning the row
 * into text, and costs 1.05-1.13 s at scale 10 where `hashtextextended(row::text, 0)` costs
 * 2.4-2.6 s (fact_sales, 604k rows; src/export/README.md). A sum, not an XOR: the same row
 * twice adds twice instead of cancelling, so the multiset of rows is what is fingerprinted, in
 * any order. Collisions: a file changed by some rows keeps its sum only when the 64-bit hashes of
 * the rows it gained and lost sum to the same value, which for a hash that behaves as random is a
 * chance of about 2^-64 per changed file (and the row count must agree too); nothing here is
 * adversarial. What the hash cannot see does not change the file either: numeric 1.0 and 1.00 are
 * the same double; the one exception is float -0.0 and 0.0 (equal, so hashed alike), which a
 * reused file keeps as it was.
 *
 * The fingerprint is order-independent: a file whose rows are the same but lie in another order
 * in the table keeps its file (and that file's row order). The fingerprint query runs on a second
 * connection in the same snapshot while the rows are written when no previous file can be reused
 * (for parts, once their COPYs are over), so a first export pays it only in the time a core waits
 * on the other.
 */
const FINGERPRINT_METHOD = 'count, sum(hash_record_extended(row, 0))';

/**
 * What makes two files with the same rows the same bytes apart from the run's provenance: the
 * format, the columns and their docs (`medallion.columns`, `pandas`), the source, compression,
 * row groups and the split (month column or buckets). A previous file is reused only when its
 * settings are these.
 */
function fileSettings(o: ReuseJob, splitBy: string | null): string {
  const perRun = new Set(['medallion.run_id', 'medallion.as_of', 'medallion.inputs']);
  const fixed = [...o.meta].filter(([k]) => !perRun.has(k)).sort(([a], [b]) => (a < b ? -1 : 1));
  return createHash('sha256').update(JSON.stringify([FINGERPRINT_METHOD, EXPORT_FORMAT_VERSION, o.compression, o.rowGroupSize, splitBy, fixed])).digest('hex').slice(0, 32);
}

/**
 * The fingerprints by a scan, on `fingerprintClient` when there is one. `serial`: without parallel
 * workers, for a scan beside DuckDB's encoding, where they would take its core and add none.
 */
async function fingerprintRows(o: ReuseJob, key: string | null, serial: boolean): Promise<Fingerprints> {
  const client = o.fingerprintClient ?? o.client;
  if (o.fingerprintClient) await client.query(SESSION_SETTINGS);
  if (serial) await client.query('set local max_parallel_workers_per_gather = 0');
  // Without a key, one row even for an empty table (no group by), whose sum is 0.
  const { rows } = await client.query<{ part: string | null; rows: string; fingerprint: string }>(
    `select ${key ?? 'null::text'} as part, count(*) as rows, coalesce(sum(hash_record_extended(row(${o.list}), 0)), 0)::text as fingerprint
       from ${o.rel}${key === null ? '' : ' group by 1 order by 1'}`,
  ).catch((err) => { throw fromDatabaseError(err, `fingerprinting the rows of ${o.where}`); });
  return new Map(rows.map((r) => [r.part, { rows: Number(r.rows), fingerprint: r.fingerprint }]));
}

/**
 * The fingerprints a scan would give, from the previous version's (which are the published
 * table's) and the change: unchanged parts keep theirs; a part with removed or added rows gets
 * the count and the hash sum of its added rows less those of its removed rows, in one query over
 * those rows alone. A month or bucket whose count drops to 0 has no file any more. Null when the previous
 * version does not cover the table with files of these settings (a scan decides then), or when
 * the change removes rows the previous version does not have (the change is not of that version).
 */
async function knownFingerprints(o: ReuseJob, split: Split, settings: string): Promise<Fingerprints | null> {
  const change = o.change;
  const previous = o.previousFiles ?? [];
  if (!change || previous.length === 0 || previous.some((p) => p.settings !== settings || (partOf(p) === null) !== (split.key === null))) return null;
  if (split.key === null && previous.length !== 1) return null;
  const known: Fingerprints = new Map(previous.map((p) => [partOf(p), { rows: p.rows, fingerprint: p.fingerprint }]));
  if ('unchanged' in change) return known;
  const key = split.key ?? 'null::text';
  const hashed = (sign: string, rows: string) =>
    `select ${key} as part, ${sign}count(*) as rows, ${sign}coalesce(sum(hash_record_extended(row(${o.list}), 0)), 0) as fingerprint
       from (${rows}) as changed group by 1`;
  const { rows } = await o.client.query<{ part: string | null; rows: string; fingerprint: string }>(
    `select part, sum(rows)::text as rows, sum(fingerprint)::text as fingerprint
       from (${hashed('-', change.removed)} union all ${hashed('', change.added)}) as parts
      group by part`,
  ).catch((err) => { throw fromDatabaseError(err, `fingerprinting the changed rows of ${o.where}`); });
  for (const r of rows) {
    const before = known.get(r.part) ?? { rows: 0, fingerprint: '0' };
    const after = { rows: before.rows + Number(r.rows), fingerprint: String(BigInt(before.fingerprint) + BigInt(r.fingerprint)) };
    if (after.rows < 0) return null;
    if (after.rows === 0 && split.key !== null) known.delete(r.part);
    else known.set(r.part, after);
  }
  return known;
}

/**
 * Whether a previous file may be reused, decided before the fingerprints are awaited. A whole
 * table whose row count is not its previous file's is written at once with the fingerprint
 * computed beside the COPY: the count, on the export's connection while the fingerprint runs on
 * the other, is one scan without hashing (customer_training_set at scale 10, 914k rows: 0.2 s
 * against 1.1 s for the fingerprint), where a changed table would otherwise wait for its
 * fingerprint before it is written. Buckets likewise, by their counts: a table built whole with
 * other rows in every bucket (a new cutoff adds rows to every customer's bucket) is written at
 * once. Months are always fingerprinted first: most of them are reused.
 */
async function reusable(o: ReuseJob, split: Split, previous: ReadonlyMap<Part, PreviousFile>): Promise<boolean> {
  if (previous.size === 0) return false;
  const whole = previous.get(null);
  if (!o.fingerprintClient || (split.key === null ? whole === undefined : split.field !== 'bucket')) return true;
  const { rows } = await o.client.query<{ part: string | null; rows: string }>(`select ${split.key ?? 'null::text'} as part, count(*) as rows from ${o.rel}${split.key === null ? '' : ' group by 1'}`)
    .catch((err) => { throw fromDatabaseError(err, `counting the rows of ${o.where}`); });
  return rows.some((r) => previous.get(r.part)?.rows === Number(r.rows));
}

function partName(part: Part): string {
  return part === null ? 'the table' : part;
}

/**
 * The table's files, each either linked from the previous version (its rows' fingerprint, count
 * and settings unchanged) or written by `split.write`, with its fingerprint and settings. With
 * nothing to reuse, the fingerprints run beside the writing on `fingerprintClient`.
 */
export async function writeOrReuse(o: ReuseJob, split: Split): Promise<ReuseResult> {
  const settings = fileSettings(o, split.splitBy);
  const previous = new Map((o.previousFiles ?? []).filter((p) => p.settings === settings).map((p) => [partOf(p), p]));
  const sameAsBefore = (part: Part, f: Fingerprint) => {
    const p = previous.get(part);
    return p !== undefined && p.rows === f.rows && p.fingerprint === f.fingerprint;
  };
  const known = await knownFingerprints(o, split, settings);
  const source: FingerprintSource = known === null ? 'scanned' : o.change && 'unchanged' in o.change ? 'carried' : 'derived';
  // With no previous file, the parts are all written and fingerprinted once their COPYs are over,
  // without parallel workers: a scan during the COPYs slows the COPY that every encoding waits
  // for, while after them DuckDB encodes the last COPY's parts on one core and the other is idle
  // (docs/decisions/0019). Otherwise the fingerprint starts at once.
  const deferred = known === null && split.key !== null && o.fingerprintClient !== undefined && previous.size === 0;
  let fingerprinting: Promise<Fingerprints> | null = null;
  const fingerprint = () => {
    fingerprinting ??= known !== null ? Promise.resolve(known) : fingerprintRows(o, split.key, deferred);
    fingerprinting.catch(() => {});
    return fingerprinting;
  };
  if (!deferred) fingerprint();
  let fingerprints = known ?? (!deferred && ((await reusable(o, split, previous)) || !o.fingerprintClient) ? await fingerprint() : null);
  const toWrite = fingerprints === null ? null : [...fingerprints].filter(([p, f]) => !sameAsBefore(p, f)).map(([p]) => p);
  const written = toWrite?.length === 0 ? [] : await split.write(toWrite, fingerprints, () => void fingerprint());
  fingerprints ??= await fingerprint();
  const files: ExportedFile[] = [];
  for (const f of written) {
    const part = partOf(f);
    const fp = fingerprints.get(part);
    if (!fp || fp.rows !== f.rows) {
      throw new DataError('EXPORT_ROW_COUNT_MISMATCH', `${path.basename(f.path)} of ${o.where} has ${f.rows} rows, Postgres counts ${fp?.rows ?? 0} in ${partName(part)}`, { file: f.path });
    }
    files.push({ ...f, fingerprint: fp.fingerprint, settings });
  }
  const writtenParts = new Set(written.map(partOf));
  const reuse = [...fingerprints].filter(([p]) => !writtenParts.has(p));
  const missing = reuse.find(([p, f]) => !sameAsBefore(p, f));
  if (missing) {
    throw new DataError('EXPORT_ROW_COUNT_MISMATCH', `${o.where}: Postgres counts ${missing[1].rows} rows in ${partName(missing[0])}, of which no file was written`, { file: split.fileOf(missing[0]) });
  }
  if (reuse.length > 0) files.push(...(await linkPrevious(o, reuse.map(([p, fp]) => ({ file: split.fileOf(p), previous: previous.get(p)!, fp })), settings, split.field ?? 'month')));
  return { files, fingerprints: source };
}

/**
 * Takes over unchanged files: a hard link to the previous version's file (a copy where a link
 * cannot be made, e.g. across devices). Both versions stay complete; the shared file is read-only
 * and nothing opens a version's files for writing. Its footer must hold the rows the fingerprint
 * counts, and its size the bytes the previous manifest records.
 */
async function linkPrevious(o: ReuseJob, links: { file: string; previous: PreviousFile; fp: Fingerprint }[], settings: string, field: 'month' | 'bucket'): Promise<ExportedFile[]> {
  const encoder = await ParquetEncoder.open();
  try {
    for (const { file, previous: p } of links) {
      o.signal?.throwIfAborted();
      await mkdir(path.dirname(file), { recursive: true });
      await link(p.path, file).catch(() => copyFile(p.path, file, constants.COPYFILE_EXCL))
        .catch((err) => { throw ioError(err, `reusing ${p.path}`, file); });
    }
    const files: ExportedFile[] = [];
    const footers = await encoder.footers(links.map((l) => l.file));
    for (const [i, { file, previous: p, fp }] of links.entries()) {
      const footer = footers[i]!;
      const { size } = await stat(file);
      if (footer.rows !== fp.rows || size !== p.bytes) {
        throw new DataError('EXPORT_ROW_COUNT_MISMATCH', `${p.path} (reused for ${o.where}) has ${footer.rows} rows and ${size} bytes, expected ${fp.rows} rows and ${p.bytes} bytes`, { file: p.path });
      }
      o.onRows?.(fp.rows);
      files.push({
        path: file, rows: fp.rows, bytes: size, sha256: p.sha256, rowGroups: footer.rowGroupRows.length, rowGroupRows: footer.rowGroupRows,
        ...(partOf(p) !== null ? { [field]: partOf(p)! } : {}), fingerprint: fp.fingerprint, settings, reusedFrom: p.version,
      });
    }
    return files;
  } finally {
    encoder.close();
  }
}
