/**
 * Source freshness (dbt's `dbt source freshness`): how old each source file is, and whether it is
 * byte for byte the file the last load read. The thresholds come from `sql/sources.yml` (read by
 * src/transform/sources.ts); the hashes of the last load from `<etl>.source_files`. A file is
 * hashed only when its size equals the last load's, so a changed export costs one `stat`.
 *
 * Status of a file: `error` when it is missing or older than `error_after`; `warn` when it is older
 * than `warn_after`, or the same bytes as the last load and `warn_if_unchanged` holds; `pass` otherwise.
 */
import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { SOURCE_CONTRACTS, type SourceContract, type SourceName } from './contracts.ts';

export const FRESHNESS_PERIODS = ['minute', 'hour', 'day'] as const;
export type FreshnessPeriod = (typeof FRESHNESS_PERIODS)[number];
const PERIOD_SECONDS: Readonly<Record<FreshnessPeriod, number>> = { minute: 60, hour: 3600, day: 86_400 };

/** dbt's `{count: 24, period: hour}`. */
export interface FreshnessThreshold {
  readonly count: number;
  readonly period: FreshnessPeriod;
}

/** What sql/sources.yml says about one source file (the defaults where it says nothing). */
export interface SourceFreshnessConfig {
  readonly source: SourceName;
  /** The dbt source (`sources[].name`) the table is declared under; null when it is not declared. */
  readonly sourceGroup: string | null;
  readonly warnAfter: FreshnessThreshold | null;
  readonly errorAfter: FreshnessThreshold | null;
  /** Warn when the file has the sha256 of the last load (`meta: {warn_if_unchanged: …}`, default true). */
  readonly warnIfUnchanged: boolean;
}

/** A source with nothing declared: no age limit, a warning when the file has not changed since the last load. */
export function defaultFreshness(source: SourceName): SourceFreshnessConfig {
  return { source, sourceGroup: null, warnAfter: null, errorAfter: null, warnIfUnchanged: true };
}

/** A file of the last load (`<etl>.source_files` of the run that loaded the bronze tables there are now). */
export interface LoadedFile {
  readonly file: string;
  readonly sha256: string;
  readonly bytes: number;
}

export type FreshnessStatus = 'pass' | 'warn' | 'error';

export interface FreshnessResult {
  source: SourceName;
  /** Absolute path of the file. */
  path: string;
  file: string;
  /** The file's mtime (ISO 8601), or null when it is missing. */
  modified: string | null;
  ageSeconds: number | null;
  /** Same sha256 as the last load; null when nothing was loaded yet or the file is missing. */
  sameAsLast: boolean | null;
  status: FreshnessStatus;
  /** Why the status is not `pass`, one sentence each. */
  reasons: string[];
  warnAfter: FreshnessThreshold | null;
  errorAfter: FreshnessThreshold | null;
}

export function thresholdSeconds(t: FreshnessThreshold): number {
  return t.count * PERIOD_SECONDS[t.period];
}

export function thresholdText(t: FreshnessThreshold): string {
  return `${t.count} ${t.period}${t.count === 1 ? '' : 's'}`;
}

/** An age for people: `42 s`, `17 min`, `5.2 h`, `3.0 d`. */
export function formatAge(seconds: number): string {
  if (seconds < 60) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86_400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} d`;
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

export interface CheckFreshnessOptions {
  seedsDir: string;
  /** One per source to check; a source without one gets defaultFreshness. */
  configs: readonly SourceFreshnessConfig[];
  /** The files of the last load, or null when bronze has not been loaded. */
  lastLoad: readonly LoadedFile[] | null;
  now?: Date;
  contracts?: readonly SourceContract[];
}

/** The freshness of every source file, in contract order. */
export async function checkFreshness(options: CheckFreshnessOptions): Promise<FreshnessResult[]> {
  const now = (options.now ?? new Date()).getTime();
  const byFile = new Map((options.lastLoad ?? []).map((f) => [f.file, f]));
  return Promise.all(
    (options.contracts ?? SOURCE_CONTRACTS).map(async (c) => {
      const config = options.configs.find((x) => x.source === c.name) ?? defaultFreshness(c.name);
      const file = path.join(options.seedsDir, c.file);
      const base = { source: c.name, path: file, file: c.file, warnAfter: config.warnAfter, errorAfter: config.errorAfter };
      const s = await stat(file).catch(() => undefined);
      if (!s?.isFile()) return { ...base, modified: null, ageSeconds: null, sameAsLast: null, status: 'error' as const, reasons: [`${c.file} is missing from ${options.seedsDir}`] };
      // stat needs no read permission: a file this user may not read is an error, left to the loader as a missing one is
      const unreadable = await access(file, constants.R_OK).then(() => null, (err: Error) => err.message);
      if (unreadable) return { ...base, modified: null, ageSeconds: null, sameAsLast: null, status: 'error' as const, reasons: [`${c.file} cannot be read: ${unreadable}`] };
      const ageSeconds = Math.max(0, (now - s.mtimeMs) / 1000);
      const last = byFile.get(c.file);
      const sameAsLast = last === undefined ? null : last.bytes === s.size && (await sha256Of(file)) === last.sha256;
      const reasons: string[] = [];
      let status: FreshnessStatus = 'pass';
      if (config.errorAfter && ageSeconds > thresholdSeconds(config.errorAfter)) {
        status = 'error';
        reasons.push(`${c.file} was modified ${formatAge(ageSeconds)} ago, more than error_after (${thresholdText(config.errorAfter)})`);
      } else if (config.warnAfter && ageSeconds > thresholdSeconds(config.warnAfter)) {
        status = 'warn';
        reasons.push(`${c.file} was modified ${formatAge(ageSeconds)} ago, more than warn_after (${thresholdText(config.warnAfter)})`);
      }
      if (sameAsLast && config.warnIfUnchanged) {
        if (status === 'pass') status = 'warn';
        reasons.push(`${c.file} has the same sha256 as in the last load (${last!.sha256.slice(0, 12)}…): the export has not changed`);
      }
      return { ...base, modified: new Date(s.mtimeMs).toISOString(), ageSeconds, sameAsLast, status, reasons };
    }),
  );
}

/**
 * After a load: the files whose sha256 (computed by the loader as it read them) equals the last
 * load's, where their source warns on an unchanged export. The build reports these instead of
 * hashing every file a second time before it loads.
 */
export function unchangedSinceLastLoad(
  loaded: readonly { source: string; file: string; sha256: string }[],
  configs: readonly SourceFreshnessConfig[],
  lastLoad: readonly LoadedFile[] | null,
): { source: string; file: string; sha256: string; reason: string }[] {
  const last = new Map((lastLoad ?? []).map((f) => [f.file, f]));
  return loaded
    .filter((f) => last.get(f.file)?.sha256 === f.sha256 && (configs.find((c) => c.source === f.source)?.warnIfUnchanged ?? true))
    .map((f) => ({ ...f, reason: `${f.file} has the same sha256 as in the last load (${f.sha256.slice(0, 12)}…): the export has not changed` }));
}

/** The worst status of `results` (`pass` for none). */
export function worstFreshness(results: readonly FreshnessResult[]): FreshnessStatus {
  return results.some((r) => r.status === 'error') ? 'error' : results.some((r) => r.status === 'warn') ? 'warn' : 'pass';
}

/** One result as the fields of a log event (`source_freshness`), in snake_case. */
export function freshnessFields(r: FreshnessResult): Record<string, unknown> {
  return {
    level: r.status === 'pass' ? 'info' : r.status,
    source: r.source,
    file: r.file,
    path: r.path,
    modified: r.modified,
    age_seconds: r.ageSeconds === null ? null : Math.round(r.ageSeconds),
    same_as_last_load: r.sameAsLast,
    status: r.status,
    warn_after: r.warnAfter,
    error_after: r.errorAfter,
    reasons: r.reasons,
  };
}
