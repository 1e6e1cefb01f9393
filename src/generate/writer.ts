/**
 * The thin streaming writer: records are appended to a string batch that is handed to
 * fs.createWriteStream every 256k characters; the caller awaits `maybeFlush()` when `full`
 * (the stream asked for 'drain'), so memory stays flat whatever the scale.
 */
import fs from 'node:fs';
import { once } from 'node:events';

/** Characters per piece handed to the stream. */
const BATCH_CHARS = 1 << 18;

export class BatchWriter {
  readonly path: string;
  readonly eol: string;
  private readonly stream: fs.WriteStream;
  private batch = '';
  private needDrain = false;
  private failed: Error | null = null;
  private wake: (() => void) | null = null;
  /** Characters handed over so far (a lower bound of the bytes). */
  chars = 0;
  /** Data records written (the header excluded). */
  records = 0;
  /** Data lines written: records plus the newlines inside quoted fields. */
  physicalLines = 0;

  constructor(path: string, options: { eol: string; bom: boolean }) {
    this.path = path;
    this.eol = options.eol;
    this.stream = fs.createWriteStream(path, { highWaterMark: 1 << 20 });
    this.stream.on('error', (err) => {
      this.failed = err;
      this.wake?.();
    });
    // a permanent listener: with several writers in one loop, a stream may drain while the
    // caller awaits another one
    this.stream.on('drain', () => {
      this.needDrain = false;
      this.wake?.();
    });
    if (options.bom) this.append('\uFEFF');
  }

  private append(s: string): void {
    this.batch += s;
    if (this.batch.length >= BATCH_CHARS) this.pushBatch();
  }

  header(line: string): void {
    this.append(line);
    this.chars += line.length;
  }

  /** One record (no line ending: it is written before the record, so the last one may lack it). */
  record(line: string, embeddedNewlines = 0): void {
    this.append(this.eol + line);
    this.chars += this.eol.length + line.length;
    this.records++;
    this.physicalLines += 1 + embeddedNewlines;
  }

  /** One record given as raw bytes (for records that are deliberately not valid UTF-8). */
  recordBytes(bytes: Buffer): void {
    this.append(this.eol);
    this.pushBatch();
    this.pushBytes(bytes);
    this.chars += this.eol.length + bytes.length;
    this.records++;
    this.physicalLines++;
  }

  private pushBytes(bytes: Buffer): void {
    if (!this.stream.write(bytes)) this.needDrain = true;
  }

  private pushBatch(): void {
    if (this.batch.length === 0) return;
    if (!this.stream.write(this.batch)) this.needDrain = true;
    this.batch = '';
  }

  /** Hands the batch to the stream when it is nearly full, and waits while the stream is full. */
  async maybeFlush(): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.needDrain) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
      if (this.failed) throw this.failed;
    }
  }

  /** Bytes waiting in the batch. */
  get pending(): number {
    return this.batch.length;
  }

  /** True when the caller should await maybeFlush(). */
  get full(): boolean {
    return this.needDrain;
  }

  /** Writes what is left (and a final line ending if asked), closes the file; returns its size. */
  async end(finalNewline: boolean): Promise<number> {
    if (finalNewline) this.append(this.eol);
    this.pushBatch();
    this.stream.end();
    await once(this.stream, 'finish');
    if (this.failed) throw this.failed;
    return this.stream.bytesWritten;
  }

  /** Closes the file after a failure without waiting for anything more. */
  destroy(): void {
    this.stream.destroy();
  }
}
