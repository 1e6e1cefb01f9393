/**
 * SQL text as PostgreSQL's own scanner and parser read it. libpg-query ships the server's scanner
 * and grammar compiled to WebAssembly inside the npm package; its synchronous functions need the
 * module instantiated once, which this module does when it is first imported (top-level await), so
 * that every caller can scan and parse synchronously. This is the one module that loads libpg-query
 * (the others import its types only): see the flag below.
 *
 * libpg-query reports token and node positions as UTF-8 byte offsets, and syntax error positions in
 * characters (code points); the functions here convert both to offsets in the JavaScript string.
 */
import v8 from 'node:v8';
import type { ParseResult } from 'libpg-query';

// The grammar is one very large WebAssembly function (Bison's parser). V8 compiles hot WebAssembly
// again with its optimizing compiler, and for that function this costs 0.2-0.4 s of CPU at the
// start of every command, more than all the parsing of a run takes in baseline (Liftoff) code
// (docs/decisions/0010-postgres-parser.md). V8 reads the flag when it compiles a module, so it is
// set around this module's compilation only.
v8.setFlagsFromString('--liftoff-only');
const libpgQuery = await import('libpg-query');
await libpgQuery.loadModule();
v8.setFlagsFromString('--no-liftoff-only');
const { scanSync } = libpgQuery;

/** The raw parse tree of `sql` (libpg-query's parseSync). Throws the parser's error. */
export function parseSync(sql: string): ParseResult {
  return libpgQuery.parseSync(sql);
}

export interface SqlToken {
  /** The token as written: a quoted identifier with its quotes, a string constant with its delimiters. */
  text: string;
  /** Offsets in the JavaScript string. */
  start: number;
  end: number;
}

const NON_ASCII = /[^\x00-\x7f]/;

/** Maps a UTF-8 byte offset of `sql` to its offset in the JavaScript string. */
export function byteOffsetMapper(sql: string): (byteOffset: number) => number {
  if (!NON_ASCII.test(sql)) return (b) => b;
  const bytes = Buffer.byteLength(sql);
  const map = new Uint32Array(bytes + 1);
  let b = 0;
  for (let i = 0; i < sql.length; i++) {
    const cp = sql.codePointAt(i)!;
    const n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    map.fill(i, b, b + n);
    b += n;
    if (cp > 0xffff) i++;
  }
  map[bytes] = sql.length;
  return (byteOffset) => map[Math.max(0, Math.min(byteOffset, bytes))]!;
}

/** The offset in the JavaScript string of the 0-based code point index `n` (a syntax error's cursor). */
export function codePointOffset(sql: string, n: number): number {
  let i = 0;
  for (let k = 0; k < n && i < sql.length; k++) i += sql.codePointAt(i)! > 0xffff ? 2 : 1;
  return i;
}

/**
 * The tokens of `sql` that are not comments. Throws when the scanner rejects the text (an
 * unterminated string, quoted identifier, dollar quote or comment).
 */
export function codeTokens(sql: string): SqlToken[] {
  if (sql.trim() === '') return [];
  const at = byteOffsetMapper(sql);
  const tokens: SqlToken[] = [];
  for (const t of scanSync(sql).tokens) {
    if (t.tokenName !== 'SQL_COMMENT' && t.tokenName !== 'C_COMMENT') tokens.push({ text: t.text, start: at(t.start), end: at(t.end) });
  }
  return tokens;
}

/** 1-based line and column of a 0-based offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lastNl = before.lastIndexOf('\n');
  return { line: before.split('\n').length, column: offset - lastNl };
}

/**
 * The SQL without a final `;` (and the blanks or comments after it). One statement ends where the
 * parser says it does; other text with a `;` (an expression) goes to the scanner. Text neither
 * accepts is returned as it is: the server reports the same error with its position when it runs it.
 */
export function withoutTrailingSemicolon(sql: string): string {
  if (!sql.includes(';')) return sql;
  try {
    const [only, more] = parseSync(sql).stmts ?? [];
    if (only && !more) return only.stmt_len ? sql.slice(0, byteOffsetMapper(sql)((only.stmt_location ?? 0) + only.stmt_len)) : sql;
  } catch {
    // not one statement: see below
  }
  let tokens: SqlToken[];
  try {
    tokens = codeTokens(sql);
  } catch {
    return sql;
  }
  const last = tokens.at(-1);
  return last?.text === ';' ? sql.slice(0, last.start) : sql;
}
