/**
 * Failpoints: named places where the fault-injection tests (test/faults/) make the process die as
 * a crash would, deterministically, instead of racing a signal against a window of microseconds.
 * `MEDALLION_FAILPOINTS=after-commit` makes the process SIGKILL itself when it reaches
 * `failpoint('after-commit')`. Unset (always, outside those tests), a failpoint does nothing.
 */
export type Failpoint =
  /** The publishing transaction has committed; the export folder has not switched yet. */
  | 'after-commit'
  /** Every export file is sealed; the publishing transaction has not started. */
  | 'before-commit'
  /** Inside the publishing transaction: the updated models' deltas are applied, nothing is committed. */
  | 'after-updates'
  /** Inside the bronze swap's transaction: the appended files' tails are in their tables, nothing is committed. */
  | 'after-bronze-append';

export function failpoint(name: Failpoint): void {
  const armed = process.env.MEDALLION_FAILPOINTS;
  if (armed?.split(',').includes(name)) process.kill(process.pid, 'SIGKILL');
}
