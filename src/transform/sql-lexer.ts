/**
 * Just enough of PostgreSQL's lexer to tell code from comments and literals: `-- …`, nested
 * `/* … *\/`, '…' (with '' and E'…' backslash escapes), $tag$ … $tag$ and "quoted identifiers".
 * `maskSql` returns a copy of the text of the same length in which everything that is not code is
 * replaced by spaces (newlines kept), so that offsets and line numbers stay those of the file.
 */

export type SegmentKind = 'code' | 'comment' | 'string' | 'identifier';

export interface Segment {
  kind: SegmentKind;
  start: number;
  end: number;
}

const IDENT_CHAR = /[\p{L}\p{N}_$]/u;
const DOLLAR_TAG = /\$(?:[\p{L}_][\p{L}\p{N}_]*)?\$/uy;

function isIdentChar(ch: string | undefined): boolean {
  return ch !== undefined && IDENT_CHAR.test(ch);
}

/** Splits SQL text into code, comment, string and quoted-identifier segments. */
export function scanSql(sql: string): Segment[] {
  const segments: Segment[] = [];
  let codeStart = 0;
  let i = 0;
  const push = (kind: SegmentKind, start: number, end: number) => {
    if (codeStart < start) segments.push({ kind: 'code', start: codeStart, end: start });
    segments.push({ kind, start, end });
    codeStart = end;
  };
  while (i < sql.length) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === '-' && next === '-') {
      const nl = sql.indexOf('\n', i);
      const end = nl < 0 ? sql.length : nl;
      push('comment', i, end);
      i = end;
    } else if (ch === '/' && next === '*') {
      let depth = 1;
      let j = i + 2;
      while (j < sql.length && depth > 0) {
        if (sql[j] === '/' && sql[j + 1] === '*') {
          depth++;
          j += 2;
        } else if (sql[j] === '*' && sql[j + 1] === '/') {
          depth--;
          j += 2;
        } else j++;
      }
      push('comment', i, j);
      i = j;
    } else if (ch === "'") {
      // E'…' (a lone e/E before the quote) allows backslash escapes.
      const prefix = sql[i - 1];
      const escapes = (prefix === 'e' || prefix === 'E') && !isIdentChar(sql[i - 2]);
      let j = i + 1;
      while (j < sql.length) {
        if (escapes && sql[j] === '\\') j += 2;
        else if (sql[j] === "'" && sql[j + 1] === "'") j += 2;
        else if (sql[j] === "'") break;
        else j++;
      }
      const end = Math.min(j + 1, sql.length);
      push('string', i, end);
      i = end;
    } else if (ch === '"') {
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === '"' && sql[j + 1] === '"') j += 2;
        else if (sql[j] === '"') break;
        else j++;
      }
      const end = Math.min(j + 1, sql.length);
      push('identifier', i, end);
      i = end;
    } else if (ch === '$' && !isIdentChar(sql[i - 1])) {
      DOLLAR_TAG.lastIndex = i;
      const m = DOLLAR_TAG.exec(sql);
      if (!m) {
        i++; // $1 parameter
        continue;
      }
      const close = sql.indexOf(m[0], i + m[0].length);
      const end = close < 0 ? sql.length : close + m[0].length;
      push('string', i, end);
      i = end;
    } else {
      i++;
    }
  }
  if (codeStart < sql.length) segments.push({ kind: 'code', start: codeStart, end: sql.length });
  return segments;
}

/**
 * The text with the characters of the given kinds of segment (default: everything but code)
 * replaced by spaces, newlines kept: same length, same offsets, same lines.
 */
export function maskSql(sql: string, kinds: readonly SegmentKind[] = ['comment', 'string', 'identifier']): string {
  let out = '';
  for (const s of scanSql(sql)) {
    const text = sql.slice(s.start, s.end);
    out += kinds.includes(s.kind) ? text.replace(/[^\n]/g, ' ') : text;
  }
  return out;
}

/** 1-based line and column of a 0-based offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lastNl = before.lastIndexOf('\n');
  return { line: before.split('\n').length, column: offset - lastNl };
}

/** The SQL without a final `;` (and the blanks or comments after it). */
export function withoutTrailingSemicolon(sql: string): string {
  const trailing = /;\s*$/.exec(maskSql(sql));
  return trailing ? sql.slice(0, trailing.index) : sql;
}
