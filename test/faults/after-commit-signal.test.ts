/**
 * A signal after the commit point: the run has published, so it finishes the exports switch and
 * exits 0 saying so; the previous version's schemas, which a reader still holds, are left (a
 * signal ends the drop's wait for the reader at once), and the next run, once the reader is gone,
 * drops them.
 */
import { describe, expect, it } from 'vitest';
import { openGate, until } from '../support/child-run.ts';
import { compareStates } from '../support/published-state.ts';
import { expectCleanAfterRerun, useFaultTarget } from './harness.ts';

const t = useFaultTarget('flate');

describe('a signal after the commit point', () => {
  it('SIGTERM on publish_committed while a reader holds the old gold: exit 0, gold and exports both new, the run says so; the next run drops the __prev schemas', async () => {
    const before = await t.state();
    let published = before;
    const reader = await openGate(t.url);
    try {
      await reader.close(`select count(*) from "${t.target}_gold".fact_sales`);
      const child = t.start();
      const committed = await child.waitFor('publish_committed');
      child.kill('SIGTERM');
      const run = await child.done;
      expect(run.code, run.output).toBe(0);
      const after = await t.state();
      expect(compareStates(before, after)).toBe('new');
      expect(after.ledger?.run_id).toBe(committed.run_id);
      // it says it published, and that the previous gold is kept (for the reader, or for the signal)
      const events = run.events.map((e) => e.event);
      expect(events).toEqual(expect.arrayContaining(['publish_committed', 'published']));
      expect(run.events.at(-1)).toMatchObject({ event: 'run_finished', status: 'success', exit_code: 0 });
      expect(run.events.filter((e) => e.event === 'publish_leftover').map((e) => e.schema)).toContain(`${t.target}_gold__prev_${committed.run_id}`);
      published = after;
    } finally {
      await reader.release();
    }
    await t.cleanBuild();
    await expectCleanAfterRerun(t, published);
  });

  it('a signal while the __prev drop waits for a reader ends the wait at once: exit 0, the clean-up is left to the next run', async () => {
    const before = await t.state();
    let published = before;
    const reader = await openGate(t.url);
    try {
      await reader.close(`select count(*) from "${t.target}_gold".fact_sales`);
      const child = t.start();
      await child.waitFor('publish_committed');
      // past its commit and its switch, the run waits for the reader to drop the old gold
      await until('the run waits on the reader', () => reader.waitedOn());
      const signalled = performance.now();
      child.kill('SIGTERM');
      const run = await child.done;
      expect(run.code, run.output).toBe(0);
      // the drop's wait (up to lock_timeout, 10 s) ends with the signal
      expect(run.endedAt - signalled).toBeLessThan(3_000);
      published = await t.state();
      expect(compareStates(before, published)).toBe('new');
    } finally {
      await reader.release();
    }
    await t.cleanBuild();
    await expectCleanAfterRerun(t, published);
  });
});
