/**
 * An independent reader of generated files for the tests: splits the bytes into records the way the
 * loader is specified to (RFC 4180 quotes; an unclosed quote rejects its line alone; a quoted value
 * that spans two lines rejects both, since no column of the six may hold a line break, unless the
 * second line is a clean record by itself), and classifies each line. Deliberately written without
 * the generator's code.
 */
import { isUtf8 } from 'node:buffer';

export type Reason = 'RECORD_FIELD_COUNT' | 'RECORD_UNCLOSED_QUOTE' | 'RECORD_INVALID_QUOTE' | 'RECORD_LINE_BREAK_IN_FIELD' | 'RECORD_INVALID_UTF8' | 'RECORD_NUL_BYTE';

export interface ReadResult {
  bom: boolean;
  lineEnding: 'CRLF' | 'LF' | 'mixed';
  finalNewline: boolean;
  header: string[];
  physicalLines: number;
  records: number;
  rows: string[][];
  rejects: Record<Reason, number>;
}

export function readCsv(bytes: Buffer): ReadResult {
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  const body = bom ? bytes.subarray(3) : bytes;
  const finalNewline = body[body.length - 1] === 0x0a;
  // physical lines, as byte ranges
  const lines: Buffer[] = [];
  let crlf = 0;
  let lf = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    if (body[i] === 0x0a) {
      if (i > start && body[i - 1] === 0x0d) {
        crlf++;
        lines.push(body.subarray(start, i - 1));
      } else {
        lf++;
        lines.push(body.subarray(start, i));
      }
      start = i + 1;
    }
  }
  if (start < body.length) lines.push(body.subarray(start));
  const header = lines[0]!.toString('utf8').split(',');
  const n = header.length;
  const rejects: Record<Reason, number> = { RECORD_FIELD_COUNT: 0, RECORD_UNCLOSED_QUOTE: 0, RECORD_INVALID_QUOTE: 0, RECORD_LINE_BREAK_IN_FIELD: 0, RECORD_INVALID_UTF8: 0, RECORD_NUL_BYTE: 0 };
  const rows: string[][] = [];
  let records = 0;
  for (let li = 1; li < lines.length; li++) {
    const raw = lines[li]!;
    if (raw.length === 0) continue;
    records++;
    if (!isUtf8(raw)) {
      rejects.RECORD_INVALID_UTF8++;
      continue;
    }
    const text = raw.toString('utf8');
    let parsed = parse(text);
    let used = 0;
    // a quote still open at the end of the line: the record may go on on the next line
    while (parsed === 'open' && li + used + 1 < lines.length && used < 1) {
      used++;
      const more: string[] = [text];
      for (let k = 1; k <= used; k++) more.push(lines[li + k]!.toString('utf8'));
      parsed = parse(more.join('\n'));
    }
    if (parsed === 'open' || (parsed !== 'invalid' && used > 0 && parsed.length !== n)) {
      rejects.RECORD_UNCLOSED_QUOTE++;
      continue;
    }
    if (used > 0 && parsed !== 'invalid') {
      const alone = parse(lines[li + 1]!.toString('utf8'));
      if (Array.isArray(alone) && alone.length === n && !alone.some((v) => v.includes('"'))) {
        rejects.RECORD_UNCLOSED_QUOTE++;
        continue;
      }
      records++;
      rejects.RECORD_LINE_BREAK_IN_FIELD += 2;
      li += used;
      continue;
    }
    li += used;
    if (parsed === 'invalid') {
      rejects.RECORD_INVALID_QUOTE++;
      continue;
    }
    if (parsed.length !== n) rejects.RECORD_FIELD_COUNT++;
    else if (text.includes('\u0000')) rejects.RECORD_NUL_BYTE++;
    else rows.push(parsed);
  }
  return { bom, lineEnding: crlf && lf ? 'mixed' : lf ? 'LF' : 'CRLF', finalNewline, header, physicalLines: lines.length - 1, records, rows, rejects };
}

/** Fields of one record, 'open' if a quote is not closed, 'invalid' for `"abc"x`. */
function parse(s: string): string[] | 'open' | 'invalid' {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (s[i] === '"') {
      let v = '';
      let j = i + 1;
      for (;;) {
        if (j >= s.length) return 'open';
        if (s[j] === '"') {
          if (s[j + 1] === '"') {
            v += '"';
            j += 2;
            continue;
          }
          break;
        }
        v += s[j];
        j++;
      }
      fields.push(v);
      j++;
      if (j >= s.length) return fields;
      if (s[j] !== ',') return 'invalid';
      i = j + 1;
      continue;
    }
    const comma = s.indexOf(',', i);
    if (comma < 0) {
      fields.push(s.slice(i));
      return fields;
    }
    fields.push(s.slice(i, comma));
    i = comma + 1;
  }
}
