/**
 * The stream adapter around RecordScanner: raw file bytes in, COPY bytes out. Rejected records are
 * handed to an async sink before the chunk's callback fires, so a slow reject writer slows the
 * load down (backpressure) instead of piling records up in memory. The scanner holds the bytes
 * between chunks (RecordScanner#feed).
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { type RejectedRecord, RecordScanner, type ScannerOptions } from './record-scanner.ts';

export type RejectSink = (rejects: RejectedRecord[]) => Promise<void>;

export interface ScanProgress {
  bytesRead: number;
  records: number;
}

export class ScanStream extends Transform {
  readonly scanner: RecordScanner;
  readonly hash: Hash = createHash('sha256');
  bytesRead = 0;
  private readonly sink: RejectSink;
  private readonly onProgress?: (p: ScanProgress) => void;

  constructor(options: ScannerOptions & { sink: RejectSink; onProgress?: (p: ScanProgress) => void; alreadyRead?: Buffer }) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    this.scanner = new RecordScanner(options);
    this.sink = options.sink;
    this.onProgress = options.onProgress;
    if (options.alreadyRead) {
      // The header bytes were read separately; they still belong to the file's checksum and size.
      this.hash.update(options.alreadyRead);
      this.bytesRead = options.alreadyRead.length;
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytesRead += chunk.length;
    this.scanner.feed(chunk);
    this.forward(callback);
  }

  override _flush(callback: TransformCallback): void {
    this.scanner.end();
    this.forward(callback);
  }

  private forward(callback: TransformCallback): void {
    const out = this.scanner.takeOutput();
    if (out.length) this.push(out);
    this.onProgress?.({ bytesRead: this.bytesRead, records: this.scanner.records });
    const rejects = this.scanner.takeRejects();
    if (!rejects.length) {
      callback();
      return;
    }
    this.sink(rejects).then(() => callback(), (err: Error) => callback(err));
  }
}
