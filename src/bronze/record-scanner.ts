/**
 * The byte-level record scanner: the pure core of the bronze load (no streams, no database).
 *
 * It splits CSV bytes into physical lines and records, checks each record's structure against the
 * contract (field count, quoting, line breaks, UTF-8, NUL bytes, field size) and writes the valid
 * ones to an output buffer as input for PostgreSQL's `COPY ... (format csv)`: the record's original
 * bytes followed by `,<line number>\n`. Forwarding the original bytes is what makes the load about
 * as fast as psql's `\copy`: a record is only decoded into fields when it contains a quote.
 *
 * Every physical line of the input ends up in exactly one of: a blank line, a line of a loaded row,
 * or a rejected line (one reject per line, so a record that spans three lines is three rejects).
 * The load checks `lines read = header + blank + row lines + rejected lines` for every file.
 *
 * Quoting follows RFC 4180: a field that starts with `"` is quoted and `""` inside it is a quote. A
 * quoted value may hold a line break only in a column whose contract allows it (`lineBreaks`);
 * elsewhere a quote that is still open at the end of its line makes that line a reject:
 *  - when the record closes on a later line with the right number of fields, and the next line is
 *    not a clean record by itself, the value really spans lines: each of its lines is rejected
 *    (RECORD_LINE_BREAK_IN_FIELD);
 *  - otherwise it is a stray quote: that line alone is rejected (RECORD_UNCLOSED_QUOTE) and the
 *    scan resumes at the next line, which is read as a record of its own.
 * A `"` inside an unquoted field is taken literally (as csv-parse's relax_quotes does); such a field
 * is re-quoted on output because PostgreSQL would otherwise read it as the start of a quoted section.
 *
 * What COPY would refuse never reaches it: a CR or LF that is not a line end outside quotes, NUL,
 * invalid UTF-8 are rejects. The end-of-data marker `\.` is only one when it is alone on a line of
 * COPY's input; every forwarded line carries `,<line number>` after the record, so no forwarded
 * line is `\.` alone (and a `\.` line inside a quoted value is data to COPY).
 *
 * Memory is bounded: a record that passes `fieldCount × (maxFieldBytes + 3)` bytes cannot be valid
 * (a field is too large or there are too many fields); it is rejected as soon as it is seen, and the
 * rest of its line is skipped chunk by chunk, keeping only a 64 KiB prefix, its length and sha256.
 *
 * Line numbers are 1-based physical lines of the file; a record's number is the line it starts on.
 * Lines end with LF (a CR right before it belongs to it: CRLF), or with CR in a CR-only file.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { createHash, type Hash } from 'node:crypto';

export type RejectReason =
  /** The record has more or fewer fields than the header. */
  | 'RECORD_FIELD_COUNT'
  /** A quote opens a field and is not closed on its line (a stray quote): that line alone is rejected. */
  | 'RECORD_UNCLOSED_QUOTE'
  /** A closing quote is followed by something other than a comma or the end of the record. */
  | 'RECORD_INVALID_QUOTE'
  /** A quoted value holds a line break in a column that cannot hold one: each line of the record is rejected. */
  | 'RECORD_LINE_BREAK_IN_FIELD'
  /** A CR (in an LF or CRLF file) or LF (in a CR file) outside quotes that does not end the line. */
  | 'RECORD_STRAY_LINE_BREAK'
  /** The bytes are not valid UTF-8. */
  | 'RECORD_INVALID_UTF8'
  /** A NUL byte, which PostgreSQL text cannot hold. */
  | 'RECORD_NUL_BYTE'
  /** A field longer than the configured limit. */
  | 'RECORD_FIELD_TOO_LARGE';

export const REJECT_REASONS: readonly RejectReason[] = [
  'RECORD_FIELD_COUNT',
  'RECORD_UNCLOSED_QUOTE',
  'RECORD_INVALID_QUOTE',
  'RECORD_LINE_BREAK_IN_FIELD',
  'RECORD_STRAY_LINE_BREAK',
  'RECORD_INVALID_UTF8',
  'RECORD_NUL_BYTE',
  'RECORD_FIELD_TOO_LARGE',
];

/** Bytes of a rejected line kept in etl.rejects; its full length and sha256 are kept beside them. */
export const RAW_PREFIX_BYTES = 65536;

/** One rejected physical line. */
export interface RejectedRecord {
  line: number;
  reason: RejectReason;
  message: string;
  /** 1-based field position the problem was found in, when there is one. */
  column?: number;
  /** The line's first RAW_PREFIX_BYTES bytes, without its line terminator. */
  raw: Buffer;
  /** The line's full length in bytes. */
  rawLength: number;
  /** sha256 of the line's full bytes, hex. */
  rawSha256: string;
}

export interface ScannerOptions {
  /** The number of fields every record must have (the header's). */
  fieldCount: number;
  /** Column names, for messages. */
  columns: readonly string[];
  maxFieldBytes: number;
  /** Line number of the first byte handed to the scanner. */
  firstLine: number;
  /** Per field, in file order: true where a quoted value may hold a line break. Default: nowhere. */
  lineBreaks?: readonly boolean[];
  /** What ends a line: LF (or CRLF), or CR alone. Default LF. */
  terminator?: 'LF' | 'CR';
}

const COMMA = 44;
const QUOTE = 34;
const LF = 10;
const CR = 13;
/** Bytes checked at once for the fast path; small enough that a rare non-ASCII name spoils little. */
const PLAIN_WINDOW = 4096;
/**
 * Lines looked at past a quote that is open at the end of its line, in a column that cannot hold a
 * line break, to tell a value that spans lines from a stray quote. It bounds the work per line.
 */
const MAX_SPAN_LINES = 16;
/** No bytes: the COPY bytes' buffer before the first record (ensure() allocates at least MIN_OUTPUT). */
const NO_OUTPUT = Buffer.alloc(0);
const MIN_OUTPUT = 1 << 16;

/** The fields of a record that contains a quote, or why it has none. */
interface Parse {
  status: 'ok' | 'incomplete' | 'unclosed' | 'invalid-quote' | 'too-large' | 'too-many-fields' | 'too-many-lines';
  /** End of the record's bytes (its terminator excluded) and where the next record starts. */
  end: number;
  next: number;
  /** Physical lines the record has spanned so far. */
  lines: number;
  fields: number;
  /** Field the status is about (1-based). */
  column: number;
  /** After the first line's terminator, when the record spans lines; the field open there. */
  firstLineNext: number;
  openField: number;
  /** First field with a line break inside quotes where its column allows none (0: none). */
  breakField: number;
  /** First field with a CR or LF outside quotes that is not a line end (0: none). */
  strayBreakField: number;
  strayQuoteFields: number[];
  fieldStarts: number[];
  fieldEnds: number[];
}

/** A rejected line too long to hold: the rest is skipped, hashed and counted as it streams by. */
interface Skip {
  line: number;
  reason: RejectReason;
  message: string;
  column: number | undefined;
  prefix: Buffer;
  prefixLength: number;
  length: number;
  hash: Hash;
  /** A CR at the end of a chunk: part of the line unless an LF follows. */
  heldCr: boolean;
}

export class RecordScanner {
  readonly options: ScannerOptions;
  /** Next line number to be read. */
  line: number;
  rowsOut = 0;
  /** Physical lines of the rows forwarded (a row whose quoted value spans two lines counts two). */
  rowLines = 0;
  /** Rejected physical lines: one reject each. */
  rejected = 0;
  blankLines = 0;
  private readonly term: number;
  private readonly lineBreaks: readonly boolean[];
  /** Longest a valid record can be: beyond it, a record is rejected without waiting for its end. */
  private readonly partialLimit: number;
  private out: Buffer = NO_OUTPUT;
  private held: Buffer = NO_OUTPUT;
  private outLen = 0;
  private rejects: RejectedRecord[] = [];
  private skip: Skip | null = null;

  constructor(options: ScannerOptions) {
    this.options = options;
    this.line = options.firstLine;
    this.term = options.terminator === 'CR' ? CR : LF;
    this.lineBreaks = options.lineBreaks ?? [];
    this.partialLimit = options.fieldCount * (options.maxFieldBytes + 3) + 2;
  }

  /** Records accounted for: rows forwarded plus rejected lines. */
  get records(): number {
    return this.rowsOut + this.rejected;
  }

  /** Physical lines consumed so far. */
  get linesRead(): number {
    return this.line - this.options.firstLine;
  }

  /**
   * Scans the complete records of the file's next chunk; the unfinished record at its end is held
   * (a copy, never more than about `fieldCount × maxFieldBytes` bytes) until the next chunk or
   * end(). The held record is completed by the head of the next chunk, up to its first line end:
   * scanning that join alone spares copying the whole chunk behind it; a record that needs more
   * than that line (a quoted value spanning lines) is scanned from the join of both.
   */
  feed(chunk: Buffer): void {
    let buf = chunk;
    if (this.held.length) {
      const lineEnd = chunk.indexOf(this.term);
      if (lineEnd < 0) buf = Buffer.concat([this.held, chunk]);
      else {
        const head = Buffer.concat([this.held, chunk.subarray(0, lineEnd + 1)]);
        const used = this.scan(head, false);
        buf = used === head.length ? chunk.subarray(lineEnd + 1) : Buffer.concat([head.subarray(used), chunk.subarray(lineEnd + 1)]);
      }
    }
    const used = this.scan(buf, false);
    this.held = used < buf.length ? Buffer.from(buf.subarray(used)) : NO_OUTPUT;
  }

  /** Scans what is held at the end of the file (also when nothing is: a line being skipped ends with the file). */
  end(): void {
    const last = this.held;
    this.held = NO_OUTPUT;
    this.scan(last, true);
  }

  /** Bytes of the unfinished record held between chunks. */
  get heldBytes(): number {
    return this.held.length;
  }

  /**
   * Scans the complete records of `buf`. Returns how many bytes were consumed; the rest is an
   * unfinished record to hand back, in front of the next chunk (never more than about
   * `fieldCount × maxFieldBytes` bytes). With `final`, everything is consumed (a last record
   * without a line end is a record).
   */
  scan(buf: Buffer, final: boolean): number {
    const { fieldCount, maxFieldBytes } = this.options;
    const len = buf.length;
    let pos = 0;
    if (this.skip) {
      pos = this.skipRest(buf, 0, final);
      if (this.skip) return len;
    }
    this.ensure(len - pos + ((len - pos) >>> 2) + 64);
    const term = this.term;
    const lfMode = term === LF;
    // the line-break byte that is not this file's terminator: data, never a line end
    const other = lfMode ? CR : LF;
    // In bytes without a quote, NUL or non-ASCII byte (three native scans tell), most of them, a
    // record needs only its commas counted: half the work per byte of the loop that also looks for
    // those. The whole chunk is checked first, then, if it is not plain, windows of PLAIN_WINDOW.
    let plain = isPlain(buf.subarray(pos));
    let windowEnd = plain ? len : 0;
    while (pos < len) {
      if (pos >= windowEnd) {
        windowEnd = Math.min(len, pos + PLAIN_WINDOW);
        plain = isPlain(buf.subarray(pos, windowEnd));
      }
      // One pass over the record's bytes, counting commas and noting what needs care. Bytes up to
      // CR take one comparison for all the control bytes: a line end, a CR or LF that is not one.
      let commas = 0;
      let strayBreaks = 0;
      let special = 0; // bit 1: quote, bit 2: non-ASCII, bit 4: NUL
      let i = pos;
      if (plain) {
        for (; i < windowEnd; i++) {
          const b = buf[i]!;
          if (b <= CR) {
            if (b === term) break;
            if (b === other) strayBreaks++;
          } else if (b === COMMA) commas++;
        }
      }
      // the record's bytes past a plain window, or all of them
      if (i === windowEnd || !plain) {
        for (; i < len; i++) {
          const b = buf[i]!;
          if (b <= CR) {
            if (b === term) break;
            if (b === other) strayBreaks++;
            else if (b === 0) special |= 4;
          } else if (b === COMMA) commas++;
          else if (b === QUOTE) {
            special |= 1;
            break;
          } else if (b >= 0x80) special |= 2;
        }
      }
      if (special & 1) {
        const used = this.quotedRecord(buf, pos, final);
        if (used < 0) return pos; // needs more data
        pos = used;
        if (this.skip) return len;
        continue;
      }
      if (i === len && !final) {
        if (len - pos <= this.partialLimit) return pos;
        // Too long to be valid: rejected now, the rest of the line skipped as it streams by.
        if (commas + 1 > fieldCount) {
          this.rejectLineFrom(buf, pos, final, 'RECORD_FIELD_COUNT', `${this.fieldCountMessage(commas + 1)} (counted in the first ${len - pos} bytes of the line)`, commas + 1);
        } else {
          const f = longestField(buf, pos, len);
          this.rejectLineFrom(buf, pos, final, 'RECORD_FIELD_TOO_LARGE', this.tooLargeMessage(f.column), f.column);
        }
        return len;
      }
      const next = i < len ? i + 1 : len;
      let end = i;
      if (lfMode && i > pos && buf[i - 1] === CR) {
        end--;
        strayBreaks--;
      }
      const line = this.line;
      this.line++;
      if (end === pos) {
        this.blankLines++;
        pos = next;
        continue;
      }
      if (commas + 1 !== fieldCount) {
        this.reject(buf, pos, end, line, 'RECORD_FIELD_COUNT', this.fieldCountMessage(commas + 1), commas + 1);
      } else if (special & 4) {
        this.reject(buf, pos, end, line, 'RECORD_NUL_BYTE', NUL_MESSAGE, columnAt(buf, pos, buf.indexOf(0, pos), fieldCount));
      } else if (strayBreaks > 0) {
        const column = columnAt(buf, pos, strayBreakAt(buf, pos, end, other), fieldCount);
        this.reject(buf, pos, end, line, 'RECORD_STRAY_LINE_BREAK', this.strayBreakMessage(column), column);
      } else if (special & 2 && !isUtf8(buf.subarray(pos, end))) {
        this.reject(buf, pos, end, line, 'RECORD_INVALID_UTF8', UTF8_MESSAGE, columnAt(buf, pos, firstInvalidUtf8(buf, pos, end), fieldCount));
      } else if (end - pos > maxFieldBytes && longestField(buf, pos, end).bytes > maxFieldBytes) {
        const f = longestField(buf, pos, end);
        this.reject(buf, pos, end, line, 'RECORD_FIELD_TOO_LARGE', this.tooLargeMessage(f.column, f.bytes), f.column);
      } else {
        this.emit(buf, pos, end, line, 1);
      }
      pos = next;
    }
    return pos;
  }

  /** Hands over the COPY bytes produced so far. */
  takeOutput(): Buffer {
    // The bytes are handed over, not copied: the next scan writes into a new buffer (ensure).
    const chunk = this.out.subarray(0, this.outLen);
    this.out = NO_OUTPUT;
    this.outLen = 0;
    return chunk;
  }

  takeRejects(): RejectedRecord[] {
    const r = this.rejects;
    this.rejects = [];
    return r;
  }

  /** Decodes a record that contains a quote. Returns the position after it, or -1 for "need more data". */
  private quotedRecord(buf: Buffer, pos: number, final: boolean): number {
    const { fieldCount } = this.options;
    const p = this.parseRecord(buf, pos, final, false);
    if (p.status === 'incomplete') return -1;
    // A quote open at the end of the first line and no valid record after it: a stray quote.
    if (p.lines > 1 && (p.status !== 'ok' || p.fields !== fieldCount)) return this.rejectFirstLine(buf, pos, p);
    switch (p.status) {
      case 'too-many-fields':
        return this.rejectLineFrom(buf, pos, final, 'RECORD_FIELD_COUNT', `${this.fieldCountMessage(p.fields)} (counted in the first ${buf.length - pos} bytes of the line)`, p.fields);
      case 'too-large':
        return this.rejectLineFrom(buf, pos, final, 'RECORD_FIELD_TOO_LARGE', this.tooLargeMessage(p.column), p.column);
      case 'invalid-quote':
        return this.rejectLineFrom(buf, pos, final, 'RECORD_INVALID_QUOTE', `field ${this.columnName(p.column)} has a closing quote followed by other characters; quote the whole field and double inner quotes ("")`, p.column);
      case 'unclosed':
        // the end of the file inside a quote
        return this.rejectLineFrom(buf, pos, final, 'RECORD_UNCLOSED_QUOTE', this.unclosedMessage(p.column), p.column);
      case 'too-many-lines':
      case 'ok':
        break;
    }
    const { end, next, lines } = p;
    const line = this.line;
    if (p.fields !== fieldCount) {
      this.rejectSpan(buf, pos, end, line, lines, 'RECORD_FIELD_COUNT', this.fieldCountMessage(p.fields), p.fields);
    } else if (p.breakField && lines > 1) {
      // The value spans lines in a column that cannot hold a line break. If the line after the
      // quote's line is a clean record by itself, the quote is a stray one instead.
      const after = this.parseRecord(buf, p.firstLineNext, final, true);
      const clean = after.status === 'ok' && after.fields === fieldCount && !after.strayQuoteFields.length && !after.breakField && !after.strayBreakField;
      if (clean) return this.rejectFirstLine(buf, pos, p);
      this.rejectSpan(buf, pos, end, line, lines, 'RECORD_LINE_BREAK_IN_FIELD', this.lineBreakMessage(p.breakField, line, lines), p.breakField);
    } else if (p.breakField) {
      this.rejectSpan(buf, pos, end, line, lines, 'RECORD_LINE_BREAK_IN_FIELD', this.lineBreakMessage(p.breakField, line, lines), p.breakField);
    } else if (p.strayBreakField) {
      this.rejectSpan(buf, pos, end, line, lines, 'RECORD_STRAY_LINE_BREAK', this.strayBreakMessage(p.strayBreakField), p.strayBreakField);
    } else if (hasNul(buf, pos, end)) {
      this.rejectSpan(buf, pos, end, line, lines, 'RECORD_NUL_BYTE', NUL_MESSAGE, this.fieldOf(p, buf.indexOf(0, pos)));
    } else if (!isUtf8(buf.subarray(pos, end))) {
      this.rejectSpan(buf, pos, end, line, lines, 'RECORD_INVALID_UTF8', UTF8_MESSAGE, this.fieldOf(p, firstInvalidUtf8(buf, pos, end)));
    } else if (p.strayQuoteFields.length === 0) {
      this.emit(buf, pos, end, line, lines);
    } else {
      this.emitRequoted(buf, p, line);
    }
    this.line += lines;
    return next;
  }

  /**
   * Parses the record at `pos` field by field. With `singleLine`, a line end inside quotes is an
   * unclosed quote (the check of the line after a stray quote); otherwise the quote goes on, for at
   * most MAX_SPAN_LINES lines where the column cannot hold a line break.
   */
  private parseRecord(buf: Buffer, pos: number, final: boolean, singleLine: boolean): Parse {
    const { maxFieldBytes: max, fieldCount } = this.options;
    const len = buf.length;
    const term = this.term;
    const lfMode = term === LF;
    const other = lfMode ? CR : LF;
    const p: Parse = {
      status: 'ok', end: pos, next: pos, lines: 1, fields: 0, column: 0, firstLineNext: -1, openField: 0,
      breakField: 0, strayBreakField: 0, strayQuoteFields: [], fieldStarts: [], fieldEnds: [],
    };
    const stop = (status: Parse['status'], column: number): Parse => {
      p.status = status;
      p.column = column;
      return p;
    };
    const incomplete = (): Parse => (p.fields > fieldCount && len - pos > this.partialLimit ? stop('too-many-fields', p.fields) : stop('incomplete', 0));
    const ended = (end: number, next: number): Parse => {
      p.end = end;
      p.next = next;
      return p;
    };
    let i = pos;
    for (;;) {
      const field = ++p.fields;
      p.fieldStarts.push(i);
      if (i < len && buf[i] === QUOTE) {
        const allowed = this.lineBreaks[field - 1] === true;
        let j = i + 1;
        for (;;) {
          if (j - i - 1 > max) return stop('too-large', field);
          if (j >= len) return final ? stop('unclosed', field) : incomplete();
          const b = buf[j]!;
          if (b === QUOTE) {
            if (j + 1 >= len && !final) return incomplete();
            if (j + 1 < len && buf[j + 1] === QUOTE) {
              j += 2;
              continue;
            }
            break;
          }
          if (b === term) {
            if (singleLine) return stop('unclosed', field);
            p.lines++;
            if (p.firstLineNext < 0) {
              p.firstLineNext = j + 1;
              p.openField = field;
            }
            if (!allowed) {
              if (!p.breakField) p.breakField = field;
              if (p.lines > MAX_SPAN_LINES) return stop('too-many-lines', field);
            }
          } else if (b === other && !allowed && !p.breakField) p.breakField = field;
          j++;
        }
        // j is at the closing quote
        const after = j + 1;
        p.fieldEnds.push(after);
        if (after >= len) return final ? ended(after, after) : incomplete();
        const c = buf[after]!;
        if (c === COMMA) {
          i = after + 1;
          continue;
        }
        if (c === term) return ended(after, after + 1);
        if (lfMode && c === CR) {
          if (after + 1 >= len) return final ? ended(after, after + 1) : incomplete();
          if (buf[after + 1] === LF) return ended(after, after + 2);
        }
        return stop('invalid-quote', field);
      }
      // unquoted field: up to the next comma or line end; a quote in it is literal
      let j = i;
      let stray = false;
      let breaks = 0;
      while (j < len) {
        const b = buf[j]!;
        if (b === COMMA || b === term) break;
        if (b === QUOTE) stray = true;
        else if (b === other) breaks++;
        j++;
        if (j - i > max + 1) return stop('too-large', field);
      }
      if (j >= len && !final) return incomplete();
      const atLineEnd = j >= len || buf[j] === term;
      let fieldEnd = j;
      if (atLineEnd && lfMode && fieldEnd > i && buf[fieldEnd - 1] === CR) {
        fieldEnd--;
        breaks--;
      }
      if (fieldEnd - i > max) return stop('too-large', field);
      if (stray) p.strayQuoteFields.push(field - 1);
      if (breaks > 0 && !p.strayBreakField) p.strayBreakField = field;
      p.fieldEnds.push(fieldEnd);
      if (!atLineEnd) {
        i = j + 1;
        continue;
      }
      return ended(fieldEnd, j < len ? j + 1 : j);
    }
  }

  /** The field (1-based) that byte `at` of a parsed record falls into. */
  private fieldOf(p: Parse, at: number): number {
    let f = 0;
    while (f + 1 < p.fieldStarts.length && p.fieldStarts[f + 1]! <= at) f++;
    return f + 1;
  }

  /** Rejects the first line of a record whose quote is still open at its end; reading resumes on the next line. */
  private rejectFirstLine(buf: Buffer, pos: number, p: Parse): number {
    const next = p.firstLineNext;
    const end = this.term === LF && next - 1 > pos && buf[next - 2] === CR ? next - 2 : next - 1;
    this.reject(buf, pos, end, this.line, 'RECORD_UNCLOSED_QUOTE', this.unclosedMessage(p.openField), p.openField);
    this.line++;
    return next;
  }

  /**
   * Rejects the line that starts at `start`. Its end may not have arrived yet: then its bytes are
   * hashed and counted as they stream by (skip mode), and the reject is written at its end.
   * Returns where the next line starts, or buf.length.
   */
  private rejectLineFrom(buf: Buffer, start: number, final: boolean, reason: RejectReason, message: string, column: number | undefined): number {
    const at = buf.indexOf(this.term, start);
    if (at >= 0 || final) {
      let end = at >= 0 ? at : buf.length;
      if (this.term === LF && end > start && buf[end - 1] === CR) end--;
      this.reject(buf, start, end, this.line, reason, message, column);
      this.line++;
      return at >= 0 ? at + 1 : buf.length;
    }
    this.skip = { line: this.line, reason, message, column, prefix: Buffer.allocUnsafe(RAW_PREFIX_BYTES), prefixLength: 0, length: 0, hash: createHash('sha256'), heldCr: false };
    this.feedSkip(buf.subarray(start));
    return buf.length;
  }

  /** Goes on skipping the rejected line to its end. Returns where the next line starts, or buf.length. */
  private skipRest(buf: Buffer, from: number, final: boolean): number {
    const at = buf.indexOf(this.term, from);
    this.feedSkip(buf.subarray(from, at >= 0 ? at : buf.length));
    if (at < 0 && !final) return buf.length;
    const s = this.skip!;
    // a CR right before the line end (or the end of the file) is part of the line end
    s.heldCr = false;
    this.skip = null;
    this.rejected++;
    this.rejects.push({ line: s.line, reason: s.reason, message: s.message, column: s.column, raw: Buffer.from(s.prefix.subarray(0, s.prefixLength)), rawLength: s.length, rawSha256: s.hash.digest('hex') });
    this.line++;
    return at >= 0 ? at + 1 : buf.length;
  }

  private feedSkip(bytes: Buffer): void {
    const s = this.skip!;
    if (s.heldCr) {
      s.heldCr = false;
      this.addSkipped(s, CR_BYTE);
    }
    if (this.term === LF && bytes.length && bytes[bytes.length - 1] === CR) {
      s.heldCr = true;
      bytes = bytes.subarray(0, -1);
    }
    this.addSkipped(s, bytes);
  }

  private addSkipped(s: Skip, bytes: Buffer): void {
    s.hash.update(bytes);
    s.length += bytes.length;
    if (s.prefixLength < RAW_PREFIX_BYTES) s.prefixLength += bytes.copy(s.prefix, s.prefixLength, 0, Math.min(bytes.length, RAW_PREFIX_BYTES - s.prefixLength));
  }

  private emit(buf: Buffer, start: number, end: number, line: number, lines: number): void {
    const n = end - start;
    this.ensure(this.outLen + n + 24);
    buf.copy(this.out, this.outLen, start, end);
    this.outLen += n;
    this.appendLine(line);
    this.rowsOut++;
    this.rowLines += lines;
  }

  /** Emits a record with its stray-quote fields quoted, so PostgreSQL keeps their quotes. */
  private emitRequoted(buf: Buffer, p: Parse, line: number): void {
    const parts: Buffer[] = [];
    const stray = new Set(p.strayQuoteFields);
    for (let f = 0; f < p.fields; f++) {
      const raw = buf.subarray(p.fieldStarts[f], p.fieldEnds[f]);
      if (f > 0) parts.push(COMMA_BYTE);
      parts.push(stray.has(f) ? Buffer.from(`"${raw.toString('utf8').replace(/"/g, '""')}"`) : raw);
    }
    const record = Buffer.concat(parts);
    this.emit(record, 0, record.length, line, p.lines);
  }

  /** `,<line>\n`, digit by digit: a string and a native write per record were 0.6 s of the 3.3 s scan of 6M sales lines. */
  private appendLine(line: number): void {
    const out = this.out;
    let at = this.outLen;
    out[at++] = COMMA;
    let digits = 1;
    for (let power = 10; power <= line; power *= 10) digits++;
    let rest = line;
    for (let k = at + digits - 1; k >= at; k--) {
      out[k] = 48 + (rest % 10);
      rest = Math.floor(rest / 10);
    }
    at += digits;
    out[at++] = LF;
    this.outLen = at;
  }

  private ensure(size: number): void {
    if (size <= this.out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(size, this.out.length * 2, MIN_OUTPUT));
    this.out.copy(bigger, 0, 0, this.outLen);
    this.out = bigger;
  }

  /** One rejected physical line: at most RAW_PREFIX_BYTES of it, its length and sha256. */
  private reject(buf: Buffer, start: number, end: number, line: number, reason: RejectReason, message: string, column: number | undefined): void {
    this.rejected++;
    const bytes = buf.subarray(start, end);
    this.rejects.push({
      line,
      reason,
      message,
      column,
      raw: Buffer.from(bytes.subarray(0, RAW_PREFIX_BYTES)),
      rawLength: bytes.length,
      rawSha256: createHash('sha256').update(bytes).digest('hex'),
    });
  }

  /** Rejects each of the `lines` physical lines of buf[start, end), the first being `firstLine`. */
  private rejectSpan(buf: Buffer, start: number, end: number, firstLine: number, lines: number, reason: RejectReason, message: string, column: number | undefined): void {
    let s = start;
    for (let k = 0; k < lines; k++) {
      let e = end;
      let nextStart = end;
      if (k < lines - 1) {
        const t = buf.indexOf(this.term, s);
        e = this.term === LF && t > s && buf[t - 1] === CR ? t - 1 : t;
        nextStart = t + 1;
      }
      this.reject(buf, s, e, firstLine + k, reason, message, column);
      s = nextStart;
    }
  }

  private fieldCountMessage(got: number): string {
    return `expected ${this.options.fieldCount} fields (${this.options.columns.join(', ')}), got ${got}`;
  }

  private tooLargeMessage(column: number, bytes?: number): string {
    const size = bytes === undefined ? 'is longer than' : `has ${bytes} bytes, more than`;
    return `field ${this.columnName(column)} ${size} the limit of ${this.options.maxFieldBytes} bytes (--max-field-bytes); the line was rejected and reading resumed at the next line`;
  }

  private unclosedMessage(column: number): string {
    return `field ${this.columnName(column)} opens a quote that is not closed on this line; the line was rejected alone and reading resumed at the next line. Close the quote, or double each quote inside a quoted value ("")`;
  }

  private lineBreakMessage(column: number, line: number, lines: number): string {
    const where = lines > 1 ? `; the record spans lines ${line}-${line + lines - 1} and each of them is rejected` : '';
    return `field ${this.columnName(column)} holds a line break inside quotes, which its column cannot hold${where}. Remove the line break from the value in the export, or allow it for this column in the contract (lineBreaks in src/bronze/contracts.ts)`;
  }

  private strayBreakMessage(column: number): string {
    return this.term === LF
      ? `field ${this.columnName(column)} has a carriage return (CR, 0x0D) that does not end the line (lines end with LF or CRLF in this file); remove it from the export`
      : `field ${this.columnName(column)} has a line feed (LF, 0x0A) in a file whose lines end with CR; remove it, or convert the file's line endings (e.g. tr '\\r' '\\n')`;
  }

  private columnName(column: number): string {
    const name = this.options.columns[column - 1];
    return name ? `${column} (${name})` : String(column);
  }
}

const NUL_MESSAGE = 'contains a NUL byte (0x00), which a text column cannot hold';
const UTF8_MESSAGE = 'is not valid UTF-8; re-export the file as UTF-8';
const CR_BYTE = Buffer.from([CR]);
const COMMA_BYTE = Buffer.from([COMMA]);

/** No quote, NUL or non-ASCII byte: nothing but commas and line ends needs looking at. */
function isPlain(bytes: Buffer): boolean {
  return bytes.indexOf(QUOTE) < 0 && bytes.indexOf(0) < 0 && isAscii(bytes);
}

function hasNul(buf: Buffer, start: number, end: number): boolean {
  const at = buf.indexOf(0, start);
  return at >= 0 && at < end;
}

/** Offset of the first `other` line-break byte in buf[start, end) (the record's stray CR or LF). */
function strayBreakAt(buf: Buffer, start: number, end: number, other: number): number {
  const at = buf.indexOf(other, start);
  return at >= 0 && at < end ? at : end;
}

/** 1-based field number that byte `at` of the record falls into (unquoted counting). */
function columnAt(buf: Buffer, start: number, at: number, fieldCount: number): number {
  let column = 1;
  for (let i = start; i < at; i++) if (buf[i] === COMMA) column++;
  return Math.min(column, fieldCount);
}

function longestField(buf: Buffer, start: number, end: number): { column: number; bytes: number } {
  let best = { column: 1, bytes: 0 };
  let column = 1;
  let fieldStart = start;
  for (let i = start; i <= end; i++) {
    if (i === end || buf[i] === COMMA) {
      if (i - fieldStart > best.bytes) best = { column, bytes: i - fieldStart };
      column++;
      fieldStart = i + 1;
    }
  }
  return best;
}

/** Offset of the first byte that breaks UTF-8 in buf[start, end). */
export function firstInvalidUtf8(buf: Buffer, start: number, end: number): number {
  // Bisect with isUtf8 on prefixes would mis-handle sequences cut at the prefix end; walk instead.
  let i = start;
  while (i < end) {
    const b = buf[i]!;
    const n = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (n === 0 || i + n > end || !isUtf8(buf.subarray(i, i + n))) return i;
    i += n;
  }
  return end;
}
