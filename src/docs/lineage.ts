/**
 * Column-level lineage derived from the models' SQL: for every output column of a model, the
 * columns of the relations it reads that its expression uses (`direct`), and, following those
 * through the upstream models, the bronze source columns it finally comes from (`sources`).
 *
 * The approach (documented in the docs site and tested in test/docs/lineage.test.ts):
 * 1. Comments, string literals and quoted identifiers are masked (src/transform/sql-lexer.ts), the
 *    rest is split into tokens.
 * 2. A query is parsed into its CTEs and its body; a body is one or more `select`s joined by
 *    union/intersect/except. Of each select only the select list, the FROM clause (relations, CTEs,
 *    subqueries and their aliases) and the named WINDOW definitions are read.
 * 3. Each select-list item is an expression and an output name (`as x`, a bare trailing alias, or
 *    the column name of a plain reference). The identifiers of the expression that are not
 *    keywords, function names, type names or window names are column references; `a.col` is looked
 *    up in the FROM item aliased `a`, a bare `col` in the first FROM item that has it. `*` and `a.*`
 *    expand to the columns of the FROM items. `over w` adds the references of window `w`.
 * 4. A FROM item is a CTE (resolved recursively), a subquery, a model (its own lineage, computed
 *    the same way and memoized) or a bronze table (its columns are its own sources).
 * 5. Set operations combine the branches by position, named after the first branch.
 * Filters, join conditions and GROUP BY are deliberately not lineage: lineage says where a value
 * comes from, not which rows survive. References that cannot be resolved are listed in
 * `unresolved` instead of failing. A model may also declare `lineage:` (column → list of
 * `layer.table.column`) in its .yml; a declared entry replaces the derived one for that column.
 */
import { maskSql } from '../transform/sql-lexer.ts';

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
}

/** Lineage of every model, keyed by model name. */
export function deriveLineage(input: LineageInput): Map<string, ModelLineage> {
  const byName = new Map(input.models.map((m) => [m.name, m]));
  const done = new Map<string, ModelLineage>();
  const inProgress = new Set<string>();

  const relationColumns = (relation: string): Col[] | undefined => {
    const [layer, table] = relation.split('.') as [string, string];
    if (layer === 'bronze') {
      const cols = input.bronze[table];
      return cols?.map((c) => ({ name: c, direct: new Set([`${relation}.${c}`]), sources: new Set([`${relation}.${c}`]) }));
    }
    const lineage = modelLineage(relation);
    return lineage?.columns.map((c) => ({ name: c.name, direct: new Set([`${relation}.${c.name}`]), sources: new Set(c.sources) }));
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
      const tokens = tokenize(maskSql(model.sql));
      const parser = new Parser(tokens);
      const query = parser.query();
      const cols = resolveQuery(query, new Map(), { relationColumns, unresolved });
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
// Tokens and a small parser for the subset of SELECT that lineage needs.

interface Token {
  /** Lower-cased word, or the punctuation itself. */
  t: string;
  word: boolean;
}

function tokenize(masked: string): Token[] {
  const tokens: Token[] = [];
  const re = /([\p{L}_][\p{L}\p{N}_$]*)|(\d+(?:\.\d*)?(?:e[+-]?\d+)?)|(::|<>|<=|>=|!=|\|\||[-+*/%^=<>(),.;[\]:~!@#&|?])|(\S)/giu;
  for (const m of masked.matchAll(re)) {
    if (m[1]) tokens.push({ t: m[1].toLowerCase(), word: true });
    else if (m[2]) tokens.push({ t: '0', word: false });
    else tokens.push({ t: m[3] ?? m[4]!, word: false });
  }
  return tokens;
}

interface Query {
  ctes: Map<string, Query>;
  branches: Select[];
}

interface SelectItem {
  tokens: Token[];
  name: string | undefined;
  /** `*` or `alias.*` */
  star?: { qualifier?: string };
}

interface FromItem {
  alias: string;
  relation?: string;
  subquery?: Query;
}

interface Select {
  items: SelectItem[];
  from: FromItem[];
  windows: Map<string, Token[]>;
}

const CLAUSE_END = new Set(['from', 'where', 'group', 'having', 'window', 'order', 'limit', 'offset', 'union', 'intersect', 'except', 'fetch', 'for', 'into']);
const FROM_END = new Set(['where', 'group', 'having', 'window', 'order', 'limit', 'offset', 'union', 'intersect', 'except', 'fetch', 'for']);
const JOIN_WORDS = new Set(['join', 'left', 'right', 'full', 'inner', 'outer', 'cross', 'natural', 'lateral']);
const KEYWORDS = new Set([
  'select', 'from', 'where', 'and', 'or', 'not', 'case', 'when', 'then', 'else', 'end', 'as', 'is', 'null', 'true', 'false', 'in', 'between',
  'like', 'ilike', 'similar', 'escape', 'distinct', 'on', 'using', 'join', 'left', 'right', 'full', 'inner', 'outer', 'cross', 'natural',
  'lateral', 'over', 'partition', 'by', 'order', 'asc', 'desc', 'nulls', 'first', 'last', 'filter', 'within', 'group', 'having', 'limit',
  'offset', 'interval', 'exists', 'any', 'all', 'some', 'array', 'row', 'rows', 'range', 'groups', 'preceding', 'following', 'unbounded',
  'current', 'collate', 'at', 'time', 'zone', 'with', 'without', 'isnull', 'notnull', 'unknown', 'leading', 'trailing', 'both', 'for',
  'from', 'to', 'date', 'timestamp', 'year', 'month', 'day', 'hour', 'minute', 'second', 'week', 'quarter', 'dow', 'isodow', 'doy',
  'epoch', 'isoyear', 'century', 'decade', 'millennium', 'milliseconds', 'microseconds', 'symmetric', 'asymmetric', 'exclude', 'ties',
  'others', 'no', 'only', 'window', 'union', 'intersect', 'except', 'values', 'default', 'recursive', 'materialized', 'ordinality',
  'is', 'of', 'precision', 'varying', 'double', 'character', 'overlaps', 'uescape', 'xor',
]);

class Parser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(k = 0): Token | undefined {
    return this.tokens[this.i + k];
  }
  private is(t: string, k = 0): boolean {
    return this.peek(k)?.t === t;
  }
  private expect(t: string): void {
    if (!this.is(t)) throw new Error(`expected '${t}' near token ${this.i} ('${this.peek()?.t ?? 'end'}')`);
    this.i++;
  }
  /** Index just past the parenthesis that closes the one at `start`. */
  private skipParens(): Token[] {
    const start = this.i;
    this.expect('(');
    let depth = 1;
    while (this.i < this.tokens.length && depth > 0) {
      const t = this.tokens[this.i++]!.t;
      if (t === '(') depth++;
      else if (t === ')') depth--;
    }
    return this.tokens.slice(start + 1, this.i - 1);
  }

  query(): Query {
    const ctes = new Map<string, Query>();
    if (this.is('with')) {
      this.i++;
      if (this.is('recursive')) this.i++;
      for (;;) {
        const name = this.peek()!.t;
        this.i++;
        const columnList = this.is('(') ? this.skipParens().filter((t) => t.word).map((t) => t.t) : [];
        this.expect('as');
        if (this.is('not')) this.i++;
        if (this.is('materialized')) this.i++;
        this.expect('(');
        let sub: Query;
        if (this.is('values')) {
          // `name (a, b) as (values ...)`: constants, columns named by the list, no sources.
          this.i--;
          this.skipParens();
          this.i--;
          sub = { ctes: new Map(), branches: [{ items: columnList.map((c) => ({ tokens: [], name: c })), from: [], windows: new Map() }] };
        } else sub = this.query();
        this.expect(')');
        ctes.set(name, sub);
        if (this.is(',')) {
          this.i++;
          continue;
        }
        break;
      }
    }
    const branches: Select[] = [];
    for (;;) {
      if (this.is('(')) {
        this.i++;
        const inner = this.query();
        this.expect(')');
        branches.push(...inner.branches);
        for (const [k, v] of inner.ctes) ctes.set(k, v);
      } else branches.push(this.select());
      if (this.is('union') || this.is('intersect') || this.is('except')) {
        this.i++;
        if (this.is('all') || this.is('distinct')) this.i++;
        continue;
      }
      break;
    }
    // order by / limit / offset of the whole query: skip to the end of this query.
    let depth = 0;
    while (this.i < this.tokens.length) {
      const t = this.peek()!.t;
      if (t === '(') depth++;
      else if (t === ')') {
        if (depth === 0) break;
        depth--;
      } else if (t === ';' && depth === 0) break;
      this.i++;
    }
    return { ctes, branches };
  }

  private select(): Select {
    this.expect('select');
    if (this.is('distinct')) {
      this.i++;
      if (this.is('on')) {
        this.i++;
        this.skipParens();
      }
    } else if (this.is('all')) this.i++;
    const items: SelectItem[] = [];
    let current: Token[] = [];
    let depth = 0;
    while (this.i < this.tokens.length) {
      const tok = this.peek()!;
      // `within group (...)` and `a is [not] distinct from b` use clause words inside an expression.
      const within = tok.t === 'group' && this.peek(-1)?.t === 'within';
      const distinctFrom = tok.t === 'from' && this.peek(-1)?.t === 'distinct';
      if (depth === 0 && (tok.t === ')' || (tok.word && CLAUSE_END.has(tok.t) && !within && !distinctFrom) || tok.t === ';')) break;
      if (tok.t === '(') depth++;
      if (tok.t === ')') depth--;
      if (depth === 0 && tok.t === ',') {
        items.push(selectItem(current));
        current = [];
      } else current.push(tok);
      this.i++;
    }
    if (current.length) items.push(selectItem(current));
    const from: FromItem[] = [];
    const windows = new Map<string, Token[]>();
    if (this.is('from')) {
      this.i++;
      this.fromList(from);
    }
    // where / group by / having: skip; window: read; stop at the end of this select.
    depth = 0;
    while (this.i < this.tokens.length) {
      const tok = this.peek()!;
      if (depth === 0 && (tok.t === ')' || tok.t === ';' || ['union', 'intersect', 'except', 'order', 'limit', 'offset', 'fetch'].includes(tok.t))) break;
      if (depth === 0 && tok.t === 'window') {
        this.i++;
        for (;;) {
          const name = this.peek()?.t;
          if (!name) break;
          this.i++;
          this.expect('as');
          windows.set(name, this.skipParens());
          if (this.is(',')) {
            this.i++;
            continue;
          }
          break;
        }
        continue;
      }
      if (tok.t === '(') depth++;
      if (tok.t === ')') depth--;
      this.i++;
    }
    return { items, from, windows };
  }

  private fromList(out: FromItem[]): void {
    for (;;) {
      while (this.peek() && JOIN_WORDS.has(this.peek()!.t)) this.i++;
      const tok = this.peek();
      if (!tok) return;
      let item: FromItem | undefined;
      if (tok.t === '(') {
        const save = this.i;
        this.i++;
        if (this.is('select') || this.is('with') || this.is('(')) {
          const sub = this.query();
          this.expect(')');
          item = { alias: '', subquery: sub };
        } else {
          this.i = save;
          this.skipParens();
        }
      } else if (tok.word) {
        let name = tok.t;
        this.i++;
        if (this.is('.') && this.peek(1)?.word) {
          name = `${name}.${this.peek(1)!.t}`;
          this.i += 2;
        }
        if (this.is('(')) {
          this.skipParens(); // a set-returning function: no column lineage
          item = { alias: name.split('.').pop()! };
        } else item = { alias: name.split('.').pop()!, relation: name };
      }
      if (this.is('with') && this.is('ordinality', 1)) this.i += 2;
      if (this.is('as')) this.i++;
      const aliasTok = this.peek();
      if (aliasTok?.word && !KEYWORDS.has(aliasTok.t) && !JOIN_WORDS.has(aliasTok.t)) {
        if (item) item.alias = aliasTok.t;
        this.i++;
        if (this.is('(')) this.skipParens(); // column aliases
      }
      if (item) out.push(item);
      // join condition (on … / using (…)) up to the next item
      let depth = 0;
      while (this.i < this.tokens.length) {
        const t = this.peek()!;
        if (depth === 0 && (t.t === ')' || t.t === ';' || FROM_END.has(t.t))) return;
        if (depth === 0 && t.t === ',') {
          this.i++;
          break;
        }
        if (depth === 0 && t.t === 'join') {
          this.i++;
          break;
        }
        if (t.t === '(') depth++;
        if (t.t === ')') depth--;
        this.i++;
      }
    }
  }
}

function selectItem(tokens: Token[]): SelectItem {
  const n = tokens.length;
  if (n === 1 && tokens[0]!.t === '*') return { tokens: [], name: undefined, star: {} };
  if (n === 3 && tokens[0]!.word && tokens[1]!.t === '.' && tokens[2]!.t === '*') return { tokens: [], name: undefined, star: { qualifier: tokens[0]!.t } };
  if (n >= 2 && tokens[n - 2]!.t === 'as' && tokens[n - 1]!.word) return { tokens: tokens.slice(0, -2), name: tokens[n - 1]!.t };
  const last = tokens[n - 1];
  const prev = tokens[n - 2];
  if (n >= 2 && last?.word && !KEYWORDS.has(last.t) && prev && (prev.word || prev.t === ')') && !KEYWORDS.has(prev.t) && prev.t !== '.') {
    return { tokens: tokens.slice(0, -1), name: last.t };
  }
  if (n >= 2 && last?.word && prev && (prev.t === ')' || prev.t === 'end') && !KEYWORDS.has(last.t)) return { tokens: tokens.slice(0, -1), name: last.t };
  // a plain reference keeps its column name
  if (last?.word && (n === 1 || (n === 3 && tokens[1]!.t === '.'))) return { tokens, name: last.t };
  return { tokens, name: undefined };
}

// ---------------------------------------------------------------------------------------------
// Resolution.

interface Col {
  name: string;
  direct: Set<string>;
  sources: Set<string>;
}

interface Env {
  relationColumns(relation: string): Col[] | undefined;
  unresolved: Set<string>;
}

function resolveQuery(query: Query, outerCtes: Map<string, Col[]>, env: Env): Col[] {
  const ctes = new Map(outerCtes);
  for (const [name, q] of query.ctes) ctes.set(name, resolveQuery(q, ctes, env));
  let result: Col[] | undefined;
  for (const branch of query.branches) {
    const cols = resolveSelect(branch, ctes, env);
    if (!result) result = cols;
    else {
      cols.forEach((c, i) => {
        const target = result![i];
        if (!target) return;
        for (const d of c.direct) target.direct.add(d);
        for (const s of c.sources) target.sources.add(s);
      });
    }
  }
  return result ?? [];
}

function resolveSelect(select: Select, ctes: Map<string, Col[]>, env: Env): Col[] {
  const scope: { alias: string; cols: Col[] | undefined }[] = select.from.map((f) => {
    if (f.subquery) return { alias: f.alias, cols: resolveQuery(f.subquery, ctes, env) };
    if (f.relation && !f.relation.includes('.') && ctes.has(f.relation)) return { alias: f.alias, cols: ctes.get(f.relation) };
    if (f.relation?.includes('.')) return { alias: f.alias, cols: env.relationColumns(f.relation) };
    return { alias: f.alias, cols: undefined };
  });
  // Within one select, a CTE reached through its alias passes its lineage on unchanged: `direct`
  // should name model columns, so CTE columns carry the direct set of what they read.
  const lookup = (qualifier: string | undefined, column: string): Col | undefined => {
    if (qualifier) {
      const s = scope.find((x) => x.alias === qualifier);
      return s?.cols?.find((c) => c.name === column);
    }
    for (const s of scope) {
      const c = s.cols?.find((x) => x.name === column);
      if (c) return c;
    }
    return undefined;
  };
  const out: Col[] = [];
  for (const item of select.items) {
    if (item.star) {
      const sources = item.star.qualifier ? scope.filter((s) => s.alias === item.star!.qualifier) : scope;
      if (!sources.length) env.unresolved.add(`${item.star.qualifier}.*`);
      for (const s of sources) for (const c of s.cols ?? []) out.push({ name: c.name, direct: new Set(c.direct), sources: new Set(c.sources) });
      continue;
    }
    const col: Col = { name: item.name ?? `?column?`, direct: new Set(), sources: new Set() };
    const refs = columnRefs(item.tokens, select.windows);
    for (const ref of refs) {
      const found = lookup(ref.qualifier, ref.column);
      if (!found) {
        if (ref.qualifier || !KEYWORDS.has(ref.column)) env.unresolved.add(ref.qualifier ? `${ref.qualifier}.${ref.column}` : ref.column);
        continue;
      }
      for (const d of found.direct) col.direct.add(d);
      for (const s of found.sources) col.sources.add(s);
    }
    out.push(col);
  }
  return out;
}

function columnRefs(tokens: Token[], windows: Map<string, Token[]>): { qualifier?: string; column: string }[] {
  const refs: { qualifier?: string; column: string }[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    const prev = tokens[i - 1];
    if (!tok.word) continue;
    if (prev?.t === '::') {
      // a type name: skip it and any words that belong to it (double precision, with time zone)
      while (tokens[i + 1]?.word && ['precision', 'varying', 'with', 'without', 'time', 'zone'].includes(tokens[i + 1]!.t)) i++;
      continue;
    }
    if (prev?.t === '.') continue; // handled with its qualifier
    const next = tokens[i + 1];
    if (tok.t === 'over' && tokens[i + 1]?.word) {
      const w = windows.get(tokens[i + 1]!.t);
      if (w) refs.push(...columnRefs(w, windows));
      i++;
      continue;
    }
    if (prev?.t === 'as' && tokens[i - 2] !== undefined) continue; // cast(x as type)
    if (next?.t === '(') continue; // a function
    if (KEYWORDS.has(tok.t) && next?.t !== '.') continue;
    if (next?.t === '.' && tokens[i + 2]?.word) {
      if (tokens[i + 3]?.t === '.' && tokens[i + 4]?.word) {
        refs.push({ qualifier: tokens[i + 2]!.t, column: tokens[i + 4]!.t });
        i += 4;
      } else {
        refs.push({ qualifier: tok.t, column: tokens[i + 2]!.t });
        i += 2;
      }
      continue;
    }
    if (next?.t === '.' && tokens[i + 2]?.t === '*') continue;
    refs.push({ column: tok.t });
  }
  return refs;
}
