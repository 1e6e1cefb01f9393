/**
 * Which models a run builds, and which it keeps as the published run left them (dbt's
 * `state:modified+` with deferral, decided on every run, not by hand). A model is kept when
 * - its own hash (compiled SQL, .yml and data tests: project-hash.ts) is the one it was published
 *   with, and the functions and medallion's version are unchanged;
 * - every bronze table it reads holds the load the published models were built from, untouched
 *   since (a table changed by hand is no load's content: its readers are built);
 * - it does not read the run's dates (`medallion.as_of`, `medallion.data_as_of`), or they did not
 *   move;
 * - nothing it reads is built in this run.
 * Everything else is built, with the first reason that applies. A kept model's rows are those a
 * full build would write: a model is a function of what it reads and the run's dates, since the
 * project refuses a model that reads the clock (sql-parser.ts). The data tests that read a built
 * model run with it (the selection of `model+`, src/transform/select.ts).
 *
 * An incremental model (`materialized: incremental`, src/transform/incremental.ts) that would be
 * built only because a model it reads is built, with its own hash, bronze loads and dates as
 * published, is updated instead: its partitions whose input rows changed are computed again. So is
 * one whose bronze tables hold other loads, when it declares each of them under `partition_inputs`
 * and its `<source>__changes` holds the step from the published load (CurrentBuild.bronzeSteps).
 */
import type { Project, RelationName } from './types.ts';
import { emptiedReason } from './unlogged.ts';

/** What the published run built from: the ledger's record of it (src/runs). */
export interface PublishedBuild {
  runId: number;
  /** Model → its hash when it was published. */
  models: ReadonlyMap<RelationName, string>;
  asOf: string | null;
  /** Absent when the published run did not record it: readers of the dates are then built. */
  dataAsOf?: string | null;
  /** Bronze table → the run whose load the published models read (null: changed by hand). */
  builtFrom?: Readonly<Record<string, number | null>>;
  /** False when sql/functions or medallion's version differ from the published run's. */
  sameFunctionsAndVersion: boolean;
}

/** The same facts for this run. */
export interface CurrentBuild {
  models: ReadonlyMap<RelationName, string>;
  asOf: string;
  dataAsOf: string | null;
  builtFrom: Readonly<Record<string, number | null>>;
  /**
   * Per bronze table whose `<source>__changes` holds the step into the load it holds now: the load
   * that step starts from (the load the table held before). An incremental model that declares the
   * table under `partition_inputs` is updated when that is the load it was published from.
   */
  bronzeSteps?: Readonly<Record<string, number>>;
}

export interface ModelDecision {
  model: RelationName;
  action: 'build' | 'update' | 'keep';
  reason: string;
  /** Set when the model is built only because it reads this built model. */
  readsBuilt?: RelationName;
}

/**
 * The bronze tables whose changes an update reads: each table that holds another load than the
 * published run's, with `<source>__changes` holding the step from the published load to it. An
 * updated model reads these tables' changes (src/transform/incremental.ts).
 */
export function steppedBronze(published: Pick<PublishedBuild, 'builtFrom'> | null, current: Pick<CurrentBuild, 'builtFrom' | 'bronzeSteps'>): string[] {
  if (!published?.builtFrom) return [];
  return Object.entries(current.bronzeSteps ?? {})
    .filter(([table, from]) => {
      const load = current.builtFrom[table];
      return load != null && load !== published.builtFrom![table] && published.builtFrom![table] === from;
    })
    .map(([table]) => table);
}

/**
 * One decision per model of `project`, in its build order. `emptied`: published unlogged tables a
 * server crash emptied (unlogged.ts), each built whole, and every model that reads one, directly
 * or through others, built whole too: its published rows or its update would rest on the empty
 * table.
 */
export function planModels(project: Project, published: PublishedBuild | null, current: CurrentBuild, emptied: readonly RelationName[] = []): ModelDecision[] {
  const whole = (reason: string) => project.models.map((m): ModelDecision => ({ model: m.name, action: 'build', reason }));
  if (!published) return whole('no published run to keep models from');
  const since = `since run ${published.runId}`;
  if (!published.sameFunctionsAndVersion) return whole(`sql/functions or the medallion version changed ${since}`);
  const built = new Set<RelationName>();
  const datesMoved =
    current.asOf !== published.asOf
      ? `as_of moved from ${published.asOf ?? 'none'} to ${current.asOf}`
      : published.dataAsOf === undefined || current.dataAsOf !== published.dataAsOf
        ? `the data's own as_of is ${current.dataAsOf ?? 'none'}, not ${published.dataAsOf ?? 'recorded'}`
        : null;
  // the emptied tables and their readers, each with the emptied table it rests on
  const restsOnEmptied = new Map<RelationName, RelationName>(emptied.map((m) => [m, m]));
  return project.models.map((m): ModelDecision => {
    const emptiedInput = m.dependencies.find((d) => restsOnEmptied.has(d));
    if (restsOnEmptied.has(m.name) || emptiedInput !== undefined) {
      const cause = restsOnEmptied.get(m.name) ?? restsOnEmptied.get(emptiedInput!)!;
      restsOnEmptied.set(m.name, cause);
      built.add(m.name);
      if (cause === m.name) return { model: m.name, action: 'build', reason: emptiedReason(m.name) };
      return { model: m.name, action: 'build', reason: `it reads ${emptiedInput}, which is built whole: ${emptiedReason(cause)}`, readsBuilt: emptiedInput! };
    }
    const cause = buildCause();
    if (!cause) return { model: m.name, action: 'keep', reason: `nothing it reads changed ${since}` };
    built.add(m.name);
    if (typeof cause === 'string') return { model: m.name, action: 'build', reason: cause };
    if (!('readsBuilt' in cause)) {
      return { model: m.name, action: 'update', reason: `${cause.loaded} holds another load ${since}: the ${m.incremental!.partitionBy} partitions of its changed rows` };
    }
    const reason = `${cause.loaded ? `${cause.loaded} holds another load ${since}, and ` : ''}it reads ${cause.readsBuilt}, which is built`;
    if (m.incremental && !(m.readsAsOf && datesMoved)) {
      return { model: m.name, action: 'update', reason: `${reason}: the ${m.incremental.partitionBy} partitions whose input rows changed`, readsBuilt: cause.readsBuilt };
    }
    return { model: m.name, action: 'build', reason, readsBuilt: cause.readsBuilt };

    /**
     * Why the model is built (its own reason, or the built model it reads); `loaded`: only a bronze
     * table it declares under partition_inputs holds another load, whose `__changes` holds the step
     * from the published one; null: it is kept.
     */
    function buildCause(): string | { readsBuilt: RelationName; loaded?: RelationName } | { loaded: RelationName } | null {
      const publishedHash = published!.models.get(m.name);
      if (publishedHash === undefined) return `new ${since}`;
      if (publishedHash !== current.models.get(m.name)) return `its SQL, .yml or tests changed ${since}`;
      let loaded: RelationName | undefined;
      let readsBuilt: RelationName | undefined;
      for (const dependency of m.dependencies) {
        if (dependency.startsWith('bronze.')) {
          const table = dependency.slice('bronze.'.length);
          const load = current.builtFrom[table];
          const publishedLoad = published!.builtFrom?.[table];
          if (load === null) return `${dependency} was changed since its load`;
          if (load !== undefined && publishedLoad === load) continue;
          const stepped = load !== undefined && publishedLoad != null && current.bronzeSteps?.[table] === publishedLoad;
          if (!stepped || m.incremental?.partitionInputs?.[dependency] === undefined) return `${dependency} holds another load ${since}`;
          loaded ??= dependency;
        } else if (built.has(dependency)) {
          readsBuilt ??= dependency;
        }
      }
      if (readsBuilt) return { readsBuilt, ...(loaded ? { loaded } : {}) };
      if (m.readsAsOf && datesMoved) return `it reads the run's dates: ${datesMoved}`;
      return loaded ? { loaded } : null;
    }
  });
}
