/**
 * Column-level lineage derived from the models' SQL: for every output column of a model, the
 * columns of the relations it reads that its expression uses (`direct`), and, following those
 * through the upstream models, the bronze source columns it finally comes from (`sources`).
 *
 * The approach (documented in the docs site and tested in test/docs/lineage.test.ts):
 * 1. The model is parsed by PostgreSQL's own parser (src/transform/sql-parser.ts); the lineage is
 *    read from the raw parse tree, so comments, literals, quoted identifiers and operators written
 *    with keywords (`is distinct from`, `extract(year from x)`) are what the server takes them for.
 * 2. A query is its CTEs (each visible to the ones after it and to the body) and its body: a select,
 *    a `values` list (its columns are constants), or a set operation (union/intersect/except: the
 *    branches are combined by position and named after the first).
 * 3. A select's FROM clause gives the scope: each item (a CTE, a model, a bronze table, a subquery,
 *    a set-returning function, a join of those) under its alias, with the column aliases it
 *    declares. `*` and `a.*` expand to the columns of the items (a `using` or natural join shows
 *    its join columns once, first), as far as they are known.
 * 4. Each select-list item is an output column, named as PostgreSQL names it (`as x`, else the
 *    column, function or cast it is). Its lineage is every column reference in its expression,
 *    including aggregate arguments and filters, the partition and order of its window (named or
 *    inline) and the outputs of a scalar subquery; `a.col` is looked up in the FROM item aliased
 *    `a`, a bare `col` in the first FROM item that has it, then in the enclosing query (a correlated
 *    subquery), and a bare table alias stands for all its columns (a whole-row reference).
 * 5. A model's columns are its own lineage (computed the same way and memoized); a bronze table's
 *    columns are their own sources; a relation known only from the catalog has its column names.
 * Filters, join conditions and GROUP BY are deliberately not lineage: lineage says where a value
 * comes from, not which rows survive. References that cannot be resolved are listed in
 * `unresolved` instead of failing. A model may also declare `lineage:` (column → list of
 * `layer.table.column`) in its .yml; a declared entry replaces the derived one for that column.
 */
import type { Alias, ColumnRef, Node, RangeFunction, RangeVar, SelectStmt, WindowDef } from 'libpg-query';
import { parseStatements, SQL_VALUE_FUNCTION_NAMES, stringValue } from '../transform/index.ts';

export interface ColumnLineage {
  name: string;
  /** Columns of the relations this model reads: `silver.sales_clean.price`. */
  direct: string[];
  /** Bronze columns at the end of the chain: `bronze.sales_details.sls_price`. */
  sources: string[];
  /** True when the entry comes from a declared `lineage:` instead of the SQL. */
  declared?: boolean;
}

export interface ModelLineage {
  model: string;
  columns: ColumnLineage[];
  /** References that could not be resolved (`alias.col` or `col`), for diagnosis. */
  unresolved: string[];
}

export interface LineageModelInput {
  name: string;
  sql: string;
  /** Declared lineage, column → [`layer.table.column`, …]. */
  lineage?: Record<string, string[]>;
}

export interface LineageInput {
  models: readonly LineageModelInput[];
  /** Bronze table → its columns (lower case), e.g. from the source contracts plus lineage columns. */
  bronze: Readonly<Record<string, readonly string[]>>;
  /**
   * Relation (`silver.x`) → its column names, from the database catalog: the columns of a relation
   * that is neither a model given here nor a bronze table above, so that `*` on it expands.
   */
  catalog?: Readonly<Record<string, readonly string[]>>;
}

/** Lineage of every model, keyed by model name. */
export function deriveLineage(input: LineageInput): Map<string, ModelLineage> {
  const byName = new Map(input.models.map((m) => [m.name, m]));
  const done = new Map<string, ModelLineage>();
  const inProgress = new Set<string>();

  const relationColumns = (relation: string): Col[] | undefined => {
    const dot = relation.indexOf('.');
    const [layer, table] = [relation.slice(0, dot), relation.slice(dot + 1)];
    const own = (c: string): Col => ({ name: c, direct: new Set([`${relation}.${c}`]), sources: new Set(layer === 'bronze' ? [`${relation}.${c}`] : []) });
    if (layer === 'bronze' && input.bronze[table]) return input.bronze[table].map(own);
    const lineage = byName.has(relation) ? modelLineage(relation) : undefined;
    if (lineage) return lineage.columns.map((c) => ({ name: c.name, direct: new Set([`${relation}.${c.name}`]), sources: new Set(c.sources) }));
    return input.catalog?.[relation]?.map(own);
  };

  const modelLineage = (name: string): ModelLineage | undefined => {
    const cached = done.get(name);
    if (cached) return cached;
    const model = byName.get(name);
    if (!model || inProgress.has(name)) return undefined;
    inProgress.add(name);
    const unresolved = new Set<string>();
    let columns: ColumnLineage[] = [];
    try {
      const statement = parseStatements(model.sql).statements[0]?.stmt;
      if (!statement || !('SelectStmt' in statement)) throw new Error('not a select statement');
      const cols = resolveQuery(statement.SelectStmt, new Map(), undefined, { relationColumns, unresolved });
      columns = cols.map((c) => ({ name: c.name, direct: [...c.direct].sort(), sources: [...c.sources].sort() }));
    } catch (err) {
      unresolved.add(`(could not parse: ${(err as Error).message})`);
    }
    for (const [column, refs] of Object.entries(model.lineage ?? {})) {
      const sources = new Set<string>();
      for (const ref of refs) {
        const dot = ref.lastIndexOf('.');
        const up = relationColumns(ref.slice(0, dot))?.find((c) => c.name === ref.slice(dot + 1));
        for (const s of up?.sources ?? [ref]) sources.add(s);
      }
      const entry: ColumnLineage = { name: column, direct: [...refs].sort(), sources: [...sources].sort(), declared: true };
      const i = columns.findIndex((c) => c.name === column);
      if (i >= 0) columns[i] = entry;
      else columns.push(entry);
    }
    const result: ModelLineage = { model: name, columns, unresolved: [...unresolved].sort() };
    inProgress.delete(name);
    done.set(name, result);
    return result;
  };

  for (const m of input.models) modelLineage(m.name);
  return done;
}

// ---------------------------------------------------------------------------------------------
// Resolution over the parse tree.

interface Lineage {
  direct: Set<string>;
  sources: Set<string>;
}

interface Col extends Lineage {
  name: string;
}

interface Env {
  relationColumns(relation: string): Col[] | undefined;
  unresolved: Set<string>;
}

/** A FROM item under its alias; `cols` undefined when its columns are not known. */
interface Entry {
  alias: string | undefined;
  /** `silver.customers` for a relation read without an alias (for `silver.customers.col`). */
  relation?: string;
  cols: Col[] | undefined;
}

interface Scope {
  entries: Entry[];
  /** What `*` expands to; undefined when a FROM item's columns are not known. */
  star: Col[] | undefined;
  windows: Map<string, WindowDef>;
  ctes: Map<string, Col[]>;
  parent: Scope | undefined;
}

const empty = (): Lineage => ({ direct: new Set(), sources: new Set() });

function addTo(target: Lineage, from: Lineage): void {
  for (const d of from.direct) target.direct.add(d);
  for (const s of from.sources) target.sources.add(s);
}

function copy(c: Col, name = c.name): Col {
  return { name, direct: new Set(c.direct), sources: new Set(c.sources) };
}

function names(nodes: readonly Node[] | undefined): string[] {
  return (nodes ?? []).map((n) => stringValue(n) ?? '');
}

/** Column aliases (`as t (a, b)`, a CTE's `name (a, b)`) rename the first columns by position. */
function renamed(cols: Col[], aliases: readonly string[]): Col[] {
  return cols.map((c, i) => copy(c, aliases[i] ?? c.name));
}

function resolveQuery(select: SelectStmt, outerCtes: Map<string, Col[]>, parent: Scope | undefined, env: Env): Col[] {
  const ctes = new Map(outerCtes);
  for (const node of select.withClause?.ctes ?? []) {
    if (!('CommonTableExpr' in node)) continue;
    const cte = node.CommonTableExpr;
    const query = cte.ctequery;
    if (!cte.ctename || !query || !('SelectStmt' in query)) continue;
    const aliases = names(cte.aliascolnames);
    const body = query.SelectStmt;
    // A recursive CTE reads itself: its columns are those of the non-recursive branch first.
    if (select.withClause?.recursive && body.op !== 'SETOP_NONE' && body.larg) ctes.set(cte.ctename, renamed(resolveQuery(body.larg, ctes, parent, env), aliases));
    ctes.set(cte.ctename, renamed(resolveQuery(body, ctes, parent, env), aliases));
  }
  if (select.op && select.op !== 'SETOP_NONE') {
    const left = select.larg ? resolveQuery(select.larg, ctes, parent, env) : [];
    const right = select.rarg ? resolveQuery(select.rarg, ctes, parent, env) : [];
    right.forEach((c, i) => {
      if (left[i]) addTo(left[i], c);
    });
    return left;
  }
  const scope: Scope = { entries: [], star: [], windows: new Map(), ctes, parent };
  if (select.valuesLists) {
    // `values (…), (…)`: columns column1, column2, … with the lineage of each position.
    const cols: Col[] = [];
    for (const row of select.valuesLists) {
      const items = 'List' in row ? (row.List.items ?? []) : [];
      items.forEach((item, i) => {
        cols[i] ??= { name: `column${i + 1}`, ...empty() };
        addTo(cols[i], expressionLineage(item, scope, env));
      });
    }
    return cols;
  }
  for (const item of select.fromClause ?? []) {
    const { entries, star } = fromItem(item, scope, env);
    scope.entries.push(...entries);
    scope.star = scope.star && star ? [...scope.star, ...star] : undefined;
  }
  for (const w of select.windowClause ?? []) if ('WindowDef' in w && w.WindowDef.name) scope.windows.set(w.WindowDef.name, w.WindowDef);
  const out: Col[] = [];
  for (const target of select.targetList ?? []) {
    if (!('ResTarget' in target)) continue;
    const { name, val } = target.ResTarget;
    const ref = val && 'ColumnRef' in val ? val.ColumnRef : undefined;
    const fields = ref?.fields ?? [];
    if (ref && fields.length > 0 && 'A_Star' in fields.at(-1)!) {
      const expanded = starColumns(fields, scope, env);
      for (const c of expanded ?? []) out.push(copy(c));
      continue;
    }
    out.push({ name: name ?? (val ? columnName(val) : '?column?'), ...(val ? expressionLineage(val, scope, env) : empty()) });
  }
  return out;
}

/** `*` or `a.*`: the columns it stands for, or undefined (recorded as unresolved). */
function starColumns(fields: readonly Node[], scope: Scope, env: Env): Col[] | undefined {
  const qualifier = fields.length > 1 ? names(fields.slice(0, -1)).join('.') : undefined;
  const cols = qualifier === undefined ? scope.star : findEntry(qualifier, scope)?.cols;
  if (!cols) env.unresolved.add(qualifier === undefined ? '*' : `${qualifier}.*`);
  return cols;
}

function findEntry(qualifier: string, scope: Scope | undefined): Entry | undefined {
  for (let s = scope; s; s = s.parent) {
    const entry = s.entries.find((e) => e.alias === qualifier || e.relation === qualifier);
    if (entry) return entry;
  }
  return undefined;
}

/** The entries and `*` columns of one FROM item. `scope` holds the items before it (for lateral). */
function fromItem(node: Node, scope: Scope, env: Env): { entries: Entry[]; star: Col[] | undefined } {
  const single = (alias: Alias | undefined, defaultAlias: string | undefined, cols: Col[] | undefined, relation?: string) => {
    const named = cols && alias?.colnames ? renamed(cols, names(alias.colnames)) : cols;
    const entry: Entry = { alias: alias?.aliasname ?? defaultAlias, cols: named, ...(alias?.aliasname === undefined && relation ? { relation } : {}) };
    return { entries: [entry], star: named };
  };
  if ('RangeVar' in node) {
    const r: RangeVar = node.RangeVar;
    const name = r.relname ?? '';
    if (r.schemaname === undefined) {
      const cte = scope.ctes.get(name);
      if (!cte) env.unresolved.add(name);
      return single(r.alias, name, cte);
    }
    const relation = `${r.schemaname}.${name}`;
    const cols = env.relationColumns(relation);
    if (!cols) env.unresolved.add(relation);
    return single(r.alias, name, cols, relation);
  }
  if ('RangeSubselect' in node) {
    const sub = node.RangeSubselect;
    const query = sub.subquery && 'SelectStmt' in sub.subquery ? sub.subquery.SelectStmt : undefined;
    return single(sub.alias, undefined, query ? resolveQuery(query, scope.ctes, scope, env) : undefined);
  }
  if ('RangeFunction' in node) return single(node.RangeFunction.alias, undefined, functionColumns(node.RangeFunction, scope, env));
  if ('RangeTableSample' in node && node.RangeTableSample.relation) return fromItem(node.RangeTableSample.relation, scope, env);
  if ('JoinExpr' in node) {
    const join = node.JoinExpr;
    const left = join.larg ? fromItem(join.larg, scope, env) : { entries: [], star: [] };
    const lateral: Scope = { ...scope, entries: [...scope.entries, ...left.entries] };
    const right = join.rarg ? fromItem(join.rarg, lateral, env) : { entries: [], star: [] };
    const entries = [...left.entries, ...right.entries];
    let star = left.star && right.star ? [...left.star, ...right.star] : undefined;
    const using = join.isNatural && left.star && right.star ? left.star.map((c) => c.name).filter((n) => right.star!.some((c) => c.name === n)) : names(join.usingClause);
    if (star && left.star && right.star && using.length) {
      // The join columns come first, once, with the lineage of both sides.
      const merged = using.map((n) => {
        const col: Col = { name: n, ...empty() };
        for (const c of [...left.star!, ...right.star!]) if (c.name === n) addTo(col, c);
        return col;
      });
      star = [...merged, ...star.filter((c) => !using.includes(c.name))];
    }
    if (join.alias) return single(join.alias, undefined, star);
    return { entries, star };
  }
  return { entries: [], star: undefined };
}

/**
 * A set-returning function in FROM: one column per column alias (or one, named after the alias or
 * the function), each with the lineage of the function's arguments; `with ordinality` adds one.
 */
function functionColumns(fn: RangeFunction, scope: Scope, env: Env): Col[] {
  const lineage = empty();
  let functionName: string | undefined;
  for (const f of fn.functions ?? []) {
    const call = 'List' in f ? f.List.items?.[0] : undefined;
    if (!call) continue;
    addTo(lineage, expressionLineage(call, scope, env));
    if ('FuncCall' in call) functionName ??= stringValue(call.FuncCall.funcname?.at(-1));
  }
  const colnames = fn.alias?.colnames ? names(fn.alias.colnames) : (fn.coldeflist ?? []).map((d) => ('ColumnDef' in d ? (d.ColumnDef.colname ?? '') : ''));
  const cols = (colnames.length ? colnames : [fn.alias?.aliasname ?? functionName ?? '?column?']).map((name) => ({ name, direct: new Set(lineage.direct), sources: new Set(lineage.sources) }));
  if (fn.ordinality) cols.push({ name: 'ordinality', ...empty() });
  return cols;
}

/** The lineage of an expression: every column it reads (see the header, 4). */
function expressionLineage(node: unknown, scope: Scope, env: Env): Lineage {
  const lineage = empty();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const v of value) visit(v);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const n = value as Record<string, unknown>;
    if ('ColumnRef' in n) {
      const found = columnReference(n.ColumnRef as ColumnRef, scope, env);
      if (found) addTo(lineage, found);
      return;
    }
    if ('SubLink' in n) {
      const link = n.SubLink as { testexpr?: Node; subselect?: Node };
      visit(link.testexpr);
      const query = link.subselect && 'SelectStmt' in link.subselect ? link.subselect.SelectStmt : undefined;
      for (const c of query ? resolveQuery(query, scope.ctes, scope, env) : []) addTo(lineage, c);
      return;
    }
    if ('FuncCall' in n) {
      const call = n.FuncCall as { args?: Node[]; agg_order?: Node[]; agg_filter?: Node; over?: WindowDef };
      visit([call.args, call.agg_order, call.agg_filter]);
      if (call.over) windowLineage(call.over, new Set());
      return;
    }
    for (const v of Object.values(n)) visit(v);
  };
  const windowLineage = (w: WindowDef, seen: Set<string>): void => {
    visit([w.partitionClause, w.orderClause]);
    for (const ref of [w.name, w.refname]) {
      if (ref === undefined || seen.has(ref)) continue;
      seen.add(ref);
      const named = scope.windows.get(ref);
      if (named) windowLineage(named, seen);
    }
  };
  visit(node);
  return lineage;
}

/** What a column reference reads: a column, or all columns of a table alias (a whole row). */
function columnReference(ref: ColumnRef, scope: Scope, env: Env): Lineage | undefined {
  const fields = ref.fields ?? [];
  if (fields.length > 0 && 'A_Star' in fields.at(-1)!) {
    const lineage = empty();
    for (const c of starColumns(fields, scope, env) ?? []) addTo(lineage, c);
    return lineage;
  }
  const parts = names(fields);
  const column = parts.at(-1)!;
  const qualifier = parts.length > 1 ? parts.slice(0, -1).join('.') : undefined;
  if (qualifier !== undefined) {
    const found = findEntry(qualifier, scope)?.cols?.find((c) => c.name === column);
    if (!found) env.unresolved.add(`${qualifier}.${column}`);
    return found;
  }
  for (let s: Scope | undefined = scope; s; s = s.parent) {
    for (const e of s.entries) {
      const found = e.cols?.find((c) => c.name === column);
      if (found) return found;
    }
  }
  const whole = findEntry(column, scope);
  if (whole?.cols) {
    const lineage = empty();
    for (const c of whole.cols) addTo(lineage, c);
    return lineage;
  }
  env.unresolved.add(column);
  return undefined;
}

/** The name PostgreSQL gives an output column without `as` (FigureColname in the server). */
function columnName(node: Node): string {
  return figure(node) ?? '?column?';
}

/** The name of a column, function or construct the node is, undefined for an operator or a constant. */
function figure(node: Node | undefined): string | undefined {
  if (!node) return undefined;
  if ('ColumnRef' in node) return stringValue(node.ColumnRef.fields?.at(-1));
  if ('A_Indirection' in node) {
    const last = node.A_Indirection.indirection?.at(-1);
    return stringValue(last) ?? figure(node.A_Indirection.arg);
  }
  if ('FuncCall' in node) return stringValue(node.FuncCall.funcname?.at(-1));
  if ('A_Expr' in node) return node.A_Expr.kind === 'AEXPR_NULLIF' ? 'nullif' : undefined;
  if ('TypeCast' in node) {
    const inner = figure(node.TypeCast.arg);
    if (inner !== undefined) return inner;
    const type = stringValue(node.TypeCast.typeName?.names?.at(-1));
    return type;
  }
  if ('CollateClause' in node) return figure(node.CollateClause.arg);
  if ('GroupingFunc' in node) return 'grouping';
  if ('SubLink' in node) {
    const link = node.SubLink;
    if (link.subLinkType === 'EXISTS_SUBLINK') return 'exists';
    if (link.subLinkType === 'ARRAY_SUBLINK') return 'array';
    if (link.subLinkType === 'EXPR_SUBLINK' && link.subselect && 'SelectStmt' in link.subselect) {
      const first = link.subselect.SelectStmt.targetList?.[0];
      if (first && 'ResTarget' in first) return first.ResTarget.name ?? figure(first.ResTarget.val);
    }
    return undefined;
  }
  if ('CaseExpr' in node) return 'case';
  if ('A_ArrayExpr' in node) return 'array';
  if ('RowExpr' in node) return 'row';
  if ('CoalesceExpr' in node) return 'coalesce';
  if ('MinMaxExpr' in node) return node.MinMaxExpr.op === 'IS_GREATEST' ? 'greatest' : 'least';
  if ('SQLValueFunction' in node) return SQL_VALUE_FUNCTION_NAMES[node.SQLValueFunction.op ?? ''];
  return undefined;
}
