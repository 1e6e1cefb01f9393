import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, resolvePipelineConfig } from '../config.ts';
import { type Client, connect } from '../db/index.ts';
import { DependencyError, UsageError } from '../errors.ts';
import { latestRunId, readReportFile, RunNotFoundError, writeReportFiles, writeRunReport } from '../report/index.ts';
import type { Command } from './command.ts';

const ACCEPTED = ['database-url', 'target', 'sql'] as const;

export const command: Command = {
  summary: 'write the run report of a run (default: the latest) as JSON and a self-contained HTML page',
  usage: `usage: medallion report [RUN_ID] [options]

Reads run RUN_ID (default: the newest run of the target) from the etl tables and writes
reports/run-<id>.json and reports/run-<id>.html: the row flow from each source file through bronze,
silver and gold to the exports, rejected, quarantined and superseded rows, per-rule counts, test
results with sample failing rows, stage timings and the trend of the last runs.
When the database is unreachable, the page is rendered from reports/run-<id>.json if it exists.

options:
${ACCEPTED.map((o) => `  --${o}`).join('\n')}`,
  async run(argv, io) {
    const { options, positionals } = parseArgs(argv, ACCEPTED, io.env);
    if (positionals.length > 1 || (positionals[0] !== undefined && !/^[1-9]\d*$/.test(positionals[0]))) {
      throw new UsageError('CONFIG_INVALID', [`expected at most one RUN_ID (a run number), got ${positionals.map((p) => `'${p}'`).join(' ')}`]);
    }
    const requested = positionals[0] === undefined ? undefined : Number(positionals[0]);
    const config = resolvePipelineConfig(options, io.env, io.cwd);
    let client: Client;
    try {
      client = await connect(config.connection, 'medallion-report');
    } catch (err) {
      const file = path.join(config.reportsDir, requested === undefined ? 'latest.json' : `run-${requested}.json`);
      if (!(err instanceof DependencyError) || !existsSync(file)) throw err;
      const report = await readReportFile(file);
      const written = await writeReportFiles(report, config.reportsDir, { latest: false, html: true });
      io.stderr.write(`medallion: database unreachable; rendered from ${path.relative(io.cwd, file)}\n`);
      io.stdout.write(`${written.html}\n`);
      return 0;
    }
    try {
      const runId = requested ?? (await latestRunId(client, config.schemas));
      if (runId === undefined) {
        throw new UsageError('CONFIG_INVALID', [`no runs recorded in ${config.schemas.etl}.runs`], { hint: 'Run `medallion build` first, or pass --target for another environment.' });
      }
      const written = await writeRunReport({ client, schemas: config.schemas, runId, reportsDir: config.reportsDir, sqlDir: config.sqlDir, html: true }).catch((err) => {
        if (err instanceof RunNotFoundError) throw new UsageError('CONFIG_INVALID', [err.message], { hint: 'Pass a run id from etl.runs, or none for the newest run.' });
        throw err;
      });
      io.stdout.write(`${written.html}\n`);
      return 0;
    } finally {
      await client.end().catch(() => {});
    }
  },
};
