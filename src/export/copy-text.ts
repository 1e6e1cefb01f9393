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
 */
export class CopyTextParser {
  readonly columns: readonly ExportColumn[];
  readonly rowGroupSize: number;
  private readonly kinds: Int32Array;
  private readonly buffers: ColumnBuffers[];
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
    let buf = chunk;
    if (this.leftover) {
      const joined = new Uint8Array(this.leftover.length + chunk.length);
      joined.set(this.leftover, 0);
      joined.set(chunk, this.leftover.length);
      buf = joined;
      this.leftover = null;
    }
    const last = buf.lastIndexOf(NL);
    if (last < 0) {
      this.leftover = buf.slice();
      return;
    }
    this.parseRows(buf, last + 1);
    if (last + 1 < buf.length) this.leftover = buf.slice(last + 1);
  }

  /** Flushes the last row group; throws when the stream ended inside a row. */
  finish(): void {
    if (this.leftover && this.leftover.length > 0) {
      throw new DataError('EXPORT_FAILED', `COPY output of ${this.where} ended in the middle of a row`);
    }
    if (this.rows > 0) this.flush();
  }

  private flush(): void {
    this.onRowGroup(this.buffers, this.rows);
    this.rows = 0;
    for (const b of this.buffers) {
      b.validity.fill(0);
      b.nullCount = 0;
      b.bits?.fill(0);
      b.dataLength = 0;
    }
  }

  private fail(message: string, buf: Uint8Array, s: number, e: number, col: number): never {
    throw new DataError('EXPORT_FAILED', `${this.where}: ${message} '${latin1.decode(buf.subarray(s, Math.min(e, s + 80)))}' in column ${this.columns[col]?.name} (row ${this.totalRows + 1})`);
  }

  /** Parses the complete rows in buf[0, end). */
  private parseRows(buf: Uint8Array, end: number): void {
    const ncols = this.kinds.length;
    const kinds = this.kinds;
    const buffers = this.buffers;
    let p = 0;
    while (p < end) {
      const r = this.rows;
      for (let c = 0; c < ncols; c++) {
        const s = p;
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
        if ((ch === NL) !== (c === ncols - 1)) this.fail(`expected ${ncols} columns, the row has a different number near`, buf, s, e, c);
        p++;
        const b = buffers[c]!;
        if (escaped && e - s === 2 && buf[s + 1] === 78) {
          // \N: NULL. Validity bit stays 0; value slots keep whatever (zeros or old data).
          b.nullCount++;
          if (b.offsets) b.offsets[r + 1] = b.dataLength;
          continue;
        }
        b.validity[r >> 3]! |= 1 << (r & 7);
        switch (kinds[c]) {
          case K_INT: {
            let i = s;
            let neg = false;
            if (buf[i] === 45) {
              neg = true;
              i++;
            }
            if (e - i <= 15 && e > i) {
              let v = 0;
              for (; i < e; i++) {
                const d = buf[i]! - 48;
                if (d < 0 || d > 9) this.fail('not an integer:', buf, s, e, c);
                v = v * 10 + d;
              }
              if (neg) v = -v;
              const hi = Math.floor(v / TWO32);
              b.i32![2 * r] = (v - hi * TWO32) | 0;
              b.i32![2 * r + 1] = hi | 0;
            } else {
              const text = latin1.decode(buf.subarray(s, e));
              if (!/^-?\d+$/.test(text)) this.fail('not an integer:', buf, s, e, c);
              b.i64![r] = BigInt(text);
            }
            break;
          }
          case K_FLOAT: {
            let i = s;
            let neg = false;
            if (buf[i] === 45) {
              neg = true;
              i++;
            }
            let m = 0;
            let digits = 0;
            let frac = -1;
            let simple = e > i;
            for (; i < e; i++) {
              const ch2 = buf[i]!;
              if (ch2 === 46 && frac < 0) {
                frac = 0;
                continue;
              }
              const d = ch2 - 48;
              if (d < 0 || d > 9) {
                simple = false;
                break;
              }
              m = m * 10 + d;
              digits++;
              if (frac >= 0) frac++;
            }
            let v: number;
            if (simple && digits <= 15 && digits > 0) {
              // m and 10^k are exact doubles, so one division is correctly rounded.
              v = frac > 0 ? m / POW10[frac]! : m;
              if (neg) v = -v;
            } else {
              const text = latin1.decode(buf.subarray(s, e));
              v = Number(text === 'Infinity' || text === '-Infinity' || text === 'NaN' ? text : text);
              if (Number.isNaN(v) && text !== 'NaN') this.fail('not a number:', buf, s, e, c);
            }
            b.f64![r] = v;
            break;
          }
          case K_BOOL: {
            const ch2 = buf[s];
            if (ch2 === 116) b.bits![r >> 3]! |= 1 << (r & 7);
            else if (ch2 !== 102 || e - s !== 1) this.fail('not a boolean:', buf, s, e, c);
            break;
          }
          case K_DATE:
          case K_TS: {
            if (e - s < 10 || buf[s + 4] !== 45 || buf[s + 7] !== 45) this.fail('unsupported date/time (infinity, BC or year > 9999):', buf, s, e, c);
            const y = (buf[s]! - 48) * 1000 + (buf[s + 1]! - 48) * 100 + (buf[s + 2]! - 48) * 10 + (buf[s + 3]! - 48);
            const mo = (buf[s + 5]! - 48) * 10 + (buf[s + 6]! - 48);
            const d = (buf[s + 8]! - 48) * 10 + (buf[s + 9]! - 48);
            const days = daysFromCivil(y, mo, d);
            let v: number;
            if (kinds[c] === K_DATE) {
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
                break;
              }
            }
            const hi = Math.floor(v / TWO32);
            b.i32![2 * r] = (v - hi * TWO32) | 0;
            b.i32![2 * r + 1] = hi | 0;
            break;
          }
          default: {
            let data = b.data!;
            const need = b.dataLength + (e - s);
            if (need > data.length) {
              const grown = new Uint8Array(Math.max(need, data.length * 2));
              grown.set(data.subarray(0, b.dataLength));
              b.data = data = grown;
            }
            if (!escaped) {
              data.set(buf.subarray(s, e), b.dataLength);
              b.dataLength = need;
            } else {
              b.dataLength = unescapeInto(buf, s, e, data, b.dataLength);
            }
            b.offsets![r + 1] = b.dataLength;
          }
        }
      }
      this.rows++;
      this.totalRows++;
      if (this.rows === this.rowGroupSize) this.flush();
    }
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

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}
function hexValue(c: number): number {
  return c <= 57 ? c - 48 : (c | 32) - 87;
}
