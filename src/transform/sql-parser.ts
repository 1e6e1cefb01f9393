/**
 * The models' SQL read by PostgreSQL's own parser (libpg-query, see sql-lexer.ts), turned into what
 * the loader, the graph, compile and the docs need:
 * - `parseStatements` / `parseSnippet`: the raw parse tree, with node positions converted to offsets
 *   in the text;
 * - `schemaReferences`: every `bronze.x`, `silver.x`, `gold.x` the SQL names as a relation (or as
 *   the qualifier of a column, `silver.x.col`), with the offsets of the schema word — never a word
 *   in a comment, a string constant or a quoted identifier, never a CTE, never an operator such as
 *   `is distinct from` or the `from` of `extract(year from x)`;
 * - `readModelSql`: the checks sql/README.md sets for a model file (one statement, a select that
 *   only reads, no clock function) with the file and line of each problem.
 */
import { type A_Const, type ColumnRef, type Node, parseSync, type RangeVar, type RawStmt, type SelectStmt } from 'libpg-query';
import { byteOffsetMapper, codePointOffset, codeTokens, lineAndColumn, type SqlToken } from './sql-lexer.ts';
import type { RelationName, SourceLayer } from './types.ts';

/** A parse tree and the way back from its positions to the text it was parsed from. */
export interface ParsedSql {
  sql: string;
  statements: RawStmt[];
  /** Offset in `sql` of a node's `location` (a UTF-8 byte offset in what the parser read). */
  offset(location: number): number;
}

/** The parser's error: its message and the offset in the text where it stopped. */
export class SqlSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** Parses `sql` as statements. Throws SqlSyntaxError. */
export function parseStatements(sql: string): ParsedSql {
  return parseWrapped(sql, '', '');
}

// An expression (a test's `where`, an `expression` test) is parsed where the runner puts it: in a
// where clause. The prefix is ASCII, so byte and character offsets shift by its length alike.
const EXPRESSION_PREFIX = 'select where (';
const EXPRESSION_SUFFIX = '\n)';

/**
 * Parses SQL a `.yml` carries: a query (`query`, `equal` tests) or a boolean expression (`where`,
 * `expression` tests). Undefined when it is neither: the server reports the error when it runs it.
 */
export function parseSnippet(sql: string): ParsedSql | undefined {
  for (const [prefix, suffix] of [['', ''], [EXPRESSION_PREFIX, EXPRESSION_SUFFIX]] as const) {
    try {
      return parseWrapped(sql, prefix, suffix);
    } catch (err) {
      if (!(err instanceof SqlSyntaxError)) throw err;
    }
  }
  return undefined;
}

function parseWrapped(sql: string, prefix: string, suffix: string): ParsedSql {
  const text = `${prefix}${sql}${suffix}`;
  let statements: RawStmt[];
  try {
    statements = text.trim() === '' ? [] : (parseSync(text).stmts ?? []);
  } catch (err) {
    const cursor = (err as { sqlDetails?: { cursorPosition?: number } }).sqlDetails?.cursorPosition ?? prefix.length;
    const offset = Math.min(Math.max(0, codePointOffset(text, cursor) - prefix.length), sql.length);
    throw new SqlSyntaxError((err as Error).message, offset);
  }
  const at = byteOffsetMapper(text);
  return { sql, statements, offset: (location) => Math.max(0, at(location) - prefix.length) };
}

/** Calls `fn` with every node of the tree under `value` (depth first, in document order). */
export function walkNodes(value: unknown, fn: (kind: string, node: Record<string, unknown>) => void): void {
  if (Array.isArray(value)) {
    for (const v of value) walkNodes(v, fn);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [key, v] of Object.entries(value)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && /^[A-Z]/.test(key)) fn(key, v as Record<string, unknown>);
    walkNodes(v, fn);
  }
}

/** The text of a `String` node, or undefined for another node (`*`). */
export function stringValue(node: Node | undefined): string | undefined {
  return node && 'String' in node ? node.String.sval : undefined;
}

// ---------------------------------------------------------------------------------------------
// References

export interface Reference {
  layer: SourceLayer;
  /** Table name as PostgreSQL resolves it (unquoted identifiers fold to lower case). */
  name: string;
  /** `silver.customers` */
  relation: RelationName;
  /** Offsets of the schema word (what compile rewrites) and the end of the table name. */
  schemaStart: number;
  schemaEnd: number;
  end: number;
}

const LAYERS: ReadonlySet<string> = new Set<SourceLayer>(['bronze', 'silver', 'gold']);

/**
 * Every schema-qualified reference to a layer in the tree, in text order: a relation
 * (`from silver.customers`) or a column's qualifier (`silver.customers.customer_id`). A reference
 * with a database name in front (`db.silver.x`) is not one of ours.
 */
export function schemaReferences(parsed: ParsedSql): Reference[] {
  const found: { schema: string; table: string; location: number }[] = [];
  walkNodes(parsed.statements, (kind, node) => {
    if (kind === 'RangeVar') {
      const r = node as RangeVar;
      if (r.schemaname !== undefined && r.catalogname === undefined && r.relname !== undefined) found.push({ schema: r.schemaname, table: r.relname, location: r.location ?? -1 });
    } else if (kind === 'ColumnRef') {
      const fields = (node as ColumnRef).fields ?? [];
      const [schema, table] = [stringValue(fields[0]), stringValue(fields[1])];
      if (fields.length === 3 && schema !== undefined && table !== undefined) found.push({ schema, table, location: (node as ColumnRef).location ?? -1 });
    }
  });
  const refs = found.filter((f) => LAYERS.has(f.schema) && f.location >= 0);
  if (refs.length === 0) return [];
  const tokens = codeTokens(parsed.sql);
  const tokenAt = new Map<number, number>(tokens.map((t, i) => [t.start, i]));
  const out = new Map<number, Reference>();
  for (const f of refs) {
    const start = parsed.offset(f.location);
    const i = tokenAt.get(start);
    const schemaToken = i === undefined ? undefined : tokens[i];
    if (i === undefined || !schemaToken) continue;
    const layer = f.schema as SourceLayer;
    out.set(start, { layer, name: f.table, relation: `${layer}.${f.table}`, schemaStart: start, schemaEnd: schemaToken.end, end: tokens[i + 2]?.end ?? schemaToken.end });
  }
  return [...out.values()].sort((a, b) => a.schemaStart - b.schemaStart);
}

// ---------------------------------------------------------------------------------------------
// A model file

export interface ModelSql {
  /** The statement without its final `;`. */
  sql: string;
  /** The distinct relations it reads, sorted. */
  dependencies: RelationName[];
  /** Whether it reads the run's date (`current_setting('medallion.as_of')`). */
  readsAsOf: boolean;
}

const CLOCK_FUNCTIONS: ReadonlySet<string> = new Set(['now', 'clock_timestamp', 'statement_timestamp', 'transaction_timestamp', 'timeofday']);
/** Special date/time input values that read the clock when cast (`'today'::date`). */
const CLOCK_LITERALS: ReadonlySet<string> = new Set(['now', 'today', 'tomorrow', 'yesterday']);
const DATE_TIME_TYPES: ReadonlySet<string> = new Set(['date', 'timestamp', 'timestamptz', 'time', 'timetz']);
/** The keyword each SQL value function is written as (also the name of its output column). */
export const SQL_VALUE_FUNCTION_NAMES: Readonly<Record<string, string>> = {
  SVFOP_CURRENT_DATE: 'current_date',
  SVFOP_CURRENT_TIME: 'current_time',
  SVFOP_CURRENT_TIME_N: 'current_time',
  SVFOP_CURRENT_TIMESTAMP: 'current_timestamp',
  SVFOP_CURRENT_TIMESTAMP_N: 'current_timestamp',
  SVFOP_LOCALTIME: 'localtime',
  SVFOP_LOCALTIME_N: 'localtime',
  SVFOP_LOCALTIMESTAMP: 'localtimestamp',
  SVFOP_LOCALTIMESTAMP_N: 'localtimestamp',
  SVFOP_CURRENT_ROLE: 'current_role',
  SVFOP_CURRENT_USER: 'current_user',
  SVFOP_USER: 'user',
  SVFOP_SESSION_USER: 'session_user',
  SVFOP_CURRENT_CATALOG: 'current_catalog',
  SVFOP_CURRENT_SCHEMA: 'current_schema',
};
const CLOCK_KEYWORDS: ReadonlySet<string> = new Set(['current_date', 'current_time', 'current_timestamp', 'localtime', 'localtimestamp']);
const AS_OF_SETTING = /medallion\.as_of/i;

/**
 * Checks that `text` (a model file) is one statement, a select that only reads, without a clock
 * function; pushes each problem as `file:line: what is wrong` and returns undefined if there is one.
 */
export function readModelSql(text: string, file: string, problems: string[]): ModelSql | undefined {
  const at = (offset: number) => `${file}:${lineAndColumn(text, offset).line}`;
  let parsed: ParsedSql;
  try {
    parsed = parseStatements(text);
  } catch (err) {
    if (!(err instanceof SqlSyntaxError)) throw err;
    problems.push(`${at(err.offset)}: ${err.message} (a model is one select statement that PostgreSQL can parse)`);
    return undefined;
  }
  const [first] = parsed.statements;
  if (!first?.stmt) {
    problems.push(`${file}: no SQL (a model is one select statement)`);
    return undefined;
  }
  const tokens = codeTokens(text);
  const last = tokens.at(-1);
  const before = problems.length;
  // A `;` ends a statement everywhere but in a constant or a comment, which are tokens of their own.
  const separator = tokens.find((t) => t.text === ';' && t !== last);
  if (separator) problems.push(`${at(separator.start)}: more than one statement; a model is one select statement`);
  if (!('SelectStmt' in first.stmt)) {
    const start = parsed.offset(first.stmt_location ?? 0);
    problems.push(`${at(start)}: a model is one select statement (starting with select or with), got '${tokens.find((t) => t.start >= start)?.text ?? ''}'`);
    return undefined;
  }
  checkReadsOnly(first.stmt.SelectStmt, parsed, tokens, at, problems);
  checkNoClock(first.stmt, parsed, at, problems);
  if (problems.length > before) return undefined;
  const sql = last?.text === ';' ? text.slice(0, last.start) : text;
  let readsAsOf = false;
  walkNodes(first.stmt, (kind, node) => {
    if (kind === 'A_Const' && AS_OF_SETTING.test((node as A_Const).sval?.sval ?? '')) readsAsOf = true;
  });
  return { sql, dependencies: [...new Set(schemaReferences(parsed).map((r) => r.relation))].sort(), readsAsOf };
}

/** `select … into` creates a table, `for update` locks rows, a CTE may insert, update or delete. */
function checkReadsOnly(select: SelectStmt, parsed: ParsedSql, tokens: readonly SqlToken[], at: (offset: number) => string, problems: string[]): void {
  let locking = false;
  walkNodes({ SelectStmt: select }, (kind, node) => {
    if (kind === 'SelectStmt') {
      const s = node as SelectStmt;
      if (s.intoClause) problems.push(`${at(parsed.offset(s.intoClause.rel?.location ?? 0))}: select … into creates a table; a model is a plain select (the runner creates its table)`);
      locking ||= (s.lockingClause?.length ?? 0) > 0;
    } else if (kind === 'CommonTableExpr') {
      const query = (node as { ctequery?: Node; ctename?: string; location?: number }).ctequery;
      const statement = query ? Object.keys(query)[0] : undefined;
      if (statement && statement !== 'SelectStmt') {
        problems.push(`${at(parsed.offset((node as { location?: number }).location ?? 0))}: a model only reads; the CTE '${(node as { ctename?: string }).ctename}' holds ${statement.replace(/Stmt$/, '').toLowerCase()} statement`);
      }
    }
  });
  if (locking) {
    // The parse tree keeps no position for a locking clause: its line is that of its `for`.
    const i = tokens.findIndex((t, k) => t.text.toLowerCase() === 'for' && /^(update|share|no|key)$/i.test(tokens[k + 1]?.text ?? ''));
    problems.push(`${at(tokens[i]?.start ?? 0)}: a model only reads; remove the locking clause (for update / for share)`);
  }
}

function checkNoClock(statement: Node, parsed: ParsedSql, at: (offset: number) => string, problems: string[]): void {
  const found = (what: string, location: number | undefined) =>
    problems.push(`${at(parsed.offset(location ?? 0))}: ${what} makes the model depend on the wall clock; use current_setting('medallion.as_of')::date`);
  walkNodes(statement, (kind, node) => {
    if (kind === 'FuncCall') {
      const name = stringValue((node as { funcname?: Node[] }).funcname?.at(-1));
      if (name !== undefined && CLOCK_FUNCTIONS.has(name)) found(`${name}()`, (node as { location?: number }).location);
    } else if (kind === 'SQLValueFunction') {
      const keyword = SQL_VALUE_FUNCTION_NAMES[(node as { op?: string }).op ?? ''];
      if (keyword !== undefined && CLOCK_KEYWORDS.has(keyword)) found(keyword, (node as { location?: number }).location);
    } else if (kind === 'TypeCast') {
      const arg = (node as { arg?: Node }).arg;
      const value = arg && 'A_Const' in arg ? arg.A_Const.sval?.sval : undefined;
      const type = stringValue((node as { typeName?: { names?: Node[] } }).typeName?.names?.at(-1));
      if (value !== undefined && CLOCK_LITERALS.has(value.trim().toLowerCase()) && type !== undefined && DATE_TIME_TYPES.has(type)) found(`'${value}' cast to a date or time`, firstLocation(node));
    }
  });
}

/** The first position in a subtree: a typed literal (`date 'today'`) has none of its own. */
function firstLocation(value: unknown): number {
  if (value === null || typeof value !== 'object') return -1;
  const own = (value as { location?: unknown }).location;
  let first = typeof own === 'number' && own >= 0 ? own : -1;
  for (const v of Object.values(value)) {
    const inner = firstLocation(v);
    if (inner >= 0 && (first < 0 || inner < first)) first = inner;
  }
  return first;
}
