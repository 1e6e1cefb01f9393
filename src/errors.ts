/**
 * Every failure the pipeline reports on purpose is a MedallionError: a stable `code` that callers
 * and tests branch on (never the message text), a `category` that decides the exit code (EXIT and
 * exitCodeFor at the end of this file), and the file/line/column context a person needs to fix the input.
 */

/** Why a run stopped; each category maps to one documented exit code. */
export type ErrorCategory =
  /** The input data is unusable: bad header, reject threshold, failing test, reconciliation. */
  | 'data'
  /** The command line or the configuration is wrong. */
  | 'usage'
  /** Something we depend on failed: database unreachable, connection lost, disk. */
  | 'dependency'
  /** Another run holds the lock on this target. */
  | 'locked'
  /** SIGINT or SIGTERM. */
  | 'interrupted';

export type ErrorCode =
  // configuration and usage
  | 'CONFIG_INVALID'
  | 'USAGE_UNKNOWN_COMMAND'
  // bronze
  | 'BRONZE_FILE_MISSING'
  | 'BRONZE_FILE_UNREADABLE'
  | 'BRONZE_HEADER_MISMATCH'
  | 'BRONZE_HEADER_MISSING'
  | 'BRONZE_FILE_ENCODING'
  | 'BRONZE_SOURCE_EMPTY'
  | 'BRONZE_REJECT_THRESHOLD'
  | 'BRONZE_RECONCILIATION'
  /** A source file is missing or older than the error_after of sql/sources.yml. */
  | 'SOURCE_STALE'
  // transform (silver, gold)
  | 'MODEL_FILE_INVALID'
  | 'MODEL_UNKNOWN_RELATION'
  | 'MODEL_CYCLE'
  | 'MODEL_SQL_FAILED'
  /** A value from the sources is longer than a PostgreSQL index entry can hold (SQLSTATE 54000 on an index row). */
  | 'MODEL_VALUE_TOO_LONG'
  | 'TESTS_FAILED'
  | 'RECONCILIATION_FAILED'
  | 'PUBLISH_BLOCKED'
  // export
  | 'EXPORT_FAILED'
  | 'EXPORT_ROW_COUNT_MISMATCH'
  // runs and dependencies
  | 'RUN_LOCKED'
  /** The connection that held the target's lock ended while the run was going. */
  | 'LOCK_LOST'
  /** Recorded on a run left `running` (killed, connection lost), by the next run that takes the lock. */
  | 'RUN_ABANDONED'
  | 'DB_UNREACHABLE'
  /** The server answered, but the database named in the connection does not exist (SQLSTATE 3D000). */
  | 'DB_NOT_FOUND'
  /** The server answered and refused the login: no such role, a wrong password, pg_hba.conf (SQLSTATE class 28). */
  | 'DB_LOGIN_REFUSED'
  | 'DB_CONNECTION_LOST'
  | 'DB_ERROR'
  | 'EMBEDDED_DB_FAILED'
  | 'IO_ERROR'
  | 'INTERRUPTED'
  | 'INTERNAL';

/** Where in the input the problem is. Lines and columns are 1-based. */
export interface ErrorContext {
  file?: string;
  line?: number;
  column?: number | string;
  /** What to do about it, in one sentence. */
  hint?: string;
  [key: string]: unknown;
}

export class MedallionError extends Error {
  override readonly name: string = 'MedallionError';
  readonly code: ErrorCode;
  readonly category: ErrorCategory;
  readonly context: ErrorContext;

  constructor(
    code: ErrorCode,
    category: ErrorCategory,
    message: string,
    context: ErrorContext = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.category = category;
    this.context = context;
  }

  /**
   * For a terminal or a log: location, message, a full stop, and what to do. One line, unless the
   * message is a list (several problems): the advice then follows the list on its own line.
   */
  describe(): string {
    const { file, line, column, hint } = this.context;
    const where = file
      ? `${file}${line !== undefined ? `:${line}` : ''}${column !== undefined ? ` (column ${column})` : ''}: `
      : '';
    if (!hint) return `${where}${this.message}`;
    const message = this.message.trimEnd();
    if (message.includes('\n')) return `${where}${message}\n${hint}`;
    return `${where}${message}${/[.!?]$/.test(message) ? '' : '.'} ${hint}`;
  }
}

export class DataError extends MedallionError {
  override readonly name = 'DataError';
  constructor(code: ErrorCode, message: string, context?: ErrorContext, options?: { cause?: unknown }) {
    super(code, 'data', message, context, options);
  }
}

export class UsageError extends MedallionError {
  override readonly name = 'UsageError';
  /** Every problem found, so that one run of the command reports all of them at once. */
  readonly problems: string[];
  constructor(code: ErrorCode, problems: string[], context?: ErrorContext) {
    super(code, 'usage', problems.length === 1 ? problems[0]! : `${problems.length} problems:\n  - ${problems.join('\n  - ')}`, context);
    this.problems = problems;
  }
}

export class DependencyError extends MedallionError {
  override readonly name = 'DependencyError';
  constructor(code: ErrorCode, message: string, context?: ErrorContext, options?: { cause?: unknown }) {
    super(code, 'dependency', message, context, options);
  }
}

export class LockedError extends MedallionError {
  override readonly name = 'LockedError';
  constructor(message: string, context?: ErrorContext) {
    super('RUN_LOCKED', 'locked', message, context);
  }
}

export class InterruptedError extends MedallionError {
  override readonly name = 'InterruptedError';
  readonly signal: 'SIGINT' | 'SIGTERM';
  constructor(signal: 'SIGINT' | 'SIGTERM') {
    super('INTERRUPTED', 'interrupted', `interrupted by ${signal}; nothing was published by this run`);
    this.signal = signal;
  }
}

/** The Postgres fields node-postgres puts on a DatabaseError (SQLSTATE, detail, hint, ...). */
export interface PgErrorFields {
  code?: string;
  detail?: string;
  hint?: string;
  position?: string;
  schema?: string;
  table?: string;
  column?: string;
  constraint?: string;
  where?: string;
}

const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EAI_AGAIN']);

/**
 * True for errors that mean "the database went away" rather than "the SQL is wrong":
 * socket errors, SQLSTATE class 08 (connection exception), 57P01 (admin shutdown, e.g.
 * pg_terminate_backend) and the driver's own "Connection terminated" messages.
 */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: string; errno?: string };
  if (e.code && CONNECTION_ERRNOS.has(e.code)) return true;
  if (typeof e.code === 'string' && (e.code.startsWith('08') || e.code === '57P01' || e.code === '57P02' || e.code === '57P03')) return true;
  return /Connection terminated|connection is closed|Client has encountered a connection error|Client was closed/i.test(e.message);
}

/**
 * SQLSTATE 54000 (program_limit_exceeded) on an index entry ("index row requires N bytes, maximum
 * size is 8191", "index row size N exceeds btree version 4 maximum 2704"): a value longer than a
 * btree index holds. Only the size of a value read from the sources causes it, so it is the data's
 * fault (exit 1), whether a model's index is built or the rows of an update are inserted at the commit.
 */
export function isValueTooLongToIndex(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === '54000' && /index row/i.test(err.message);
}

/** The longest field bronze can pass on with every value still fitting an index entry, upper-cased. */
const INDEXABLE_FIELD_BYTES = 1000;

export function valueTooLongError(err: Error, doing: string, context: ErrorContext = {}): DataError {
  return new DataError('MODEL_VALUE_TOO_LONG', `a value is longer than PostgreSQL can index while ${doing}: ${err.message}`, {
    ...context,
    sqlstate: '54000',
    hint: `A source field this long is no key: fix the export, or run with --max-field-bytes ${INDEXABLE_FIELD_BYTES} so that bronze loads the file again and rejects that line (RECORD_FIELD_TOO_LARGE); nothing was published by this run.`,
  }, { cause: err });
}

const NOT_PERMITTED = new Set(['EACCES', 'EPERM', 'EROFS']);
const NO_ROOM = new Set(['ENOSPC', 'EDQUOT']);

/**
 * A file system error that reached the command without being handled where it happened: a path
 * this user may not write or read (EACCES, EPERM, EROFS) is the configuration's (exit 2, as an
 * output folder that is not writable), a full disk a dependency's (exit 3). Anything else stays
 * what it is (null): a bug, reported with its stack.
 */
export function fromFileSystemError(err: unknown): MedallionError | null {
  if (err instanceof MedallionError || !(err instanceof Error)) return null;
  const { code, path: file } = err as NodeJS.ErrnoException;
  if (!code || !file) return null;
  if (NOT_PERMITTED.has(code)) {
    return new UsageError('CONFIG_INVALID', [err.message], { file, hint: 'Make that folder writable (a read-only mount?) or point the command at one this user can write.' });
  }
  if (NO_ROOM.has(code)) return new DependencyError('IO_ERROR', err.message, { file, hint: 'Free space on that disk and run again.' }, { cause: err });
  return null;
}

/** Wraps anything thrown by pg into a MedallionError that keeps Postgres' own fields. */
export function fromDatabaseError(err: unknown, doing: string, context: ErrorContext = {}): MedallionError {
  if (err instanceof MedallionError) return err;
  const e = err as Error & PgErrorFields;
  const message = e instanceof Error ? e.message : String(err);
  if (isConnectionError(err)) {
    return new DependencyError('DB_CONNECTION_LOST', `lost the database connection while ${doing}: ${message}`, {
      ...context,
      hint: 'Check that PostgreSQL is running and reachable, then run again; nothing was published by this run.',
    }, { cause: err });
  }
  if (isValueTooLongToIndex(err)) return valueTooLongError(err as Error, doing, context);
  const pg: PgErrorFields = {};
  for (const key of ['code', 'detail', 'hint', 'position', 'schema', 'table', 'column', 'constraint', 'where'] as const) {
    if (e && typeof e[key] === 'string') pg[key] = e[key];
  }
  const detail = pg.detail ? ` (${pg.detail})` : '';
  return new DependencyError('DB_ERROR', `database error while ${doing}: ${message}${detail}`, {
    ...context,
    sqlstate: pg.code,
    pg,
    hint: pg.hint ?? context.hint,
  }, { cause: err });
}

/**
 * Exit codes, decided here and nowhere else (cron reads them; the README documents them):
 *   0 success · 1 the data failed · 2 usage or configuration · 3 a dependency failed ·
 *   75 another run holds the lock · 130 SIGINT · 143 SIGTERM
 */
export const EXIT = Object.freeze({
  ok: 0,
  data: 1,
  usage: 2,
  dependency: 3,
  locked: 75,
  sigint: 130,
  sigterm: 143,
  /** A bug: an error that is not a MedallionError. Reported like a dependency failure, with its stack. */
  internal: 3,
});

const BY_CATEGORY: Record<Exclude<ErrorCategory, 'interrupted'>, number> = {
  data: EXIT.data,
  usage: EXIT.usage,
  dependency: EXIT.dependency,
  locked: EXIT.locked,
};

export function exitCodeFor(err: unknown): number {
  if (err instanceof InterruptedError) return err.signal === 'SIGINT' ? EXIT.sigint : EXIT.sigterm;
  if (err instanceof MedallionError) return BY_CATEGORY[err.category as Exclude<ErrorCategory, 'interrupted'>] ?? EXIT.internal;
  return EXIT.internal;
}
