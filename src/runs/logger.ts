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
}

export interface LoggerOptions {
  format: 'pretty' | 'json';
  quiet: boolean;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const bound: Record<string, unknown> = {};
  const json = (stream: NodeJS.WritableStream, level: string, name: string, fields: Record<string, unknown>) =>
    stream.write(`${JSON.stringify({ time: new Date().toISOString(), level, event: name, ...bound, ...fields })}\n`);
  return {
    bind(fields) {
      Object.assign(bound, fields);
    },
    event(name, fields = {}, text) {
      if (options.quiet) return;
      if (options.format === 'json') json(options.out, 'info', name, fields);
      else if (text) options.out.write(`${text}\n`);
    },
    block(name, text, fields = {}) {
      if (options.quiet) return;
      if (options.format === 'json') json(options.out, 'info', name, fields);
      else options.out.write(`${text}\n`);
    },
    error(name, fields, text) {
      if (options.format === 'json') json(options.err, 'error', name, { message: text, ...fields });
      else options.err.write(`${text}\n`);
    },
    final(text, fields = {}, failed = false) {
      const stream = failed ? options.err : options.out;
      if (options.format === 'json') json(stream, failed ? 'error' : 'info', 'run_finished', { message: text, ...fields });
      else stream.write(`${text}\n`);
    },
  };
}

/** A fixed-width text table; numbers right-aligned. */
export function formatTable(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const numeric = headers.map((_, i) => rows.every((r) => typeof r[i] === 'number'));
  const line = (r: (string | number)[]) => r.map((c, i) => (numeric[i] ? String(c).padStart(widths[i]!) : String(c).padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

function formatNumber(n: number): string {
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  return n.toFixed(n < 10 ? 2 : 1);
}
