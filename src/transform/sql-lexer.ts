/**
 * SQL text as PostgreSQL's own scanner reads it. libpg-query ships the server's scanner and grammar
 * compiled to WebAssembly inside the npm package; its synchronous functions need the module
 * instantiated once, which this module does when it is first imported (top-level await), so that
 * every caller can scan and parse synchronously.
 *
 * libpg-query reports token and node positions as UTF-8 byte offsets, and syntax error positions in
 * characters (code points); the functions here convert both to offsets in the JavaScript string.
 */
import { loadModule, scanSync } from 'libpg-query';

await loadModule();

export interface SqlToken {
  /** The token as written: a quoted identifier with its quotes, a string constant with its delimiters. */
  text: string;
  /** Offsets in the JavaScript string. */
  start: number;
  end: number;
  /** `-- …` or `/* … *\/`. */
  comment: boolean;
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
 * The tokens of `sql`, comments included. Throws when the scanner rejects the text (an
 * unterminated string, quoted identifier, dollar quote or comment).
 */
export function scanTokens(sql: string): SqlToken[] {
  if (sql.trim() === '') return [];
  const at = byteOffsetMapper(sql);
  return scanSync(sql).tokens.map((t) => ({
    text: t.text,
    start: at(t.start),
    end: at(t.end),
    comment: t.tokenName === 'SQL_COMMENT' || t.tokenName === 'C_COMMENT',
  }));
}

/** The tokens that are not comments. */
export function codeTokens(sql: string): SqlToken[] {
  return scanTokens(sql).filter((t) => !t.comment);
}

/** 1-based line and column of a 0-based offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lastNl = before.lastIndexOf('\n');
  return { line: before.split('\n').length, column: offset - lastNl };
}

/**
 * The SQL without a final `;` (and the blanks or comments after it). Text the scanner rejects is
 * returned as it is: the server reports the same error with its position when it runs it.
 */
export function withoutTrailingSemicolon(sql: string): string {
  let tokens: SqlToken[];
  try {
    tokens = codeTokens(sql);
  } catch {
    return sql;
  }
  const last = tokens.at(-1);
  return last?.text === ';' ? sql.slice(0, last.start) : sql;
}
