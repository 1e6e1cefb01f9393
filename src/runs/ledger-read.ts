/**
 * Reading one run back from the ledger (the etl tables of ledger.ts), for the run report
 * (src/report/collect.ts) and `medallion report`. Rows come back in the shapes of ledger-rows.ts,
 * which the report documents as its own (src/report/types.ts re-exports them), counts as numbers.
 */
import type { SchemaNames } from '../config.ts';
import { type Client, ident } from '../db/index.ts';
import type { RunStatus, StageRecord } from './ledger.ts';
import type { QuarantineGroup, QuarantineSample, RejectGroup, RejectSample, RuleResult, SourceResult, TestResult } from './ledger-rows.ts';
import type { RunSummary } from './summary.ts';

/** A run's row of etl.runs. */
export interface RunRow {
  runId: number;
  target: string | null;
  command: string;
  status: RunStatus;
  exitCode: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  asOf: string | null;
  startedAt: Date;
  finishedAt: Date | null;
  seconds: number | null;
  stages: StageRecord[];
  /**
   * The current shape once a run of this release has opened the ledger (ensureLedger migrates
   * older rows); a reader of an older ledger finds the parts it knows, or none.
   */
  summary: RunSummary;
}

/** Everything the ledger holds about one run; samples are the first rows of each group. */
export interface RunRecord {
  run: RunRow;
  sources: SourceResult[];
  rejects: { byReason: RejectGroup[]; samples: RejectSample[] };
  rules: RuleResult[];
  quarantine: { byRule: QuarantineGroup[]; samples: QuarantineSample[] };
  tests: TestResult[];
}

/** One earlier run of the same target, for the report's trend. */
export interface RunHistoryRow {
  runId: number;
  command: string;
  status: RunStatus;
  startedAt: Date;
  seconds: number | null;
  asOf: string | null;
  stages: StageRecord[];
  bronzeRows: number | null;
  rejects: number;
  quarantined: number;
}

/** The run and its rows in the other etl tables, or null when the ledger has no such run. */
export async function readRunRecord(client: Client, schemas: SchemaNames, runId: number, sampleLimit: number): Promise<RunRecord | null> {
  const e = ident(schemas.etl);
  const runs = await client.query(
    `select run_id, target, command, status, exit_code, error_code, error_message, to_char(as_of, 'YYYY-MM-DD') as as_of,
            started_at, finished_at, extract(epoch from (finished_at - started_at))::float8 as seconds, stages, summary
       from ${e}.runs where run_id = $1`,
    [runId],
  );
  const row = runs.rows[0];
  if (!row) return null;
  const run: RunRow = {
    runId: Number(row.run_id),
    target: row.target ?? null,
    command: row.command,
    status: row.status,
    exitCode: row.exit_code ?? null,
    errorCode: row.error_code ?? null,
    errorMessage: row.error_message ?? null,
    asOf: row.as_of ?? null,
    startedAt: row.started_at,
    finishedAt: row.finished_at ?? null,
    seconds: row.seconds === null ? null : Number(row.seconds),
    stages: Array.isArray(row.stages) ? row.stages : [],
    summary: row.summary,
  };

  const sources = (
    await client.query<SourceResult>(
      `select source, file, sha256, bytes, line_ending, encoding, records, rows_loaded, rejects, blank_lines, seconds
         from ${e}.source_files where run_id = $1 order by source`,
      [runId],
    )
  ).rows;

  const rejectGroups = (
    await client.query<RejectGroup>(`select source, reason, count(*)::int as rows from ${e}.rejects where run_id = $1 group by 1, 2 order by 1, 2`, [runId])
  ).rows;
  const rejectSamples = (
    await client.query<RejectSample>(
      `select source, file, line_number, column_number, reason, message, raw_text
         from (select r.*, row_number() over (partition by source order by line_number) as n from ${e}.rejects r where run_id = $1) as numbered
        where n <= $2 order by source, line_number`,
      [runId, sampleLimit],
    )
  ).rows;

  const rules = (
    await client.query<RuleResult>(`select model, rule, kind, rows, description from ${e}.rule_counts where run_id = $1 order by model, rule`, [runId])
  ).rows;

  const quarantineGroups = (
    await client.query<QuarantineGroup>(`select model, rule, count(*)::int as rows from ${e}.quarantine where run_id = $1 group by 1, 2 order by 1, 2`, [runId])
  ).rows;
  const quarantineSamples = (
    await client.query<QuarantineSample>(
      `select model, rule, message, source_file, line_number, values
         from (select q.*, row_number() over (partition by model, rule order by source_file, line_number) as n from ${e}.quarantine q where run_id = $1) as numbered
        where n <= $2 order by model, rule, source_file, line_number`,
      [runId, sampleLimit],
    )
  ).rows;

  const tests = (
    await client.query<TestResult>(
      `select test_name, model, kind, severity, status, failing_rows, seconds, message, sample
         from ${e}.test_results where run_id = $1
        order by case status when 'error' then 0 when 'fail' then 1 when 'warn' then 2 else 3 end, model nulls last, test_name`,
      [runId],
    )
  ).rows;

  return {
    run,
    sources,
    rejects: { byReason: rejectGroups, samples: rejectSamples },
    rules,
    quarantine: { byRule: quarantineGroups, samples: quarantineSamples },
    tests,
  };
}

/** The last `limit` runs of `target` up to `runId`, oldest first. */
export async function readRunHistory(client: Client, schemas: SchemaNames, runId: number, target: string | null, limit: number): Promise<RunHistoryRow[]> {
  const e = ident(schemas.etl);
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
  return rows.reverse().map((r) => ({
    runId: Number(r.run_id),
    command: r.command,
    status: r.status,
    startedAt: r.started_at,
    seconds: r.seconds === null ? null : Number(r.seconds),
    asOf: r.as_of ?? null,
    stages: Array.isArray(r.stages) ? r.stages : [],
    bronzeRows: r.bronze_rows === null ? null : Number(r.bronze_rows),
    rejects: r.rejects,
    quarantined: r.quarantined,
  }));
}

/** The newest run of the ledger (any status), or undefined when there is none or no ledger. */
export async function latestRunId(client: Client, schemas: SchemaNames): Promise<number | undefined> {
  const exists = await client.query(`select to_regclass($1) as t`, [`${ident(schemas.etl)}.runs`]);
  if (!exists.rows[0]?.t) return undefined;
  const { rows } = await client.query(`select max(run_id) as id from ${ident(schemas.etl)}.runs`);
  return rows[0]?.id === null || rows[0]?.id === undefined ? undefined : Number(rows[0].id);
}
