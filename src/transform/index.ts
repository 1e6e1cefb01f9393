/**
 * The transform stage's public API, in the order the orchestrator (`medallion build`) calls it:
 *
 *   const project = await loadProject({ sqlDir });                       // read + validate + order
 *   await buildModels({ client, schemas, project, asOf, runId, onEvent }); // into <layer>_next
 *   await recordRuleCounts({ client, ledger, schemas, project, runId });   // src/quality
 *   const summary = await runTests({ client, ledger, schemas, project, runId, asOf }); // src/quality
 *   assertTestsPassed(summary);                                           // throws → nothing published
 *   await publishModels(client, schemas);                                 // one rename transaction
 */
export { type BuildEvent, type BuildOptions, type BuildResult, buildModels, type ModelBuild, QUARANTINE_COLUMNS } from './build-models.ts';
export { compiledRelation, compileSql, publishedTarget, readingPublished, stagingSchemaPattern, stagingSchemas, updateSchemaPattern } from './compile.ts';
export { extractReferences, modelsAmong, referencedRelations, relationsRead } from './dependencies.ts';
export { bronzeMegabytes, estimateFromSizes, measuredElseGuessed, type SizeEstimates } from './estimates.ts';
export { orderModels } from './graph.ts';
export { columnDocsOf, declaredTestName } from './model-spec.ts';
export { type CheckedModel, checkModels } from './dry-run.ts';
export { parseSelector, projectGraph, type ResourceType, type Selection, type SelectOptions, selectedProject, selectNodes } from './select.ts';
export { parseStatements, SQL_VALUE_FUNCTION_NAMES, stringValue } from './sql-parser.ts';
export { withoutTrailingSemicolon } from './sql-lexer.ts';
export { type LoadProjectOptions, loadProject } from './project.ts';
export { type ProjectHash, projectHash, projectSha256With } from './project-hash.ts';
export { bronzeSteps, deltaSchemas, type ModelUpdate, partitionIndexName, partitionRows, rowsFingerprintSql, updateVersions } from './incremental.ts';
export { inPartitions, notInPartitions } from './partition-predicates.ts';
export { type CurrentBuild, type ModelDecision, planModels, type PublishedBuild, steppedBronze } from './model-plan.ts';
export { parseSourcesYml, readSourcesYml, SOURCES_FILE } from './sources.ts';
export { DEFAULT_LOCK_TIMEOUT, type Grants, type PublishOptions, type PublishResult, dropPreviousVersions, dropStaging, publishModels, publishRelations } from './publish.ts';
export { emptiedReason, emptiedUnlogged, unloggedHoldings } from './unlogged.ts';
export { COLUMN_ROLES } from './types.ts';
export type {
  ColumnRole,
  ColumnSpec,
  EqualTest,
  ExpressionTest,
  Layer,
  Materialization,
  Model,
  Project,
  RelationName,
  RelationshipsTest,
  RowCountChangeTest,
  RuleDefinition,
  RuleKind,
  Severity,
  StagingSchemas,
  TestDefinition,
  TestKind,
} from './types.ts';
