/**
 * Per-rule counts and the quarantine: counted as soon as each relation is built (planRuleCounts,
 * scheduled with the models and the data tests), written to the ledger once all are counted:
 *
 * 1. Rules with a `where`: one aggregate query per relation,
 *    `select count(*) filter (where <rule 1>), count(*) filter (where <rule 2>), … from <relation>`,
 *    so a relation with many rules is scanned once.
 * 2. Quarantine models (`quarantine: true`): their rows counted per (model, rule), kind
 *    `quarantine`. A declared `quarantine` rule without `where` that no row used is recorded with 0,
 *    so that "nothing was quarantined" is visible too.
 * 3. In one transaction on the ledger connection: etl.rule_counts for the run, and the quarantine
 *    models' rows appended to etl.quarantine with the run id (`insert … select`, nothing passes
 *    through Node). Re-running for the same run id replaces that run's rows.
 *
 * The counts of a relation updated in this run (src/transform/incremental.ts) scale with the change.
 * Notation of incremental-tests.ts: R is updated by column P over the partitions Π, R_old its
 * published rows, Δ the delta; R_new = R_out ⊎ Δ and R_old = R_out ⊎ (R_old ∩ Π), R_out being
 * R_old's rows outside Π. A `where` w that judges a row by that row alone (rowLocal: it names no
 * relation and no run date) counts c(S) = |{r ∈ S : w(r)}|, which adds up over a disjoint union, so
 *   c(R_new) = c(R_old) − c(R_old ∩ Π) + c(Δ).
 * c(R_old ∩ Π) is one aggregate over the published table's rows of the partitions (partitionRows:
 * the partition index serves it), c(Δ) one over the delta, both with the relation's
 * `count(*) filter` list. A relation the run keeps as published (RecordRuleCountsOptions.kept: a
 * model of a run that builds what changed and keeps the rest, src/transform/model-plan.ts, outside
 * the run's selection, so neither it nor any relation it reads, directly or not, is built or
 * updated) has R_new = R_old, so c(R_new) = c(R_old), read and not counted. c(R_old) is the count
 * the published run P (the last run with `published_at`, publishedRunSql) recorded in
 * etl.rule_counts, because
 * - P counted the rows readers see now: a rule is counted when the model that declares it is in the
 *   run's selection or kept by the run, and the form takes only rules R declares itself, so P built,
 *   updated or kept R and recorded its count before publishing (a run that does not publish sets no
 *   `published_at`; a kept R's count is the one of the run P published after, by the same
 *   argument), and no publish came after P (this run holds the target's lock);
 * - P counted the same `where`: the rule is in R's .yml, which is part of R's hash (project-hash.ts),
 *   and model-plan.ts updates or keeps R only when its hash is the one R was published with, P's;
 *   other sql/functions or another medallion version build every model whole;
 * - the recorded row is that `where` count: of the rule's kind, not `quarantine` (a quarantine
 *   model's rows replace the count of the same (model, rule) in `record`);
 * - R_new and R_old have the same columns and types (the update checks the delta's against the
 *   published table's; a kept relation is the published one).
 * Everything else counts R in full: a relation built whole or bronze, an update of a view that
 * declares partition_by (nothing is applied in place: the published view reads the published
 * tables afresh), a quarantine model (a kept one is read where published: its rows, counted and
 * appended to etl.quarantine for the run, are those a full build of the same files writes), a rule
 * declared by another model (its text is not in R's hash) or of kind `quarantine`, a `where` that
 * reads another relation or the run's dates, a rule P did not record (a relation P kept before
 * kept relations were recorded), and a result below zero (the published table changed outside a
 * run). A `--select` run records the rules of its selection alone: the models it leaves out are
 * not kept by a plan, and it records no project hash, so the run after it builds every model.
 * Each relation's count says which it took and why (RuleCountsResult.relations).
 */
import type { SchemaNames } from '../config.ts';
import { type Client, ident } from '../db/index.ts';
import { runScheduled, type ScheduledTask } from '../schedule/index.ts';
import { fromDatabaseError, type MedallionError } from '../errors.ts';
import { BUILD_MEMORY, isSqlFault, memorySettings, type MemorySettings, modelSqlError, PLANNER_SETTINGS_SQL, withLocalSettings } from '../sql-runtime/index.ts';
import { compiledRelation, compileSql, type Model, type ModelUpdate, modelsAmong, type Project, referencedRelations, type RelationName, type RuleDefinition, type RuleKind, updateVersions } from '../transform/index.ts';
import { publishedRunSql } from './incremental-reconciliations.ts';
import { rowLocal } from './incremental-tests.ts';
import { publishedRelation } from './test-sql.ts';

export interface RuleCount {
  /** The relation counted (for quarantine: the model the rows were kept out of). */
  model: RelationName;
  rule: string;
  kind: RuleKind;
  rows: number;
  description: string | null;
}

/** How the `where` rules of one relation were counted. */
export interface RelationCount {
  relation: RelationName;
  /**
   * `incremental`: the published run's counts, less those of the published rows of the update's
   * partitions, plus the delta's; `kept`: the published run's counts of a relation the run keeps
   * as published; `full`: over the whole relation.
   */
  form: 'incremental' | 'kept' | 'full';
  /** Why the full count, for a relation updated or kept in this run. */
  reason?: string;
  seconds: number;
}

export interface RuleCountsResult {
  counts: RuleCount[];
  /** Per relation with `where` rules (in the order the project declares them): how they were counted. */
  relations: RelationCount[];
  /** Rows appended to etl.quarantine. */
  quarantined: number;
  /** From planning to the ledger write: with the models when scheduled with them. */
  seconds: number;
}

export interface RecordRuleCountsOptions {
  /** Reads the staging schemas (the build connection). */
  client: Client;
  /** Writes etl.rule_counts and etl.quarantine (may be the same connection). */
  ledger: Client;
  schemas: SchemaNames;
  project: Project;
  runId: number;
  /** Memory for the counting queries (default BUILD_MEMORY of src/sql-runtime/session.ts). */
  memory?: Partial<MemorySettings>;
  /**
   * The incremental models updated in this run (in a schedule, filled as each is built, before the
   * counts that read it start): their rules are counted from the published run's counts and the
   * change, when the header's conditions hold.
   */
  updates?: ReadonlyMap<RelationName, ModelUpdate>;
  /**
   * The models the run keeps as published (src/transform/model-plan.ts), outside `project`: their
   * rules are recorded too, from the published run's counts when the header's conditions hold, and
   * their quarantine rows are read where published (`schemas` reads them there).
   */
  kept?: readonly Model[];
}

export async function recordRuleCounts(options: RecordRuleCountsOptions): Promise<RuleCountsResult> {
  const plan = planRuleCounts(options);
  await runScheduled(plan.tasks, [options.client]);
  return plan.record();
}

export type PlanRuleCountsOptions = Omit<RecordRuleCountsOptions, 'client'> & {
  /** The models built in the same schedule (task ids are model names): each count waits for its relation. */
  modelTasks?: ReadonlySet<RelationName>;
};

/** The counting queries as tasks for runScheduled, and the ledger write once they have run. */
export interface RuleCountsPlan {
  tasks: ScheduledTask<void>[];
  /** Writes etl.rule_counts and etl.quarantine from the counts (one transaction on the ledger). */
  record(): Promise<RuleCountsResult>;
}

/**
 * The rule counts as tasks that runScheduled can run beside the model builds (like the data
 * tests): one per relation with `where` rules and one per quarantine model, each starting once the
 * relations it reads are built.
 */
export function planRuleCounts(options: PlanRuleCountsOptions): RuleCountsPlan {
  const { ledger, schemas, project, runId, modelTasks = new Set(), kept = [] } = options;
  const memory = memorySettings({ ...BUILD_MEMORY, ...options.memory });
  const started = performance.now();
  const models = [...project.models, ...kept];
  const keptNames = new Set(kept.map((m) => m.name));
  const allRules = models.flatMap((m) => m.rules);
  const whereCounts = new Map<RelationName, number[]>();
  const forms = new Map<RelationName, RelationCount>();
  const quarantineGroups = new Map<RelationName, { model: string; rule: string; n: number }[]>();
  const tasks: ScheduledTask<void>[] = [];
  /** The published run's counts, read once when an updated or kept relation first needs them. */
  let published: Promise<PublishedCounts | undefined> | undefined;

  /**
   * The counts of a relation kept as published (the published run's) or updated (the published
   * run's and the change's) in this run (header), or why not.
   */
  const countedFromPublished = async (on: Client, relation: RelationName, rules: RuleDefinition[]): Promise<number[] | string> => {
    const update = options.updates?.get(relation);
    const isKept = keptNames.has(relation);
    if (!update && !isKept) return 'neither updated nor kept in this run';
    const unfit = carryUnfit(relation, rules, models) ?? (update ? updateUnfit(update) : undefined);
    if (unfit) return unfit;
    published ??= publishedRuleCounts(ledger, schemas);
    const recorded = await published;
    if (!recorded) return 'no published run recorded counts';
    const before: number[] = [];
    for (const r of rules) {
      const row = recorded.counts.get(countKey(relation, r.name));
      if (!row || row.kind !== r.kind) return `run ${recorded.runId} recorded no ${r.kind} count of ${r.name}`;
      before.push(row.rows);
    }
    if (!update) return before;
    const change = await countChange(on, schemas, relation, rules, update, memory);
    if (typeof change === 'string') return change;
    const counts = before.map((n, i) => n - change.replaced[i]! + change.delta[i]!);
    const below = counts.findIndex((n) => n < 0);
    if (below >= 0) return `run ${recorded.runId}'s count of ${rules[below]!.name} is below that of the rows its partitions replace`;
    return counts;
  };

  const rulesByRelation = groupBy(allRules.filter((r) => r.where !== undefined), (r) => r.relation);
  for (const [relation, rules] of rulesByRelation) {
    tasks.push({
      id: `rules on ${relation}`,
      dependsOn: modelsAmong([relation, ...rules.flatMap((r) => referencedRelations(r.where!))], modelTasks),
      run: async (on: Client) => {
        const t0 = performance.now();
        const carried = await countedFromPublished(on, relation, rules);
        const full = typeof carried === 'string';
        whereCounts.set(relation, full ? await countRules(on, schemas, relation, rules, memory) : carried);
        const isKept = keptNames.has(relation);
        const reason = full && (isKept || options.updates?.has(relation)) ? { reason: carried } : {};
        const form = full ? 'full' : isKept ? 'kept' : 'incremental';
        forms.set(relation, { relation, form, ...reason, seconds: (performance.now() - t0) / 1000 });
      },
    });
  }
  const quarantineModels = models.filter((m) => m.quarantine);
  for (const m of quarantineModels) {
    tasks.push({
      id: `quarantine of ${m.name}`,
      dependsOn: modelsAmong([m.name], modelTasks),
      run: async (on: Client) => {
        try {
          const { rows } = await withLocalSettings(on, memory, async () => {
            await on.query(PLANNER_SETTINGS_SQL);
            return on.query<{ model: string; rule: string; n: number }>(`select model, rule, count(*) as n from ${compiledRelation(m.name, schemas)} group by model, rule order by model, rule`);
          });
          quarantineGroups.set(m.name, rows);
        } catch (err) {
          throw modelSqlError(err, { model: m.name, file: m.sqlFile, doing: `counting the quarantine rows of ${m.name}` });
        }
      },
    });
  }

  const record = async (): Promise<RuleCountsResult> => {
    const counts = new Map<string, RuleCount>();
    const key = countKey;
    for (const [relation, rules] of rulesByRelation) {
      const rows = whereCounts.get(relation)!;
      for (const [i, r] of rules.entries()) {
        counts.set(key(r.relation, r.name), { model: r.relation, rule: r.name, kind: r.kind, rows: rows[i]!, description: r.description ?? null });
      }
    }
    const seenQuarantineRules = new Set<string>();
    const quarantineKeys = new Set<string>();
    for (const m of quarantineModels) {
      for (const g of quarantineGroups.get(m.name)!) {
        seenQuarantineRules.add(g.rule);
        const declared =
          allRules.find((r) => r.kind === 'quarantine' && r.name === g.rule && r.relation === g.model) ??
          allRules.find((r) => r.kind === 'quarantine' && r.name === g.rule);
        const k = key(g.model, g.rule);
        // Rows of several quarantine models may carry the same (model, rule): they add up.
        const previous = quarantineKeys.has(k) ? counts.get(k)!.rows : 0;
        quarantineKeys.add(k);
        counts.set(k, { model: g.model, rule: g.rule, kind: 'quarantine', rows: previous + g.n, description: declared?.description ?? null });
      }
    }
    for (const r of allRules) {
      if (r.kind === 'quarantine' && r.where === undefined && !seenQuarantineRules.has(r.name) && !counts.has(key(r.relation, r.name))) {
        counts.set(key(r.relation, r.name), { model: r.relation, rule: r.name, kind: 'quarantine', rows: 0, description: r.description ?? null });
      }
    }
    const sorted = [...counts.values()].sort((a, b) => a.model.localeCompare(b.model) || a.rule.localeCompare(b.rule));
    const quarantined = await writeLedger(ledger, schemas, runId, sorted, quarantineModels.map((m) => ({ name: m.name, file: m.sqlFile })));
    const relations = [...rulesByRelation.keys()].flatMap((r) => (forms.has(r) ? [forms.get(r)!] : []));
    return { counts: sorted, relations, quarantined, seconds: (performance.now() - started) / 1000 };
  };
  return { tasks, record };
}

const countKey = (model: string, rule: string) => `${model}\u0000${rule}`;

/** `count(*) filter (where <rule>)` of a rule, as column r<i>. */
const ruleColumn = (schemas: SchemaNames) => (r: RuleDefinition, i: number) => `count(*) filter (where (${compileSql(r.where!, schemas).sql})) as r${i}`;

/**
 * Why the rules of a relation updated or kept in this run cannot start from the published run's
 * counts (header), before reading any; undefined when they can.
 */
function carryUnfit(relation: RelationName, rules: readonly RuleDefinition[], models: readonly Model[]): string | undefined {
  if (models.find((m) => m.name === relation)?.quarantine) return 'a quarantine model';
  for (const r of rules) {
    if (r.model !== relation) return `${r.name} is declared by ${r.model}, whose hash does not hold ${relation}'s`;
    if (r.kind === 'quarantine') return `${r.name} is a quarantine rule`;
    if (!rowLocal(r.where)) return `${r.name} reads another relation or the run's dates`;
  }
  return undefined;
}

/** Why an update's counts cannot be the published run's adjusted by the change (header); undefined when they can. */
function updateUnfit(update: ModelUpdate): string | undefined {
  return update.materialized !== 'table' ? 'a view: its update is not applied in place' : undefined;
}

/** The where counts the published run recorded, by countKey. */
interface PublishedCounts {
  runId: number;
  counts: ReadonlyMap<string, { kind: RuleKind; rows: number }>;
}

/** The published run's rule counts, or undefined before the first publish or when the ledger cannot say. */
async function publishedRuleCounts(ledger: Client, schemas: SchemaNames): Promise<PublishedCounts | undefined> {
  const e = ident(schemas.etl);
  try {
    const { rows } = await ledger.query<{ run_id: string; model: string | null; rule: string | null; kind: RuleKind | null; rows: string | number | null }>(
      `select r.run_id, c.model, c.rule, c.kind, c.rows
         from (${publishedRunSql(e)}) as r
         left join ${e}.rule_counts as c on c.run_id = r.run_id`,
    );
    if (!rows.length) return undefined;
    const counts = new Map<string, { kind: RuleKind; rows: number }>();
    for (const r of rows) if (r.model !== null && r.rule !== null && r.kind !== null && r.rows !== null) counts.set(countKey(r.model, r.rule), { kind: r.kind, rows: Number(r.rows) });
    return { runId: Number(rows[0]!.run_id), counts };
  } catch (err) {
    if (!isSqlFault(err)) throw fromDatabaseError(err, `reading the published run's counts in ${schemas.etl}.rule_counts`);
    return undefined;
  }
}

/**
 * The rule counts over the published table's rows of an update's partitions (`replaced`) and over
 * its delta, each in one aggregate; or why they cannot be read (the full count then reports the
 * rule at fault).
 */
async function countChange(
  client: Client,
  schemas: SchemaNames,
  relation: RelationName,
  rules: RuleDefinition[],
  update: ModelUpdate,
  memory: MemorySettings,
): Promise<{ replaced: number[]; delta: number[] } | string> {
  const { now, before } = updateVersions(update, publishedRelation(relation, schemas));
  const columns = rules.map(ruleColumn(schemas)).join(',\n       ');
  const sql = `select 'replaced' as rows_of, ${columns}\n  from ${before} as t\nunion all\nselect 'delta', ${columns}\n  from ${now} as t`;
  try {
    const { rows } = await withLocalSettings(client, memory, async () => {
      await client.query(PLANNER_SETTINGS_SQL);
      return client.query<Record<string, string | number>>(sql);
    });
    const of = (side: string) => rules.map((_, i) => Number(rows.find((r) => r.rows_of === side)![`r${i}`]));
    return { replaced: of('replaced'), delta: of('delta') };
  } catch (err) {
    if (!isSqlFault(err)) throw modelSqlError(err, { model: relation, file: rules[0]!.file, doing: `counting the rules on the update of ${relation}` });
    return `the count over its change failed: ${err.message}`;
  }
}

/** Counts the rows of `relation` matching each rule, in one scan. */
async function countRules(client: Client, schemas: SchemaNames, relation: RelationName, rules: RuleDefinition[], memory: MemorySettings): Promise<number[]> {
  const from = compiledRelation(relation, schemas);
  const column = ruleColumn(schemas);
  try {
    const sql = `select ${rules.map(column).join(',\n       ')}\n  from ${from}`;
    const { rows } = await withLocalSettings(client, memory, async () => {
      await client.query(PLANNER_SETTINGS_SQL);
      return client.query<Record<string, number>>(sql);
    });
    return rules.map((_, i) => rows[0]![`r${i}`]!);
  } catch (err) {
    // Find the rule at fault, so the error names it and its file.
    let culprit: MedallionError | undefined;
    for (const r of rules) {
      try {
        await client.query(`select ${column(r, 0)} from ${from} where false`);
      } catch (ruleErr) {
        culprit = modelSqlError(ruleErr, { model: `rule '${r.name}' on ${relation}`, file: r.file, doing: `counting rule ${r.name} on ${relation}` });
        break;
      }
    }
    throw culprit ?? modelSqlError(err, { model: relation, file: rules[0]!.file, doing: `counting the rules on ${relation}` });
  }
}

async function writeLedger(ledger: Client, schemas: SchemaNames, runId: number, counts: RuleCount[], quarantineModels: { name: string; file: string }[]): Promise<number> {
  const etl = ident(schemas.etl);
  let inTransaction = false;
  let current: { name: string; file: string } | undefined;
  try {
    await ledger.query('begin');
    inTransaction = true;
    await ledger.query(`delete from ${etl}.rule_counts where run_id = $1`, [runId]);
    await ledger.query(`delete from ${etl}.quarantine where run_id = $1`, [runId]);
    await ledger.query(
      `insert into ${etl}.rule_counts (run_id, model, rule, kind, rows, description)
       select $1, * from unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[])`,
      [runId, counts.map((c) => c.model), counts.map((c) => c.rule), counts.map((c) => c.kind), counts.map((c) => c.rows), counts.map((c) => c.description)],
    );
    let quarantined = 0;
    for (const m of quarantineModels) {
      current = m;
      const result = await ledger.query(
        `insert into ${etl}.quarantine (run_id, model, rule, message, source_file, line_number, values)
         select $1, model, rule, message, source_file, line_number, values from ${compiledRelation(m.name, schemas)}`,
        [runId],
      );
      quarantined += result.rowCount ?? 0;
    }
    current = undefined;
    await ledger.query('commit');
    return quarantined;
  } catch (err) {
    if (inTransaction) await ledger.query('rollback').catch(() => {});
    if (current) throw modelSqlError(err, { model: current.name, file: current.file, doing: `copying the rows of ${current.name} into ${schemas.etl}.quarantine` });
    throw fromDatabaseError(err, `writing ${schemas.etl}.rule_counts`);
  }
}

function groupBy<T>(items: T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(keyOf(item), [...(groups.get(keyOf(item)) ?? []), item]);
  return groups;
}
