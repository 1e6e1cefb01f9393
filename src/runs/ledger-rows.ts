/**
 * The rows of the ledger (etl.source_files, etl.rejects, etl.rule_counts, etl.quarantine,
 * etl.test_results) as a run's report (src/report) and summary read them.
 */
export interface SourceResult {
  source: string;
  file: string;
  sha256: string;
  bytes: number;
  line_ending: string;
  encoding: string;
  records: number;
  rows_loaded: number;
  rejects: number;
  blank_lines: number;
  seconds: number;
}

export interface RejectGroup {
  source: string;
  reason: string;
  rows: number;
}

export interface RejectSample {
  source: string;
  file: string;
  line_number: number;
  column_number: number | null;
  reason: string;
  message: string;
  raw_text: string;
}

export interface RuleResult {
  model: string;
  rule: string;
  kind: string;
  rows: number;
  description: string | null;
}

export interface QuarantineGroup {
  model: string;
  rule: string;
  rows: number;
}

export interface QuarantineSample {
  model: string;
  rule: string;
  message: string;
  source_file: string | null;
  line_number: number | null;
  values: unknown;
}

export interface TestResult {
  test_name: string;
  model: string | null;
  kind: string;
  severity: 'error' | 'warn';
  status: 'pass' | 'warn' | 'fail' | 'error';
  failing_rows: number;
  seconds: number | null;
  message: string | null;
  /** Sample failing rows as the test runner stored them (usually a list of objects). */
  sample: unknown;
}
