/**
 * Reads one run back from the etl tables (src/runs/ledger.ts) into a RunReport.
 *
 * What the ledger tables hold is read as is. Per-model and per-export figures live in the run's
 * `summary` jsonb, written by the stages; this module accepts these shapes (extra keys ignored):
 *   summary.models  = [{ model: 'silver.customers', status, seconds, rows, materialized, depends_on }]
 *                     (also accepted: the same list under `stages[i].detail.models`)
 *   summary.exports = [{ table: 'fact_sales', rows, files: [...] | n, bytes, path }]
 *                     (also accepted: `summary.export.tables`, or ExportTableResult objects)
 * When a model project is given, every model of it appears in the report, those the run never
 * reached with status `skipped`, and each model's dependencies come from its SQL.
 */
import type { SchemaNames } from '../config.ts';
import { type Client, ident } from '../db/client.ts';
import {
  type ExportResult,
  type HistoryEntry,
  type ModelResult,
  RUN_REPORT_SCHEMA_VERSION,
  type RunReport,
  type RunStatus,
  type StageResult,
  type StepStatus,
  type TestCounts,
} from './types.ts';

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
  const { client, runId } = options;
  const e = ident(options.schemas.etl);
  const sampleLimit = options.sampleLimit ?? 5;
  const runRows = (
    await client.query(
      `select run_id, target, command, status, exit_code, error_code, error_message, to_char(as_of, 'YYYY-MM-DD') as as_of,
              started_at, finished_at, extract(epoch from (finished_at - started_at))::float8 as seconds, stages, summary
         from ${e}.runs where run_id = $1`,
      [runId],
    )
  ).rows;
  const row = runRows[0];
  if (!row) throw new RunNotFoundError(`run ${runId} is not in ${options.schemas.etl}.runs`);
  const summary = isObject(row.summary) ? row.summary : {};
  const rawStages: unknown[] = Array.isArray(row.stages) ? row.stages : [];

  const stages: StageResult[] = rawStages.filter(isObject).map((s) => ({
    stage: String(s.stage ?? '?'),
    status: stepStatus(s.status),
    seconds: num(s.seconds) ?? 0,
    rows: num(s.rows),
  }));

  const sources = (
    await client.query(
      `select source, file, sha256, bytes, line_ending, encoding, records, rows_loaded, rejects, blank_lines, seconds
         from ${e}.source_files where run_id = $1 order by source`,
      [runId],
    )
  ).rows.map((r) => ({ ...r, bytes: Number(r.bytes), records: Number(r.records), rows_loaded: Number(r.rows_loaded), rejects: Number(r.rejects), blank_lines: Number(r.blank_lines), seconds: Number(r.seconds) }));

  const rejectGroups = (
    await client.query(`select source, reason, count(*)::int as rows from ${e}.rejects where run_id = $1 group by 1, 2 order by 1, 2`, [runId])
  ).rows;
  const rejectSamples = (
    await client.query(
      `select source, file, line_number, column_number, reason, message, raw_text
         from (select r.*, row_number() over (partition by source order by line_number) as n from ${e}.rejects r where run_id = $1) s
        where n <= $2 order by source, line_number`,
      [runId, sampleLimit],
    )
  ).rows.map((r) => ({ ...r, line_number: Number(r.line_number), column_number: r.column_number === null ? null : Number(r.column_number), raw_text: truncate(String(r.raw_text), 500) }));

  const rules = (
    await client.query(`select model, rule, kind, rows, description from ${e}.rule_counts where run_id = $1 order by model, rule`, [runId])
  ).rows.map((r) => ({ model: r.model, rule: r.rule, kind: r.kind, rows: Number(r.rows), description: r.description ?? null }));

  const quarantineGroups = (
    await client.query(`select model, rule, count(*)::int as rows from ${e}.quarantine where run_id = $1 group by 1, 2 order by 1, 2`, [runId])
  ).rows;
  const quarantineSamples = (
    await client.query(
      `select model, rule, message, source_file, line_number, values
         from (select q.*, row_number() over (partition by model, rule order by source_file, line_number) as n from ${e}.quarantine q where run_id = $1) s
        where n <= $2 order by model, rule, source_file, line_number`,
      [runId, sampleLimit],
    )
  ).rows.map((r) => ({ ...r, line_number: r.line_number === null ? null : Number(r.line_number), values: r.values ?? null }));

  const tests = (
    await client.query(
      `select test_name, model, kind, severity, status, failing_rows, seconds, message, sample
         from ${e}.test_results where run_id = $1
        order by case status when 'error' then 0 when 'fail' then 1 when 'warn' then 2 else 3 end, model nulls last, test_name`,
      [runId],
    )
  ).rows.map((r) => ({ ...r, failing_rows: Number(r.failing_rows), seconds: r.seconds === null ? null : Number(r.seconds), message: r.message ?? null, sample: r.sample ?? null, model: r.model ?? null }));
  const counts: TestCounts = { pass: 0, warn: 0, fail: 0, error: 0, total: tests.length };
  for (const t of tests) counts[t.status as keyof Omit<TestCounts, 'total'>]++;

  return {
    schema_version: RUN_REPORT_SCHEMA_VERSION,
    generated_at: (options.now ?? new Date()).toISOString(),
    run: {
      run_id: Number(row.run_id),
      target: row.target ?? null,
      command: row.command,
      status: row.status as RunStatus,
      exit_code: row.exit_code ?? null,
      error_code: row.error_code ?? null,
      error_message: row.error_message ?? null,
      as_of: row.as_of ?? null,
      started_at: iso(row.started_at),
      finished_at: row.finished_at ? iso(row.finished_at) : null,
      seconds: row.seconds === null ? null : Number(row.seconds),
    },
    stages,
    sources,
    rejects: { total: rejectGroups.reduce((n, g) => n + g.rows, 0), by_source: rejectGroups, samples: rejectSamples },
    models: modelResults(summary, rawStages, options.models),
    rules,
    quarantine: { total: quarantineGroups.reduce((n, g) => n + g.rows, 0), by_rule: quarantineGroups, samples: quarantineSamples },
    tests: { counts, results: tests },
    exports: exportResults(summary),
    history: await history(client, e, Number(row.run_id), row.target ?? null, options.historyLimit ?? 20),
  };
}

function modelResults(summary: Record<string, unknown>, rawStages: unknown[], project: readonly ProjectModelInfo[] | undefined): ModelResult[] {
  let listed: unknown[] = Array.isArray(summary.models) ? summary.models : [];
  if (!listed.length) {
    for (const s of rawStages) if (isObject(s) && isObject(s.detail) && Array.isArray(s.detail.models)) listed = listed.concat(s.detail.models);
  }
  const byName = new Map<string, ModelResult>();
  for (const m of listed) {
    if (!isObject(m)) continue;
    const name = String(m.model ?? m.name ?? '');
    if (!name) continue;
    const deps = m.depends_on ?? m.dependencies;
    byName.set(name, {
      model: name,
      layer: String(m.layer ?? name.split('.')[0]),
      status: stepStatus(m.status ?? 'success'),
      seconds: num(m.seconds),
      rows: num(m.rows),
      materialized: typeof m.materialized === 'string' ? m.materialized : null,
      depends_on: Array.isArray(deps) ? deps.map(String) : [],
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

function exportResults(summary: Record<string, unknown>): ExportResult[] {
  let list: unknown = summary.exports;
  if (!Array.isArray(list) && isObject(summary.export)) list = summary.export.tables;
  if (!Array.isArray(list)) return [];
  return list.filter(isObject).map((x) => {
    const files = Array.isArray(x.files) ? x.files : [];
    const bytes = num(x.bytes) ?? (files.length ? files.reduce((n: number, f) => n + (isObject(f) ? (num(f.bytes) ?? 0) : 0), 0) : null);
    const firstPath = files.length && isObject(files[0]) ? files[0].path : undefined;
    return {
      table: String(x.table ?? x.name ?? '?').replace(/^.*\./, ''),
      rows: num(x.rows),
      files: typeof x.files === 'number' ? x.files : files.length,
      bytes,
      path: typeof x.path === 'string' ? x.path : typeof firstPath === 'string' ? firstPath : null,
    };
  });
}

async function history(client: Client, e: string, runId: number, target: string | null, limit: number): Promise<HistoryEntry[]> {
  const { rows } = await client.query(
    `select r.run_id, r.command, r.status, r.started_at, extract(epoch from (r.finished_at - r.started_at))::float8 as seconds,
            to_char(r.as_of, 'YYYY-MM-DD') as as_of, r.stages,
            (select sum(rows_loaded) from ${e}.source_files f where f.run_id = r.run_id)::float8 as bronze_rows,
            (select count(*) from ${e}.rejects j where j.run_id = r.run_id)::int as rejects,
            (select count(*) from ${e}.quarantine q where q.run_id = r.run_id)::int as quarantined
       from ${e}.runs r
      where r.run_id <= $1 and r.target is not distinct from $2
      order by r.run_id desc limit $3`,
    [runId, target, limit],
  );
  return rows.reverse().map((r) => {
    const stageRows: Record<string, number | null> = {};
    const stageSeconds: Record<string, number> = {};
    for (const s of Array.isArray(r.stages) ? r.stages : []) {
      if (!isObject(s) || typeof s.stage !== 'string') continue;
      stageRows[s.stage] = num(s.rows);
      stageSeconds[s.stage] = num(s.seconds) ?? 0;
    }
    return {
      run_id: Number(r.run_id),
      command: r.command,
      status: r.status,
      started_at: iso(r.started_at),
      seconds: r.seconds === null ? null : Number(r.seconds),
      as_of: r.as_of ?? null,
      stage_rows: stageRows,
      stage_seconds: stageSeconds,
      bronze_rows: r.bronze_rows === null ? null : Number(r.bronze_rows),
      rejects: r.rejects,
      quarantined: r.quarantined,
    };
  });
}

/** The newest run of the ledger (any status), or undefined when there is none. */
export async function latestRunId(client: Client, schemas: SchemaNames): Promise<number | undefined> {
  const exists = await client.query(`select to_regclass($1) as t`, [`${ident(schemas.etl)}.runs`]);
  if (!exists.rows[0]?.t) return undefined;
  const { rows } = await client.query(`select max(run_id) as id from ${ident(schemas.etl)}.runs`);
  return rows[0]?.id === null || rows[0]?.id === undefined ? undefined : Number(rows[0].id);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function num(v: unknown): number | null {
  if (v === null || v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}
function stepStatus(v: unknown): StepStatus {
  return v === 'failed' || v === 'skipped' ? v : 'success';
}
function iso(v: unknown): string {
  return v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();
}
function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
