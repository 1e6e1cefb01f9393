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
 * What the forms rely on, besides the arithmetic: the published relations passed every test of
 * severity `error` that reads them (a run publishes only when those pass, and it runs every test
 * that reads what it builds: the selection `model+`), the test is the one they passed (a test is
 * part of its model's hash, so a changed test builds its model: model-plan.ts), and a `where`
 * judges a row by that row alone (it names no relation and no run date). A relation the selection
 * reads as published (`readPublished`) is unchanged in this run.
 */
import type { SchemaNames } from '../config.ts';
import { ident } from '../db/index.ts';
import { compiledRelation, compileSql, deltaSchemas, inPartitions, type ModelUpdate, notInPartitions, partitionRows, type RelationName, referencedRelations, relationsRead, rowsFingerprintSql, type TestDefinition, updateVersions, withoutTrailingSemicolon } from '../transform/index.ts';
import { type KeyColumns, publishedRelation, ROW_LEVEL_TEST_KINDS, uniqueSql } from './test-sql.ts';

/** A singular test as sql/tests/schema.yml may declare it: `config.meta.partition_by` (singular-tests.ts). */
export type PartitionedTest = Extract<TestDefinition, { kind: 'query' }> & { partitionBy?: string };

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

/** Whether a piece of SQL (a `where`) judges a row by that row alone: it names no relation and no run date. */
export function rowLocal(sql: string | undefined): boolean {
  return sql === undefined || (referencedRelations(sql).length === 0 && !RUN_DATES.test(sql));
}

/** The models the run reads as published (model-plan.ts keeps them; compile.ts readPublished). */
export function keptInRun(schemas: SchemaNames, relation: RelationName): boolean {
  return (schemas as SchemaNames & { readPublished?: ReadonlySet<RelationName> }).readPublished?.has(relation) === true;
}

/**
 * Whether a test of an updated model holds on the whole model when it holds on the delta: it reads
 * no other relation and no run date, and it judges each row alone (not_null, accepted_values,
 * expression) or is a unique key that includes the partition column (two rows with one key are in
 * one partition). Its
 * failing rows over M_new are those over M_out, none (M_out ⊆ M_old passed and did not change),
 * and those over Δ. Only a test of severity error: the published rows passed it (a warn test may
 * have published failing rows, which its count must go on reporting).
 */
export function deltaTest(test: TestDefinition, update: ModelUpdate | undefined): boolean {
  if (!update || update.model !== test.model || test.severity !== 'error') return false;
  if (relationsRead(test).some((r) => r !== test.model)) return false;
  // a verdict that reads the run's dates may change on rows that did not (as_of moved)
  if (('where' in test && test.where && RUN_DATES.test(test.where)) || (test.kind === 'expression' && RUN_DATES.test(test.expression))) return false;
  return ROW_LEVEL_TEST_KINDS.has(test.kind) || (test.kind === 'unique' && !test.where && test.columns.includes(update.column));
}

/**
 * The incremental form of `test` on this run, or undefined when it runs in full (no update of its
 * model, or a precondition of every form fails).
 */
export function incrementalForm(test: TestDefinition, schemas: SchemaNames, updates: ReadonlyMap<RelationName, ModelUpdate> | undefined): IncrementalForm | undefined {
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
  // split M_old. One scan of M_old gives both of its counts; the overlay is not read.
  if (test.kind === 'row_count_change') {
    return {
      update,
      schemas,
      note: `${onDelta}: the new count is the published count less its rows of the partitions plus the delta's`,
      measurement: `select baseline_rows, new_rows,
       baseline_rows > 0 and (new_rows = 0 or baseline_rows - new_rows > ${Number(test.maxDrop)} * baseline_rows) as fails
  from (select published_rows.baseline_rows, published_rows.baseline_rows - published_rows.replaced_rows + (select count(*) from ${delta}) as new_rows
          from (select count(*) as baseline_rows, count(*) filter (where ${inPartitions(`m.${ident(update.column)}`, partitions)}) as replaced_rows
                  from ${published} as m) as published_rows) as counts`,
    };
  }
  // The other forms rest on M_out having passed the test when it was published.
  if (test.severity !== 'error') return undefined;

  if (deltaTest(test, update)) return { update, schemas: deltaSchemas(schemas, update), note: onDelta };

  // A singular test declared by P: its failing rows of one value of P depend only on M's rows of that
  // value and on the other relations it reads. Those hold their published rows (kept as published,
  // or built again to the same rows: `unchanged`), so for each partition outside Π the rows and the
  // relations are those it passed on (no failing rows), and the failing rows of the partitions in Π
  // are those the test returns over Δ, which holds exactly their rows.
  if (test.kind === 'query') {
    const declared = (test as PartitionedTest).partitionBy;
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
  // are Δ and the rows of M_out whose key is a key of Δ: equal in every column, or, for a key with
  // a NULL (which equality never matches and the grouping does), hashing like one of Δ's keys with
  // a NULL (a 64-bit hash of the key as a row; a row that only collides forms a group of one, which
  // is not reported). The groups and their counts are those of the full test. The semi-join on the
  // columns costs a hash probe per row, less than hashing every row's key as a record. The hash
  // matches equal keys only where equality is bytewise: a key column with a non-deterministic
  // collation runs the full test.
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
        const withNull = (alias: string) => test.columns.map((col) => `${alias}.${ident(col)} is null`).join(' or ');
        const key = (alias: string) => `hash_record_extended(row(${columnsOf(alias)}), 0)`;
        const rows = `(select * from ${delta}
          union all
          select m.* from ${published} as m
           where ${notInPartitions(`m.${column}`, partitions)}
             and ((${columnsOf('m')}) in (select ${columnsOf('d')} from ${delta} as d)
                  or ((${withNull('m')}) and ${key('m')} in (select ${key('d')} from ${delta} as d where ${withNull('d')})))) as t`;
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
  if (test.kind === 'relationships' && test.minCoverage === undefined) {
    // a bronze parent has no published version to compare with
    if (!rowLocal(test.where) || others.some((r) => r !== test.to) || test.to.startsWith('bronze.')) return undefined;
    const scoped = (pred: string) => (test.where ? `(${c(test.where)}) and (${pred})` : pred);
    const col = ident(test.column);
    const field = ident(test.field);
    const newParent = compiledRelation(test.to, schemas);
    const deltaOrphans = `select t.* from ${delta} as t where ${scoped(`t.${col} is not null and not exists (select 1 from ${newParent} as p where p.${field} = t.${col})`)}`;
    if (keptInRun(schemas, test.to)) {
      return { update, schemas, note: `${onDelta}; ${test.to} kept as published`, failing: () => deltaOrphans };
    }
    const parentUpdate = updates?.get(test.to);
    const oldParent = publishedRelation(test.to, schemas);
    const changedParentRows = parentUpdate
      ? `${partitionRows(oldParent, ident(parentUpdate.column), `${ident(parentUpdate.schema)}.partitions`)} as p where`
      : `${oldParent} as p where`;
    const gone = `select distinct p.${field} as key from ${changedParentRows} p.${field} is not null and not exists (select 1 from ${newParent} as q where q.${field} = p.${field})`;
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
