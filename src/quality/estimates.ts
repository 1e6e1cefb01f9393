/**
 * Expected seconds of the data tests that no run has timed yet, from the megabytes of the relations
 * each reads (the bronze tables' sizes and each model's guess: SizeEstimates.megabytes of
 * src/transform/estimates.ts). criticalPathFirst ranks the tests by these beside the models; the
 * last run's timings win wherever they exist. Rates read from a scale-100 transform: fact_sales'
 * unique test about 0.01 s per MB scanned.
 */
import { type Project, type RelationName, relationsRead } from '../transform/index.ts';
import { ROW_LEVEL_TEST_KINDS } from './test-sql.ts';

/**
 * Seconds a data test takes per megabyte of the relations it reads. A `query` test is free SQL
 * (the leakage proof sorts and windows: about 0.025 s per MB of fact_sales); the
 * row-level tests of a model (not_null, accepted_values, expression) share one scan (planTests),
 * so each is guessed at its share of it.
 */
export const TEST_SECONDS_PER_MB = 0.01;
export const QUERY_TEST_SECONDS_PER_MB = 0.025;

/** Expected seconds of each data test of `project`, by test name. */
export function estimateTestSeconds(project: Project, megabytes: ReadonlyMap<RelationName, number>): Map<string, number> {
  const sizeOf = (relation: RelationName) => megabytes.get(relation) ?? 0;
  const tests = new Map<string, number>();
  for (const model of project.models) {
    const rowLevel = model.tests.filter((t) => ROW_LEVEL_TEST_KINDS.has(t.kind)).length;
    for (const test of model.tests) {
      const read = relationsRead(test).reduce((sum, r) => sum + sizeOf(r), 0);
      const rate = test.kind === 'query' ? QUERY_TEST_SECONDS_PER_MB : ROW_LEVEL_TEST_KINDS.has(test.kind) ? TEST_SECONDS_PER_MB / rowLevel : TEST_SECONDS_PER_MB;
      tests.set(test.name, rate * read);
    }
  }
  return tests;
}
