/**
 * `medallion build` end to end, as one run: bronze → as_of → silver + gold, their data tests and
 * rule counts (staging; each test and count runs once the models it reads are built) → the rule
 * counts and quarantine written to the ledger → Parquet export from staging → publish. Each stage
 * lives in its own folder; this file only sequences them, records what each did in the run summary
 * (src/runs/summary.ts) and reports through the run's output (src/runs/output.ts).
 *
 * The order makes a failed run change nothing that readers see: gold is built and tested in the
 * `_next` schemas, the Parquet files are written from there into a temporary folder, and only then
 * are the schemas renamed into place (one short transaction) and the folder swapped in.
 *
 * A run that finds nothing changed since the published run builds nothing (`nothingToDo`): every
 * source file is the one bronze holds and the published run built from, the project hashes the
 * same, the as_of is the same and the exports folder still shows that run's export. It records
 * which run it defers to and ends with exit 0. A run that finds some of it changed builds only the
 * models the plan says (src/transform/model-plan.ts), with their descendants and tests, as a
 * selection, and keeps the others as published (`modelsToKeep`). `--full-refresh` loads and builds
 * everything.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type BronzeLoadResult, checkFreshness, currentBronzeLoads, freshnessFields, type LoadedFile, loadBronze, loadIntact, type SourceFreshnessConfig, unchangedSinceLastLoad } from '../bronze/index.ts';
import type { PipelineConfig, } from '../config.ts';
import { type Client, connect, ident } from '../db/index.ts';
import { DataError } from '../errors.ts';
import { currentVersion, exportEntryNames, exportGold, type ExportGoldResult, type ExportProgress, finishCommittedExport, GOLD_EXPORTS, GOLD_FOLDERS, MANIFEST_FILE, openExportsDir, type TableChange } from '../export/index.ts';
import { assertTestsPassed, estimateTestSeconds, planRuleCounts, planTests, type RuleCountsResult, type TestSummary } from '../quality/index.ts';
import { reportRun } from '../report/index.ts';
import { assertLockHeldInTransaction, bronzeRecords, changeRecords, executeRun, exportsRecord, type InputFileRecord, lastCommittedExport, lastPublishedRun, lastTimings, type PublishedRun, publishedModels, publishedUnlogged, loadedInputFiles, type Logger, modelRecords, recordAsOf, recordDeferral, recordPublication, ruleRecords, type RunContext, type RunOutcome, testCountsRecord } from '../runs/index.ts';
import { bronzeMegabytes, buildModels, type ModelUpdate, type RelationName, type BuildResult, columnDocsOf, compileSql, type CurrentBuild, bronzeSteps, planModels, steppedBronze, projectSha256With, publishedTarget, type Selection, dropPreviousVersions, dropStaging, emptiedReason, emptiedUnlogged, estimateFromSizes, type Grants, loadProject, measuredElseGuessed, type Project, type ProjectHash, projectHash, publishModels, publishRelations, readingPublished, readSourcesYml, selectedProject, selectNodes, stagingSchemas, unloggedHoldings, updateVersions } from '../transform/index.ts';

/** bronze: load only · transform: models from the current bronze · all: everything. */
export type BuildScope = 'bronze' | 'transform' | 'all';

export interface BuildOptions {
  /** `--full-refresh`: load every file and build every model, even when nothing changed. */
  fullRefresh?: boolean;
}

export async function runBuild(config: PipelineConfig, scope: BuildScope, logger: Logger, signal: AbortSignal, options: BuildOptions = {}): Promise<RunOutcome> {
  const fullRefresh = options.fullRefresh === true;
  const command = scope === 'bronze' ? 'load' : scope === 'transform' ? 'transform' : 'build';
  // The output folder is checked before anything runs: a folder that is not ours, a file, or an
  // unwritable place is a usage error (exit 2) found in a second, not after the whole build.
  if (scope !== 'bronze' && !config.export.skip) await openExportsDir(config.exportsDir, exportEntryNames(GOLD_EXPORTS, GOLD_FOLDERS));
  return executeRun(config, command, logger, signal, reportRun, async (ctx) => {
    await finishInterruptedPublish(ctx);
    // The models are read and checked first: a broken .sql or .yml fails before anything is loaded.
    const project = scope === 'bronze' ? null : await loadProject({ sqlDir: config.sqlDir });
    const defaultAsOfSql = project ? await readDefaultAsOf(config.sqlDir) : null;
    // `--select` / `--exclude`: checked before anything is loaded, like the models
    const selection = project ? selectNodes(project, { select: config.selection.select ?? undefined, exclude: config.selection.exclude ?? undefined, root: config.projectDir }) : null;
    let inputFiles: InputFileRecord[];
    let bronze: BronzeLoadResult | null = null;
    if (scope === 'transform') {
      inputFiles = await lastLoadedFiles(ctx);
    } else {
      const freshness = await checkSourceFreshness(ctx);
      bronze = await ctx.stage('bronze', () => bronzeStage(ctx, fullRefresh), (r) => r.files.reduce((n, f) => n + f.rowsLoaded, 0));
      warnUnchangedSources(ctx, bronze, freshness);
      ctx.summary.bronze = bronzeRecords(bronze.files);
      ctx.summary.changes = changeRecords(bronze.changes);
      inputFiles = bronze.files.map((f) => ({ file: f.file, sha256: f.sha256, bytes: f.bytes }));
    }
    // A load that kept every file is said by the no-op line, or with the models when they build.
    const allKept = bronze?.files.every((f) => f.keptFromRun !== undefined) === true;
    if (bronze && (!allKept || !project)) ctx.output.bronzeLoaded(bronze);
    if (!project || defaultAsOfSql === null) return;
    // The source files this gold is built from: `medallion export` reads them back from here.
    ctx.summary.inputs = inputFiles;
    const dataAsOf = await dataAsOfOf(ctx, defaultAsOfSql);
    const asOf = config.asOf ?? dataAsOf ?? noDefaultAsOf(ctx);
    await recordAsOf(ctx.ledger, config.schemas, ctx.runId, asOf);
    ctx.summary.as_of = asOf;
    const hash = await projectHash(project, config.schemas);
    const everything = selection?.everything !== false;
    // What the models would read, checked once for the no-op and the model plan.
    const builtFrom = await bronzeBuiltFrom(ctx, bronze !== null);
    ctx.summary.data_as_of = dataAsOf;
    ctx.summary.built_from = builtFrom;
    const published = await lastPublishedRun(ctx.ledger, config.schemas);
    // Before the no-op and the model plan: the unlogged tables a server crash emptied since the
    // publication, which no run may keep, update or defer to (src/transform/unlogged.ts).
    const emptied = published ? await emptiedUnlogged(ctx.work, config.schemas, await publishedUnlogged(ctx.ledger, config.schemas)) : [];
    for (const model of emptied) ctx.logger.event('unlogged_emptied', { level: 'warn', model, message: `rebuilt: ${emptiedReason(model)}` }, ctx.logger.style.yellow(`rebuilt: ${emptiedReason(model)}`));
    const unchanged = !fullRefresh && everything && !emptied.length ? await nothingToDo(ctx, published, hash, inputFiles, asOf, bronze, builtFrom) : null;
    if (unchanged) {
      await recordDeferral(ctx.ledger, config.schemas, ctx.runId, unchanged.runId);
      ctx.summary.noop = { deferred_to: unchanged.runId, compared: unchanged.compared };
      for (const stage of ['models_and_tests', 'rules', 'publish', ...(config.export.skip ? [] : ['export'])]) ctx.stages.push({ stage, status: 'skipped', seconds: 0 });
      ctx.output.nothingChanged(unchanged.runId, unchanged.compared);
      return;
    }
    if (bronze && allKept) ctx.output.bronzeLoaded(bronze);
    ctx.output.asOf(asOf, config.asOf ? 'option' : 'data');
    const keeping = everything ? await modelsToKeep(ctx, published, project, hash, { models: hash.models, asOf, dataAsOf, builtFrom }, fullRefresh, emptied) : null;
    if (keeping) {
      await modelsStage(ctx, selectedProject(project, keeping.selection), inputFiles, project, asOf, hash, dataAsOf, true, keeping.updates);
    } else {
      // a selection reads the models it leaves out as published: an emptied one is built with its readers
      await modelsStage(ctx, everything ? project : selectedProject(project, withEmptied(project, selection!, emptied)), inputFiles, everything ? null : project, asOf, hash, dataAsOf, everything);
    }
  });
}

/** The incremental models the plan updates, and the bronze tables whose changes they read (model-plan.ts). */
interface PlannedUpdates {
  models: ReadonlySet<RelationName>;
  bronzeChanges: ReadonlyMap<RelationName, string>;
}

/**
 * The published run this one would rebuild unchanged, and what was compared with it; null when
 * something differs (or there is no published run, or it published a selection): the sources
 * (every file the one bronze kept and its table untouched since its load, and the files the
 * published run built from), the project hash, the as_of, and unless the export is skipped the
 * exports folder (its current version is the one that run published, written with this run's
 * Parquet settings).
 */
async function nothingToDo(
  ctx: RunContext,
  published: PublishedRun | null,
  hash: ProjectHash,
  inputFiles: readonly InputFileRecord[],
  asOf: string,
  bronze: BronzeLoadResult | null,
  builtFrom: Readonly<Record<string, number | null>>,
): Promise<{ runId: number; compared: string[] } | null> {
  const { config } = ctx;
  if (!published || published.projectSha256 !== hash.sha256 || published.asOf !== asOf) return null;
  // A file loaded again (its table no longer held it) may differ from what the published run read.
  if (bronze?.changes.some((c) => c.status !== 'unchanged' || c.added || c.changed || c.removed || c.moved)) return null;
  // Each bronze table must still hold its load alone (checked by bronzeBuiltFrom, or by the
  // load of this run): a table changed by hand since is not what the published run read.
  if (Object.values(builtFrom).includes(null)) return null;
  const key = (files: readonly InputFileRecord[]) => files.map((f) => `${f.file}:${f.sha256}`).sort().join('\n');
  if (key(published.summary.inputs ?? []) !== key(inputFiles)) return null;
  const compared = [
    `${inputFiles.length} source files (sha256)`,
    `project ${hash.sha256.slice(0, 12)} (${hash.models.size} models, functions, medallion version)`,
    `as_of ${asOf}`,
  ];
  if (!config.export.skip) {
    if (!published.exportsVersion) return null;
    const dirs = await openExportsDir(config.exportsDir, exportEntryNames(GOLD_EXPORTS, GOLD_FOLDERS));
    if ((await currentVersion(dirs)) !== published.exportsVersion) return null;
    const manifest = JSON.parse(await readFile(path.join(published.exportsVersion, MANIFEST_FILE), 'utf8').catch(() => 'null')) as Record<string, unknown> | null;
    const settings = { compression: config.export.compression, row_group_size: config.export.rowGroupSize, partition_by: config.export.partitionBy };
    if (!manifest || Object.entries(settings).some(([k, v]) => manifest[k] !== v)) return null;
    compared.push(`exports ${path.basename(published.exportsVersion)}`);
  }
  return { runId: published.runId, compared };
}

/**
 * The bronze load each table holds (the run that loaded it), which the models of this run read;
 * null for a table changed since its load. A build has just checked the tables it kept and loaded
 * the others; a transform checks each table here.
 */
async function bronzeBuiltFrom(ctx: RunContext, loadedOrChecked: boolean): Promise<Record<string, number | null>> {
  const builtFrom: Record<string, number | null> = {};
  for (const load of (await currentBronzeLoads(ctx.work, ctx.config.schemas)).values()) {
    builtFrom[load.source] = loadedOrChecked || (await loadIntact(ctx.work, ctx.config.schemas, load)) ? load.runId : null;
  }
  return builtFrom;
}

/**
 * The selection this run builds when it can keep some models as the published run left them
 * (src/transform/model-plan.ts): the models it must build, their descendants and the tests that
 * read them. Null when it builds every model (or none: then it builds all, to write its exports
 * the one way), or when a model the published run has is gone from the project (only a whole
 * build drops it). The plan goes into the run summary either way.
 */
async function modelsToKeep(
  ctx: RunContext,
  published: PublishedRun | null,
  project: Project,
  hash: ProjectHash,
  current: CurrentBuild,
  fullRefresh: boolean,
  emptied: readonly RelationName[],
): Promise<{ selection: Selection; updates: PlannedUpdates } | null> {
  const { config } = ctx;
  if (fullRefresh) {
    ctx.summary.model_plan = project.models.map((m) => ({ model: m.name, action: 'build', reason: '--full-refresh' }));
    return null;
  }
  const publishedHashes = published ? await publishedModels(ctx.ledger, config.schemas) : new Map<string, string>();
  // the bronze tables whose __changes hold the step from the load they held before
  const steps = await bronzeSteps(ctx.work, config.schemas);
  const stepped: CurrentBuild = { ...current, bronzeSteps: Object.fromEntries([...steps].map(([source, step]) => [source, step.from])) };
  const publishedBuild = published && {
    runId: published.runId,
    models: publishedHashes,
    asOf: published.asOf,
    ...(published.summary.data_as_of !== undefined ? { dataAsOf: published.summary.data_as_of } : {}),
    ...(published.summary.built_from ? { builtFrom: published.summary.built_from } : {}),
    sameFunctionsAndVersion: published.projectSha256 !== null && projectSha256With(hash.base, publishedHashes) === published.projectSha256,
  };
  const plan = planModels(project, publishedBuild, stepped, emptied);
  const bronzeChanges = new Map(steppedBronze(publishedBuild, stepped).map((source) => [`bronze.${source}`, steps.get(source)!.changes]));
  ctx.summary.model_plan = plan.map((d) => ({ model: d.model, action: d.action, reason: d.reason, ...(d.readsBuilt ? { reads_built: d.readsBuilt } : {}) }));
  const build = plan.filter((d) => d.action !== 'keep').map((d) => d.model);
  const updates = { models: new Set(plan.filter((d) => d.action === 'update').map((d) => d.model)), bronzeChanges };
  const gone = [...publishedHashes.keys()].some((m) => !hash.models.has(m));
  if (!published || gone || build.length === 0 || (build.length === plan.length && updates.models.size === 0)) return null;
  ctx.output.modelPlan(ctx.summary.model_plan, published.runId);
  return { selection: selectNodes(project, { select: build.map((m) => `${m}+`).join(' ') }), updates };
}

/** `selection` with each emptied unlogged table and its descendants (dbt's `model+`) added. */
function withEmptied(project: Project, selection: Selection, emptied: readonly RelationName[]): Selection {
  if (!emptied.length) return selection;
  const added = selectNodes(project, { select: emptied.map((m) => `${m}+`).join(' ') });
  const models = new Set([...selection.models, ...added.models].map((m) => m.name));
  const tests = new Set(selection.tests.map((t) => t.name));
  return {
    models: project.models.filter((m) => models.has(m.name)),
    tests: [...selection.tests, ...added.tests.filter((t) => !tests.has(t.name))],
    sources: [...new Set([...selection.sources, ...added.sources])],
    everything: false,
  };
}

/**
 * `whole`: the whole project when `project` is a selection of it (the others are read as
 * published). `complete`: what the run publishes, with what it keeps, is the whole project (a
 * build of everything, or of what changed): its project hash is recorded for later runs to
 * compare with.
 */
async function modelsStage(
  ctx: RunContext,
  project: Project,
  inputFiles: InputFileRecord[],
  whole: Project | null,
  asOf: string,
  hash: ProjectHash,
  dataAsOf: string | null,
  complete: boolean,
  updates: PlannedUpdates = { models: new Set(), bronzeChanges: new Map() },
): Promise<void> {
  const { config } = ctx;

  // More connections for the models and the tests: independent models are built at the same time.
  await withParallelConnections(ctx, config.jobs - 1, (parallel) => buildTestAndPublish(ctx, project, inputFiles, asOf, parallel, whole, hash, dataAsOf, complete, updates));
}

/**
 * Opens `count` connections beside the work connection for the duration of `fn`. An interrupted run
 * ends them like the work connection (the server then cancels their statements); they are closed
 * when `fn` settles.
 */
async function withParallelConnections<T>(ctx: RunContext, count: number, fn: (clients: Client[]) => Promise<T>): Promise<T> {
  const clients: Client[] = [];
  const closeAll = () => Promise.all(clients.map((c) => c.end().catch(() => {})));
  const onAbort = () => void closeAll();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (let i = 0; i < count; i++) clients.push(await connect(ctx.config.connection, `medallion-work-${i + 2}`));
    return await fn(clients);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    await closeAll();
  }
}

async function buildTestAndPublish(
  ctx: RunContext,
  project: Project,
  inputFiles: InputFileRecord[],
  asOf: string,
  parallel: Client[],
  whole: Project | null,
  hash: ProjectHash,
  dataAsOf: string | null,
  complete: boolean,
  updates: PlannedUpdates,
): Promise<void> {
  const { config, output, work } = ctx;
  // A selection builds its models into staging and reads every other model where it is published.
  const selected = new Set(project.models.map((m) => m.name));
  const schemas = whole ? readingPublished(config.schemas, whole.models.map((m) => m.name).filter((n) => !selected.has(n))) : config.schemas;
  // One stage, one schedule: each data test and rule count runs as soon as the models it reads are
  // built (dbt's `build`), on whichever connection is free, so the tests of the early models overlap the long
  // models at the end of the graph. Nothing is published before every test has run. The last run's
  // timings order the schedule: the longest remaining chain of models and tests starts first. A
  // model or test that no run has timed yet gets a guess from the size of the bronze data it reads.
  const measured = await lastTimings(ctx.ledger, config.schemas);
  const guessed = estimateFromSizes(project, await bronzeMegabytes(work, config.schemas, project));
  const timings = { models: measuredElseGuessed(measured.models, guessed.models), tests: measuredElseGuessed(measured.tests, estimateTestSeconds(project, guessed.megabytes)) };
  const modelTasks = new Set(project.models.map((m) => m.name));
  // the incremental models updated so far: their row-level tests read the delta alone, and their
  // rule counts the change
  const updated = new Map<RelationName, ModelUpdate>();
  // the tables built whole so far, with their rows: their volume guards take that count
  const builtRows = new Map<RelationName, number>();
  const testing = planTests({
    ledger: ctx.ledger,
    schemas,
    project,
    runId: ctx.runId,
    modelTasks,
    estimates: timings.tests,
    updates: updated,
    builtRows,
    onEvent: (e) => output.testEvent(e),
  });
  // a run that keeps what did not change records the kept models' rules too (a `--select` run: its selection's)
  const keptModels = whole && complete ? whole.models.filter((m) => !selected.has(m.name)) : [];
  const ruling = planRuleCounts({ ledger: ctx.ledger, schemas, project, runId: ctx.runId, modelTasks, updates: updated, kept: keptModels });
  const built: BuildResult = await ctx.stage(
    'models_and_tests',
    () =>
      buildModels({
        client: work,
        parallelClients: parallel,
        schemas,
        project,
        asOf,
        dataAsOf,
        runId: ctx.runId,
        signal: ctx.signal,
        alongside: [...testing.tasks, ...ruling.tasks],
        estimates: timings.models,
        updates: updates.models,
        bronzeChanges: updates.bronzeChanges,
        updated,
        builtRows,
        onEvent: (e) => output.modelEvent(e),
      }),
    (r) => r.models.reduce((n, m) => n + (m.rows ?? 0), 0),
  );
  const models = modelRecords(built.models, project);
  ctx.summary.models = models;
  const tests: TestSummary = testing.summary();
  ctx.summary.tests = testCountsRecord(tests);

  const rules: RuleCountsResult = await ctx.stage('rules', () => ruling.record());
  ctx.summary.rules = ruleRecords(rules);
  ctx.summary.quarantined = rules.quarantined;

  output.modelsBuilt(built, models, rules, tests);
  assertTestsPassed(tests, config.schemas.etl);

  const grants = declaredGrants(project);
  // The commit point: one transaction on the connection that holds the target's lock renames the
  // schemas, checks the lock is still ours and records the publication (with the export version
  // that goes with it) in the ledger.
  const publish = (exportsVersion: string | null) =>
    ctx.stage('publish', async () => {
      const publishOptions = {
        prevSuffix: String(ctx.runId),
        grants,
        signal: ctx.signal,
        dropPrevious: false,
        insideTransaction: async (tx: Client) => {
          await assertLockHeldInTransaction(tx, config.target);
          await recordPublication(tx, config.schemas, ctx.runId, exportsVersion, inputFiles, {
            projectSha256: complete ? hash.sha256 : null,
            models: new Map(project.models.map((m) => [m.name, hash.models.get(m.name)!])),
            // the built and the kept ones: what the next run checks for a crash's emptying
            unlogged: await unloggedHoldings(tx, config.schemas, (whole ?? project).models),
          });
        },
      };
      // a selection replaces its own relations, one by one in one transaction; the rest stays
      const result = whole
        ? await publishRelations(ctx.ledger, config.schemas, [...selected], {
            ...publishOptions,
            updates: built.models.flatMap((m) => (m.update ? [m.update] : [])),
            viewSql: new Map(project.models.filter((m) => m.materialized === 'view').map((m) => [m.name, compileSql(m.sql, publishedTarget(config.schemas)).sql])),
          })
        : await publishModels(ctx.ledger, config.schemas, { ...publishOptions, mode: config.publishMode });
      ctx.published = true;
      output.publishCommitted(config.schemas, exportsVersion);
      for (const c of result.carried) output.publishCarried(c);
      kept = result.kept;
      return result;
    });
  let kept: ReadonlyMap<string, string> = new Map();
  // After the commit point and after both halves are published: the previous versions go.
  const dropPrevious = async () => {
    for (const l of await dropPreviousVersions(ctx.ledger, config.schemas, { kept, signal: ctx.signal })) {
      output.publishLeftover(l.schema, l.reason);
    }
    if (whole) await dropStaging(ctx.ledger, config.schemas);
  };
  if (config.export.skip) {
    await publish(null);
    await dropPrevious();
    if (ctx.signal.aborted) output.lateSignal('publish');
    output.published(config.schemas, null);
    return;
  }
  // A selection's staging gold holds only its own tables: the others are exported as published.
  const tableSchemas = whole ? Object.fromEntries(GOLD_EXPORTS.filter((t) => !selected.has(`gold.${t}`)).map((t) => [t, config.schemas.gold])) : {};
  // what the export was written from before: the published run's export version
  const publishedVersion = (await lastPublishedRun(ctx.ledger, config.schemas))?.exportsVersion ?? null;
  // Export from the tested staging schema into a sealed version of the output folder; the
  // database publish is the commit point that makes both current, and the folder follows it.
  const exported: ExportGoldResult = await ctx.stage('export', () =>
    exportGold({
      connection: config.connection,
      schemas: { gold: stagingSchemas(config.schemas).gold },
      publishedGoldSchema: config.schemas.gold,
      tableSchemas,
      // an updated model is an overlay view in staging; its published table has the NOT NULLs
      columnSchemas: Object.fromEntries(built.models.filter((m) => m.update && m.model.startsWith('gold.')).map((m) => [m.model.slice('gold.'.length), config.schemas.gold])),
      changes: goldChanges(config.schemas.gold, whole ? selected : null, built),
      publishedVersion,
      exportsDir: config.exportsDir,
      runId: ctx.runId,
      target: config.target,
      asOf,
      inputFiles,
      rowGroupSize: config.export.rowGroupSize,
      compression: config.export.compression,
      partitionBy: config.export.partitionBy,
      columnDocs: columnDocsOf(whole ?? project, 'gold'),
      signal: ctx.signal,
      ...(output.live ? { onProgress: (p: ExportProgress) => output.exportProgress(p) } : {}),
      onTable: (r, seconds) => output.tableExported(r, seconds),
      commit: async (versionPath) => {
        await publish(versionPath);
      },
    }),
  );
  await dropPrevious();
  // A signal that arrived after the commit point did not stop the publish: say so.
  if (ctx.signal.aborted) output.lateSignal('publish');
  ctx.summary.exports = exportsRecord(exported, ctx.runId);
  output.published(config.schemas, exported.exportsDir);
}

/**
 * What the export may take as known of each gold table against its published version (the
 * export checks that its previous version is the one published with it): a table this run did not
 * build (a selection reads it as published) or updated by no partition is unchanged; a table
 * updated by partitions differs by the published rows of those partitions (the rows its overlay
 * view leaves out, src/transform/incremental.ts) and the delta's rows. A table built whole has no
 * entry: the export fingerprints its rows.
 */
function goldChanges(publishedGold: string, selected: ReadonlySet<string> | null, built: BuildResult): Record<string, TableChange> {
  const changes: Record<string, TableChange> = {};
  for (const table of GOLD_EXPORTS) {
    const model = `gold.${table}`;
    const update = built.models.find((m) => m.model === model)?.update;
    if (selected && !selected.has(model)) changes[table] = { unchanged: true };
    else if (update?.partitions === 0) changes[table] = { unchanged: true };
    else if (update) {
      const { now, before } = updateVersions(update, `${ident(publishedGold)}.${ident(table)}`);
      changes[table] = { removed: `select * from ${before} as removed`, added: `select * from ${now}` };
    }
  }
  return changes;
}

/**
 * A run that committed its publish but died before its export folder followed (kill -9, power
 * loss): the ledger names the committed version, and this run, now holding the lock, finishes
 * the switch before doing anything else.
 */
async function finishInterruptedPublish(ctx: RunContext): Promise<void> {
  const committed = await lastCommittedExport(ctx.ledger, ctx.config.schemas);
  if (committed && (await finishCommittedExport(committed.path))) {
    ctx.output.publishFinished(committed.runId, committed.path);
  }
}


/** The `grants:` the models declare, by relation. */
function declaredGrants(project: Project): Map<string, Grants> {
  return new Map(project.models.filter((m) => m.grants).map((m) => [m.name, m.grants!]));
}

/**
 * The as_of the data gives: sql/run/default_as_of.sql against this run's bronze (null when no sales
 * line has a usable order date). The run's as_of without --as-of; with it, still computed, since
 * silver.int_sales_date_range bounds the plausible dates by it (medallion.data_as_of).
 */
async function dataAsOfOf(ctx: RunContext, defaultAsOfSql: string): Promise<string | null> {
  const sql = compileSql(defaultAsOfSql, ctx.config.schemas).sql;
  const { rows } = await ctx.work.query<{ as_of: Date | string | null }>(`select (as_of)::text as as_of from (${sql.replace(/;\s*$/, '')}) d`);
  const asOf = rows[0]?.as_of;
  return asOf ? String(asOf) : null;
}

/**
 * sql/run/default_as_of.sql, read with the models: a project without it fails before anything is
 * loaded, naming the file.
 */
async function readDefaultAsOf(sqlDir: string): Promise<string> {
  const file = defaultAsOfFile(sqlDir);
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw new DataError('MODEL_FILE_INVALID', `${file} is missing: it gives a run's default as_of, the day after the latest valid order date`, {
      file,
      hint: "Restore it from the project's sql/run/, or point --sql at the project's sql folder.",
    });
  }
}

/** The query that gives a run's default as_of from the data. */
function defaultAsOfFile(sqlDir: string): string {
  return path.join(sqlDir, 'run', 'default_as_of.sql');
}

function noDefaultAsOf(ctx: RunContext): never {
  throw new DataError('RECONCILIATION_FAILED', 'no sales line has a usable order date, so there is no default as_of date', {
    file: defaultAsOfFile(ctx.config.sqlDir),
    hint: 'Check sales_details.csv, or give the run date with --as-of YYYY-MM-DD.',
  });
}

/** For `medallion transform`: the source files of the run that loaded the current bronze. */
async function lastLoadedFiles(ctx: RunContext): Promise<InputFileRecord[]> {
  const files = await loadedInputFiles(ctx.work, ctx.config.schemas);
  if (!files) {
    throw new DataError('BRONZE_FILE_MISSING', `${ctx.config.schemas.bronze} has not been loaded yet`, { hint: 'Run `medallion load` (or `medallion build`) first.' });
  }
  return files;
}

/**
 * `medallion source freshness` before the load (sql/sources.yml), ages only: each file that warns
 * is logged and the run goes on; a file older than its `error_after` fails the run before anything
 * is loaded (SOURCE_STALE). A missing file is left to the loader (BRONZE_FILE_MISSING). Whether a
 * file is the same as in the last load is told after the load, from the hash the loader computes
 * anyway (warnUnchangedSources): hashing every file first would read the sources twice.
 */
async function checkSourceFreshness(ctx: RunContext): Promise<{ configs: SourceFreshnessConfig[]; lastLoad: LoadedFile[] | null }> {
  const { config } = ctx;
  const configs = await readSourcesYml(config.sqlDir);
  const lastLoad = await loadedInputFiles(ctx.work, config.schemas);
  const results = await checkFreshness({ seedsDir: config.seedsDir, configs, lastLoad: null });
  const flagged = results.filter((r) => r.status !== 'pass' && r.modified !== null);
  for (const r of flagged) ctx.logger.event('source_freshness', freshnessFields(r), ctx.logger.style.yellow(`source freshness ${r.status}: ${r.reasons.join('; ')}`));
  const stale = flagged.filter((r) => r.status === 'error');
  if (stale.length) {
    throw new DataError('SOURCE_STALE', stale.flatMap((r) => r.reasons).join('; '), {
      file: stale[0]!.path,
      hint: 'Deliver a newer export, or raise (or remove) error_after in sql/sources.yml; `medallion source freshness` shows every file.',
    });
  }
  return { configs, lastLoad };
}

function warnUnchangedSources(ctx: RunContext, bronze: BronzeLoadResult, freshness: { configs: SourceFreshnessConfig[]; lastLoad: LoadedFile[] | null }): void {
  for (const u of unchangedSinceLastLoad(bronze.files, freshness.configs, freshness.lastLoad)) {
    ctx.logger.event('source_freshness', { level: 'warn', source: u.source, file: u.file, same_as_last_load: true, status: 'warn', reasons: [u.reason] }, ctx.logger.style.yellow(`source freshness warn: ${u.reason}`));
  }
}

function bronzeStage(ctx: RunContext, reloadUnchanged: boolean): Promise<BronzeLoadResult> {
  const { config } = ctx;
  return withParallelConnections(ctx, config.jobs - 1, (parallel) =>
    loadBronze({
      client: ctx.work,
      parallelClients: parallel,
      ledger: ctx.ledger,
      schemas: config.schemas,
      seedsDir: config.seedsDir,
      runId: ctx.runId,
      maxRejectRate: config.maxRejectRate,
      maxFieldBytes: config.maxFieldBytes,
      signal: ctx.signal,
      onProgress: ctx.output.bronzeProgress(),
      reloadUnchanged,
    }),
  );
}
