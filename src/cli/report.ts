import { existsSync } from 'node:fs';
import path from 'node:path';
import { resolvePipelineConfig } from '../config.ts';
import type { Client } from '../db/index.ts';
import { DependencyError, UsageError } from '../errors.ts';
import type { Command } from './command.ts';

export const command: Command = {
  summary: 'write the run report of a run (default: the latest) as JSON and a self-contained HTML page',
  synopsis: '[RUN_ID] [options]',
  positionals: 1,
  description: `Reads run RUN_ID (default: the newest run of the target) from the etl tables and writes
reports/run-<id>.json and reports/run-<id>.html: the row flow from each source file through bronze,
silver and gold to the exports, rejected, quarantined and superseded rows, per-rule counts, test
results with sample failing rows, stage timings and the trend of the last runs.
When the database is unreachable, the page is rendered from reports/run-<id>.json if it exists.
Prints the page's path; with --log-format json, one JSON line {"event":"report_written",...}.`,
  async run({ options, positionals }, io) {
    if (positionals[0] !== undefined && !/^[1-9]\d*$/.test(positionals[0])) {
      throw new UsageError('CONFIG_INVALID', [`RUN_ID: expected a run number, got '${positionals[0]}'`], { hint: 'Run `medallion report` for the newest run, or pass a run id from the runs table of the target.' });
    }
    const { connect } = await import('../db/index.ts');
    const { latestRunId, readReportFile, RunNotFoundError, writeReportFiles, writeRunReport } = await import('../report/index.ts');
    const requested = positionals[0] === undefined ? undefined : Number(positionals[0]);
    const config = resolvePipelineConfig(options, io.env, io.cwd);
    // The page's path alone (for scripts and people alike), or one JSON object for a log when asked.
    const say = (html: string | null, renderedFrom?: string) => {
      if (options['log-format'] === 'json') {
        io.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level: renderedFrom ? 'warn' : 'info', event: 'report_written', html, ...(renderedFrom ? { rendered_from: renderedFrom, message: 'database unreachable' } : {}) })}\n`);
        return;
      }
      if (renderedFrom) io.stderr.write(`medallion: database unreachable; rendered from ${renderedFrom}\n`);
      io.stdout.write(`${html}\n`);
    };
    let client: Client;
    try {
      client = await connect(config.connection, 'medallion-report');
    } catch (err) {
      const file = path.join(config.reportsDir, requested === undefined ? 'latest.json' : `run-${requested}.json`);
      if (!(err instanceof DependencyError) || !existsSync(file)) throw err;
      const report = await readReportFile(file);
      const written = await writeReportFiles(report, config.reportsDir, { latest: false, html: true });
      say(written.html, path.relative(io.cwd, file));
      return 0;
    }
    try {
      const runId = requested ?? (await latestRunId(client, config.schemas));
      if (runId === undefined) {
        throw new UsageError('CONFIG_INVALID', [`no runs recorded in ${config.schemas.etl}.runs`], { hint: 'Run `medallion build` first, or pass --target for another environment.' });
      }
      const written = await writeRunReport({ client, schemas: config.schemas, runId, reportsDir: config.reportsDir, sqlDir: config.sqlDir, html: true }).catch((err) => {
        if (err instanceof RunNotFoundError) throw new UsageError('CONFIG_INVALID', [err.message], { hint: `Pass a run id from ${config.schemas.etl}.runs, or none for the newest run.` });
        throw err;
      });
      say(written.html);
      return 0;
    } finally {
      await client.end().catch(() => {});
    }
  },
};
