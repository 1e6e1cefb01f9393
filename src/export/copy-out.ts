/**
 * `COPY … TO STDOUT` as a readable stream of raw COPY data, read straight off the connection's
 * socket: one Buffer per socket read, the protocol framing removed in place.
 *
 * Why not pg-copy-streams' `to()`: it slices every CopyData message (one per row) into its own
 * Buffer and concatenates them again: 0.83-0.89 s of main-thread CPU against 0.65-0.67 s here for
 * scale-10 fact_sales (`bench/export/pg-copy-cpu.ts`). Here each socket chunk is compacted in place
 * (`copyWithin` over the 5-byte message headers) and handed on whole; rows may be cut anywhere,
 * which does not matter to the named pipe into DuckDB that reads them.
 *
 * The connection hand-over is pg-copy-streams' (pg's documented Submittable interface): the query
 * takes the socket's 'data' listener away from pg while the COPY runs, and gives it back, with any
 * bytes it has not consumed, at CopyDone or at an ErrorResponse, so that pg itself reads the
 * CommandComplete/ReadyForQuery or the error, and calls handleError.
 */
import { Readable } from 'node:stream';
import type { Connection, Submittable } from 'pg';

const COPY_DATA = 0x64; // 'd'
const COPY_DONE = 0x63; // 'c'
const ERROR_RESPONSE = 0x45; // 'E'

/** The parts of pg's (undocumented) Connection that the hand-over uses, as pg-copy-streams does. */
interface PgConnection {
  stream: Readable & { read(): Buffer | null };
  query(text: string): void;
}

export class CopyOutStream extends Readable implements Submittable {
  /** Rows COPY reported in its CommandComplete (set before `completed` resolves). */
  rowCount: number | null = null;
  /**
   * Resolves with `rowCount` once pg has read the end of the command (ReadyForQuery), i.e. after
   * the last data; rejects with the server's error.
   */
  readonly completed: Promise<number | null>;
  private settle!: { resolve: (n: number | null) => void; reject: (e: Error) => void };
  private readonly text: string;
  private connection: PgConnection | null = null;
  private pgDataHandler: ((b: Buffer) => void) | null = null;
  /** Bytes of a message header (code + length) cut by the end of a socket chunk. */
  private readonly header = Buffer.alloc(5);
  private headerFill = 0;
  private code = 0;
  /** Bytes of the current message's body still to come. */
  private remaining = 0;
  private inBody = false;
  private wanted = false;
  private forwarding = false;
  /** Destroyed before the COPY ended: the rest is read and dropped so that pg gets its connection back. */
  private discarding = false;
  private readonly onReadable = () => this.forward();

  constructor(text: string) {
    super({ highWaterMark: 1 << 20 });
    this.text = text;
    this.completed = new Promise((resolve, reject) => { this.settle = { resolve, reject }; });
    this.completed.catch(() => {});
  }

  /** Called by pg when the query reaches the front of the client's queue. */
  submit(pgConnection: Connection): void {
    const connection = pgConnection as unknown as PgConnection;
    this.connection = connection;
    const stream = connection.stream;
    const listeners = stream.listeners('data');
    if (listeners.length !== 1) throw new Error(`CopyOutStream: expected one data listener on the connection, found ${listeners.length}`);
    this.pgDataHandler = listeners[0] as (b: Buffer) => void;
    stream.removeListener('data', this.pgDataHandler);
    stream.pause();
    stream.on('readable', this.onReadable);
    connection.query(this.text);
  }

  /**
   * A consumer that gives up mid-COPY (the encoder failed) must not leave the connection in COPY
   * mode, or the next query on it would wait forever: keep reading, drop the data, and hand the
   * connection back to pg at CopyDone as usual.
   */
  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.connection) {
      this.discarding = true;
      this.wanted = true;
      this.forward();
    }
    callback(err);
  }

  override _read(): void {
    this.wanted = true;
    this.forward();
  }

  private forward(): void {
    if (this.forwarding || !this.wanted || !this.connection) return;
    this.forwarding = true;
    while (this.wanted && this.connection) {
      const chunk = this.connection.stream.read();
      if (chunk === null) break;
      this.parse(chunk);
    }
    this.forwarding = false;
  }

  /** Strips the framing of `chunk` in place and pushes its COPY data. */
  private parse(chunk: Buffer): void {
    let r = 0;
    let w = 0;
    const n = chunk.length;
    while (r < n) {
      if (this.inBody) {
        const take = Math.min(this.remaining, n - r);
        if (this.code === COPY_DATA) {
          if (w !== r) chunk.copyWithin(w, r, r + take);
          w += take;
        }
        r += take;
        this.remaining -= take;
        if (this.remaining > 0) break;
        this.inBody = false;
        if (this.code === COPY_DONE) {
          this.finish(chunk, w, chunk.subarray(r), true);
          return;
        }
        continue;
      }
      const start = r;
      while (this.headerFill < 5 && r < n) this.header[this.headerFill++] = chunk[r++]!;
      if (this.headerFill < 5) break;
      this.headerFill = 0;
      this.code = this.header[0]!;
      if (this.code === ERROR_RESPONSE) {
        // Give pg the whole message (its header may have come in the previous chunk).
        const header = this.header.subarray(0, 5 - (r - start));
        this.finish(chunk, w, Buffer.concat([header, chunk.subarray(start)]), false);
        return;
      }
      this.remaining = this.header.readUInt32BE(1) - 4;
      this.inBody = true;
      if (this.remaining === 0) {
        this.inBody = false;
        if (this.code === COPY_DONE) {
          this.finish(chunk, w, chunk.subarray(r), true);
          return;
        }
      }
    }
    if (w > 0 && !this.discarding) this.wanted = this.push(chunk.subarray(0, w));
  }

  /**
   * Pushes the last data and returns the connection to pg with the bytes we did not consume. After
   * an ErrorResponse the stream does not end: pg parses the error and calls handleError.
   */
  private finish(chunk: Buffer, w: number, unread: Buffer, ended: boolean): void {
    if (w > 0 && !this.discarding) this.push(chunk.subarray(0, w));
    const connection = this.connection!;
    const handler = this.pgDataHandler!;
    this.connection = null;
    this.pgDataHandler = null;
    connection.stream.removeListener('readable', this.onReadable);
    connection.stream.on('data', handler);
    if (unread.length > 0) handler(unread);
    // Resumed on the next tick, as pg-copy-streams does: pg's handler may itself pause the stream.
    process.nextTick(() => connection.stream.resume());
    if (ended && !this.discarding) this.push(null);
  }

  /** pg: the server reported an error (after `finish` gave the connection back). */
  handleError(err: Error): void {
    this.settle.reject(err);
    this.destroy(err);
  }

  handleCommandComplete(msg: { text?: string } | undefined): void {
    const match = /COPY (\d+)/.exec(msg?.text ?? '');
    if (match) this.rowCount = Number(match[1]);
  }

  handleReadyForQuery(): void {
    this.settle.resolve(this.rowCount);
  }
}
