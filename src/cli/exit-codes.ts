/**
 * Exit codes, decided here and nowhere else (cron reads them; the README documents them):
 *   0 success · 1 the data failed · 2 usage or configuration · 3 a dependency failed ·
 *   75 another run holds the lock · 130 SIGINT · 143 SIGTERM
 */
import { type ErrorCategory, InterruptedError, MedallionError } from '../errors.ts';

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
