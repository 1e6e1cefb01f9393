/**
 * A signal after the commit point: the run has published, so it finishes the exports switch and
 * exits 0 saying so; the previous version's schemas, which a reader still holds, are left (a
 * signal ends the drop's wait for the reader at once), and the next run, once the reader is gone,
 * drops them.
 */
import { describe, expect, it } from 'vitest';
import { type ChildOutcome, type Gate, type LogEvent, type MedallionChild, openGate, until } from '../support/child-run.ts';
import { compareStates, type PublishedState } from '../support/published-state.ts';
import { expectCleanAfterRerun, useFaultTarget } from './harness.ts';

const t = useFaultTarget('flate');

/**
 * A build that a reader of the published gold (an open transaction that has read fact_sales)
 * watches: `during(child, reader)` steers it once it logged publish_committed, with the reader
 * still holding the old tables; then the reader ends, and a clean run must leave nothing behind.
 */
async function withReaderOnOldGold(during: (child: MedallionChild, reader: Gate, committed: LogEvent) => Promise<ChildOutcome>): Promise<ChildOutcome> {
  const before = await t.state();
  const reader = await openGate(t.url);
  let run: ChildOutcome;
  let published: PublishedState;
  try {
    await reader.close(`select count(*) from "${t.target}_gold".fact_sales`);
    const child = t.start();
    run = await during(child, reader, await child.waitFor('publish_committed'));
    expect(run.code, run.output).toBe(0);
    published = await t.state();
    expect(compareStates(before, published)).toBe('new');
  } finally {
    await reader.release();
  }
  await t.cleanBuild();
  await expectCleanAfterRerun(t, published);
  return run;
}

describe('a signal after the commit point', () => {
  it('SIGTERM on publish_committed while a reader holds the old gold: exit 0, gold and exports both new, the run says so; the next run drops the __prev schemas', async () => {
    let committed: LogEvent | undefined;
    const run = await withReaderOnOldGold(async (child, _reader, e) => {
      committed = e;
      child.kill('SIGTERM');
      return child.done;
    });
    // it says it published, and that the previous gold is kept (for the reader, or for the signal)
    expect(run.events.map((e) => e.event)).toEqual(expect.arrayContaining(['publish_committed', 'published']));
    expect(run.events.at(-1)).toMatchObject({ event: 'run_finished', status: 'success', exit_code: 0 });
    expect(run.events.filter((e) => e.event === 'publish_leftover').map((e) => e.schema)).toContain(`${t.target}_gold__prev_${committed!.run_id}`);
  });

  it('a signal while the __prev drop waits for a reader ends the wait at once: exit 0, the clean-up is left to the next run', async () => {
    let signalled = 0;
    const run = await withReaderOnOldGold(async (child, reader) => {
      // past its commit and its switch, the run waits for the reader to drop the old gold
      await until('the run waits on the reader', () => reader.waitedOn());
      signalled = performance.now();
      child.kill('SIGTERM');
      return child.done;
    });
    // the drop's wait (up to lock_timeout, 10 s) ends with the signal
    expect(run.endedAt - signalled).toBeLessThan(3_000);
  });
});
