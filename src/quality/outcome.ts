/**
 * The decision after the data tests: publish, or stop with a DataError (exit 1) that lists the
 * tests standing in the way. Reconciliations are the `equal` tests; when they are the only
 * blocking failures the code is RECONCILIATION_FAILED, otherwise TESTS_FAILED.
 * Warn-severity tests never block, not even when their SQL could not run.
 */
import { DataError } from '../errors.ts';
import type { TestResult, TestSummary } from './run-tests.ts';

/** `etlSchema`: the target's ledger schema (`<target>_etl`), named in the advice. */
export function assertTestsPassed(summary: TestSummary, etlSchema = 'etl'): void {
  const blocking = summary.blocking;
  if (blocking.length === 0) return;
  const onlyReconciliations = blocking.every((r) => r.kind === 'equal');
  const what = onlyReconciliations ? 'reconciliation' : 'error-severity test';
  const list = blocking.map(describeFailure);
  throw new DataError(
    onlyReconciliations ? 'RECONCILIATION_FAILED' : 'TESTS_FAILED',
    `${blocking.length} ${what}${blocking.length === 1 ? '' : 's'} failed; nothing was published:\n  - ${list.join('\n  - ')}`,
    {
      file: blocking[0]!.file,
      failing: blocking.map((r) => ({ test: r.name, model: r.model, kind: r.kind, status: r.status, failingRows: r.failingRows, file: r.file, message: r.message })),
      hint: `The failing rows of each test are in ${etlSchema}.test_results (column sample); fix the data or the model and run again.`,
    },
  );
}

function describeFailure(r: TestResult): string {
  return `${r.name} (${r.model}): ${r.status === 'error' ? r.message : (r.message ?? `${r.failingRows} failing rows`)}`;
}
