/**
 * Reconciliations (scalar_equality) and coverage thresholds (relationships with min_coverage) that
 * scale with the change: on a run that updates incremental models, such a test starts from the
 * values the published run recorded (<etl>.test_results.measured: left and right values, child
 * and matched rows) and adds what the update changed, instead of reading whole overlays. When a
 * precondition fails, the test (or one side of a reconciliation) runs in full; the result's message
 * says what ran incrementally.
 *
 * Notation of incremental-tests.ts: an updated relation R has its published rows R_old, its delta
 * Δ and partitions Π; R_new = R_out ⊎ Δ and R_old = R_out ⊎ (R_old ∩ Π), with R_out the rows of
 * R_old outside Π.
 *
 * The recorded values are those of the run whose publish readers see now (the last run with
 * `published_at`): its tests read every relation as it then published it or kept it as published,
 * and a published table does not change until the next publish. A published view reads the
 * published tables, with today's bronze and run dates: a view this run builds again (neither kept
 * nor updated) runs the test in full. What a run keeps as published holds the same rows
 * (model-plan.ts keeps a model only when its inputs, loads and run dates are those of the published
 * run); an updated view's published rows are those its overlay is made of (incremental.ts).
 *
 * Scalar equality. `config.meta.additive: true` claims that each side S is a sum over the rows of
 * the relations it reads: S(A ⊎ B) = S(A) + S(B) relation by relation, and S over no rows is 0 (a
 * count or a coalesced sum, with filters, or several of them added up). Per relation r the side
 * reads, let C_r be what the two versions share, X_r what only the new one has and Y_r what only
 * the published one had:
 *   kept as published:   C = r_old,  X = Y = ∅;
 *   updated:             C = r_out,  X = Δ,      Y = r_old ∩ Π;
 *   built again (table): C = ∅,      X = r_new,  Y = r_old.
 * Then S(new) = S(C) + S(X) and S(old) = S(C) + S(Y), so S(new) = S(old) + S(X) − S(Y), S(old)
 * being the recorded value. S(X) and S(Y) are the side's own SQL with each relation read from
 * where those rows are: the delta table, a temporary view of the published rows of the partitions
 * or of none (`pg_temp`, named like the relation), the staging or the published table. A side runs
 * in full when it reads bronze (a reloaded table has no published version left), the run's dates
 * other than an as_of equal to the published run's, or a view built again; when the recorded value
 * is missing, NULL, of another SQL (its sha256) or of an inexact type (a float sum depends on the
 * order of its terms); when two of its relations would need one temporary name; and when none of
 * its relations is updated but one is built again (two whole versions cost more than one). When
 * every relation is kept, the recorded value is the value. A NULL from the sums (a side that is not
 * additive after all) runs the test in full.
 *
 * Coverage. child_rows and matched_rows count the model's rows (after a row-local `where`) and
 * those whose key is held by the parent. The model is updated (so the test is the one recorded: a
 * test is part of its model's hash). child_rows(new) = child_rows(old) − |M_old ∩ Π| + |Δ|.
 * matched_rows(new) = matched_rows(old) − matched(M_old ∩ Π, P_old) + matched(Δ, P_new) + the
 * change of status of the rows of M_out: a row of M_out gains a match when its key is `added` (held
 * by P_new, not by P_old) and loses it when its key is `gone` (held by P_old, not by P_new). With
 * the parent kept, neither exists; updated, an added key is one of its delta's (P_out ⊆ P_old) and
 * a gone key one of its published rows of its partitions (P_out ⊆ P_new); built again (a table),
 * both are computed over its two whole versions. A bronze parent, or a parent view built again,
 * runs the test in full.
 */
import { createHash } from 'node:crypto';
import type { SchemaNames } from '../config.ts';
import { type Client, ident, literal } from '../db/index.ts';
import { fromDatabaseError } from '../errors.ts';
import { isSqlFault } from '../sql-runtime/index.ts';
import { compiledRelation, compileSql, type EqualTest, type ModelUpdate, notInPartitions, partitionRows, type Project, type RelationName, referencedRelations, type TestDefinition, withoutTrailingSemicolon } from '../transform/index.ts';
import { type IncrementalForm, keptInRun, parentKeys, rowLocal } from './incremental-tests.ts';
import { type CoverageTest, publishedRelation } from './test-sql.ts';


/** What a test's verdict was computed from, as <etl>.test_results.measured keeps it (values as text). */
export type TestValues = Readonly<Record<string, string | null>>;

/** The values recorded by the run whose publish readers see now. */
export interface PublishedValues {
  runId: number;
  /** Its as_of (YYYY-MM-DD). */
  asOf: string | null;
  /** By test name. */
  tests: ReadonlyMap<string, TestValues>;
  /** The tests it recorded as passed with no failing row (incremental-tests.ts, PublishedVerdicts). */
  passed: ReadonlySet<string>;
}

/** The sides of a scalar_equality, as the values query names them. */
export type Side = 'left_value' | 'right_value';

/** Types whose sums are exact, whatever the order of their terms. */
const EXACT_TYPES = new Set(['smallint', 'integer', 'bigint', 'numeric']);
const SETTING = /medallion\.[a-z_]+/gi;

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** What identifies a coverage test's counts: the same measurement over the same columns. */
export function coverageDefinition(test: CoverageTest): string {
  return sha256(JSON.stringify([test.model, test.column, test.to, test.field, test.where ?? null]));
}

/**
 * The run whose publish readers see now (`published_at` is set in its publishing transaction): one
 * row (run_id, as_of) of <etl>.runs, none before the first publish. `etl` is quoted.
 */
export function publishedRunSql(etl: string): string {
  return `select run_id, as_of from ${etl}.runs where published_at is not null order by published_at desc, run_id desc limit 1`;
}

/** The values of the published run, or undefined before the first publish or when the ledger cannot say. */
export async function publishedTestValues(ledger: Client, schemas: SchemaNames): Promise<PublishedValues | undefined> {
  const e = ident(schemas.etl);
  try {
    const { rows } = await ledger.query<{ run_id: string; as_of: string | null; test_name: string | null; measured: Record<string, string | null> | null; passed: boolean | null }>(
      `select r.run_id, to_char(r.as_of, 'YYYY-MM-DD') as as_of, t.test_name, t.measured, t.status = 'pass' and t.failing_rows = 0 as passed
         from (${publishedRunSql(e)}) as r
         left join ${e}.test_results as t on t.run_id = r.run_id and (t.measured is not null or (t.status = 'pass' and t.failing_rows = 0))`,
    );
    if (!rows.length) return undefined;
    const tests = new Map<string, TestValues>();
    const passed = new Set<string>();
    for (const r of rows) {
      if (r.test_name !== null && r.measured) tests.set(r.test_name, r.measured);
      if (r.test_name !== null && r.passed) passed.add(r.test_name);
    }
    return { runId: Number(rows[0]!.run_id), asOf: rows[0]!.as_of, tests, passed };
  } catch (err) {
    if (!isSqlFault(err)) throw fromDatabaseError(err, `reading the published run's test values in ${schemas.etl}.test_results`);
    return undefined;
  }
}

/** What the run is: the schemas its tests read, its updates, the project and its as_of. */
export interface ReconciliationContext {
  schemas: SchemaNames;
  updates: ReadonlyMap<RelationName, ModelUpdate> | undefined;
  project: Pick<Project, 'models'>;
  published: PublishedValues | undefined;
  /** medallion.as_of of the tests' sessions (YYYY-MM-DD), if set. */
  asOf: string | undefined;
}

/** How a relation stands in the run, for a form that reads its published rows. */
type Standing = { kept: true } | { updated: ModelUpdate } | { rebuilt: true } | { full: string };

function standing(relation: RelationName, context: ReconciliationContext): Standing {
  if (relation.startsWith('bronze.')) return { full: `reads ${relation}, loaded again` };
  const update = context.updates?.get(relation);
  if (update) return { updated: update };
  if (keptInRun(context.schemas, relation)) return { kept: true };
  const model = context.project.models.find((m) => m.name === relation);
  if (!model) return { full: `reads ${relation}, which is not a model of the run` };
  if (model.materialized === 'view') return { full: `reads ${relation}, a view built again` };
  return { rebuilt: true };
}

/** `schemas` with these relations read from these schemas. */
function readingFrom(schemas: SchemaNames, redirect: ReadonlyMap<RelationName, string>): SchemaNames {
  const readFrom = new Map((schemas as SchemaNames & { readFrom?: ReadonlyMap<RelationName, string> }).readFrom ?? []);
  for (const [r, s] of redirect) readFrom.set(r, s);
  return Object.freeze({ ...schemas, readFrom }) as SchemaNames;
}

const nameOf = (relation: RelationName) => relation.slice(relation.indexOf('.') + 1);

/**
 * The form of a scalar_equality or a coverage test on this run, or undefined when it runs in full.
 */
export function reconciliationForm(test: TestDefinition, context: ReconciliationContext): IncrementalForm | undefined {
  if (!context.updates?.size || !context.published) return undefined;
  const recorded = context.published.tests.get(test.name);
  if (!recorded) return undefined;
  if (test.kind === 'equal') return equalForm(test, recorded, context);
  if (test.kind === 'relationships' && test.minCoverage !== undefined) return coverageForm(test as CoverageTest, recorded, context);
  return undefined;
}

function equalForm(test: EqualTest, recorded: TestValues, context: ReconciliationContext): IncrementalForm | undefined {
  if (!test.additive) return undefined;
  const { schemas } = context;
  const runId = context.published!.runId;
  const c = (sql: string, s: SchemaNames) => compileSql(withoutTrailingSemicolon(sql), s).sql;
  /** Per temporary view: its name, the relation, and its rows. */
  const views = new Map<string, { relation: RelationName; sql: string }>();
  const sides: { side: Side; sql: string; exact: boolean; note: string; update?: ModelUpdate }[] = [];
  for (const [side, sql] of [
    ['left_value', test.left],
    ['right_value', test.right],
  ] as const) {
    const inFull = (why: string) => sides.push({ side, sql: `(\n${c(sql, schemas)}\n)`, exact: false, note: `${side.replace('_value', '')} in full (${why})` });
    const value = recorded[side];
    const type = recorded[`${side.replace('_value', '')}_type`];
    if (recorded[`${side.replace('_value', '')}_sha256`] !== sha256(sql)) {
      inFull(`no value of this SQL in run ${runId}`);
      continue;
    }
    if (value === null || value === undefined || !type || !EXACT_TYPES.has(type)) {
      inFull(`run ${runId}'s value is ${value === null || value === undefined ? 'missing' : `of type ${type}`}`);
      continue;
    }
    const settings = [...new Set((sql.match(SETTING) ?? []).map((s) => s.toLowerCase()))];
    if (settings.some((s) => s !== 'medallion.as_of')) {
      inFull(`reads ${settings.join(', ')}`);
      continue;
    }
    if (settings.length && (context.asOf === undefined || context.asOf !== context.published!.asOf)) {
      inFull(`reads as_of, moved since run ${runId}`);
      continue;
    }
    const relations = referencedRelations(sql);
    const standings = relations.map((r) => [r, standing(r, context)] as const);
    const refused = standings.find(([, s]) => 'full' in s);
    if (refused) {
      inFull((refused[1] as { full: string }).full);
      continue;
    }
    const updated = standings.filter(([, s]) => 'updated' in s).map(([r, s]) => [r, (s as { updated: ModelUpdate }).updated] as const);
    const rebuilt = standings.filter(([, s]) => 'rebuilt' in s).map(([r]) => r);
    if (!updated.length && rebuilt.length) {
      inFull(`nothing it reads is updated`);
      continue;
    }
    const literalValue = `${literal(value)}::${type}`;
    if (!updated.length) {
      sides.push({ side, sql: literalValue, exact: true, note: `${side.replace('_value', '')}: run ${runId}'s value, all it reads kept as published` });
      continue;
    }
    // the temporary views: the published rows of the partitions of an updated relation, none of a kept one
    const needed = standings.filter(([, s]) => !('rebuilt' in s));
    const clash = needed.find(([r]) => {
      const held = views.get(nameOf(r));
      return held !== undefined && held.relation !== r;
    });
    if (clash) {
      inFull(`two relations named ${nameOf(clash[0])}`);
      continue;
    }
    for (const [r, s] of needed) {
      const update = 'updated' in s ? s.updated : undefined;
      const published = publishedRelation(r, schemas);
      const rows = update ? partitionRows(published, ident(update.column), `${ident(update.schema)}.partitions`) : `(select * from ${published} where false)`;
      views.set(nameOf(r), { relation: r, sql: `create temporary view ${ident(nameOf(r))} as select * from ${rows} as t` });
    }
    const x = readingFrom(schemas, new Map(needed.map(([r, s]) => [r, 'updated' in s ? s.updated.schema : 'pg_temp'])));
    const y = readingFrom(schemas, new Map([...needed.map(([r]) => [r, 'pg_temp'] as const), ...rebuilt.map((r) => [r, schemas[r.slice(0, r.indexOf('.')) as 'silver' | 'gold']] as const)]));
    sides.push({
      side,
      sql: `(${literalValue}::numeric + (\n${c(sql, x)}\n)::numeric - (\n${c(sql, y)}\n)::numeric)::${type}`,
      exact: true,
      update: updated[0]![1],
      note: `${side.replace('_value', '')}: run ${runId}'s value + the deltas of ${updated.map(([r]) => r).join(', ')} − their published rows of the partitions${rebuilt.length ? `; ${rebuilt.join(', ')} built again: + its rows − its published rows` : ''}`,
    });
  }
  if (!sides.some((s) => s.exact)) return undefined;
  const update = sides.find((s) => s.update)?.update;
  const names = [...views.keys()];
  return {
    ...(update ? { update } : {}),
    schemas,
    note: sides.map((s) => s.note).join('; '),
    values: {
      sql: `select ${sides.map((s) => `${s.sql} as ${s.side}`).join(',\n       ')}`,
      setup: [...names.map((n) => `drop view if exists pg_temp.${ident(n)}`), ...[...views.values()].map((v) => v.sql)],
      teardown: names.map((n) => `drop view if exists pg_temp.${ident(n)}`),
      exact: sides.filter((s) => s.exact).map((s) => s.side),
    },
  };
}

function coverageForm(test: CoverageTest, recorded: TestValues, context: ReconciliationContext): IncrementalForm | undefined {
  const { schemas, updates } = context;
  const update = updates?.get(test.model);
  if (!update || !rowLocal(test.where)) return undefined;
  if (recorded.definition_sha256 !== coverageDefinition(test)) return undefined;
  const childRows = recorded.child_rows;
  const matchedRows = recorded.matched_rows;
  if (!childRows || !matchedRows || !/^\d+$/.test(childRows) || !/^\d+$/.test(matchedRows)) return undefined;
  const parent = standing(test.to, context);
  if ('full' in parent) return undefined;
  const runId = context.published!.runId;
  const field = ident(test.field);
  const col = ident(test.column);
  const partitions = `${ident(update.schema)}.partitions`;
  // a subquery (the published rows of the partitions) needs a name of its own to be filtered
  const scoped = (relation: string) =>
    test.where ? `(select * from ${relation}${relation.startsWith('(') ? ' as scoped' : ''} where (${compileSql(withoutTrailingSemicolon(test.where), schemas).sql})) as t` : `${relation} as t`;
  const delta = `${ident(update.schema)}.${ident(nameOf(test.model))}`;
  const oldParent = publishedRelation(test.to, schemas);
  const newParent = compiledRelation(test.to, schemas);
  // the rows counted are the delta and the published rows of the partitions: each count of the
  // matched ones is a semi-join with the parent's version, which the planner answers by a probe
  // per key through the parent's index on the field, or by hashing a parent without one
  const heldByOld = (value: string) => `exists (select from ${oldParent} as q where q.${field} = ${value})`;
  // When the test's column is the partition column, the published rows of the partitions hold
  // only the partitions' values (or NULL, which no key equals): a key among them is held by the
  // published parent exactly when it is among the parent's keys of those values, a probe per
  // partition key. The semi-join of heldByOld lets the planner hash the whole parent instead,
  // which it does when it sizes the partitions' rows by the column's distinct count: ANALYZE's
  // sample underestimates that count many times over for a table stored in partition order
  // (gold.fact_sales by customer_id), and so the rows per partition as many times over.
  const heldByOldOfPartitions = (value: string) =>
    test.column === update.column ? `${value} in (select q.${field} from ${oldParent} as q where q.${field} in (select key from ${partitions} where key is not null))` : heldByOld(value);
  const newKeys = parentKeys(test.to, test.field, schemas, updates);
  /** The rows of `relation` (scoped) and those of them whose key one of `held` holds, as one row (child_rows, matched_rows). */
  const counted = (relation: string, held: string[]) =>
    `select (select count(*) from ${scoped(relation)}) as child_rows,
         ${held.map((pred) => `(select count(*) from ${scoped(relation)} where ${pred})`).join(' + ')} as matched_rows`;
  const notHeldBy = (relation: string) => `not exists (select from ${relation} as q where q.${field} = p.${field})`;
  let added = `select p.${field} as key from ${oldParent} as p where false`;
  let gone = added;
  if ('updated' in parent) {
    const p = parent.updated;
    added = `select distinct p.${field} as key from ${ident(p.schema)}.${ident(nameOf(test.to))} as p where p.${field} is not null and ${notHeldBy(oldParent)}`;
    gone = `select distinct p.${field} as key from ${partitionRows(oldParent, ident(p.column), `${ident(p.schema)}.partitions`)} as p where p.${field} is not null and ${newKeys.lacks(`p.${field}`)}`;
  } else if ('rebuilt' in parent) {
    added = `select distinct p.${field} as key from ${newParent} as p where p.${field} is not null and ${notHeldBy(oldParent)}`;
    gone = `select distinct p.${field} as key from ${oldParent} as p where p.${field} is not null and ${notHeldBy(newParent)}`;
  }
  const how = 'kept' in parent ? 'kept as published' : 'updated' in parent ? 'updated: its keys added or gone' : 'built again: its keys added or gone';
  return {
    update,
    schemas,
    note: `on the delta of ${test.model} (${update.rows.toLocaleString('en-US')} rows of ${update.partitions.toLocaleString('en-US')} ${update.column} partitions): run ${runId}'s counts less those of its published rows of the partitions plus the delta's; ${test.to} ${how}`,
    measurement: `with added_keys as materialized (${added}),
gone_keys as materialized (${gone}),
published_rows as (
  ${counted(partitionRows(publishedRelation(test.model, schemas), ident(update.column), partitions), [heldByOldOfPartitions(`t.${col}`)])}),
moved_rows as (
  select count(*) filter (where t.${col} in (select key from added_keys)) as gained,
         count(*) filter (where t.${col} in (select key from gone_keys)) as lost
    from ${scoped(`(select * from ${publishedRelation(test.model, schemas)} as m
                     where (exists (select from added_keys) or exists (select from gone_keys))
                       and m.${col} in (select key from added_keys union all select key from gone_keys)
                       and ${notInPartitions(`m.${ident(update.column)}`, partitions)})`)}),
delta_rows as (
  ${counted(delta, newKeys.heldIn(`t.${col}`))})
select child_rows, matched_rows, matched_rows < ${Number(test.minCoverage)} * child_rows as fails
  from (select ${literal(childRows)}::bigint - published_rows.child_rows + delta_rows.child_rows as child_rows,
               ${literal(matchedRows)}::bigint - published_rows.matched_rows + delta_rows.matched_rows + moved_rows.gained - moved_rows.lost as matched_rows
          from published_rows, moved_rows, delta_rows) as counts`,
  };
}
