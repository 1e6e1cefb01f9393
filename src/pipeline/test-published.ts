/**
 * `medallion test`: the data tests alone, against what is published (dbt's `test`), as one run:
 * each selected test reads the published `silver` / `gold` (publishedTarget of
 * src/transform/compile.ts: the schemas a test compiles to are a parameter), its result goes to
 * `etl.test_results` under this run, and a failing or erroring `error` test fails the run
 * (TESTS_FAILED, exit 1). Nothing is built or published. Tests that read `medallion.as_of` get the
 * published run's date unless `--as-of` is given.
 */
import type { PipelineConfig } from '../config.ts';
import { DataError } from '../errors.ts';
import { assertTestsPassed, runTests, type TestSummary } from '../quality/index.ts';
import { reportRun } from '../report/index.ts';
import { executeRun, formatTable, lastPublishedRun, type Logger, type RunOutcome, testCountsRecord } from '../runs/index.ts';
import { loadProject, publishedTarget, selectNodes } from '../transform/index.ts';

export async function testPublished(config: PipelineConfig, logger: Logger, signal: AbortSignal): Promise<RunOutcome> {
  const project = await loadProject({ sqlDir: config.sqlDir });
  const selection = selectNodes(project, {
    select: config.selection.select ?? undefined,
    exclude: config.selection.exclude ?? undefined,
    root: config.projectDir,
  });
  // the selected tests, whatever model they belong to (a test selected by name keeps its model)
  const names = new Set(selection.tests.map((t) => t.name));
  const tested = {
    ...project,
    models: project.models.map((m) => ({ ...m, tests: m.tests.filter((t) => names.has(t.name)) })).filter((m) => m.tests.length > 0),
  };
  return executeRun(config, 'test', logger, signal, reportRun, async (ctx) => {
    const published = await lastPublishedRun(ctx.ledger, config.schemas);
    if (!published) {
      throw new DataError('TESTS_FAILED', `nothing is published in ${config.schemas.silver} / ${config.schemas.gold} yet, so there is nothing to test`, {
        hint: 'Run `medallion build` (or `transform`) first.',
      });
    }
    const asOf = config.asOf ?? published.asOf ?? undefined;
    const summary: TestSummary = await ctx.stage('tests', () =>
      runTests({
        client: ctx.work,
        ledger: ctx.ledger,
        schemas: publishedTarget(config.schemas),
        project: tested,
        runId: ctx.runId,
        ...(asOf ? { asOf } : {}),
        signal: ctx.signal,
        onEvent: (e) => ctx.output.testEvent(e),
      }),
    );
    ctx.summary.tests = testCountsRecord(summary);
    logger.block('tests_summary', testsTable(summary), {
      tests: summary.counts,
      failing: summary.results
        .filter((t) => t.status !== 'pass')
        .map((t) => ({
          test: t.name,
          status: t.status,
          failing_rows: t.failingRows,
        })),
    });
    assertTestsPassed(summary);
  });
}

/** Every test run, in project order: the tests line and one row per test. */
export function testsTable(summary: TestSummary): string {
  const { pass, warn, fail, error } = summary.counts;
  const rows = summary.results.map((t) => [t.name, t.model, t.severity, t.status, t.failingRows, t.seconds.toFixed(2)]);
  return `\n${formatTable(['test', 'model', 'severity', 'status', 'failing rows', 'seconds'], rows)}\n\ntests: ${pass} passed, ${warn} warned, ${fail + error} failed`;
}
