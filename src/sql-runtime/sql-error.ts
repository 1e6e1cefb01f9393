/**
 * Turning an error from PostgreSQL while running a model's, test's or rule's SQL into the right
 * MedallionError:
 * - a lost connection stays a DependencyError (DB_CONNECTION_LOST, exit 3);
 * - resource and server trouble (SQLSTATE classes 53 insufficient resources, 57 operator
 *   intervention, 58 system error, XX internal) is a DependencyError (DB_ERROR) too;
 * - a value too long for an index entry is the data's: DataError MODEL_VALUE_TOO_LONG;
 * - anything else is the model's SQL: DataError MODEL_SQL_FAILED with Postgres' own message, its
 *   fields, and the error position mapped back to the line and column of its file by the caller's
 *   `locate` (the caller knows how its SQL was rewritten before it was sent).
 */
import { DataError, fromDatabaseError, isConnectionError, isValueTooLongToIndex, type MedallionError, type PgErrorFields, valueTooLongError } from '../errors.ts';

const SERVER_TROUBLE = /^(53|57|58|XX)/;

export interface SqlErrorSource {
  /** `silver.customers` */
  model: string;
  /** The file the SQL comes from (.sql, or the .yml of a test or rule). */
  file: string;
  /** What was being done, for the message: `building silver.customers`. */
  doing: string;
  /**
   * The line and column in `file` of an error position (1-based, in characters of the statement
   * sent, as PostgreSQL reports it); undefined where the position is not in the file's text.
   */
  locate?: (position: number) => { line: number; column: number } | undefined;
}

export function isDatabaseError(err: unknown): err is Error & PgErrorFields & { code: string } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string' && /^[0-9A-Z]{5}$/.test((err as unknown as { code: string }).code);
}

/**
 * Whether PostgreSQL rejected the statement itself (its SQL or its data), as opposed to a lost
 * connection or server trouble, which includes a statement cancelled by pg_cancel_backend (57014:
 * the schedule stopping after another task failed) — those say nothing about the SQL.
 */
export function isSqlFault(err: unknown): err is Error & PgErrorFields & { code: string } {
  return !isConnectionError(err) && isDatabaseError(err) && !SERVER_TROUBLE.test(err.code);
}

export function modelSqlError(err: unknown, source: SqlErrorSource): MedallionError {
  const context = { file: source.file, model: source.model };
  if (!isSqlFault(err)) return fromDatabaseError(err, source.doing, context);
  if (isValueTooLongToIndex(err)) return valueTooLongError(err, source.doing, context);
  const pg: PgErrorFields = {};
  for (const key of ['code', 'detail', 'hint', 'position', 'schema', 'table', 'column', 'constraint', 'where'] as const) {
    if (typeof err[key] === 'string') pg[key] = err[key];
  }
  let where: { line: number; column: number } | undefined;
  if (pg.position && source.locate) where = source.locate(Number(pg.position));
  const detail = pg.detail ? ` (${pg.detail})` : '';
  return new DataError(
    'MODEL_SQL_FAILED',
    `${source.model}: ${err.message}${detail}`,
    {
      ...context,
      ...(where ? { line: where.line, column: where.column } : {}),
      sqlstate: pg.code,
      pg,
      hint: pg.hint ?? `Fix the SQL of ${source.model}; nothing was published by this run.`,
    },
    { cause: err },
  );
}
