/**
 * Data tests that scale with the change: on a run that updates an incremental model
 * (src/transform/incremental.ts), a test of it reads the model's delta and what it needs of the
 * published rows, instead of the whole overlay, whenever that gives the verdict and the failing
 * rows of the full test. Each form below states why; when its preconditions do not hold, the test
 * runs in full (incrementalForm returns undefined).
 *
 * Notation: M is the test's model, updated by column P over the partitions Π (`<u>.partitions`);
 * M_old its published rows, Δ the delta; M in staging is the overlay
 * `M_old rows not in Π union all Δ` (the two predicates split every row, NULL being one partition),
 * so M_new = M_out ∪ Δ with M_out = M_old rows not in Π.
 *
 * What the forms rely on, besides the arithmetic: M_old passed the test (passedWhenPublished): a
 * test of severity `error` always (a run publishes only when those pass, and it runs every test
 * that reads what it builds: the selection `model+`), a `warn` test when the published run
 * recorded it with no failing row (<etl>.test_results: it tested the rows it published); the test
 * is the one they passed (a test is part of its model's hash, so a changed test builds its model:
 * model-plan.ts), and a `where` judges a row by that row alone (it names no relation and no run
 * date). A relation the selection reads as published (`readPublished`) is unchanged in this run.
 *
 * A row-level test that reads as_of may be declared monotone in it (`config.meta.monotone_in_as_of`,
 * ExpressionTest.monotoneInAsOf; the engine never infers it): a row that passes at as_of A passes at every
 * as_of ≥ A (`order_date < as_of`). Such a test reads the delta alone when the published run
 * recorded it with no failing row and this run's as_of is not before that run's: every row of
 * M_out is a row of M_old, which passed at the published as_of, so it passes at this one, and the
 * failing rows over M_new are those over Δ. As_of moved back, a failing row published by a warn
 * test, or no result of the test in the published run (it kept the model, or tested it at another
 * as_of) runs the test in full.
 */
import type { SchemaNames } from '../config.ts';
import { ident, literal } from '../db/index.ts';
import { compiledRelation, compileSql, deltaSchemas, inPartitions, type ModelUpdate, notInPartitions, partitionRows, type Project, type RelationName, referencedRelations, relationsRead, rowsFingerprintSql, type TestDefinition, updateVersions, withoutTrailingSemicolon } from '../transform/index.ts';
import { type KeyColumns, measurementSql, publishedRelation, ROW_LEVEL_TEST_KINDS, uniqueSql, volumeMeasurementSql } from './test-sql.ts';


/**
 * What the ledger says of the published run's tests, and this run's as_of: what a form needs to
 * know that M_old passed a test (passedWhenPublished) and at which as_of.
 */
export interface PublishedVerdicts {
  /** The published run's as_of (YYYY-MM-DD); null when unknown. */
  publishedAsOf: string | null;
  /** The tests the published run recorded as passed with no failing row. */
  passed: ReadonlySet<string>;
  /** What the published run's tests measured, by test name (<etl>.test_results.measured). */
  measured: ReadonlyMap<string, Readonly<Record<string, string | null>>>;
  /** medallion.as_of of this run's test sessions (YYYY-MM-DD), if set. */
  asOf: string | undefined;
}

/** How a test runs on an update: what it reads, and the SQL that replaces the full test's. */
export interface IncrementalForm {
  /** The update the form reads (a reconciliation may read several, or none: incremental-reconciliations.ts). */
  update?: ModelUpdate;
  /**
   * The schemas the test's own SQL compiles with: the model read from its delta (deltaSchemas)
   * when the test's SQL runs unchanged on the delta; the run's schemas otherwise.
   */
  schemas: SchemaNames;
  /** Failing-rows SQL in place of failingRowsSql (same columns, same rows); undefined when `schemas` is the form. */
  failing?: (columns: KeyColumns) => string | undefined;
  /** Measurement SQL in place of measurementSql (row_count_change, a coverage threshold). */
  measurement?: string;
  /** row_count_change: the measurement when the model has no published table (no baseline). */
  unpublishedMeasurement?: string;
  /**
   * A scalar_equality: one row (left_value, right_value) in place of the two queries, the
   * statements to run before and after it in its transaction, and the sides it computes from the
   * published run's values (a NULL there means a side is not additive: the test runs in full).
   */
  values?: { sql: string; setup: string[]; teardown: string[]; exact: ('left_value' | 'right_value')[] };
  /** What the test read, for its result (etl.test_results.message). */
  note: string;
  /**
   * Relations built or updated in this run that the form needs to hold their published rows
   * (sameAsPublished): otherwise the test runs in full.
   */
  unchanged?: RelationName[];
}

const RUN_DATES = /medallion\.(data_)?as_of/i;
const SETTINGS = /medallion\.[a-z_]+/gi;

/** Whether a piece of SQL (a `where`) judges a row by that row alone: it names no relation and no run date. */
export function rowLocal(sql: string | undefined): boolean {
  return sql === undefined || (referencedRelations(sql).length === 0 && !RUN_DATES.test(sql));
}

/** The models the run reads as published (model-plan.ts keeps them; compile.ts readPublished). */
export function keptInRun(schemas: SchemaNames, relation: RelationName): boolean {
  return (schemas as SchemaNames & { readPublished?: ReadonlySet<RelationName> }).readPublished?.has(relation) === true;
}

/**
 * Whether M_old passed the test: a test of severity error always (nothing is published otherwise);
 * a warn test when the published run recorded it with no failing row (a warn test may have
 * published failing rows, which its count must go on reporting).
 */
export function passedWhenPublished(test: TestDefinition, verdicts: PublishedVerdicts | undefined): boolean {
  return test.severity === 'error' || verdicts?.passed.has(test.name) === true;
}

/** The SQL by which a row-level test judges a row: its `where` and its expression. */
function rowSql(test: TestDefinition): string {
  return [('where' in test && test.where) || '', test.kind === 'expression' ? test.expression : ''].join('\n');
}

/**
 * Whether a test that reads as_of passes on M_out at this run's as_of because it passed on M_old
 * at the published one: declared monotone in as_of (ExpressionTest.monotoneInAsOf), reading no other run
 * setting, recorded by the published run with no failing row (whatever its severity: an error
 * test kept as published was tested at the as_of of an older run, which may be later than this
 * one), and this run's as_of not before that run's.
 */
function asOfMonotoneHolds(test: TestDefinition, verdicts: PublishedVerdicts | undefined): boolean {
  if (test.kind !== 'expression' || test.monotoneInAsOf !== true) return false;
  if ((rowSql(test).match(SETTINGS) ?? []).some((setting) => setting.toLowerCase() !== 'medallion.as_of')) return false;
  if (!verdicts?.passed.has(test.name) || verdicts.asOf === undefined || verdicts.publishedAsOf === null) return false;
  // YYYY-MM-DD: the order of the text is that of the days
  return verdicts.asOf >= verdicts.publishedAsOf;
}

/**
 * Whether a test of an updated model holds on the whole model when it holds on the delta: it reads
 * no other relation, no run date unless monotone in as_of (asOfMonotoneHolds), and it judges each
 * row alone (not_null, accepted_values, expression) or is a unique key that includes the partition
 * column (two rows with one key are in one partition). Its failing rows over M_new are those over
 * M_out, none (M_out ⊆ M_old passed, passedWhenPublished, and did not change; a monotone test's
 * rows pass at a later as_of too), and those over Δ.
 */
export function deltaTest(test: TestDefinition, update: ModelUpdate | undefined, verdicts?: PublishedVerdicts): boolean {
  if (!update || update.model !== test.model || !passedWhenPublished(test, verdicts)) return false;
  if (relationsRead(test).some((r) => r !== test.model)) return false;
  // a verdict that reads the run's dates may change on rows that did not (as_of moved)
  if (RUN_DATES.test(rowSql(test)) && !asOfMonotoneHolds(test, verdicts)) return false;
  return ROW_LEVEL_TEST_KINDS.has(test.kind) || (test.kind === 'unique' && !test.where && test.columns.includes(update.column));
}

/**
 * The incremental form of `test` on this run, or undefined when it runs in full (no update of its
 * model, or a precondition of every form fails).
 */
export function incrementalForm(
  test: TestDefinition,
  schemas: SchemaNames,
  updates: ReadonlyMap<RelationName, ModelUpdate> | undefined,
  verdicts?: PublishedVerdicts,
): IncrementalForm | undefined {
  const update = updates?.get(test.model);
  if (!update || update.model !== test.model) return undefined;
  const partitions = `${ident(update.schema)}.partitions`;
  const delta = `${ident(update.schema)}.${ident(test.model.slice(test.model.indexOf('.') + 1))}`;
  const published = publishedRelation(test.model, schemas);
  const count = (n: number, what: string) => `${n.toLocaleString('en-US')} ${what}${n === 1 ? '' : 's'}`;
  const onDelta = `on the delta of ${test.model} (${count(update.rows, 'row')} of ${count(update.partitions, `${update.column} partition`)})`;
  const c = (sql: string) => compileSql(withoutTrailingSemicolon(sql), schemas).sql;
  const others = relationsRead(test).filter((r) => r !== test.model);

  // The volume guard measures counts, not a property the published rows passed: any severity.
  // |M_new| = |M_out| + |Δ| = |M_old| − |M_old ∩ Π| + |Δ|, since inPartitions and notInPartitions
  // split M_old. |M_old| is the count the published run measured as its new count (`new_rows` of
  // its result: the rows it tested are those it published, and a published table changes only at
  // a publish), and |M_old ∩ Π| is read through the partition index; without that record, one scan
  // of M_old gives both of its counts. The overlay is not read.
  if (test.kind === 'row_count_change') {
    const deltaRows = `(select count(*) from ${delta})`;
    const recorded = verdicts?.measured.get(test.name)?.new_rows;
    if (recorded && /^\d+$/.test(recorded)) {
      return {
        update,
        schemas,
        note: `${onDelta}: the new count is the published count (measured by the published run) less its rows of the partitions plus the delta's`,
        measurement: volumeMeasurementSql(test, `select ${literal(recorded)}::bigint as baseline_rows,
               ${literal(recorded)}::bigint - (select count(*) from ${partitionRows(published, ident(update.column), partitions)} as m) + ${deltaRows} as new_rows`),
      };
    }
    return {
      update,
      schemas,
      note: `${onDelta}: the new count is the published count less its rows of the partitions plus the delta's`,
      measurement: volumeMeasurementSql(test, `select published_rows.baseline_rows, published_rows.baseline_rows - published_rows.replaced_rows + ${deltaRows} as new_rows
          from (select count(*) as baseline_rows, count(*) filter (where ${inPartitions(`m.${ident(update.column)}`, partitions)}) as replaced_rows
                  from ${published} as m) as published_rows`),
    };
  }
  // The other forms rest on M_out having passed the test when it was published.
  if (!passedWhenPublished(test, verdicts)) return undefined;

  if (deltaTest(test, update, verdicts)) return { update, schemas: deltaSchemas(schemas, update), note: onDelta };

  // A singular test declared by P: its failing rows of one value of P depend only on M's rows of that
  // value and on the other relations it reads. Those hold their published rows (kept as published,
  // or built again to the same rows: `unchanged`), so for each partition outside Π the rows and the
  // relations are those it passed on (no failing rows), and the failing rows of the partitions in Π
  // are those the test returns over Δ, which holds exactly their rows.
  if (test.kind === 'query') {
    const declared = test.partitionBy;
    if (declared !== update.column || RUN_DATES.test(test.sql) || others.some((r) => r.startsWith('bronze.'))) return undefined;
    const unchanged = others.filter((r) => !keptInRun(schemas, r));
    return {
      update,
      schemas: deltaSchemas(schemas, update),
      note: `${onDelta}, declared per ${declared}${others.length ? `; ${others.join(', ')} as published` : ''}`,
      ...(unchanged.length ? { unchanged } : {}),
    };
  }

  // A unique key without P. A key k occurs |Δ_k| + |M_out_k| times in M_new, and |M_out_k| ≤ 1
  // (M_out ⊆ M_old, which had no duplicate key). So the keys occurring more than once are among
  // those of Δ, and each one's count is that of Δ plus M_out's rows with that key. The rows grouped
  // are Δ and the rows of M_out whose key is a key of Δ: equal in every column (a semi-join on the
  // columns, which the planner answers through an index of the published table on a key column, a
  // probe per key of Δ, where one exists: fact_sales' order_number, int_sales_lines' line_number),
  // or, for a key with a NULL (which equality never matches and the grouping does), hashing like
  // one of Δ's keys with a NULL (a 64-bit hash of the key as a row; a row that only collides forms
  // a group of one, which is not reported). The two parts are disjoint (all columns equal, or one
  // NULL), and the second reads nothing when Δ has no key with a NULL. The groups and their counts
  // are those of the full test. The hash matches equal keys only where equality is bytewise: a key
  // column with a non-deterministic collation runs the full test.
  if (test.kind === 'unique') {
    if (test.where || others.length) return undefined;
    const column = ident(update.column);
    return {
      update,
      schemas,
      note: `${onDelta}, with the published rows outside its partitions that share a key of the delta`,
      failing: (keyColumns) => {
        if (test.columns.some((col) => keyColumns.collatable.has(col) && !keyColumns.bytewise.has(col))) return undefined;
        const columnsOf = (alias: string) => test.columns.map((col) => `${alias}.${ident(col)}`).join(', ');
        const equalKey = test.columns.map((col) => `d.${ident(col)} = m.${ident(col)}`).join(' and ');
        const withNull = (alias: string) => test.columns.map((col) => `${alias}.${ident(col)} is null`).join(' or ');
        const key = (alias: string) => `hash_record_extended(row(${columnsOf(alias)}), 0)`;
        const outside = outsidePartitions(`m.${column}`, partitions);
        const rows = `(select * from ${delta}
          union all
          select m.* from ${published} as m
           where ${outside} and exists (select from ${delta} as d where ${equalKey})
          union all
          select m.* from ${published} as m
           where exists (select from ${delta} as d where ${withNull('d')})
             and ${outside} and (${withNull('m')}) and ${key('m')} in (select ${key('d')} from ${delta} as d where ${withNull('d')})) as t`;
        return uniqueSql(test, rows, keyColumns);
      },
    };
  }

  // relationships (every row needs a parent; a coverage threshold is measured in full). The child
  // rows failing over M_new are those of Δ without a parent in the new parent, and those of M_out
  // whose parent key is gone. A row r of M_out had a parent p in the published parent (M_old passed
  // against it), with p.field = r.column. If the parent is kept as published, p is still there: no
  // row of M_out fails. Otherwise r fails exactly when its key is one of the published parent's
  // keys that the new parent does not hold (`gone`): if r fails, p is not in the new parent, so
  // p.field is gone, and a gone key equal to r's value has no parent row in the new parent. When the
  // parent is itself updated, the new parent holds its published rows outside its partitions, so
  // only keys of its published rows in its partitions can be gone; rebuilt, any published key can.
  // Whether the new parent holds a key is looked up per key (parentKeys), for Δ's rows and the
  // published parent's rows of its partitions, not by hashing the whole parent.
  if (test.kind === 'relationships' && test.minCoverage === undefined) {
    // a bronze parent has no published version to compare with
    if (!rowLocal(test.where) || others.some((r) => r !== test.to) || test.to.startsWith('bronze.')) return undefined;
    const scoped = (pred: string) => (test.where ? `(${c(test.where)}) and (${pred})` : pred);
    const col = ident(test.column);
    const field = ident(test.field);
    const parent = parentKeys(test.to, test.field, schemas, updates);
    const deltaOrphans = `select t.* from ${delta} as t where ${scoped(`t.${col} is not null and ${parent.lacks(`t.${col}`)}`)}`;
    if (keptInRun(schemas, test.to)) {
      return { update, schemas, note: `${onDelta}; ${test.to} kept as published`, failing: () => deltaOrphans };
    }
    const parentUpdate = updates?.get(test.to);
    const oldParent = publishedRelation(test.to, schemas);
    const changedParentRows = parentUpdate
      ? `${partitionRows(oldParent, ident(parentUpdate.column), `${ident(parentUpdate.schema)}.partitions`)} as p where`
      : `${oldParent} as p where`;
    const gone = `select distinct p.${field} as key from ${changedParentRows} p.${field} is not null and ${parent.lacks(`p.${field}`)}`;
    return {
      update,
      schemas,
      note: `${onDelta}, with the published rows outside its partitions that reference a key gone from ${test.to} (${parentUpdate ? 'updated' : 'rebuilt'})`,
      failing: () => `with gone_keys as materialized (${gone})
${deltaOrphans}
union all
select t.* from ${published} as t
 where exists (select from gone_keys)
   and ${scoped(`${notInPartitions(`t.${ident(update.column)}`, partitions)} and t.${col} in (select key from gone_keys)`)}`,
    };
  }
  return undefined;
}

/**
 * The volume guard of a table built whole in this run (not updated, not kept): its published count
 * |M_old| is the new count the published run recorded (`new_rows` of its result), as on an update,
 * and its new count the one its `create table … as` reported (`built`). The published run counted
 * the staging table it then published, and a published table changes only at a publish, so the
 * recorded count is that of the published rows; nothing but the build writes a staged table, so
 * the build's count is that of the new rows. Either count that is not known is counted: without the
 * record (the published run kept the model, or tested no volume) the published table, without the
 * build's count the new table. A view (its published version reads today's published tables and
 * bronze) counts both.
 */
export function wholeBuildVolumeForm(test: TestDefinition, schemas: SchemaNames, materialized: string | undefined, recorded: string | null | undefined, built?: number): IncrementalForm | undefined {
  if (test.kind !== 'row_count_change' || materialized !== 'table' || keptInRun(schemas, test.model)) return undefined;
  const publishedRows = recorded && /^\d+$/.test(recorded) ? recorded : undefined;
  if (publishedRows === undefined && built === undefined) return undefined;
  return {
    schemas,
    // the same two counts as the full test's: its message is theirs
    note: '',
    measurement: measurementSql(test, schemas, { publishedRows, newRows: built }),
    unpublishedMeasurement: measurementSql(test, schemas, { baseline: false, newRows: built }),
  };
}

/**
 * notInPartitions as an anti-join with the partitions, for a probe of a published table by another
 * column: the same rows (a value is in its partition when a key equals it; NULL is in the NULL
 * partition alone, which `=` never matches), but the planner charges the hashed list of
 * notInPartitions to every probe of a nested loop, and so scans the whole table where a probe per
 * key through an index costs a fraction of it (gold.fact_sales at 6M rows, 7,241 keys of a delta:
 * a scan estimated at 297k, the probes at 333k with the hashed list, 199k with the anti-join).
 */
function outsidePartitions(column: string, partitions: string): string {
  return `not exists (select from ${partitions} as part where part.key = ${column}) and not (${column} is null and exists (select from ${partitions} where key is null))`;
}

/**
 * Why a test of a model updated in this run reads the whole model (incrementalForm found no form),
 * for its result: the first precondition of the forms above that fails. Undefined when the model
 * is not updated, and for a reconciliation or a coverage threshold, whose result says which of
 * its sides or counts ran in full (incremental-reconciliations.ts).
 */
export function wholeModelReason(test: TestDefinition, updates: ReadonlyMap<RelationName, ModelUpdate> | undefined, verdicts: PublishedVerdicts | undefined): string | undefined {
  const update = updates?.get(test.model);
  if (!update || test.kind === 'equal' || (test.kind === 'relationships' && test.minCoverage !== undefined)) return undefined;
  const whole = (why: string) => `read the whole of ${test.model}: ${why}`;
  if (!passedWhenPublished(test, verdicts)) return whole('a warn test that the published run did not record with no failing row');
  const others = relationsRead(test).filter((r) => r !== test.model);
  if (test.kind === 'query') {
    const declared = test.partitionBy;
    if (declared !== update.column) return whole(`a singular test not declared per ${update.column}`);
    if (RUN_DATES.test(test.sql)) return whole("reads the run's dates");
    return whole(`reads ${others.join(', ')}`);
  }
  if (test.kind === 'relationships') return whole(test.to.startsWith('bronze.') ? `its parent ${test.to} has no published version` : "its where reads another relation or the run's dates");
  if (others.length) return whole(`reads ${others.join(', ')}`);
  const settings = [...new Set((rowSql(test).match(SETTINGS) ?? []).map((setting) => setting.toLowerCase()))];
  if (settings.length) {
    if (test.kind !== 'expression' || test.monotoneInAsOf !== true) return whole(`reads ${settings.join(', ')}, not declared monotone_in_as_of`);
    if (settings.some((setting) => setting !== 'medallion.as_of')) return whole(`reads ${settings.join(', ')}`);
    if (!verdicts?.passed.has(test.name)) return whole('monotone in as_of, but the published run did not record it with no failing row');
    return whole(`monotone in as_of, which moved back (${verdicts.publishedAsOf ?? 'unknown'} published, ${verdicts.asOf ?? 'unset'} now)`);
  }
  if (test.kind === 'unique') return whole('a unique key with a where');
  return undefined;
}

/**
 * Predicates on a key (SQL over the row being judged) about the version of a parent in this run:
 * `heldIn`, disjoint predicates one of which holds exactly when the parent holds the key in
 * `field` (each a semi- or anti-join in a where, which the planner answers by a probe through an
 * index or by hashing the parent, whichever costs less: an EXISTS in an expression is probed row
 * by row even without an index), and `lacks`, when it does not. An updated parent is P_out ⊎ Δ_P, its published
 * rows outside its partitions and its delta (incremental.ts), so a key is held exactly when one of
 * the two holds it; each is looked up in its own table, which the planner answers through the
 * published table's index on the field where there is one (silver.customers' customer_id), a
 * probe per key. The overlay view in staging cannot be probed so: its published part is a subquery
 * with a WHERE, which PostgreSQL does not flatten into the append, so a join with it hashes all of
 * its rows. A parent kept or built again is read as the run compiles it.
 */
export function parentKeys(
  to: RelationName,
  field: string,
  schemas: SchemaNames,
  updates: ReadonlyMap<RelationName, ModelUpdate> | undefined,
): { heldIn: (value: string) => string[]; lacks: (value: string) => string } {
  const f = ident(field);
  const parentUpdate = keptInRun(schemas, to) ? undefined : updates?.get(to);
  if (!parentUpdate) {
    const holds = (value: string) => `exists (select from ${compiledRelation(to, schemas)} as q where q.${f} = ${value})`;
    return { heldIn: (value) => [holds(value)], lacks: (value) => `not ${holds(value)}` };
  }
  const { now } = updateVersions(parentUpdate, publishedRelation(to, schemas));
  const outside = outsidePartitions(`q.${ident(parentUpdate.column)}`, `${ident(parentUpdate.schema)}.partitions`);
  const inDelta = (value: string) => `exists (select from ${now} as q where q.${f} = ${value})`;
  const inPublished = (value: string) => `exists (select from ${publishedRelation(to, schemas)} as q where q.${f} = ${value} and ${outside})`;
  return {
    heldIn: (value) => [inDelta(value), `not ${inDelta(value)} and ${inPublished(value)}`],
    // two anti-joins in a where
    lacks: (value) => `not ${inDelta(value)} and not ${inPublished(value)}`,
  };
}

/**
 * Whether a model built or updated in this run holds the rows it has as published: the same columns
 * and the same multiset of rows (count and sum of 64-bit row hashes, as incremental.ts compares an
 * input: a collision of two different multisets is the only way a change goes unseen). An updated
 * model compares its delta with its published rows of its partitions alone.
 */
export function sameAsPublishedSql(relation: RelationName, schemas: SchemaNames, updates: ReadonlyMap<RelationName, ModelUpdate> | undefined): string {
  const update = updates?.get(relation);
  const published = publishedRelation(relation, schemas);
  const { now, before } = update ? updateVersions(update, published) : { now: compiledRelation(relation, schemas), before: published };
  const columns = (r: string) =>
    `(select array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) order by a.attnum) from pg_attribute as a where a.attrelid = ${`'${r.replaceAll("'", "''")}'`}::regclass and a.attnum > 0 and not a.attisdropped)`;
  return `select ${columns(now)} = ${columns(published)}
       and a.n = b.n and a.s = b.s as same
  from (${rowsFingerprintSql(now)}) as a, (${rowsFingerprintSql(before)}) as b`;
}

/**
 * The test of another model whose pass proves `test` (a unique key or a relationships test of a
 * model declared `projection_of` that model, project.ts: exactly one row per row of it, with the
 * test's columns copied), or undefined. The model's rows of the test's columns are then, as a
 * multiset, those of the other model: a key occurs as often in both, so the same keys repeat
 * (unique: with NULLs judged alike, the values being equal); a value is the same in both, so the
 * same values lack a parent (relationships, to the same parent and field). Each is judged on the
 * relations of the same run (the model is built from the other's staging version, which the other
 * test reads), with neither test filtered by a `where`, and both of severity error. The proving
 * test's own form (on the other model's delta) makes the proof cost what it costs.
 */
export function provingTest(test: TestDefinition, project: Project): TestDefinition | undefined {
  const projection = project.models.find((m) => m.name === test.model)?.projection;
  if (!projection || test.severity !== 'error' || ('where' in test && test.where)) return undefined;
  const of = project.models.find((m) => m.name === projection.of);
  if (!of) return undefined;
  if (test.kind === 'unique') {
    if (!test.columns.every((c) => projection.columns.has(c))) return undefined;
    const key = [...test.columns].sort().join(',');
    return of.tests.find((t) => t.kind === 'unique' && t.severity === 'error' && !t.where && [...t.columns].sort().join(',') === key);
  }
  if (test.kind === 'relationships' && test.minCoverage === undefined) {
    if (!projection.columns.has(test.column)) return undefined;
    return of.tests.find(
      (t) => t.kind === 'relationships' && t.severity === 'error' && !t.where && t.minCoverage === undefined && t.column === test.column && t.to === test.to && t.field === test.field,
    );
  }
  return undefined;
}
