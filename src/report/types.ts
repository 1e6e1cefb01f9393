/**
 * The run report (`reports/run-<id>.json`, `reports/latest.json`): what one run did, read back from
 * the etl tables. Versioned like dbt's run_results.json; the JSON Schema of this shape is
 * run-report.schema.json beside this file, and a change to the shape bumps RUN_REPORT_SCHEMA_VERSION.
 *
 * Counts are numbers, durations are seconds, timestamps ISO 8601 strings, and every value that the
 * run never produced (a failed run has no exports) is null or an empty list, never absent.
 */

import type { QuarantineGroup, QuarantineSample, RejectGroup, RejectSample, RuleResult, SourceResult, TestResult } from '../runs/index.ts';

/** The rows of the ledger as the report shows them are the ledger's own read shapes. */
export type { QuarantineGroup, QuarantineSample, RejectGroup, RejectSample, RuleResult, SourceResult, TestResult };

export const RUN_REPORT_SCHEMA_VERSION = '1.0';

export type RunStatus = 'running' | 'success' | 'failed' | 'interrupted' | 'abandoned';
export type StepStatus = 'success' | 'failed' | 'skipped';

export interface RunReport {
  schema_version: typeof RUN_REPORT_SCHEMA_VERSION;
  /** When the report was written (not part of the run). */
  generated_at: string;
  run: RunInfo;
  stages: StageResult[];
  sources: SourceResult[];
  rejects: { total: number; by_source: RejectGroup[]; samples: RejectSample[] };
  models: ModelResult[];
  rules: RuleResult[];
  quarantine: { total: number; by_rule: QuarantineGroup[]; samples: QuarantineSample[] };
  tests: { counts: TestCounts; results: TestResult[] };
  exports: ExportResult[];
  /** The last runs of the target up to this one, oldest first (for trends). */
  history: HistoryEntry[];
}

export interface RunInfo {
  run_id: number;
  target: string | null;
  command: string;
  status: RunStatus;
  exit_code: number | null;
  error_code: string | null;
  error_message: string | null;
  as_of: string | null;
  started_at: string;
  finished_at: string | null;
  seconds: number | null;
}

export interface StageResult {
  stage: string;
  status: StepStatus;
  seconds: number;
  rows: number | null;
}

export interface ModelResult {
  /** `silver.customers` */
  model: string;
  layer: string;
  status: StepStatus;
  seconds: number | null;
  rows: number | null;
  materialized: string | null;
  /** Relations the model reads (`bronze.cust_info`, `silver.int_customers`), when known. */
  depends_on: string[];
  /** True for a model whose rows go to etl.quarantine. */
  quarantine: boolean;
}

export interface TestCounts {
  pass: number;
  warn: number;
  fail: number;
  error: number;
  total: number;
}

export interface ExportResult {
  /** Gold table name without schema (`fact_sales`). */
  table: string;
  rows: number | null;
  files: number;
  bytes: number | null;
  path: string | null;
}

export interface HistoryEntry {
  run_id: number;
  command: string;
  status: RunStatus;
  started_at: string;
  seconds: number | null;
  as_of: string | null;
  /** Rows per stage name, as recorded. */
  stage_rows: Record<string, number | null>;
  /** Seconds per stage name. */
  stage_seconds: Record<string, number>;
  bronze_rows: number | null;
  rejects: number;
  quarantined: number;
}
