/**
 * Reads one run back from the ledger (src/runs/ledger-read.ts) into a RunReport. The per-model and
 * per-export figures come from the run's summary (RunSummary, src/runs/summary.ts). When a model
 * project is given, every model of it appears in the report, those the run never reached with
 * status `skipped`, and each model's dependencies come from its SQL.
 */
import type { SchemaNames } from '../config.ts';
import type { Client } from '../db/index.ts';
import { readRunHistory, readRunRecord, type RunHistoryRow, type RunSummary, type StageRecord } from '../runs/index.ts';
import {
  type ExportResult,
  type HistoryEntry,
  type ModelResult,
  RUN_REPORT_SCHEMA_VERSION,
  type RunReport,
  type StageResult,
  type TestCounts,
} from './types.ts';

export { latestRunId } from '../runs/index.ts';

/** The part of a loaded model project (src/transform/types.ts) the report uses. */
export interface ProjectModelInfo {
  name: string;
  layer: string;
  materialized: string;
  quarantine: boolean;
  dependencies: string[];
}

export interface CollectOptions {
  client: Client;
  schemas: SchemaNames;
  runId: number;
  /** Models of the project, for dependencies and models the run did not reach. */
  models?: readonly ProjectModelInfo[];
  /** How many runs (up to this one) the trend shows; default 20. */
  historyLimit?: number;
  /** Sample rows per reject source and per quarantine rule; default 5. */
  sampleLimit?: number;
  now?: Date;
}

export class RunNotFoundError extends Error {}

export async function collectRunReport(options: CollectOptions): Promise<RunReport> {
  const record = await readRunRecord(options.client, options.schemas, options.runId, options.sampleLimit ?? 5);
  if (!record) throw new RunNotFoundError(`run ${options.runId} is not in ${options.schemas.etl}.runs`);
  const { run } = record;
  const counts: TestCounts = { pass: 0, warn: 0, fail: 0, error: 0, total: record.tests.length };
  for (const t of record.tests) counts[t.status]++;
  const history = await readRunHistory(options.client, options.schemas, run.runId, run.target, options.historyLimit ?? 20);

  return {
    schema_version: RUN_REPORT_SCHEMA_VERSION,
    generated_at: (options.now ?? new Date()).toISOString(),
    run: {
      run_id: run.runId,
      target: run.target,
      command: run.command,
      status: run.status,
      exit_code: run.exitCode,
      error_code: run.errorCode,
      error_message: run.errorMessage,
      as_of: run.asOf,
      started_at: run.startedAt.toISOString(),
      finished_at: run.finishedAt ? run.finishedAt.toISOString() : null,
      seconds: run.seconds,
    },
    stages: run.stages.map(stageResult),
    sources: record.sources,
    rejects: {
      total: record.rejects.byReason.reduce((n, g) => n + g.rows, 0),
      by_source: record.rejects.byReason,
      samples: record.rejects.samples.map((r) => ({ ...r, raw_text: truncate(r.raw_text, 500) })),
    },
    models: modelResults(run.summary, options.models),
    rules: record.rules,
    quarantine: { total: record.quarantine.byRule.reduce((n, g) => n + g.rows, 0), by_rule: record.quarantine.byRule, samples: record.quarantine.samples },
    tests: { counts, results: record.tests },
    exports: exportResults(run.summary),
    history: history.map(historyEntry),
  };
}

function stageResult(s: StageRecord): StageResult {
  return { stage: s.stage, status: s.status, seconds: s.seconds, rows: s.rows ?? null };
}

function modelResults(summary: RunSummary, project: readonly ProjectModelInfo[] | undefined): ModelResult[] {
  const byName = new Map<string, ModelResult>();
  for (const m of summary.models ?? []) {
    byName.set(m.model, {
      model: m.model,
      layer: m.model.split('.')[0]!,
      status: m.status,
      seconds: m.seconds,
      rows: m.rows,
      materialized: m.materialized,
      depends_on: m.depends_on ?? [],
      quarantine: m.quarantine === true,
    });
  }
  if (!project) return [...byName.values()];
  const out: ModelResult[] = [];
  for (const pm of project) {
    const found = byName.get(pm.name);
    byName.delete(pm.name);
    out.push({
      model: pm.name,
      layer: pm.layer,
      status: found?.status ?? 'skipped',
      seconds: found?.seconds ?? null,
      rows: found?.rows ?? null,
      materialized: found?.materialized ?? pm.materialized,
      depends_on: [...pm.dependencies],
      quarantine: pm.quarantine,
    });
  }
  return out.concat([...byName.values()]);
}

function exportResults(summary: RunSummary): ExportResult[] {
  return (summary.exports?.tables ?? []).map((t) => ({
    table: t.table,
    rows: t.rows,
    files: t.files?.length ?? 0,
    bytes: t.files ? t.files.reduce((n, f) => n + f.bytes, 0) : null,
    path: t.files?.[0]?.path ?? null,
  }));
}

function historyEntry(r: RunHistoryRow): HistoryEntry {
  const stageRows: Record<string, number | null> = {};
  const stageSeconds: Record<string, number> = {};
  for (const s of r.stages) {
    stageRows[s.stage] = s.rows ?? null;
    stageSeconds[s.stage] = s.seconds;
  }
  return {
    run_id: r.runId,
    command: r.command,
    status: r.status,
    started_at: r.startedAt.toISOString(),
    seconds: r.seconds,
    as_of: r.asOf,
    stage_rows: stageRows,
    stage_seconds: stageSeconds,
    bronze_rows: r.bronzeRows,
    rejects: r.rejects,
    quarantined: r.quarantined,
  };
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
