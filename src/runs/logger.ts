/**
 * What a run prints. On a terminal: readable lines and tables. Otherwise (cron, CI) or with
 * `--log-format json`: one JSON object per line with the run id and target, no colour, no
 * progress redraws. `--quiet` keeps only errors and the final line.
 */
export interface Logger {
  /** A structured event: one JSON line, or a readable line on a terminal. */
  event(name: string, fields?: Record<string, unknown>, text?: string): void;
  /** A block of text for people (summary tables); in JSON mode it is carried as an event field. */
  block(name: string, text: string, fields?: Record<string, unknown>): void;
  error(name: string, fields: Record<string, unknown>, text: string): void;
  /** The last line of a run, printed even with --quiet. */
  final(text: string, fields?: Record<string, unknown>, failed?: boolean): void;
  /** Run id and target once known; added to every later JSON line. */
  bind(fields: Record<string, unknown>): void;
  /**
   * A live status line on a terminal (redrawn in place, at most 10 times a second); nothing when
   * not on a terminal, in JSON mode or with --quiet, where only the finished events are logged.
   */
  progress(text: string): void;
  /** Ends the live line so that the next output starts on a clean line. */
  progressDone(): void;
}

export interface LoggerOptions {
  format: 'pretty' | 'json';
  quiet: boolean;
  out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  err: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const bound: Record<string, unknown> = {};
  const live = options.format === 'pretty' && !options.quiet && options.out.isTTY === true;
  let lastDraw = 0;
  let drawn = false;
  const clearLive = () => {
    if (drawn) options.out.write('\r\x1b[2K');
    drawn = false;
  };
  const json = (stream: NodeJS.WritableStream, level: string, name: string, fields: Record<string, unknown>) =>
    stream.write(`${JSON.stringify({ time: new Date().toISOString(), level, event: name, ...bound, ...fields })}\n`);
  return {
    bind(fields) {
      Object.assign(bound, fields);
    },
    progress(text) {
      if (!live) return;
      const now = performance.now();
      if (now - lastDraw < 100) return;
      lastDraw = now;
      const width = (options.out.columns ?? 100) - 1;
      options.out.write(`\r\x1b[2K${text.slice(0, width)}`);
      drawn = true;
    },
    progressDone() {
      if (live) clearLive();
    },
    event(name, fields = {}, text) {
      if (options.quiet) return;
      if (options.format === 'json') json(options.out, 'info', name, fields);
      else if (text) {
        clearLive();
        options.out.write(`${text}\n`);
      }
    },
    block(name, text, fields = {}) {
      if (options.quiet) return;
      if (options.format === 'json') json(options.out, 'info', name, fields);
      else {
        clearLive();
        options.out.write(`${text}\n`);
      }
    },
    error(name, fields, text) {
      if (options.format === 'json') json(options.err, 'error', name, { message: text, ...fields });
      else {
        clearLive();
        options.err.write(`${text}\n`);
      }
    },
    final(text, fields = {}, failed = false) {
      clearLive();
      const stream = failed ? options.err : options.out;
      if (options.format === 'json') json(stream, failed ? 'error' : 'info', 'run_finished', { message: text, ...fields });
      else stream.write(`${text}\n`);
    },
  };
}
