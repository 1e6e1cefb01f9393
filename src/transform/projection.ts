/**
 * `config.meta.projection_of: <input>`: the model holds exactly one row per row of the input, and
 * each of the input's columns it names under the same name holds the input row's value. Checked
 * here from the model's parse tree (PostgreSQL's grammar, sql-lexer.ts), never taken on trust: a
 * model whose SQL does not have the shape below is a problem of its files (project.ts).
 *
 * The shape, over the top-level select and the CTEs and subqueries it reads (each rule is why the
 * count of rows is that of the input):
 * - a select carries the input when it has no where, group by, having, distinct, window clause,
 *   set operation, values list or limit (an offset is allowed only as the constant 0), every
 *   function in its output list (outside a subquery, which yields one value per row) is a scalar
 *   one (ScalarFunctions: neither a set-returning nor an aggregate nor a window function), and its
 *   from list, cross joins flattened, is one carrier (the input itself, or a CTE or subquery that
 *   carries it) and any number of one-row relations: cross joining with one row keeps each row once;
 * - a select has exactly one row when it has no from list, or when it aggregates (an aggregate in
 *   its output list) without group by, having or limit, or when it reads only one-row relations
 *   under the carrier's other conditions;
 * - a column is copied when an output column is a bare column reference to a copied column of the
 *   carrier (to any column, for the input itself): qualified by the carrier's name, or unqualified
 *   when no one-row relation of the select has an output column of that name.
 *
 * Only the shapes above are accepted; anything else (a join with a condition, a base table as a
 * one-row relation, `select *`, a recursive CTE) is reported, with what was found.
 */
import type { FuncCall, Node, SelectStmt } from 'libpg-query';
import { parseSync } from './sql-lexer.ts';
import { FUNCTION_SCHEMA, stringValue } from './sql-parser.ts';
import type { RelationName } from './types.ts';

/**
 * The functions an output column may call on a carrier or one-row select: scalar built-ins, each
 * returning one value per call (no set-returning, aggregate or window function is here), and the
 * project's functions (`etl.<name>`, sql/functions: one SQL expression each, `return <expression>`,
 * which is a scalar).
 */
const SCALAR_FUNCTIONS: ReadonlySet<string> = new Set([
  'abs',
  'age',
  'ceil',
  'ceiling',
  'concat',
  'concat_ws',
  'current_setting',
  'date_part',
  'date_trunc',
  'extract',
  'floor',
  'length',
  'lower',
  'make_date',
  'make_interval',
  'md5',
  'round',
  'trim',
  'btrim',
  'upper',
  'width_bucket',
]);
/** Aggregates that make a select without group by one row. */
const AGGREGATES: ReadonlySet<string> = new Set(['array_agg', 'avg', 'bool_and', 'bool_or', 'count', 'max', 'min', 'string_agg', 'sum']);

/** What a relation in a from list is, for the select that reads it. */
type Item =
  | { kind: 'one-row'; name: string; columns: ReadonlySet<string> | undefined }
  | { kind: 'carrier'; name: string; copied: ReadonlySet<string> | 'all' };

type Scope = ReadonlyMap<string, SelectStmt>;

class NotProven extends Error {}

function fail(why: string): never {
  throw new NotProven(why);
}

/**
 * The columns of `input` that the model copies, when its select `sql` holds exactly one row per
 * row of `input` (the module's comment); otherwise why that is not proven from the SQL.
 */
export function projectionColumns(sql: string, input: RelationName): { columns: ReadonlySet<string> } | { problem: string } {
  try {
    const stmt = parseSync(sql).stmts?.[0]?.stmt as Node | undefined;
    if (!stmt || !('SelectStmt' in stmt)) fail('the model is not a select');
    const copied = carried(stmt.SelectStmt as SelectStmt, input, new Map());
    if (copied === 'all') fail(`the select reads ${input} but names none of its columns`);
    return { columns: copied };
  } catch (err) {
    if (err instanceof NotProven) return { problem: err.message };
    throw err;
  }
}

/** With the statement's CTEs added to the scope (each sees those before it). */
function withCtes(select: SelectStmt, scope: Scope): Scope {
  const clause = select.withClause;
  if (!clause) return scope;
  if (clause.recursive) fail('a recursive with');
  const inner = new Map(scope);
  for (const node of clause.ctes ?? []) {
    const cte = (node as { CommonTableExpr?: { ctename?: string; ctequery?: Node } }).CommonTableExpr;
    if (!cte?.ctename || !cte.ctequery || !('SelectStmt' in cte.ctequery)) fail(`the CTE ${cte?.ctename ?? '?'} is not a select`);
    inner.set(cte.ctename, cte.ctequery.SelectStmt as SelectStmt);
  }
  return inner;
}

/** The clauses that may drop or repeat rows: none allowed on a carrier. */
function assertRowPreserving(select: SelectStmt, what: string): void {
  if ((select.op && select.op !== 'SETOP_NONE') || select.valuesLists) fail(`${what}: a set operation or values list`);
  if (select.whereClause) fail(`${what}: a where`);
  if (select.groupClause || select.havingClause) fail(`${what}: a group by or having`);
  if (select.distinctClause) fail(`${what}: a distinct`);
  if (select.windowClause) fail(`${what}: a window clause`);
  if (select.limitCount) fail(`${what}: a limit`);
  if (select.limitOffset && !zeroConstant(select.limitOffset)) fail(`${what}: an offset other than 0`);
}

function zeroConstant(node: Node): boolean {
  const constant = (node as { A_Const?: { ival?: { ival?: number } } }).A_Const;
  return constant?.ival !== undefined && (constant.ival.ival ?? 0) === 0;
}

/** The columns of `input` that `select` copies ('all' for the input itself), when it carries it. */
function carried(select: SelectStmt, input: RelationName, outer: Scope): ReadonlySet<string> | 'all' {
  const scope = withCtes(select, outer);
  assertRowPreserving(select, 'the carrier');
  const items = fromItems(select, scope, input);
  const carriers = items.filter((i) => i.kind === 'carrier');
  if (carriers.length !== 1) fail(`a select reads ${carriers.length} relations carrying ${input}, expected one beside one-row relations`);
  const carrier = carriers[0] as Extract<Item, { kind: 'carrier' }>;
  const oneRow = items.filter((i) => i.kind === 'one-row') as Extract<Item, { kind: 'one-row' }>[];
  const copied = new Set<string>();
  for (const node of select.targetList ?? []) {
    const target = (node as { ResTarget?: { name?: string; val?: Node } }).ResTarget;
    if (!target?.val) fail('an output column without a value');
    assertScalar(target.val, 'the carrier');
    const ref = columnRef(target.val);
    if (ref === '*') fail('select *: name the columns');
    if (!ref) continue;
    const [qualifier, column] = ref.length === 2 ? ref : [undefined, ref[0]!];
    const fromCarrier = qualifier === undefined ? !oneRow.some((o) => o.columns === undefined || o.columns.has(column!)) : qualifier === carrier.name;
    const name = target.name ?? column!;
    if (fromCarrier && name === column && (carrier.copied === 'all' || carrier.copied.has(column!))) copied.add(column!);
  }
  return carrier.copied === 'all' && copied.size === 0 ? 'all' : copied;
}

/** A bare column reference as its names (`['c', 'k']`, `['k']`), '*' for a star, undefined for any other expression. */
function columnRef(node: Node): string[] | '*' | undefined {
  const ref = (node as { ColumnRef?: { fields?: Node[] } }).ColumnRef;
  if (!ref) return undefined;
  const fields = ref.fields ?? [];
  if (fields.some((f) => 'A_Star' in f)) return '*';
  const names = fields.map(stringValue);
  if (names.some((n) => n === undefined) || names.length > 2) fail('a column reference with a schema or no name');
  return names as string[];
}

/** The relations of the from list, cross joins flattened, each classified. */
function fromItems(select: SelectStmt, scope: Scope, input: RelationName): Item[] {
  const items: Item[] = [];
  const visit = (node: Node) => {
    if ('JoinExpr' in node) {
      const join = node.JoinExpr as { jointype?: string; quals?: Node; usingClause?: Node[]; isNatural?: boolean; larg?: Node; rarg?: Node; alias?: unknown };
      if (join.jointype !== 'JOIN_INNER' || join.quals || join.usingClause || join.isNatural || join.alias)
        fail('a join with a condition: only cross joins keep one row per row');
      visit(join.larg!);
      visit(join.rarg!);
    } else if ('RangeVar' in node) {
      const rv = node.RangeVar as { schemaname?: string; relname?: string; alias?: { aliasname?: string } };
      const name = rv.alias?.aliasname ?? rv.relname!;
      if (rv.schemaname) {
        if (`${rv.schemaname}.${rv.relname}` !== input) fail(`${rv.schemaname}.${rv.relname} read beside ${input}: a table is not known to hold one row`);
        items.push({ kind: 'carrier', name, copied: 'all' });
        return;
      }
      const cte = scope.get(rv.relname!);
      if (!cte) fail(`${rv.relname} is neither a CTE nor ${input}`);
      items.push(classify(cte, name, scope, input));
    } else if ('RangeSubselect' in node) {
      const sub = node.RangeSubselect as { lateral?: boolean; subquery?: Node; alias?: { aliasname?: string } };
      if (sub.lateral || !sub.subquery || !('SelectStmt' in sub.subquery)) fail('a lateral subquery or one that is not a select');
      items.push(classify(sub.subquery.SelectStmt as SelectStmt, sub.alias?.aliasname ?? '', scope, input));
    } else {
      fail(`a from item of kind ${Object.keys(node)[0]}`);
    }
  };
  for (const node of select.fromClause ?? []) visit(node);
  return items;
}

/**
 * A CTE or subquery proven to hold one row is a one-row relation (whatever it reads: an aggregate
 * over the input is one row); any other must carry the input, or the model is not proven.
 */
function classify(select: SelectStmt, name: string, scope: Scope, input: RelationName): Item {
  try {
    assertOneRow(select, scope, input);
    return { kind: 'one-row', name, columns: outputNames(select) };
  } catch (err) {
    if (!(err instanceof NotProven)) throw err;
    return { kind: 'carrier', name, copied: carried(select, input, scope) };
  }
}

/** Throws unless `select` has exactly one row (the module's comment). */
function assertOneRow(select: SelectStmt, outer: Scope, input: RelationName): void {
  const scope = withCtes(select, outer);
  if ((select.op && select.op !== 'SETOP_NONE') || select.valuesLists) fail('a one-row relation with a set operation or values list');
  if (select.limitCount || (select.limitOffset && !zeroConstant(select.limitOffset))) fail('a one-row relation with a limit or offset');
  if (select.groupClause || select.havingClause) fail('a relation beside the carrier with a group by or having: not known to hold one row');
  const targets = (select.targetList ?? []).map((n) => (n as { ResTarget?: { val?: Node } }).ResTarget?.val);
  if (targets.some((t) => t === undefined)) fail('an output column without a value');
  if (!select.fromClause?.length) {
    if (select.whereClause) fail('a relation beside the carrier with a where: not known to hold one row');
    for (const t of targets) assertScalar(t!, 'a one-row relation');
    return;
  }
  if (targets.some((t) => isAggregate(t!))) {
    for (const t of targets) assertScalar(t!, 'a one-row relation', true);
    return;
  }
  if (select.whereClause || select.distinctClause || select.windowClause) fail('a relation beside the carrier with a where: not known to hold one row');
  for (const t of targets) assertScalar(t!, 'a one-row relation');
  for (const item of fromItems(select, scope, input)) if (item.kind !== 'one-row') fail('a relation beside the carrier that reads it');
}

/** An aggregate call at the top of an output column (under casts and operators, not in a subquery). */
function isAggregate(node: Node): boolean {
  let found = false;
  visitExpression(node, (call) => {
    if (AGGREGATES.has(functionName(call) ?? '') && !call.over) found = true;
    return undefined;
  });
  return found;
}

function functionName(call: FuncCall): string | undefined {
  const names = (call.funcname ?? []).map(stringValue);
  if (names.length === 2 && names[0] === 'pg_catalog') return names[1];
  if (names.length === 2 && names[0] === FUNCTION_SCHEMA) return `${FUNCTION_SCHEMA}.${names[1]}`;
  return names.length === 1 ? names[0] : undefined;
}

/**
 * Throws when an expression calls a function that may return other than one value per row: only
 * ScalarFunctions and the project's functions (and, with `aggregates`, the aggregates, inside
 * which anything goes: they return one value for the whole select). A subquery is not entered.
 */
function assertScalar(node: Node, what: string, aggregates = false): void {
  visitExpression(node, (call) => {
    const name = functionName(call);
    if (aggregates && AGGREGATES.has(name ?? '') && !call.over) return 'skip';
    const aggregateLike = call.over || call.agg_filter || call.agg_order || call.agg_star || call.agg_distinct || call.agg_within_group;
    if (!name || aggregateLike || !(SCALAR_FUNCTIONS.has(name) || name.startsWith(`${FUNCTION_SCHEMA}.`)))
      fail(`${what} calls ${name ?? 'a function'}, not known to return one value per row`);
    return undefined;
  });
}

/** Calls `onCall` for each function call of an expression, not entering subqueries (or a call when it says 'skip'). */
function visitExpression(node: unknown, onCall: (call: FuncCall) => 'skip' | undefined): void {
  if (node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const n of node) visitExpression(n, onCall);
    return;
  }
  if ('SubLink' in node) return;
  if ('FuncCall' in node) {
    const call = (node as { FuncCall: FuncCall }).FuncCall;
    if (onCall(call) === 'skip') return;
  }
  for (const value of Object.values(node)) visitExpression(value, onCall);
}

/** The output column names of a select; undefined when one is not known (an unnamed expression, a star). */
function outputNames(select: SelectStmt): ReadonlySet<string> | undefined {
  const names = new Set<string>();
  for (const node of select.targetList ?? []) {
    const target = (node as { ResTarget?: { name?: string; val?: Node } }).ResTarget;
    if (target?.name) {
      names.add(target.name);
      continue;
    }
    const ref = target?.val ? columnRef(target.val) : undefined;
    if (!ref || ref === '*') return undefined;
    names.add(ref[ref.length - 1]!);
  }
  return names;
}
