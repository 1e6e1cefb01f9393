/**
 * The models' SQL read by PostgreSQL's own parser (libpg-query, see sql-lexer.ts), turned into what
 * the loader, the graph, compile and the docs need:
 * - `parseStatements`: the raw parse tree, with node positions converted to offsets in the text;
 * - `extractReferences`: every `bronze.x`, `silver.x`, `gold.x` the SQL (a model, or a query or
 *   predicate of a `.yml`) names as a relation or as the qualifier of a column (`silver.x.col`),
 *   with the offsets of the schema word — never a word in a comment, a string constant or a quoted
 *   identifier, never a CTE, never an operator such as `is distinct from` or the `from` of
 *   `extract(year from x)`;
 * - `extractFunctionReferences`: every call of a function of the target's `etl` schema
 *   (`etl.real_date(…)`) and the name a `create function etl.x` statement gives, with the offsets
 *   of the schema word: compile rewrites it like a layer's, but a function is no dependency;
 * - `readModelSql`: the checks sql/README.md sets for a model file (one statement, a select that
 *   only reads, no clock function) with the file and line of each problem;
 * - `readFunctionSql`: the checks for a file of sql/functions (one `create function etl.<stem>`).
 */
import type { A_Const, ColumnRef, CommonTableExpr, CreateFunctionStmt, FuncCall, Node, RangeVar, RawStmt, SelectStmt, SQLValueFunction, TypeCast } from 'libpg-query';
import { byteOffsetMapper, codePointOffset, codeTokens, lineAndColumn, parseSync, type SqlToken } from './sql-lexer.ts';
import type { RelationName, SourceLayer } from './types.ts';

/** A parse tree and the way back from its positions to the text it was parsed from. */
export interface ParsedSql {
  sql: string;
  statements: RawStmt[];
  /** Offset in `sql` of a node's `location` (a UTF-8 byte offset in what the parser read). */
  offset(location: number): number;
}

/** The parser's error: its message and the offset in the text where it stopped. */
class SqlSyntaxError extends Error {
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
function parseSnippet(sql: string): ParsedSql | undefined {
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

type NodesByKind = Map<string, Record<string, unknown>[]>;

/** The nodes of the given kinds in the tree under `value`, grouped by kind, in one walk. */
function collectNodes(value: unknown, kinds: ReadonlySet<string>, into: NodesByKind = new Map()): NodesByKind {
  if (Array.isArray(value)) {
    for (const v of value) if (v !== null && typeof v === 'object') collectNodes(v, kinds, into);
    return into;
  }
  for (const key in value as Record<string, unknown>) {
    const v = (value as Record<string, unknown>)[key];
    if (v === null || typeof v !== 'object') continue;
    if (kinds.has(key)) {
      const list = into.get(key);
      if (list) list.push(v as Record<string, unknown>);
      else into.set(key, [v as Record<string, unknown>]);
    }
    collectNodes(v, kinds, into);
  }
  return into;
}

function nodesOf<T>(nodes: NodesByKind, kind: string): T[] {
  return (nodes.get(kind) ?? []) as T[];
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
  /** Offsets of the schema word: what compile rewrites. */
  schemaStart: number;
  schemaEnd: number;
}

const LAYERS: ReadonlySet<string> = new Set<SourceLayer>(['bronze', 'silver', 'gold']);

/**
 * Every schema-qualified reference to a layer in the tree, in text order: a relation
 * (`from silver.customers`) or a column's qualifier (`silver.customers.customer_id`). A reference
 * with a database name in front (`db.silver.x`) is not one of ours.
 */
function schemaReferences(parsed: ParsedSql): SqlReferences {
  const nodes = collectNodes(parsed.statements, REFERENCE_NODES);
  return { relations: referencesIn(parsed, nodes), functions: functionReferencesIn(parsed, nodes) };
}

/** What compile rewrites in a text: the relations it reads and the `etl` functions it names. */
interface SqlReferences {
  relations: readonly Reference[];
  functions: readonly FunctionReference[];
}

const NO_REFERENCES: SqlReferences = { relations: [], functions: [] };
// Text that names no layer and no etl function references none, and is not parsed; a
// Unicode-escaped identifier (U&"…") may spell any name.
const MAY_REFERENCE = /bronze|silver|gold|etl|u&/i;
// The loader, its checks, the schedule and compile read the same texts: each is parsed once.
const referencesBySql = new Map<string, SqlReferences>();
const REMEMBERED = 2000;

function remember(sql: string, refs: SqlReferences): SqlReferences {
  if (referencesBySql.size >= REMEMBERED) referencesBySql.clear();
  referencesBySql.set(sql, refs);
  return refs;
}

function referencesOf(sql: string): SqlReferences {
  const known = referencesBySql.get(sql);
  if (known) return known;
  const parsed = MAY_REFERENCE.test(sql) ? parseSnippet(sql) : undefined;
  return remember(sql, parsed ? schemaReferences(parsed) : NO_REFERENCES);
}

/**
 * The references of SQL a model or a .yml holds (a query or an expression, see parseSnippet); none
 * when it does not parse.
 */
export function extractReferences(sql: string): readonly Reference[] {
  return referencesOf(sql).relations;
}

/**
 * The `etl` functions SQL names (a model, a .yml's query or expression, a file of sql/functions),
 * in text order; none when it does not parse.
 */
export function extractFunctionReferences(sql: string): readonly FunctionReference[] {
  return referencesOf(sql).functions;
}

const REFERENCE_NODES: ReadonlySet<string> = new Set(['RangeVar', 'ColumnRef', 'FuncCall']);

function referencesIn(parsed: ParsedSql, nodes: NodesByKind): Reference[] {
  const found: { schema: string; table: string; location: number }[] = [];
  for (const r of nodesOf<RangeVar>(nodes, 'RangeVar')) {
    if (r.schemaname !== undefined && r.catalogname === undefined && r.relname !== undefined) found.push({ schema: r.schemaname, table: r.relname, location: r.location ?? -1 });
  }
  for (const c of nodesOf<ColumnRef>(nodes, 'ColumnRef')) {
    const fields = c.fields ?? [];
    const [schema, table] = [stringValue(fields[0]), stringValue(fields[1])];
    if (fields.length === 3 && schema !== undefined && table !== undefined) found.push({ schema, table, location: c.location ?? -1 });
  }
  const out = new Map<number, Reference>();
  let tokens: SqlToken[] | undefined;
  for (const f of found) {
    if (!LAYERS.has(f.schema) || f.location < 0) continue;
    const start = parsed.offset(f.location);
    // The node starts at its schema word, written `silver` (any case) or `"silver"`; the scanner
    // measures any other spelling (a Unicode-escaped U&"…" identifier).
    let end = schemaWordEnd(parsed.sql, start, f.schema);
    if (end === undefined) {
      tokens ??= codeTokens(parsed.sql);
      end = tokens.find((t) => t.start === start)?.end;
    }
    if (end === undefined) continue;
    const layer = f.schema as SourceLayer;
    out.set(start, { layer, name: f.table, relation: `${layer}.${f.table}`, schemaStart: start, schemaEnd: end });
  }
  return [...out.values()].sort((a, b) => a.schemaStart - b.schemaStart);
}

function schemaWordEnd(sql: string, start: number, schema: string): number | undefined {
  if (sql.startsWith(`"${schema}"`, start)) return start + schema.length + 2;
  if (sql.slice(start, start + schema.length).toLowerCase() === schema) return start + schema.length;
  return undefined;
}

/**
 * A file's text parsed, and `at`, which names the file and line of an offset; undefined after
 * pushing the syntax error (`what`: what the file must be, for the message).
 */
function parseFile(text: string, file: string, what: string, problems: string[]): { parsed: ParsedSql; at: (offset: number) => string } | undefined {
  const at = (offset: number) => `${file}:${lineAndColumn(text, offset).line}`;
  try {
    return { parsed: parseStatements(text), at };
  } catch (err) {
    if (!(err instanceof SqlSyntaxError)) throw err;
    problems.push(`${at(err.offset)}: ${err.message} (${what} that PostgreSQL can parse)`);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Functions of the target's etl schema

/** The schema word of the functions the models call: the target's ledger schema (`<target>_etl`). */
export const FUNCTION_SCHEMA = 'etl';

export interface FunctionReference {
  /** Function name as PostgreSQL resolves it. */
  name: string;
  /** Offsets of the schema word `etl`: what compile rewrites. */
  schemaStart: number;
  schemaEnd: number;
}

/**
 * Each call `etl.f(…)` in the tree (a name with a database in front is not one of ours), and the
 * name of each `create function etl.f`, whose node has no position: its schema word is the token
 * after `function` (or `procedure`) in the statement.
 */
function functionReferencesIn(parsed: ParsedSql, nodes: NodesByKind): FunctionReference[] {
  const found: { name: string; start: number }[] = [];
  for (const call of nodesOf<FuncCall>(nodes, 'FuncCall')) {
    const names = call.funcname ?? [];
    const name = stringValue(names[1]);
    if (names.length === 2 && stringValue(names[0]) === FUNCTION_SCHEMA && name !== undefined && (call.location ?? -1) >= 0) {
      found.push({ name, start: parsed.offset(call.location!) });
    }
  }
  let tokens: SqlToken[] | undefined;
  for (const raw of parsed.statements) {
    const create = raw.stmt && 'CreateFunctionStmt' in raw.stmt ? (raw.stmt.CreateFunctionStmt as CreateFunctionStmt) : undefined;
    const names = create?.funcname ?? [];
    const name = stringValue(names[1]);
    if (names.length !== 2 || stringValue(names[0]) !== FUNCTION_SCHEMA || name === undefined) continue;
    tokens ??= codeTokens(parsed.sql);
    const from = parsed.offset(raw.stmt_location ?? 0);
    const keyword = tokens.findIndex((t) => t.start >= from && /^(function|procedure)$/i.test(t.text));
    const schemaWord = keyword >= 0 ? tokens[keyword + 1] : undefined;
    if (schemaWord) found.push({ name, start: schemaWord.start });
  }
  const out = new Map<number, FunctionReference>();
  for (const f of found) {
    let end = schemaWordEnd(parsed.sql, f.start, FUNCTION_SCHEMA);
    if (end === undefined) {
      tokens ??= codeTokens(parsed.sql);
      end = tokens.find((t) => t.start === f.start)?.end;
    }
    if (end !== undefined) out.set(f.start, { name: f.name, schemaStart: f.start, schemaEnd: end });
  }
  return [...out.values()].sort((a, b) => a.schemaStart - b.schemaStart);
}

/**
 * Checks that `text` (a file of sql/functions) is one `create [or replace] function etl.<stem>`
 * statement; pushes each problem as `file:line: what is wrong` and returns the statement without
 * its final `;`, or undefined if there is a problem.
 */
export function readFunctionSql(text: string, file: string, stem: string, problems: string[]): string | undefined {
  const read = parseFile(text, file, 'a function file is one create function statement', problems);
  if (!read) return undefined;
  const { parsed, at } = read;
  const before = problems.length;
  const [first, second] = parsed.statements;
  const create = first?.stmt && 'CreateFunctionStmt' in first.stmt ? (first.stmt.CreateFunctionStmt as CreateFunctionStmt) : undefined;
  const start = parsed.offset(first?.stmt_location ?? 0);
  if (!create) {
    problems.push(`${at(start)}: a function file is one statement, create or replace function ${FUNCTION_SCHEMA}.${stem}(…)`);
    return undefined;
  }
  const names = (create.funcname ?? []).map(stringValue);
  if (names.length !== 2 || names[0] !== FUNCTION_SCHEMA || names[1] !== stem) {
    problems.push(`${at(start)}: the function is named ${names.join('.')}; a file of sql/functions creates ${FUNCTION_SCHEMA}.${stem}, named after the file`);
  }
  if (second) problems.push(`${at(parsed.offset(second.stmt_location ?? 0))}: more than one statement; a function file is one create function statement`);
  if (problems.length > before) return undefined;
  return text.slice(0, first!.stmt_len ? parsed.offset((first!.stmt_location ?? 0) + first!.stmt_len) : text.length);
}

// ---------------------------------------------------------------------------------------------
// A model file

export interface ModelSql {
  /** The statement without its final `;`. */
  sql: string;
  /** The distinct relations it reads, sorted. */
  dependencies: RelationName[];
  /** Whether it reads the run's dates (`current_setting('medallion.as_of')`, `medallion.data_as_of`). */
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
const AS_OF_SETTING = /medallion\.(data_)?as_of/i;

/**
 * Checks that `text` (a model file) is one statement, a select that only reads, without a clock
 * function; pushes each problem as `file:line: what is wrong` and returns undefined if there is one.
 */
export function readModelSql(text: string, file: string, problems: string[]): ModelSql | undefined {
  const read = parseFile(text, file, 'a model is one select statement', problems);
  if (!read) return undefined;
  const { parsed, at } = read;
  const [first] = parsed.statements;
  if (!first?.stmt) {
    problems.push(`${file}: no SQL (a model is one select statement)`);
    return undefined;
  }
  const before = problems.length;
  const start = parsed.offset(first.stmt_location ?? 0);
  const second = parsed.statements[1];
  if (second) problems.push(`${at(parsed.offset(second.stmt_location ?? 0))}: more than one statement; a model is one select statement`);
  if (!('SelectStmt' in first.stmt)) {
    const word = /^[^\s(;]+/.exec(text.slice(start))?.[0] ?? '';
    problems.push(`${at(start)}: a model is one select statement (starting with select or with), got '${word.toLowerCase()}'`);
    return undefined;
  }
  const nodes = collectNodes(first.stmt, MODEL_NODES);
  checkReadsOnly(nodes, parsed, at, problems);
  checkNoClock(nodes, parsed, at, problems);
  if (problems.length > before) return undefined;
  // The statement ends before its `;` (a length of 0: at the end of the text).
  const sql = text.slice(0, first.stmt_len ? parsed.offset((first.stmt_location ?? 0) + first.stmt_len) : text.length);
  const refs = remember(sql, { relations: referencesIn(parsed, nodes), functions: functionReferencesIn(parsed, nodes) }).relations;
  return {
    sql,
    dependencies: [...new Set(refs.map((r) => r.relation))].sort(),
    readsAsOf: nodesOf<A_Const>(nodes, 'A_Const').some((c) => AS_OF_SETTING.test(c.sval?.sval ?? '')),
  };
}

const MODEL_NODES: ReadonlySet<string> = new Set([...REFERENCE_NODES, 'SelectStmt', 'CommonTableExpr', 'FuncCall', 'SQLValueFunction', 'TypeCast', 'A_Const']);

/** `select … into` creates a table, `for update` locks rows, a CTE may insert, update or delete. */
function checkReadsOnly(nodes: NodesByKind, parsed: ParsedSql, at: (offset: number) => string, problems: string[]): void {
  let locking = false;
  for (const select of nodesOf<SelectStmt>(nodes, 'SelectStmt')) {
    if (select.intoClause) problems.push(`${at(parsed.offset(select.intoClause.rel?.location ?? 0))}: select … into creates a table; a model is a plain select (the runner creates its table)`);
    locking ||= (select.lockingClause?.length ?? 0) > 0;
  }
  for (const cte of nodesOf<CommonTableExpr>(nodes, 'CommonTableExpr')) {
    const statement = cte.ctequery ? Object.keys(cte.ctequery)[0] : undefined;
    if (statement && statement !== 'SelectStmt') {
      problems.push(`${at(parsed.offset(cte.location ?? 0))}: a model only reads; the CTE '${cte.ctename}' holds ${statement.replace(/Stmt$/, '').toLowerCase()} statement`);
    }
  }
  if (locking) {
    // The parse tree keeps no position for a locking clause: its line is that of its `for`.
    const tokens = codeTokens(parsed.sql);
    const i = tokens.findIndex((t, k) => t.text.toLowerCase() === 'for' && /^(update|share|no|key)$/i.test(tokens[k + 1]?.text ?? ''));
    problems.push(`${at(tokens[i]?.start ?? 0)}: a model only reads; remove the locking clause (for update / for share)`);
  }
}

function checkNoClock(nodes: NodesByKind, parsed: ParsedSql, at: (offset: number) => string, problems: string[]): void {
  const found: { what: string; location: number }[] = [];
  for (const call of nodesOf<FuncCall>(nodes, 'FuncCall')) {
    const name = stringValue(call.funcname?.at(-1));
    if (name !== undefined && CLOCK_FUNCTIONS.has(name)) found.push({ what: `${name}()`, location: call.location ?? 0 });
  }
  for (const fn of nodesOf<SQLValueFunction>(nodes, 'SQLValueFunction')) {
    const keyword = SQL_VALUE_FUNCTION_NAMES[fn.op ?? ''];
    if (keyword !== undefined && CLOCK_KEYWORDS.has(keyword)) found.push({ what: keyword, location: fn.location ?? 0 });
  }
  for (const cast of nodesOf<TypeCast>(nodes, 'TypeCast')) {
    const value = cast.arg && 'A_Const' in cast.arg ? cast.arg.A_Const.sval?.sval : undefined;
    const type = stringValue(cast.typeName?.names?.at(-1));
    if (value !== undefined && CLOCK_LITERALS.has(value.trim().toLowerCase()) && type !== undefined && DATE_TIME_TYPES.has(type)) {
      found.push({ what: `'${value}' cast to a date or time`, location: firstLocation(cast) });
    }
  }
  for (const f of found.sort((a, b) => a.location - b.location)) {
    problems.push(`${at(parsed.offset(f.location))}: ${f.what} makes the model depend on the wall clock; use current_setting('medallion.as_of')::date`);
  }
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
