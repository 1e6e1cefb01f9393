/**
 * What a run prints. On a terminal: readable lines and tables, colour, and a live region below
 * them with one line per task running now (each with its elapsed time). Otherwise (cron, CI) or
 * with `--log-format json`: one JSON object per line with the run id and target, no colour, no
 * live lines. `--quiet` keeps only errors and the final line.
 *
 * The live region is our own small renderer rather than a task-list library (listr2 and the
 * like): the tasks here are started and ended by events of a scheduler (a model built, a test
 * finished, a file loaded), not by promises the library could own, and every other line of the
 * run goes through this logger, which must clear the region before it writes and redraw it after.
 * A library that owns the terminal would need both bridged; this is one redraw function.
 */
export interface Logger {
  /** A structured event: one JSON line, or a readable line on a terminal (none without `text`). */
  event(name: string, fields?: Record<string, unknown>, text?: string): void;
  /** A block of text for people (summary tables); in JSON mode it is carried as an event field. */
  block(name: string, text: string, fields?: Record<string, unknown>): void;
  error(name: string, fields: Record<string, unknown>, text: string): void;
  /** The last line of a run, printed even with --quiet. */
  final(text: string, fields?: Record<string, unknown>, failed?: boolean): void;
  /** Run id and target once known; added to every later JSON line. */
  bind(fields: Record<string, unknown>): void;
  /**
   * The live line of the task `key` (started or updated): shown on a terminal below the printed
   * lines with the time since the key was first seen, redrawn about 10 times a second. Nothing
   * when not on a terminal, in JSON mode or with --quiet, where only the finished events are logged.
   */
  progress(key: string, text: string): void;
  /** Ends the live line of `key`, or every live line. */
  progressDone(key?: string): void;
  /** Whether live lines are shown (pretty, on a terminal, not --quiet). */
  readonly live: boolean;
  /** Colours for readable text: ANSI on a terminal, none with NO_COLOR, in JSON or off a terminal. */
  readonly style: Style;
}

export interface Style {
  readonly enabled: boolean;
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

export interface LoggerOptions {
  format: 'pretty' | 'json';
  quiet: boolean;
  out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };
  err: NodeJS.WritableStream & { isTTY?: boolean };
  /** NO_COLOR is read from here (default process.env). */
  env?: NodeJS.ProcessEnv;
}

const REDRAW_MS = 100;

export function createStyle(enabled: boolean): Style {
  const sgr = (open: number, close: number) => (s: string) => (enabled && s ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  return { enabled, bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39) };
}

/** Elapsed time of a live line: tenths under a minute, then minutes and seconds. */
export function formatElapsed(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${String(Math.floor(seconds - m * 60)).padStart(2, '0')} s`;
}

const ANSI = /\x1b\[[0-9;]*m/g;
function stripAnsi(s: string): string {
  return s.replace(ANSI, '');
}
function visibleLength(s: string): number {
  return stripAnsi(s).length;
}

export function createLogger(options: LoggerOptions): Logger {
  const bound: Record<string, unknown> = {};
  const env = options.env ?? process.env;
  const live = options.format === 'pretty' && !options.quiet && options.out.isTTY === true;
  const style = createStyle(options.format === 'pretty' && options.out.isTTY === true && !env.NO_COLOR);
  const errStyle = createStyle(options.format === 'pretty' && options.err.isTTY === true && !env.NO_COLOR);
  // The live region: task key → its text and when it was first seen, in the order they started.
  const tasks = new Map<string, { text: string; since: number }>();
  let drawnLines = 0;
  let timer: NodeJS.Timeout | null = null;

  const clearLive = () => {
    if (drawnLines === 0) return;
    options.out.write(`\r${drawnLines > 1 ? `\x1b[${drawnLines - 1}A` : ''}\x1b[J`);
    drawnLines = 0;
  };
  const drawLive = () => {
    if (!live || tasks.size === 0) return;
    // A terminal that reports no size (0 × 0: a pty opened without one, as `script` or
    // `docker exec -t` do) gets the usual one; taken at its word it would cut every line to 19.
    const width = Math.max(20, (options.out.columns || 100) - 1);
    const room = Math.max(1, (options.out.rows || 24) - 2);
    const now = performance.now();
    const entries = [...tasks.values()];
    const shown = entries.length > room ? entries.slice(0, room - 1) : entries;
    // The clocks line up after the longest text (measured without colour codes).
    const column = Math.max(...shown.map((t) => visibleLength(t.text)));
    const lines = shown.map(({ text, since }) => {
      const clock = formatElapsed((now - since) / 1000).padStart(8);
      // Cut to the terminal's width: a wrapped line would break the redraw.
      const room = width - clock.length - 2;
      const body = visibleLength(text) > room ? `${stripAnsi(text).slice(0, Math.max(0, room - 1))}…` : text + ' '.repeat(Math.min(column, room) - visibleLength(text));
      return `${body}  ${style.dim(clock)}`;
    });
    if (shown.length < entries.length) lines.push(style.dim(`  … and ${entries.length - shown.length} more`));
    options.out.write(lines.join('\n'));
    drawnLines = lines.length;
  };
  const redraw = () => {
    clearLive();
    drawLive();
  };
  const stopTimer = () => {
    if (timer) clearInterval(timer);
    timer = null;
  };
  /** Writes permanent text above the live region. */
  const print = (stream: NodeJS.WritableStream, text: string) => {
    clearLive();
    stream.write(`${text}\n`);
    drawLive();
  };
  const json = (stream: NodeJS.WritableStream, level: string, name: string, fields: Record<string, unknown>) =>
    stream.write(`${JSON.stringify({ time: new Date().toISOString(), level, event: name, ...bound, ...fields })}\n`);
  return {
    style,
    live,
    bind(fields) {
      Object.assign(bound, fields);
    },
    progress(key, text) {
      if (!live) return;
      const task = tasks.get(key);
      // An update waits for the next redraw; a new task is shown at once.
      if (task) task.text = text;
      else {
        tasks.set(key, { text, since: performance.now() });
        redraw();
      }
      if (!timer) {
        timer = setInterval(redraw, REDRAW_MS);
        timer.unref();
      }
    },
    progressDone(key) {
      if (!live) return;
      if (key === undefined) tasks.clear();
      else tasks.delete(key);
      if (tasks.size === 0) stopTimer();
      redraw();
    },
    event(name, fields = {}, text) {
      if (options.quiet) return;
      if (options.format === 'json') json(options.out, 'info', name, fields);
      else if (text) print(options.out, text);
    },
    block(name, text, fields = {}) {
      if (options.quiet) return;
      if (options.format === 'json') json(options.out, 'info', name, fields);
      else print(options.out, text);
    },
    error(name, fields, text) {
      if (options.format === 'json') json(options.err, 'error', name, { message: text, ...fields });
      else print(options.err, errStyle.red(text));
    },
    final(text, fields = {}, failed = false) {
      tasks.clear();
      stopTimer();
      clearLive();
      const stream = failed ? options.err : options.out;
      if (options.format === 'json') json(stream, failed ? 'error' : 'info', 'run_finished', { message: text, ...fields });
      else stream.write(`${failed ? errStyle.red(text) : style.green(text)}\n`);
    },
  };
}
