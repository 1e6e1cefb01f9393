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
 */
import type { SchemaNames } from '../config.ts';
import { type Client, ident } from '../db/index.ts';
import { runScheduled, type ScheduledTask } from '../schedule/index.ts';
import { fromDatabaseError, type MedallionError } from '../errors.ts';
import { BUILD_MEMORY, memorySettings, type MemorySettings, modelSqlError, PLANNER_SETTINGS_SQL, withLocalSettings } from '../sql-runtime/index.ts';
import { compiledRelation, compileSql, modelsAmong, type Project, referencedRelations, type RelationName, type RuleDefinition, type RuleKind } from '../transform/index.ts';

export interface RuleCount {
  /** The relation counted (for quarantine: the model the rows were kept out of). */
  model: RelationName;
  rule: string;
  kind: RuleKind;
  rows: number;
  description: string | null;
}

export interface RuleCountsResult {
  counts: RuleCount[];
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
  const { ledger, schemas, project, runId, modelTasks = new Set() } = options;
  const memory = memorySettings({ ...BUILD_MEMORY, ...options.memory });
  const started = performance.now();
  const allRules = project.models.flatMap((m) => m.rules);
  const whereCounts = new Map<RelationName, number[]>();
  const quarantineGroups = new Map<RelationName, { model: string; rule: string; n: number }[]>();
  const tasks: ScheduledTask<void>[] = [];

  const rulesByRelation = groupBy(allRules.filter((r) => r.where !== undefined), (r) => r.relation);
  for (const [relation, rules] of rulesByRelation) {
    tasks.push({
      id: `rules on ${relation}`,
      dependsOn: modelsAmong([relation, ...rules.flatMap((r) => referencedRelations(r.where!))], modelTasks),
      run: async (on: Client) => void whereCounts.set(relation, await countRules(on, schemas, relation, rules, memory)),
    });
  }
  const quarantineModels = project.models.filter((m) => m.quarantine);
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
    const key = (model: string, rule: string) => `${model}\u0000${rule}`;
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
    return { counts: sorted, quarantined, seconds: (performance.now() - started) / 1000 };
  };
  return { tasks, record };
}

/** Counts the rows of `relation` matching each rule, in one scan. */
async function countRules(client: Client, schemas: SchemaNames, relation: RelationName, rules: RuleDefinition[], memory: MemorySettings): Promise<number[]> {
  const from = compiledRelation(relation, schemas);
  const column = (r: RuleDefinition, i: number) => `count(*) filter (where (${compileSql(r.where!, schemas).sql})) as r${i}`;
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
