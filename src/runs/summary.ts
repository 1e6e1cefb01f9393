/**
 * The run summary: `etl.runs.summary`, what the stages of one run recorded. One TypeScript type
 * (RunSummary) and one JSON Schema (run-summary.schema.json beside this file) describe it; a change
 * to the shape bumps RUN_SUMMARY_VERSION, and ledgerDdl (ledger.ts) migrates the rows of the older
 * shape, so every row of a ledger that a run has opened has the current one. Each part is present
 * once its stage has run. The stages fill the summary through the record builders below, so a build
 * and `medallion export` write their exports the same way.
 *
 * The type checks a summary as it is built; `summaryProblems` checks it against the schema when a
 * run writes it (finishRun in ledger.ts: a successful run whose summary breaks the schema fails as
 * an internal error, a failed run records its row whatever the check says). The validator is
 * compiled once per process, when the first run ends (ajv's import and compile: about 0.1 s).
 */
import type { FileLoadResult, SourceChange } from '../bronze/index.ts';
import type { ExportGoldResult } from '../export/index.ts';
import type { RuleCountsResult, TestSummary } from '../quality/index.ts';
import type { SourceResult } from './ledger-rows.ts';
import type { ModelBuild } from '../transform/index.ts';

export const RUN_SUMMARY_VERSION = 1;

export interface RunSummary {
  version: typeof RUN_SUMMARY_VERSION;
  /** Runs of the target that this run found left running and marked abandoned. */
  abandoned_runs?: number[];
  bronze?: BronzeFileRecord[];
  /** Per source: new, unchanged or changed since the bronze table it replaced (etl.source_changes). */
  changes?: SourceChangeRecord[];
  /** Set when the run found nothing changed since a published run and built nothing. */
  noop?: NoopRecord;
  /** The source files the run's silver and gold are built from. */
  inputs?: InputFileRecord[];
  as_of?: string;
  /** The as_of the data alone gives (sql/run/default_as_of.sql); null when no order date is usable. */
  data_as_of?: string | null;
  /** Per bronze source, the load (its run id) the models read; null for a table changed since its load. */
  built_from?: Record<string, number | null>;
  /** Which models the run built and which it kept as published, each with the reason. */
  model_plan?: ModelPlanRecord[];
  models?: ModelRecord[];
  tests?: TestCountsRecord;
  rules?: RuleCountRecord[];
  /** Rows appended to etl.quarantine. */
  quarantined?: number;
  exports?: ExportsRecord;
}

/** One source file loaded into bronze: the figures of its etl.source_files row, and a few more. */
export interface BronzeFileRecord extends SourceResult {
  /** Absent in a summary migrated from an unversioned one that did not count lines. */
  lines?: number;
  row_lines?: number;
  rejects_by_reason?: Record<string, number>;
  /** The file was not loaded: the bronze table keeps this run's load of the same file. */
  kept_from_run?: number;
}

/** An etl.source_changes row; counts are keys, null for a new source. */
export interface SourceChangeRecord {
  source: string;
  status: 'new' | 'unchanged' | 'changed';
  from_sha256: string | null;
  to_sha256: string;
  added: number | null;
  changed: number | null;
  removed: number | null;
  moved: number | null;
}

/** A run that built nothing: the published run it defers to, and what was compared with it. */
export interface NoopRecord {
  deferred_to: number;
  compared: string[];
}

/** A model the run built (with why) or kept from the published run (nothing it reads changed). */
export interface ModelPlanRecord {
  model: string;
  action: 'build' | 'update' | 'keep';
  reason: string;
  /** The built model it reads, when that is the only reason it is built. */
  reads_built?: string;
}

export interface InputFileRecord {
  file: string;
  sha256: string;
  bytes: number;
}

export interface ModelRecord {
  model: string;
  status: 'success' | 'failed' | 'skipped';
  seconds: number;
  /** Null for a view. */
  rows: number | null;
  materialized: 'table' | 'view';
  /** Absent in a summary migrated from an unversioned one. */
  depends_on?: string[];
  quarantine?: boolean;
  /** An incremental model updated by partition (src/transform/incremental.ts). */
  update?: { partition_by: string; partitions: number; rows: number };
  /** Why a model the plan would update was built whole. */
  built_whole_because?: string;
}

export interface TestCountsRecord {
  pass: number;
  warn: number;
  fail: number;
  error: number;
}

export interface RuleCountRecord {
  model: string;
  rule: string;
  kind: 'repair' | 'superseded' | 'flag' | 'quarantine';
  rows: number;
  description: string | null;
}

export interface ExportsRecord {
  /** The output folder; absent in a build's summary migrated from an unversioned one. */
  dir?: string;
  /** The run whose gold was exported: a build's own id, or the build that published it. */
  source_run_id: number;
  tables: ExportedTableRecord[];
}

export interface ExportedTableRecord {
  table: string;
  rows: number;
  /** Absent in an export's summary migrated from an unversioned one, which counted rows only. */
  files?: { path: string; bytes: number }[];
}

export function newRunSummary(): RunSummary {
  return { version: RUN_SUMMARY_VERSION };
}

export function bronzeRecords(files: readonly FileLoadResult[]): BronzeFileRecord[] {
  return files.map((f) => ({
    source: f.source,
    file: f.file,
    sha256: f.sha256,
    bytes: f.bytes,
    line_ending: f.lineEnding,
    encoding: f.encoding,
    lines: f.lines,
    row_lines: f.rowLines,
    records: f.records,
    rows_loaded: f.rowsLoaded,
    rejects: f.rejects,
    rejects_by_reason: { ...f.rejectsByReason },
    blank_lines: f.blankLines,
    seconds: f.seconds,
    ...(f.keptFromRun !== undefined ? { kept_from_run: f.keptFromRun } : {}),
  }));
}

export function changeRecords(changes: readonly SourceChange[]): SourceChangeRecord[] {
  return changes.map((c) => ({ source: c.source, status: c.status, from_sha256: c.fromSha256, to_sha256: c.toSha256, added: c.added, changed: c.changed, removed: c.removed, moved: c.moved }));
}

/** The models built, with what each reads from the project (`dependencies`, `quarantine`). */
export function modelRecords(built: readonly ModelBuild[], project: { models: readonly { name: string; dependencies: readonly string[]; quarantine: boolean }[] }): ModelRecord[] {
  const declared = new Map(project.models.map((m) => [m.name, m]));
  return built.map((m) => ({
    model: m.model,
    status: 'success',
    seconds: m.seconds,
    rows: m.rows,
    materialized: m.materialized,
    depends_on: [...(declared.get(m.model)?.dependencies ?? [])],
    quarantine: declared.get(m.model)?.quarantine === true,
    ...(m.update ? { update: { partition_by: m.update.column, partitions: m.update.partitions, rows: m.update.rows } } : {}),
    ...(m.builtWholeBecause !== undefined ? { built_whole_because: m.builtWholeBecause } : {}),
  }));
}

export function testCountsRecord(tests: TestSummary): TestCountsRecord {
  return { pass: tests.counts.pass ?? 0, warn: tests.counts.warn ?? 0, fail: tests.counts.fail ?? 0, error: tests.counts.error ?? 0 };
}

export function ruleRecords(rules: RuleCountsResult): RuleCountRecord[] {
  return rules.counts.map((r) => ({ model: r.model, rule: r.rule, kind: r.kind, rows: r.rows, description: r.description }));
}

/** What an export wrote, for a build and `medallion export` alike. */
export function exportsRecord(result: ExportGoldResult, sourceRunId: number): ExportsRecord {
  return {
    dir: result.exportsDir,
    source_run_id: sourceRunId,
    tables: Object.entries(result.manifest.tables).map(([table, t]) => ({ table, rows: t.rows, files: t.files.map((f) => ({ path: f.path, bytes: f.bytes })) })),
  };
}

let validator: Promise<(summary: unknown) => string | null> | undefined;

/** What breaks run-summary.schema.json in `summary`, or null when it holds. */
export async function summaryProblems(summary: unknown): Promise<string | null> {
  validator ??= (async () => {
    const [{ Ajv }, schema] = await Promise.all([import('ajv'), import('./run-summary.schema.json', { with: { type: 'json' } })]);
    const ajv = new Ajv({ allErrors: true, strict: true });
    const validate = ajv.compile(schema.default);
    return (s: unknown) => (validate(s) ? null : ajv.errorsText(validate.errors));
  })();
  return (await validator)(summary);
}
