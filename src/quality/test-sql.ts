/**
 * The SQL of each data test kind, as a query whose rows are the failing rows (dbt's convention),
 * compiled against the staging schemas of the build. Pure: no connection needed. The kinds are the
 * recorded ones (etl.test_results.kind); the .yml names them as dbt does (model-spec.ts, GENERIC_TESTS).
 *
 * - not_null: rows where any of the columns is NULL.
 * - unique (and dbt_utils.unique_combination_of_columns): one row per duplicated key value (with `n_rows`); NULL keys are ignored for a single
 *   column (that is not_null's job) and compared as equal for a combination of columns.
 * - accepted_values: rows whose value (compared as text) is not in the list; NULL fails unless
 *   allow_null.
 * - relationships: child rows (after `where`) whose non-NULL column has no parent row. With
 *   `min_coverage`, one row (child_rows, matched_rows) when fewer than that fraction of the child
 *   rows find a parent (a NULL finds none): one aggregate over a hash join to the distinct parent keys.
 * - expression (dbt_utils.expression_is_true): rows where the expression is false (NULL passes, as in a CHECK constraint).
 * - query (a singular test, sql/tests/<name>.sql): the rows the query returns.
 * - equal (scalar_equality): one row (left_value, right_value, difference) when the two scalars differ by more than
 *   the tolerance (or exactly one of them is NULL).
 * - row_count_change: one row (baseline_rows, new_rows) when the model lost more than `max_drop` of
 *   the rows it has in the published schema, or all of them. Two counts; runTest first checks that
 *   the published model exists (none yet: no baseline, the test passes).
 *
 * row_count_change and relationships with min_coverage are measured tests (isMeasuredTest): their
 * result is one row of measurements (measurementSql), kept in the message whether they pass or not.
 */
import type { SchemaNames } from '../config.ts';
import { ident, literal } from '../db/index.ts';
import { compiledRelation, compileSql, type RelationName, type RelationshipsTest, type RowCountChangeTest, type TestDefinition, type TestKind, withoutTrailingSemicolon } from '../transform/index.ts';

/** What a `unique` test needs to know about the columns of its model (read from the catalog). */
export interface KeyColumns {
  /**
   * Columns whose collation is deterministic (equal means byte-equal): grouped bytewise
   * (collate "C"), the same groups, and at millions of keys a sort by bytes is the cheapest way to
   * find them (measured on fact_sales' key at 6M rows: 7.7 s CPU, against 10.0 s for a hash
   * aggregate and 17.5 s for a sort in the column's C.UTF-8 collation).
   */
  bytewise: ReadonlySet<string>;
  /** Columns with a collation (text-like). The others are grouped first, see failingRowsSql. */
  collatable: ReadonlySet<string>;
}

/**
 * A query returning the failing rows of the test. For a `unique` test on several columns, the
 * columns without a collation (integers, dates) lead the group key: a sort compares the first
 * column first, and an integer compare is far cheaper than a text compare that is equal most of
 * the time (int_sales_lines' (source_file, line_number) at 6M rows: 14.2–14.3 s sorted in that
 * order, 3.9–4.2 s as (line_number, source_file), two runs of `psql -X -v target=bench -f
 * bench/unique-key-order.sql`). The groups are the
 * same in either order.
 */
export function failingRowsSql(test: TestDefinition, schemas: SchemaNames, keyColumns: KeyColumns = { bytewise: new Set(), collatable: new Set() }): string {
  const c = (sql: string) => compileSql(withoutTrailingSemicolon(sql), schemas).sql;
  const relation = compiledRelation(test.model, schemas);
  const where = 'where' in test && test.where ? test.where : undefined;
  // `t` is the model's rows, filtered by the test's `where`.
  const rows = where ? `(select * from ${relation} where (${c(where)})) as t` : `${relation} as t`;
  switch (test.kind) {
    case 'not_null':
      return `select t.* from ${rows} where ${test.columns.map((col) => `t.${ident(col)} is null`).join(' or ')}`;
    case 'unique':
      return uniqueSql(test, rows, keyColumns);
    case 'accepted_values': {
      const col = `t.${ident(test.column)}`;
      const list = test.values.map((v) => literal(String(v))).join(', ');
      return test.allowNull
        ? `select t.* from ${rows} where ${col} is not null and ${col}::text not in (${list})`
        : `select t.* from ${rows} where ${col} is null or ${col}::text not in (${list})`;
    }
    case 'relationships': {
      if (test.minCoverage !== undefined) return `select child_rows, matched_rows from (\n${measurementSql(test as CoverageTest, schemas)}\n) as m where fails`;
      const col = `t.${ident(test.column)}`;
      return `select t.* from ${rows} where ${col} is not null and not exists (select 1 from ${compiledRelation(test.to, schemas)} as p where p.${ident(test.field)} = ${col})`;
    }
    case 'expression':
      return `select t.* from ${rows} where not (${c(test.expression)})`;
    case 'query':
      return `select * from (\n${c(test.sql)}\n) as q`;
    case 'equal': {
      const { differs, difference } = equalJudgement(test);
      return `select left_value, right_value, ${difference} as difference from (${equalValuesSql(test, schemas)}) as x where ${differs}`;
    }
    case 'row_count_change':
      return `select baseline_rows, new_rows from (\n${measurementSql(test, schemas)}\n) as m where fails`;
  }
}

/** One row: the two values of a scalar_equality (left_value, right_value), each query in full. */
export function equalValuesSql(test: Extract<TestDefinition, { kind: 'equal' }>, schemas: SchemaNames): string {
  const c = (sql: string) => compileSql(withoutTrailingSemicolon(sql), schemas).sql;
  return `select (\n${c(test.left)}\n) as left_value, (\n${c(test.right)}\n) as right_value`;
}

/**
 * Over a row (left_value, right_value): whether the two differ by more than the tolerance (or
 * exactly one is NULL; NULL when the tolerance is not 0 and both are: they do not differ), and the
 * difference reported.
 */
export function equalJudgement(test: Extract<TestDefinition, { kind: 'equal' }>): { differs: string; difference: string } {
  return test.tolerance > 0
    ? {
        differs: `(left_value is null) <> (right_value is null) or abs(left_value::numeric - right_value::numeric) > ${Number(test.tolerance)}`,
        difference: 'abs(left_value::numeric - right_value::numeric)',
      }
    : { differs: 'left_value is distinct from right_value', difference: 'null::numeric' };
}

/**
 * The failing rows of a `unique` test over `rows` (a relation aliased `t`): one row per key held
 * by more than one row, with `n_rows` (see failingRowsSql for the order and collation of the key).
 */
export function uniqueSql(test: Extract<TestDefinition, { kind: 'unique' }>, rows: string, keyColumns: KeyColumns): string {
  const cols = test.columns.map((col) => `t.${ident(col)}`).join(', ');
  const cheapFirst = [...test.columns.filter((col) => !keyColumns.collatable.has(col)), ...test.columns.filter((col) => keyColumns.collatable.has(col))];
  const keys = cheapFirst.map((col) => (keyColumns.bytewise.has(col) ? `t.${ident(col)} collate "C"` : `t.${ident(col)}`)).join(', ');
  const notNull = test.columns.length === 1 ? ` where ${cols} is not null` : '';
  return `select ${keys}, count(*) as n_rows from ${rows}${notNull} group by ${keys} having count(*) > 1`;
}

/** `gold.fact_sales` → `"dev_gold"."fact_sales"`: the model as readers see it, published by the last run that passed. */
export function publishedRelation(relation: RelationName, schemas: SchemaNames): string {
  const dot = relation.indexOf('.');
  const layer = relation.slice(0, dot) as 'silver' | 'gold';
  return `${ident(schemas[layer])}.${ident(relation.slice(dot + 1))}`;
}

export type CoverageTest = RelationshipsTest & { minCoverage: number };
/** A test judged on one row of measurements (counts) rather than by listing failing rows. */
export type MeasuredTest = RowCountChangeTest | CoverageTest;

export function isMeasuredTest(test: TestDefinition): test is MeasuredTest {
  return test.kind === 'row_count_change' || (test.kind === 'relationships' && test.minCoverage !== undefined);
}

/** The measurements of a measured test, and whether it fails (see measurementSql). */
export interface Measurement {
  /** row_count_change: NULL when there is no baseline (the model is not published yet). */
  baseline_rows?: number | null;
  new_rows?: number;
  child_rows?: number;
  matched_rows?: number;
  fails: boolean;
}

/**
 * One row: the counts a measured test is judged on, and `fails`. For row_count_change,
 * `baseline: false` measures the new rows only (nothing is published to compare with); a count
 * given (`publishedRows`, recorded by the published run; `newRows`, reported by the build) is taken
 * instead of counting its table.
 */
export function measurementSql(test: MeasuredTest, schemas: SchemaNames, options: { baseline?: boolean; publishedRows?: string; newRows?: number } = {}): string {
  if (test.kind === 'row_count_change') {
    const newRows = options.newRows !== undefined ? `${literal(String(options.newRows))}::bigint` : `(select count(*) from ${compiledRelation(test.model, schemas)})`;
    if (options.baseline === false) return `select null::bigint as baseline_rows, ${newRows} as new_rows, false as fails`;
    const publishedRows = options.publishedRows !== undefined ? `${literal(options.publishedRows)}::bigint` : `(select count(*) from ${publishedRelation(test.model, schemas)})`;
    return volumeMeasurementSql(test, `select ${publishedRows} as baseline_rows, ${newRows} as new_rows`);
  }
  const relation = compiledRelation(test.model, schemas);
  const rows = test.where ? `(select * from ${relation} where (${compileSql(withoutTrailingSemicolon(test.where), schemas).sql})) as t` : `${relation} as t`;
  const parentKeys = `(select distinct p.${ident(test.field)} as parent_key from ${compiledRelation(test.to, schemas)} as p) as parent_keys`;
  return `select child_rows, matched_rows, matched_rows < ${Number(test.minCoverage)} * child_rows as fails
  from (select count(*) as child_rows, count(parent_keys.parent_key) as matched_rows
          from ${rows} left join ${parentKeys} on parent_keys.parent_key = t.${ident(test.column)}) as counts`;
}

/** Rows the measured test counts as failing: the rows lost, or the child rows without a parent. */
/**
 * The volume guard judged on a query of its two counts (`baseline_rows`, `new_rows`): every form of
 * row_count_change, full or incremental, fails by this one rule.
 */
export function volumeMeasurementSql(test: RowCountChangeTest, counts: string): string {
  return `select baseline_rows, new_rows,
       baseline_rows > 0 and (new_rows = 0 or baseline_rows - new_rows > ${Number(test.maxDrop)} * baseline_rows) as fails
  from (${counts}) as counts`;
}

export function measuredFailingRows(test: MeasuredTest, m: Measurement): number {
  if (!m.fails) return 0;
  return test.kind === 'row_count_change' ? Number(m.baseline_rows ?? 0) - Number(m.new_rows ?? 0) : Number(m.child_rows ?? 0) - Number(m.matched_rows ?? 0);
}

/** The measurements in one sentence, passed or not (etl.test_results.message). */
export function measuredMessage(test: MeasuredTest, m: Measurement, published: string = test.model): string {
  const rows = (x: unknown) => `${Number(x ?? 0).toLocaleString('en-US')} ${Number(x) === 1 ? 'row' : 'rows'}`;
  const pct = (x: number) => `${(Math.round(x * 1000) / 10).toFixed(1)}%`;
  if (test.kind === 'row_count_change') {
    const now = Number(m.new_rows ?? 0);
    if (m.baseline_rows === null || m.baseline_rows === undefined) return `no baseline: ${published} is not published yet (${rows(now)} now)`;
    const before = Number(m.baseline_rows);
    if (before > 0 && now === 0) return `${rows(before)} published, 0 rows now: the model is empty`;
    const change = before > 0 ? (now - before) / before : 0;
    return `${rows(before)} published, ${rows(now)} now (${change > 0 ? '+' : ''}${pct(change)}; a drop of more than ${pct(test.maxDrop)} fails)`;
  }
  const child = Number(m.child_rows ?? 0);
  const matched = Number(m.matched_rows ?? 0);
  // rounded down: 99.97% of the rows is not 100.0%
  const share = child ? `${(Math.floor((matched / child) * 1000) / 10).toFixed(1)}%` : '—';
  return `${Number(matched).toLocaleString('en-US')} of ${rows(child)}${test.where ? ` (where ${test.where})` : ''} (${share}) find their ${test.column} in ${test.to}.${test.field}; at least ${pct(test.minCoverage)} must`;
}

/**
 * The kinds whose failure is a condition on one row of the model (failingRowPredicate): the data
 * tests of a model with these kinds are counted in one scan.
 */
export const ROW_LEVEL_TEST_KINDS: ReadonlySet<TestKind> = new Set(['not_null', 'accepted_values', 'expression']);

/**
 * For the row-level kinds (not_null, accepted_values, expression): the condition under which a row
 * of the model, aliased `t`, fails the test, so that all such tests of a model are counted in one
 * scan. Undefined for the other kinds.
 */
export function failingRowPredicate(test: TestDefinition, schemas: SchemaNames): string | undefined {
  const c = (sql: string) => compileSql(withoutTrailingSemicolon(sql), schemas).sql;
  const scope = (pred: string) => ('where' in test && test.where ? `(${c(test.where)}) and (${pred})` : pred);
  switch (test.kind) {
    case 'not_null':
      return scope(test.columns.map((col) => `t.${ident(col)} is null`).join(' or '));
    case 'accepted_values': {
      const col = `t.${ident(test.column)}`;
      const list = test.values.map((v) => literal(String(v))).join(', ');
      return scope(test.allowNull ? `${col} is not null and ${col}::text not in (${list})` : `${col} is null or ${col}::text not in (${list})`);
    }
    case 'expression':
      return scope(`not (${c(test.expression)})`);
    default:
      return undefined;
  }
}

/** One sentence about what failed, for etl.test_results.message and the run summary. */
export function failureMessage(test: TestDefinition, failingRows: number, sample: Record<string, unknown>[]): string {
  const rows = `${failingRows} ${failingRows === 1 ? 'row' : 'rows'}`;
  switch (test.kind) {
    case 'not_null':
      return `${rows} where ${test.columns.join(' or ')} is null`;
    case 'unique':
      return `${failingRows} ${failingRows === 1 ? 'value' : 'values'} of (${test.columns.join(', ')}) ${failingRows === 1 ? 'occurs' : 'occur'} more than once`;
    case 'accepted_values':
      return `${rows} with ${test.column} not in (${test.values.join(', ')})${test.allowNull ? '' : ' or NULL'}`;
    case 'relationships':
      if (test.minCoverage !== undefined) return measuredMessage(test as CoverageTest, { ...(sample[0] ?? {}), fails: true });
      return `${rows} whose ${test.column} has no match in ${test.to}.${test.field}${test.where ? ` (where ${test.where})` : ''}`;
    case 'expression':
      return `${rows} where not (${test.expression})`;
    case 'query':
      return `${rows} returned`;
    case 'equal': {
      const s = sample[0] ?? {};
      return `left ${JSON.stringify(s.left_value)} ≠ right ${JSON.stringify(s.right_value)}${test.tolerance > 0 ? ` (difference ${s.difference}, tolerance ${test.tolerance})` : ''}`;
    }
    case 'row_count_change':
      return measuredMessage(test, { ...(sample[0] ?? {}), fails: true });
  }
}
