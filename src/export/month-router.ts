/**
 * Postgres' CSV, whose first column is the month column, split by month into one CSV file per
 * month (`YYYY-MM.csv`, `none.csv` for a NULL), rows in the order they arrive: one COPY (one scan
 * of the table) feeds every month, and DuckDB encodes each month's file afterwards
 * (parquet-copy.ts). Node finds the rows' ends and reads the first 7 bytes of each row; it parses
 * nothing else.
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

/**
 * Bytes buffered per month before they are written to its file. Every month has one, so memory
 * grows with the months (38 at scale 100: under 5 MB), not with the rows.
 */
const MONTH_BUFFER_BYTES = 128 << 10;

interface MonthFile {
  month: string;
  file: string;
  handle: FileHandle;
  buffer: Buffer;
  filled: number;
  rows: number;
}

export interface RoutedMonth {
  month: string;
  /** The month's CSV file. */
  file: string;
  rows: number;
}

/** Whether a byte is an ASCII digit. */
function digit(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x39;
}

export class MonthRouter extends Writable {
  private readonly months = new Map<number, MonthFile>();
  /** The start of a row cut by the end of the last chunk. */
  private carry: Buffer | null = null;
  private readonly dir: string;

  /** Writes the month files into `dir` (which exists). */
  constructor(dir: string) {
    super({ highWaterMark: 1 << 20 });
    this.dir = dir;
  }

  /** The months written, with their files and rows (after the stream finished). */
  routed(): RoutedMonth[] {
    return [...this.months.values()].map(({ month, file, rows }) => ({ month, file, rows }));
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
      for (const m of this.months.values()) await this.flush(m);
      await this.closeAll();
    };
    finish().then(() => callback(), callback);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.closeAll().then(() => callback(err), () => callback(err));
  }

  private async closeAll(): Promise<void> {
    for (const m of this.months.values()) await m.handle.close().catch(() => {});
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

  /**
   * The month of the row starting at `start` as a number (year × 100 + month), from the first 7
   * bytes of an ISO date; -1 (`none`) for an empty (NULL) field or any other text.
   */
  private monthOf(data: Buffer, start: number): number {
    const b = (i: number) => data[start + i]! - 0x30;
    if (digit(data[start]) && digit(data[start + 1]) && digit(data[start + 2]) && digit(data[start + 3]) && data[start + 4] === DASH && digit(data[start + 5]) && digit(data[start + 6])) {
      return (((b(0) * 10 + b(1)) * 10 + b(2)) * 10 + b(3)) * 100 + b(5) * 10 + b(6);
    }
    return -1;
  }

  /** Appends the row to its month's buffer; a promise when the buffer had to be written (or the file opened) first. */
  private append(data: Buffer, start: number, end: number): Promise<void> | null {
    const key = this.monthOf(data, start);
    const m = this.months.get(key);
    if (m === undefined) return this.open(key, data.toString('latin1', start, start + 7)).then(() => this.append(data, start, end) ?? undefined);
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

  private async open(key: number, text: string): Promise<void> {
    const month = key < 0 ? 'none' : text;
    const file = path.join(this.dir, `${month}.csv`);
    const handle = await open(file, 'wx', 0o600);
    this.months.set(key, { month, file, handle, buffer: Buffer.allocUnsafe(MONTH_BUFFER_BYTES), filled: 0, rows: 0 });
  }

  private async flush(m: MonthFile): Promise<void> {
    let done = 0;
    while (done < m.filled) done += (await m.handle.write(m.buffer, done, m.filled - done)).bytesWritten;
    m.filled = 0;
  }
}
