/**
 * Faults whose handling src/ does not get right yet: each test states the promise and fails
 * until the code keeps it (the report names the place in src/).
 */
import { describe, expect, it } from 'vitest';
import { openGate, until } from '../support/child-run.ts';
import { useFaultTarget } from './harness.ts';

const t = useFaultTarget('fopen');

describe('open defects', () => {
  it('a signal while the __prev drop waits for a reader ends the wait at once (the clean-up is skipped, the run exits 0)', async () => {
    const reader = await openGate(t.url);
    try {
      await reader.close(`select count(*) from "${t.target}_gold".fact_sales`);
      const child = t.start();
      await child.waitFor('publish_committed');
      // The run is past its commit and its switch, waiting for the reader to drop the old gold.
      await until('the run waits on the reader', () => reader.waitedOn());
      const signalled = performance.now();
      child.kill('SIGTERM');
      const run = await child.done;
      expect(run.code, run.output).toBe(0);
      // The drop waits under lock_timeout (10 s); a signal must not leave it waiting that long.
      expect(run.endedAt - signalled).toBeLessThan(3_000);
    } finally {
      await reader.release();
    }
  });

  it('every log line of a run carries that run’s run_id (publish_finished names the run it finished in another field)', async () => {
    const child = t.start({ env: { MEDALLION_FAILPOINTS: 'after-commit' } });
    const dead = await child.waitFor('run_started');
    expect((await child.done).signal).toBe('SIGKILL');
    const rerun = t.start();
    const started = await rerun.waitFor('run_started');
    const finished = await rerun.waitFor('publish_finished');
    expect((await rerun.done).code).toBe(0);
    expect(String(finished.version)).toMatch(new RegExp(`-run-${dead.run_id}$`));
    expect(finished.run_id).toBe(started.run_id);
  });
});
