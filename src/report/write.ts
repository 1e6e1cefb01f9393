/**
 * Writing the run report files. `writeRunReport` is what the orchestrator calls at the end of every
 * run, success or failure, after the ledger row is closed:
 *   reports/run-<id>.json   the run (schema: run-report.schema.json)
 *   reports/latest.json     the same, when the run is the newest of its target
 *   reports/run-<id>.html   only with `html: true` (`medallion build --report`, `medallion report`)
 * Files are written to a temporary name and renamed, so a reader never sees half a file.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PipelineConfig, SchemaNames } from '../config.ts';
import type { Client } from '../db/index.ts';
import type { Logger } from '../runs/index.ts';
import { collectRunReport, latestRunId, type ProjectModelInfo } from './collect.ts';
import { renderRunReportHtml } from './html.ts';
import type { RunReport } from './types.ts';

export interface WriteRunReportOptions {
  client: Client;
  schemas: SchemaNames;
  runId: number;
  reportsDir: string;
  /** The model folder (config.sqlDir): models the run did not reach and model dependencies. */
  sqlDir?: string;
  /** Also render reports/run-<id>.html. */
  html?: boolean;
  historyLimit?: number;
}

export interface WrittenRunReport {
  report: RunReport;
  json: string;
  latest: string | null;
  html: string | null;
}

export async function writeRunReport(options: WriteRunReportOptions): Promise<WrittenRunReport> {
  const models = options.sqlDir ? await projectModels(options.sqlDir) : undefined;
  const report = await collectRunReport({ client: options.client, schemas: options.schemas, runId: options.runId, models, historyLimit: options.historyLimit });
  const newest = await latestRunId(options.client, options.schemas);
  return writeReportFiles(report, options.reportsDir, { latest: newest === undefined || newest <= options.runId, html: options.html === true });
}

/**
 * The RunReporter of executeRun (src/runs/run.ts): every run, failed ones included, leaves
 * reports/run-<id>.json (and the .html with config.report) and logs where; a report that cannot be
 * written is logged, and never changes the exit code.
 */
export async function reportRun(ledger: Client, config: PipelineConfig, runId: number, logger: Logger): Promise<void> {
  await writeRunReport({ client: ledger, schemas: config.schemas, runId, reportsDir: config.reportsDir, sqlDir: config.sqlDir, html: config.report })
    .then((w) => logger.event('run_report_written', { json: w.json, html: w.html }, `report: ${path.relative(process.cwd(), w.html ?? w.json)}`))
    .catch((err) => logger.error('run_report_failed', {}, `medallion: could not write the run report: ${(err as Error).message}`));
}

/** Writes the JSON (and HTML) of an already collected report. */
export async function writeReportFiles(report: RunReport, reportsDir: string, what: { latest: boolean; html: boolean }): Promise<WrittenRunReport> {
  await mkdir(reportsDir, { recursive: true });
  const text = `${JSON.stringify(report, null, 2)}\n`;
  const json = path.join(reportsDir, `run-${report.run.run_id}.json`);
  await atomicWrite(json, text);
  let latest: string | null = null;
  if (what.latest) {
    latest = path.join(reportsDir, 'latest.json');
    await atomicWrite(latest, text);
  }
  let html: string | null = null;
  if (what.html) {
    html = path.join(reportsDir, `run-${report.run.run_id}.html`);
    await atomicWrite(html, renderRunReportHtml(report));
  }
  return { report, json, latest, html };
}

/** Reads a report written earlier (for rendering without a database). */
export async function readReportFile(file: string): Promise<RunReport> {
  return JSON.parse(await readFile(file, 'utf8')) as RunReport;
}

async function atomicWrite(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

/**
 * The models of the project, for the report. A project that does not load (being edited, invalid)
 * must not stop a report from being written: the report then lists what the run recorded.
 */
export async function projectModels(sqlDir: string): Promise<ProjectModelInfo[] | undefined> {
  try {
    const { loadProject } = await import('../transform/index.ts');
    const project = await loadProject({ sqlDir });
    return project.models.map((m) => ({ name: m.name, layer: m.layer, materialized: m.materialized, quarantine: m.quarantine, dependencies: m.dependencies }));
  } catch {
    return undefined;
  }
}
