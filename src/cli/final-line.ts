/** The last line of a run-like command (build, load, transform, export) that did not succeed. */
import { EXIT, exitCodeFor, fromFileSystemError, MedallionError } from '../errors.ts';
import type { Logger } from '../runs/index.ts';

/**
 * Logs the final line of `what` ended by `err` and returns its exit code. Exit 75 (another run
 * holds the target) is a skip, not a failure: status `skipped`, at level warn on stdout, so cron
 * and log alerts that watch for errors stay quiet (a JSON line's fields come after, and so set,
 * its level).
 */
export function finishWithError(logger: Logger, what: string, caught: unknown): number {
  const err = fromFileSystemError(caught) ?? caught;
  const code = exitCodeFor(err);
  const text = err instanceof MedallionError ? `[${err.code}] ${err.describe()}` : String((err as Error)?.stack ?? err);
  const errorCode = err instanceof MedallionError ? err.code : 'INTERNAL';
  if (code === EXIT.locked) logger.final(`medallion: ${what} skipped (exit ${code}): ${text}`, { level: 'warn', status: 'skipped', exit_code: code, error_code: errorCode });
  else logger.final(`medallion: ${what} failed (exit ${code}): ${text}`, { status: 'failed', exit_code: code, error_code: errorCode }, true);
  return code;
}
