/**
 * The quality stage's public API: per-rule counts and the quarantine copy (after the build), the
 * data tests against the staging schemas, and the publish decision. See src/transform/README.md.
 */
export { estimateTestSeconds } from './estimates.ts';
export { assertTestsPassed } from './outcome.ts';
export { type PlanRuleCountsOptions, planRuleCounts, type RecordRuleCountsOptions, recordRuleCounts, type RuleCount, type RuleCountsPlan, type RuleCountsResult } from './rule-counts.ts';
export { type PlanTestsOptions, planTests, type RunTestsOptions, runTests, type TestEvent, type TestPlan, type TestResult, type TestStatus, type TestSummary } from './run-tests.ts';
export { failingRowPredicate, failingRowsSql, ROW_LEVEL_TEST_KINDS } from './test-sql.ts';
