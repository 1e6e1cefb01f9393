/**
 * Postgres' CSV, whose first column is the split column, split by part into one CSV file per part,
 * rows in the order they arrive: one COPY (one scan of the table) feeds every part, and DuckDB
 * encodes each part's file afterwards (parquet-copy.ts). The parts are months of a date column
 * (`YYYY-MM.csv`, `none.csv` for a NULL; MONTH_PARTS, read from the row's first 7 bytes) or
 * buckets of an integer column (`bucketParts`: the value modulo a power of two, read from the
 * row's first field). Node finds the rows' ends and reads the start of each row; it parses nothing
 * else.
 *
 * A row ends at a newline outside quotes: Postgres quotes every field that holds a newline, a
 * quote or a comma, and doubles the quotes inside it. A first field that is not an ISO date or
 * timestamp of a 4-digit year (5-digit years, `infinity`, ` BC`) is routed to the file of its
 * first 7 bytes or to `none`; DuckDB's checks refuse it there (parquet-encoder.ts), naming the
 * column.
 */
import { type FileHandle, open } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';

const NEWLINE = 0x0a;
const QUOTE = 0x22;
const DASH = 0x2d;
const COMMA = 0x2c;
const CR = 0x0d;

/**
 * How a row's part is read from the start of its first field: a number per part (`key`; one file
 * each) and the part's name (`name`, given the key and the row, called once per part).
 */
export interface PartKey {
  key(data: Buffer, start: number): number;
  name(key: number, data: Buffer, start: number): string;
}

/**
 * Bytes buffered per part before they are written to its file. Every part has one, so memory
 * grows with the parts (38 months at scale 100, or the buckets: 64 are 8 MB), not with the rows.
 */
const PART_BUFFER_BYTES = 128 << 10;

interface PartFile {
  part: string;
  file: string;
  handle: FileHandle;
  buffer: Buffer;
  filled: number;
  rows: number;
}

export interface RoutedPart {
  /** The month (`YYYY-MM`, `none`) or the bucket (`017`, `none`). */
  part: string;
  /** The part's CSV file. */
  file: string;
  rows: number;
}

/** Whether a byte is an ASCII digit. */
function digit(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x39;
}

/**
 * The month of a row as a number (year × 100 + month), from the first 7 bytes of an ISO date; -1
 * (`none`) for an empty (NULL) field or any other text.
 */
export const MONTH_PARTS: PartKey = {
  key(data, start) {
    const b = (i: number) => data[start + i]! - 0x30;
    if (digit(data[start]) && digit(data[start + 1]) && digit(data[start + 2]) && digit(data[start + 3]) && data[start + 4] === DASH && digit(data[start + 5]) && digit(data[start + 6])) {
      return (((b(0) * 10 + b(1)) * 10 + b(2)) * 10 + b(3)) * 100 + b(5) * 10 + b(6);
    }
    return -1;
  },
  name: (key, data, start) => (key < 0 ? 'none' : data.toString('latin1', start, start + 7)),
};

/** A bucket's name: its number, zero-padded to the width of the largest (at least 3 digits). */
export function bucketName(bucket: number, buckets: number): string {
  return String(bucket).padStart(Math.max(3, String(buckets - 1).length), '0');
}

/**
 * The bucket of a row: its first field, an integer in decimal, modulo `buckets` (a power of two)
 * as two's complement bits, which is SQL's `value & (buckets - 1)` for negative values too; -1
 * (`none`) for an empty (NULL) field or a field that is not an integer. Exact for any number of
 * digits (the remainder is kept, never the value).
 */
export function bucketParts(buckets: number): PartKey {
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > 1 << 20 || (buckets & (buckets - 1)) !== 0) throw new RangeError(`buckets must be a power of two up to 2^20, not ${buckets}`);
  return {
    key(data, start) {
      let i = start;
      const negative = data[i] === DASH;
      if (negative) i++;
      if (!digit(data[i])) return -1;
      let r = 0;
      for (; digit(data[i]); i++) r = (r * 10 + data[i]! - 0x30) % buckets;
      const end = data[i];
      if (end !== COMMA && end !== NEWLINE && end !== CR && end !== undefined) return -1;
      return negative ? (buckets - r) % buckets : r;
    },
    name: (key) => (key < 0 ? 'none' : bucketName(key, buckets)),
  };
}

export class PartRouter extends Writable {
  private readonly parts = new Map<number, PartFile>();
  /** The start of a row cut by the end of the last chunk. */
  private carry: Buffer | null = null;
  private readonly dir: string;
  private readonly partKey: PartKey;

  /** Writes the part files into `dir` (which exists). */
  constructor(dir: string, partKey: PartKey = MONTH_PARTS) {
    super({ highWaterMark: 1 << 20 });
    this.dir = dir;
    this.partKey = partKey;
  }

  /** The parts written, with their files and rows (after the stream finished). */
  routed(): RoutedPart[] {
    return [...this.parts.values()].map(({ part, file, rows }) => ({ part, file, rows }));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.route(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    const finish = async () => {
      if (this.carry !== null && this.carry.length > 0) {
        // The last row without its newline (COPY ends every row with one; kept, not lost).
        await this.append(this.carry, 0, this.carry.length);
        this.carry = null;
      }
      for (const m of this.parts.values()) await this.flush(m);
      await this.closeAll();
    };
    finish().then(() => callback(), callback);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.closeAll().then(() => callback(err), () => callback(err));
  }

  private async closeAll(): Promise<void> {
    for (const m of this.parts.values()) await m.handle.close().catch(() => {});
  }

  private async route(chunk: Buffer): Promise<void> {
    const data = this.carry === null ? chunk : Buffer.concat([this.carry, chunk]);
    this.carry = null;
    let start = 0;
    // The next quote at or after `pos`, -1 for none in `data`; searched again only once passed.
    let quote = -2;
    const n = data.length;
    while (start < n) {
      let pos = start;
      let end = -1;
      for (;;) {
        const newline = data.indexOf(NEWLINE, pos);
        if (newline < 0) break;
        if (quote !== -1 && quote < pos) quote = data.indexOf(QUOTE, pos);
        if (quote === -1 || quote > newline) {
          end = newline;
          break;
        }
        // A quoted field: its end is a quote not followed by another (a doubled quote is data).
        let close = data.indexOf(QUOTE, quote + 1);
        while (close >= 0 && close + 1 < n && data[close + 1] === QUOTE) close = data.indexOf(QUOTE, close + 2);
        if (close < 0 || close + 1 >= n) break;
        pos = close + 1;
        quote = data.indexOf(QUOTE, pos);
      }
      if (end < 0) break;
      const writing = this.append(data, start, end + 1);
      if (writing !== null) await writing;
      start = end + 1;
    }
    if (start < n) this.carry = Buffer.from(data.subarray(start));
  }

  /** Appends the row to its part's buffer; a promise when the buffer had to be written (or the file opened) first. */
  private append(data: Buffer, start: number, end: number): Promise<void> | null {
    const key = this.partKey.key(data, start);
    const m = this.parts.get(key);
    if (m === undefined) return this.open(key, this.partKey.name(key, data, start)).then(() => this.append(data, start, end) ?? undefined);
    m.rows++;
    const length = end - start;
    if (m.filled + length <= m.buffer.length) {
      data.copy(m.buffer, m.filled, start, end);
      m.filled += length;
      return null;
    }
    return this.flush(m).then(async () => {
      if (length > m.buffer.length) {
        await m.handle.write(data, start, length);
        return;
      }
      data.copy(m.buffer, 0, start, end);
      m.filled = length;
    });
  }

  private async open(key: number, part: string): Promise<void> {
    const file = path.join(this.dir, `${part}.csv`);
    const handle = await open(file, 'wx', 0o600);
    this.parts.set(key, { part, file, handle, buffer: Buffer.allocUnsafe(PART_BUFFER_BYTES), filled: 0, rows: 0 });
  }

  private async flush(m: PartFile): Promise<void> {
    let done = 0;
    while (done < m.filled) done += (await m.handle.write(m.buffer, done, m.filled - done)).bytesWritten;
    m.filled = 0;
  }
}
