/**
 * `sql/sources.yml`: the source files' freshness in dbt's `sources:` shape (`version: 2`, `sources:`
 * with `name`, `tables:` named after the bronze tables, `freshness: {warn_after, error_after}`), plus
 * this project's `meta: {warn_if_unchanged: true|false}`. A source-level `freshness:` or `meta:`
 * applies to its tables; a table's own replaces it (`freshness: null` removes it, as in dbt). A
 * table not listed gets the defaults (src/bronze/freshness.ts, defaultFreshness). No file: defaults
 * for all. Every problem names the file, the line and the key; all are reported at once
 * (MODEL_FILE_INVALID, exit 1, as for the model files).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { contractFor, defaultFreshness, FRESHNESS_PERIODS, type FreshnessThreshold, SOURCE_CONTRACTS, type SourceFreshnessConfig, type SourceName, thresholdSeconds } from '../bronze/index.ts';
import { DataError } from '../errors.ts';
import { describe, isPlainObject, parseYml, problemReporter, Validator } from './model-spec.ts';

export const SOURCES_FILE = 'sources.yml';

type Path = (string | number)[];
const SOURCE_KEYS = ['name', 'description', 'freshness', 'meta', 'tables'];
const TABLE_KEYS = ['name', 'description', 'freshness', 'meta'];
const FRESHNESS_KEYS = ['warn_after', 'error_after'];
const THRESHOLD_KEYS = ['count', 'period'];
const META_KEYS = ['warn_if_unchanged'];

interface Declared {
  warnAfter?: FreshnessThreshold | null;
  errorAfter?: FreshnessThreshold | null;
  warnIfUnchanged?: boolean;
}

/** The freshness of every source, in contract order, from `<sqlDir>/sources.yml` (defaults without it). */
export async function readSourcesYml(sqlDir: string): Promise<SourceFreshnessConfig[]> {
  const file = path.join(sqlDir, SOURCES_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return SOURCE_CONTRACTS.map((c) => defaultFreshness(c.name));
    throw new DataError('MODEL_FILE_INVALID', `cannot read ${file} (${(err as Error).message})`, { file, hint: 'Make it readable, or remove it for the defaults.' });
  }
  const { configs, problems } = parseSourcesYml(text, file);
  if (problems.length) {
    throw new DataError('MODEL_FILE_INVALID', problems.length === 1 ? problems[0]! : `${problems.length} problems in ${SOURCES_FILE}:\n  - ${problems.join('\n  - ')}`, {
      file,
      problems,
      hint: 'Fix sql/sources.yml as described in README.md ("Source freshness").',
    });
  }
  return configs;
}

/** Validates the text of a sources.yml; `configs` holds every source (defaults where not declared). */
export function parseSourcesYml(text: string, file: string): { configs: SourceFreshnessConfig[]; problems: string[] } {
  const declared = new Map<SourceName, SourceFreshnessConfig>();
  const { doc, lineCounter, problems } = parseYml(text, file);
  if (doc) {
    const v = new Validator(problemReporter(doc, lineCounter, file, problems));
    const root: unknown = doc.toJS() ?? {};
    if (!isPlainObject(root)) v.problem([], `expected version: 2 and sources: [{name, tables: [{name, freshness}]}], got ${describe(root)}`);
    else {
      v.keys(root, [], ['version', 'sources']);
      if (root.version !== 2) v.problem(root.version === undefined ? [] : ['version'], `expected 'version: 2', got ${describe(root.version)}`);
      v.optionalList(root, 'sources', [])?.forEach((raw, i) => {
        readSource(raw, ['sources', i], v, declared);
      });
    }
  }
  return { configs: SOURCE_CONTRACTS.map((c) => declared.get(c.name) ?? defaultFreshness(c.name)), problems };
}

function readSource(raw: unknown, at: Path, v: Validator, declared: Map<SourceName, SourceFreshnessConfig>): void {
  if (!isPlainObject(raw)) {
    v.problem(at, `expected a mapping with name, freshness, tables, got ${describe(raw)}`);
    return;
  }
  v.keys(raw, at, SOURCE_KEYS);
  const group = v.requiredString(raw, 'name', at);
  v.optionalString(raw, 'description', at);
  const inherited = readDeclared(raw, at, v);
  const tables = v.optionalList(raw, 'tables', at);
  if (tables === undefined && raw.tables === undefined) v.problem(at, `missing 'tables:' (the source files: ${SOURCE_CONTRACTS.map((c) => c.name).join(', ')})`);
  tables?.forEach((t, j) => {
    const tableAt: Path = [...at, 'tables', j];
    if (!isPlainObject(t)) {
      v.problem(tableAt, `expected a mapping with name, freshness, got ${describe(t)}`);
      return;
    }
    v.keys(t, tableAt, TABLE_KEYS);
    const name = v.requiredString(t, 'name', tableAt);
    v.optionalString(t, 'description', tableAt);
    const own = readDeclared(t, tableAt, v);
    if (name === undefined) return;
    const contract = contractFor(name);
    if (!contract) {
      v.problem([...tableAt, 'name'], `'${name}' is not a source file; expected one of ${SOURCE_CONTRACTS.map((c) => c.name).join(', ')} (src/bronze/contracts.ts)`);
      return;
    }
    if (declared.has(contract.name)) {
      v.problem([...tableAt, 'name'], `'${name}' is declared twice`);
      return;
    }
    const merged = { ...inherited, ...own };
    declared.set(contract.name, {
      source: contract.name,
      sourceGroup: group ?? null,
      warnAfter: merged.warnAfter ?? null,
      errorAfter: merged.errorAfter ?? null,
      warnIfUnchanged: merged.warnIfUnchanged ?? true,
    });
  });
}

/** The `freshness:` and `meta:` of a source or a table: only the keys it gives (null: removed). */
function readDeclared(obj: Record<string, unknown>, at: Path, v: Validator): Declared {
  const out: Declared = {};
  if (obj.freshness === null) Object.assign(out, { warnAfter: null, errorAfter: null });
  const freshness = v.optionalMapping(obj, 'freshness', at);
  if (freshness) {
    const fAt = [...at, 'freshness'];
    v.keys(freshness, fAt, FRESHNESS_KEYS);
    out.warnAfter = readThreshold(freshness, 'warn_after', fAt, v);
    out.errorAfter = readThreshold(freshness, 'error_after', fAt, v);
    if (out.warnAfter && out.errorAfter && thresholdSeconds(out.warnAfter) > thresholdSeconds(out.errorAfter)) {
      v.problem(fAt, 'warn_after is longer than error_after; a file would fail before it warns');
    }
  }
  const meta = v.optionalMapping(obj, 'meta', at);
  if (meta) {
    v.keys(meta, [...at, 'meta'], META_KEYS);
    const flag = v.optionalBoolean(meta, 'warn_if_unchanged', [...at, 'meta']);
    if (flag !== undefined) out.warnIfUnchanged = flag;
  }
  return out;
}

function readThreshold(obj: Record<string, unknown>, key: string, at: Path, v: Validator): FreshnessThreshold | null {
  const t = v.optionalMapping(obj, key, at);
  if (!t) return null;
  const tAt = [...at, key];
  v.keys(t, tAt, THRESHOLD_KEYS);
  const count = t.count;
  const period = v.requiredEnum(t, 'period', tAt, FRESHNESS_PERIODS);
  if (count === undefined || count === null) v.problem(tAt, `missing 'count' (a whole number above 0)`);
  else if (typeof count !== 'number' || !Number.isInteger(count) || count <= 0) v.problem([...tAt, 'count'], `expected a whole number above 0, got ${describe(count)}`);
  return typeof count === 'number' && Number.isInteger(count) && count > 0 && period ? { count, period: period as FreshnessThreshold['period'] } : null;
}
