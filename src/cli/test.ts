import type { Command } from './command.ts';

export const command: Command = {
  summary: 'run the data tests against the published silver and gold (dbt test); --select narrows them',
  description: `Runs the data tests alone, against the published tables: nothing is built or published. Each
result is recorded in etl.test_results under a run of its own; the table lists every test run.
Exit 1 when a test of severity error fails or cannot run. --select gold.sales_daily runs that
model's tests, --select test_name:NAME one test (dbt's node selection, see \`medallion ls --help\`).`,
  run: async ({ options }, io) => {
    const { resolvePipelineConfig } = await import('../config.ts');
    const { testPublished } = await import('../pipeline/index.ts');
    const { createLogger } = await import('../runs/index.ts');
    const { finishWithError } = await import('./final-line.ts');
    const config = resolvePipelineConfig(options, io.env, io.cwd, io.stdout.isTTY === true);
    const logger = createLogger({
      format: config.logFormat,
      quiet: config.quiet,
      out: io.stdout,
      err: io.stderr,
    });
    const started = performance.now();
    try {
      const outcome = await testPublished(config, logger, io.signal);
      logger.final(`medallion: test run ${outcome.runId} passed in ${((performance.now() - started) / 1000).toFixed(1)} s`, {
        status: 'success',
        exit_code: 0,
      });
      return 0;
    } catch (err) {
      return finishWithError(logger, 'run', err);
    }
  },
};
