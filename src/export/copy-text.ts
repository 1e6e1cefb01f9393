/**
 * Parses PostgreSQL's COPY TEXT format (tab-separated, `\N` for NULL, backslash escapes) straight
 * from the bytes into per-column Arrow buffers, one row group at a time. Text is never decoded to
 * JavaScript strings: UTF-8 bytes are copied (unescaped when needed) into the Utf8 data buffer.
 *
 * The session must use `DateStyle = ISO` and `TimeZone = UTC` (exportTable sets both), so that
 * dates are `YYYY-MM-DD`, timestamps `YYYY-MM-DD HH:MM:SS[.ffffff]` and timestamptz ends in `+00`.
 */
import { DataError } from '../errors.ts';
import type { ColumnKind, ExportColumn } from './types.ts';

const K_INT = 0;
const K_FLOAT = 1;
const K_BOOL = 2;
const K_DATE = 3;
const K_TS = 4;
const K_STRING = 5;

const KIND_CODE: Record<ColumnKind, number> = {
  int64: K_INT, float64: K_FLOAT, bool: K_BOOL, date: K_DATE, timestamp: K_TS, timestamptz: K_TS, string: K_STRING,
};

const TAB = 9;
const NL = 10;
const BACKSLASH = 92;
const TWO32 = 4294967296;
const POW10: number[] = Array.from({ length: 23 }, (_, i) => 10 ** i);
const latin1 = new TextDecoder('latin1');

/** One column's buffers for the row group being filled. */
export interface ColumnBuffers {
  readonly column: ExportColumn;
  /** Validity bitmap, bit set = value present (Arrow layout, LSB first). */
  validity: Uint8Array;
  nullCount: number;
  /** int64, date and timestamp values (the int64 is written as two int32 halves through `i32`). */
  i64?: BigInt64Array;
  i32?: Int32Array;
  f64?: Float64Array;
  /** Boolean values as a bitmap. */
  bits?: Uint8Array;
  /** Utf8: offsets (length rows + 1) and bytes. */
  offsets?: Int32Array;
  data?: Uint8Array;
  dataLength: number;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * A streaming parser: `push` whole or partial COPY chunks; every `rowGroupSize` complete rows it
 * calls `onRowGroup` synchronously with the filled buffers, which are reused afterwards (the callee
 * must copy what it keeps). `finish` flushes the last, shorter row group.
 *
 * Speed matters here (it is a third of the export's CPU): each field is converted in the same pass
 * that finds its end, and the hot loop reads per-column typed arrays from plain arrays of one
 * element type each, never from the (differently shaped) ColumnBuffers objects, so that V8 keeps
 * every access monomorphic. Values that the fast paths do not recognise (escapes, NULLs, long or
 * exotic numbers) fall back to a second look at the field's bytes.
 */
export class CopyTextParser {
  readonly columns: readonly ExportColumn[];
  readonly rowGroupSize: number;
  private readonly kinds: Int32Array;
  private readonly buffers: ColumnBuffers[];
  private readonly validity: Uint8Array[];
  private readonly i32: Int32Array[];
  private readonly f64: Float64Array[];
  private readonly bits: Uint8Array[];
  private readonly offsets: Int32Array[];
  private readonly data: Uint8Array[];
  private readonly dataLength: Int32Array;
  private readonly nullCount: Int32Array;
  private rows = 0;
  /** Rows handed to onRowGroup so far plus rows in the current group. */
  totalRows = 0;
  private leftover: Uint8Array | null = null;
  private readonly onRowGroup: (buffers: readonly ColumnBuffers[], rows: number) => void;
  private readonly where: string;

  constructor(columns: readonly ExportColumn[], rowGroupSize: number, onRowGroup: (buffers: readonly ColumnBuffers[], rows: number) => void, where = '') {
    this.columns = columns;
    this.rowGroupSize = rowGroupSize;
    this.onRowGroup = onRowGroup;
    this.where = where;
    this.kinds = Int32Array.from(columns.map((c) => KIND_CODE[c.kind]));
    this.buffers = columns.map((column) => this.allocate(column));
    const none8 = new Uint8Array(0);
    this.validity = this.buffers.map((b) => b.validity);
    this.i32 = this.buffers.map((b) => b.i32 ?? new Int32Array(0));
    this.f64 = this.buffers.map((b) => b.f64 ?? new Float64Array(0));
    this.bits = this.buffers.map((b) => b.bits ?? none8);
    this.offsets = this.buffers.map((b) => b.offsets ?? new Int32Array(0));
    this.data = this.buffers.map((b) => b.data ?? none8);
    this.dataLength = new Int32Array(columns.length);
    this.nullCount = new Int32Array(columns.length);
  }

  private allocate(column: ExportColumn): ColumnBuffers {
    const n = this.rowGroupSize;
    const b: ColumnBuffers = { column, validity: new Uint8Array((n + 7) >> 3), nullCount: 0, dataLength: 0 };
    switch (KIND_CODE[column.kind]) {
      case K_INT:
      case K_DATE:
      case K_TS:
        b.i64 = new BigInt64Array(n);
        b.i32 = new Int32Array(b.i64.buffer);
        break;
      case K_FLOAT:
        b.f64 = new Float64Array(n);
        break;
      case K_BOOL:
        b.bits = new Uint8Array((n + 7) >> 3);
        break;
      default:
        b.offsets = new Int32Array(n + 1);
        b.data = new Uint8Array(Math.max(1024, n * 16));
    }
    return b;
  }

  /** Feeds a chunk of COPY output; rows may be split across chunks anywhere. */
  push(chunk: Uint8Array): void {
    let from = 0;
    if (this.leftover) {
      // Only the row that straddles the two chunks is joined; the rest is parsed in place.
      const nl = chunk.indexOf(NL);
      if (nl < 0) {
        const joined = new Uint8Array(this.leftover.length + chunk.length);
        joined.set(this.leftover, 0);
        joined.set(chunk, this.leftover.length);
        this.leftover = joined;
        return;
      }
      const row = new Uint8Array(this.leftover.length + nl + 1);
      row.set(this.leftover, 0);
      row.set(chunk.subarray(0, nl + 1), this.leftover.length);
      this.leftover = null;
      this.parseRows(row, 0, row.length);
      from = nl + 1;
    }
    const last = chunk.lastIndexOf(NL);
    if (last < from) {
      if (from < chunk.length) this.leftover = chunk.slice(from);
      return;
    }
    this.parseRows(chunk, from, last + 1);
    if (last + 1 < chunk.length) this.leftover = chunk.slice(last + 1);
  }

  /** Flushes the last row group; throws when the stream ended inside a row. */
  finish(): void {
    if (this.leftover && this.leftover.length > 0) {
      throw new DataError('EXPORT_FAILED', `COPY output of ${this.where} ended in the middle of a row`);
    }
    if (this.rows > 0) this.flush();
  }

  private flush(): void {
    for (let c = 0; c < this.buffers.length; c++) {
      const b = this.buffers[c]!;
      b.nullCount = this.nullCount[c]!;
      b.dataLength = this.dataLength[c]!;
      if (b.data) b.data = this.data[c]!;
    }
    this.onRowGroup(this.buffers, this.rows);
    this.rows = 0;
    this.nullCount.fill(0);
    this.dataLength.fill(0);
    for (let c = 0; c < this.buffers.length; c++) {
      this.validity[c]!.fill(0);
      this.bits[c]!.fill(0);
    }
  }

  private fail(message: string, buf: Uint8Array, s: number, e: number, col: number): never {
    throw new DataError('EXPORT_FAILED', `${this.where}: ${message} '${latin1.decode(buf.subarray(s, Math.min(e, s + 80)))}' in column ${this.columns[col]?.name} (row ${this.totalRows + 1})`);
  }

  /** Makes room for `more` bytes in a string column's data buffer. */
  private grow(c: number, more: number): Uint8Array {
    const old = this.data[c]!;
    const grown = new Uint8Array(Math.max(this.dataLength[c]! + more, old.length * 2));
    grown.set(old.subarray(0, this.dataLength[c]!));
    this.data[c] = grown;
    return grown;
  }

  /** Parses the complete rows in buf[from, end); buf[end - 1] is a newline. */
  private parseRows(buf: Uint8Array, from: number, end: number): void {
    const ncols = this.kinds.length;
    const last = ncols - 1;
    const { kinds, validity, i32, f64, bits, offsets, dataLength, nullCount } = this;
    let p = from;
    while (p < end) {
      const r = this.rows;
      const byte = r >> 3;
      const bit = 1 << (r & 7);
      for (let c = 0; c < ncols; c++) {
        const kind = kinds[c]!;
        const s = p;
        let ch = buf[p]!;
        if (kind === K_STRING) {
          // Copy while looking for the end of the field; room for the rest of the chunk is made
          // first, so the copy loop needs no bounds check.
          let data = this.data[c]!;
          let dl = dataLength[c]!;
          if (dl + (end - p) > data.length) data = this.grow(c, end - p);
          while (ch !== TAB && ch !== NL && ch !== BACKSLASH) {
            data[dl++] = ch;
            ch = buf[++p]!;
          }
          if (ch === BACKSLASH) {
            while (ch !== TAB && ch !== NL) {
              if (ch === BACKSLASH) p++;
              ch = buf[++p]!;
            }
            if (p - s === 2 && buf[s + 1] === 78) {
              nullCount[c]!++;
              dl = dataLength[c]!;
            } else {
              dl = unescapeInto(buf, s, p, data, dataLength[c]!);
              validity[c]![byte]! |= bit;
            }
          } else validity[c]![byte]! |= bit;
          if ((ch === NL) !== (c === last)) this.fail(`expected ${ncols} columns, the row has a different number near`, buf, s, p, c);
          p++;
          offsets[c]![r + 1] = dl;
          dataLength[c] = dl;
          continue;
        }
        if (kind === K_INT) {
          let neg = false;
          if (ch === 45) {
            neg = true;
            ch = buf[++p]!;
          }
          const ds = p;
          let v = 0;
          while (ch >= 48 && ch <= 57) {
            v = v * 10 + (ch - 48);
            ch = buf[++p]!;
          }
          if ((ch === TAB || ch === NL) && p > ds && p - ds <= 15) {
            if (neg) v = -v;
            const hi = Math.floor(v / TWO32);
            const a = i32[c]!;
            a[2 * r] = (v - hi * TWO32) | 0;
            a[2 * r + 1] = hi | 0;
            validity[c]![byte]! |= bit;
          } else {
            p = this.slowField(buf, s, c, r, byte, bit);
            ch = buf[p]!;
          }
        } else if (kind === K_FLOAT) {
          let neg = false;
          if (ch === 45) {
            neg = true;
            ch = buf[++p]!;
          }
          const ds = p;
          let m = 0;
          let frac = -1;
          for (;;) {
            if (ch >= 48 && ch <= 57) {
              m = m * 10 + (ch - 48);
              if (frac >= 0) frac++;
            } else if (ch === 46 && frac < 0) frac = 0;
            else break;
            ch = buf[++p]!;
          }
          const digits = p - ds - (frac >= 0 ? 1 : 0);
          if ((ch === TAB || ch === NL) && digits > 0 && digits <= 15) {
            // m and 10^k are exact doubles, so one division is correctly rounded.
            let v = frac > 0 ? m / POW10[frac]! : m;
            if (neg) v = -v;
            f64[c]![r] = v;
            validity[c]![byte]! |= bit;
          } else {
            p = this.slowField(buf, s, c, r, byte, bit);
            ch = buf[p]!;
          }
        } else if (kind === K_BOOL) {
          const next = buf[p + 1];
          if (next === TAB || next === NL) {
            if (ch === 116) bits[c]![byte]! |= bit;
            else if (ch !== 102) this.fail('not a boolean:', buf, s, p + 1, c);
            validity[c]![byte]! |= bit;
            p++;
            ch = next;
          } else {
            p = this.slowField(buf, s, c, r, byte, bit);
            ch = buf[p]!;
          }
        } else if (kind === K_DATE && isIsoDate(buf, p)) {
          const y = (ch - 48) * 1000 + (buf[p + 1]! - 48) * 100 + (buf[p + 2]! - 48) * 10 + (buf[p + 3]! - 48);
          const mo = (buf[p + 5]! - 48) * 10 + (buf[p + 6]! - 48);
          const d = (buf[p + 8]! - 48) * 10 + (buf[p + 9]! - 48);
          const v = daysFromCivil(y, mo, d) * 86_400_000;
          const hi = Math.floor(v / TWO32);
          const a = i32[c]!;
          a[2 * r] = (v - hi * TWO32) | 0;
          a[2 * r + 1] = hi | 0;
          validity[c]![byte]! |= bit;
          p += 10;
          ch = buf[p]!;
        } else {
          p = this.slowField(buf, s, c, r, byte, bit);
          ch = buf[p]!;
        }
        if ((ch === NL) !== (c === last)) this.fail(`expected ${ncols} columns, the row has a different number near`, buf, s, p, c);
        p++;
      }
      this.rows++;
      this.totalRows++;
      if (this.rows === this.rowGroupSize) this.flush();
    }
  }

  /**
   * Any non-string field the fast paths did not take: NULL, long integers, floats with exponents or
   * more than 15 digits, NaN/Infinity, timestamps, and malformed values (which fail). Returns the
   * position of the tab or newline that ends the field.
   */
  private slowField(buf: Uint8Array, s: number, c: number, r: number, byte: number, bit: number): number {
    let p = s;
    let escaped = false;
    let ch = buf[p]!;
    while (ch !== TAB && ch !== NL) {
      if (ch === BACKSLASH) {
        escaped = true;
        p++;
      }
      ch = buf[++p]!;
    }
    const e = p;
    if (escaped && e - s === 2 && buf[s + 1] === 78) {
      // \N: NULL. The validity bit stays 0; the value slot keeps whatever it held.
      this.nullCount[c]!++;
      return e;
    }
    this.validity[c]![byte]! |= bit;
    const b = this.buffers[c]!;
    switch (this.kinds[c]) {
      case K_INT: {
        const text = latin1.decode(buf.subarray(s, e));
        if (!/^-?\d+$/.test(text)) this.fail('not an integer:', buf, s, e, c);
        b.i64![r] = BigInt(text);
        break;
      }
      case K_FLOAT: {
        const text = latin1.decode(buf.subarray(s, e));
        const v = Number(text);
        if (text === '' || (Number.isNaN(v) && text !== 'NaN')) this.fail('not a number:', buf, s, e, c);
        b.f64![r] = v;
        break;
      }
      case K_BOOL:
        this.fail('not a boolean:', buf, s, e, c);
        break;
      default:
        this.dateTime(buf, s, e, c, r);
    }
    return e;
  }

  private dateTime(buf: Uint8Array, s: number, e: number, c: number, r: number): void {
    const b = this.buffers[c]!;
    if (e - s < 10 || buf[s + 4] !== 45 || buf[s + 7] !== 45) this.fail('unsupported date/time (infinity, BC or year > 9999):', buf, s, e, c);
    const y = (buf[s]! - 48) * 1000 + (buf[s + 1]! - 48) * 100 + (buf[s + 2]! - 48) * 10 + (buf[s + 3]! - 48);
    const mo = (buf[s + 5]! - 48) * 10 + (buf[s + 6]! - 48);
    const d = (buf[s + 8]! - 48) * 10 + (buf[s + 9]! - 48);
    const days = daysFromCivil(y, mo, d);
    let v: number;
    if (this.kinds[c] === K_DATE) {
      if (e - s !== 10) this.fail('unsupported date:', buf, s, e, c);
      v = days * 86_400_000;
    } else {
      if (e - s < 19 || buf[s + 10] !== 32) this.fail('unsupported timestamp:', buf, s, e, c);
      const hh = (buf[s + 11]! - 48) * 10 + (buf[s + 12]! - 48);
      const mi = (buf[s + 14]! - 48) * 10 + (buf[s + 15]! - 48);
      const ss = (buf[s + 17]! - 48) * 10 + (buf[s + 18]! - 48);
      let micros = 0;
      let i = s + 19;
      if (buf[i] === 46) {
        let scale = 100000;
        for (i++; i < e && buf[i]! >= 48 && buf[i]! <= 57; i++) {
          micros += (buf[i]! - 48) * scale;
          scale /= 10;
        }
      }
      let offsetSeconds = 0;
      if (i < e) {
        // timestamptz: +HH[:MM[:SS]] or -HH…; the session runs in UTC so this is +00.
        const sign = buf[i] === 45 ? -1 : 1;
        const parts = latin1.decode(buf.subarray(i + 1, e)).split(':').map(Number);
        if (buf[i] !== 43 && buf[i] !== 45) this.fail('unsupported timestamp:', buf, s, e, c);
        offsetSeconds = sign * ((parts[0] ?? 0) * 3600 + (parts[1] ?? 0) * 60 + (parts[2] ?? 0));
      }
      const secs = days * 86400 + hh * 3600 + mi * 60 + ss - offsetSeconds;
      v = secs * 1_000_000 + micros;
      if (!Number.isSafeInteger(v)) {
        b.i64![r] = BigInt(secs) * 1_000_000n + BigInt(micros);
        return;
      }
    }
    const hi = Math.floor(v / TWO32);
    const a = this.i32[c]!;
    a[2 * r] = (v - hi * TWO32) | 0;
    a[2 * r + 1] = hi | 0;
  }
}

const ESCAPES: Record<number, number> = { 98: 8, 102: 12, 110: 10, 114: 13, 116: 9, 118: 11 };

/** Writes the unescaped bytes of buf[s, e) at out[at]; returns the new end. Never longer than the input. */
function unescapeInto(buf: Uint8Array, s: number, e: number, out: Uint8Array, at: number): number {
  let o = at;
  for (let i = s; i < e; i++) {
    const ch = buf[i]!;
    if (ch !== BACKSLASH || i + 1 >= e) {
      out[o++] = ch;
      continue;
    }
    const next = buf[++i]!;
    const mapped = ESCAPES[next];
    if (mapped !== undefined) out[o++] = mapped;
    else if (next >= 48 && next <= 55) {
      // \ooo octal (1-3 digits)
      let v = next - 48;
      for (let k = 0; k < 2 && i + 1 < e && buf[i + 1]! >= 48 && buf[i + 1]! <= 55; k++) v = v * 8 + (buf[++i]! - 48);
      out[o++] = v & 0xff;
    } else if (next === 120 && i + 1 < e && isHex(buf[i + 1]!)) {
      // \xHH (1-2 hex digits)
      let v = hexValue(buf[++i]!);
      if (i + 1 < e && isHex(buf[i + 1]!)) v = v * 16 + hexValue(buf[++i]!);
      out[o++] = v;
    } else out[o++] = next; // \\ and any other escaped character stand for themselves
  }
  return o;
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 48 && c <= 57;
}

/** `YYYY-MM-DD` followed by a tab or newline at buf[p] (every position checked, so a shorter field never passes). */
function isIsoDate(buf: Uint8Array, p: number): boolean {
  const end = buf[p + 10];
  return (end === TAB || end === NL) && buf[p + 4] === 45 && buf[p + 7] === 45
    && isDigit(buf[p]) && isDigit(buf[p + 1]) && isDigit(buf[p + 2]) && isDigit(buf[p + 3])
    && isDigit(buf[p + 5]) && isDigit(buf[p + 6]) && isDigit(buf[p + 8]) && isDigit(buf[p + 9]);
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}
function hexValue(c: number): number {
  return c <= 57 ? c - 48 : (c | 32) - 87;
}
