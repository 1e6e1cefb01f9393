/**
 * kill -9 at each stage of a build, and at the two sides of the commit point (failpoints): before
 * it nothing is published; after it the gold tables are the dead run's and its export is sealed,
 * and the next run finishes the switch before anything else, so readers then see that run whole.
 * The next clean run marks the dead run abandoned and leaves nothing behind.
 */
import { describe, expect, it } from 'vitest';
import { GOLD_EXPORTS } from '../../src/export/index.ts';
import { openGate } from '../support/child-run.ts';
import { compareStates } from '../support/published-state.ts';
import { expectCleanAfterRerun, injectFault, runRow, useFaultTarget } from './harness.ts';

const t = useFaultTarget('fkill');

describe('kill -9', () => {
  for (const stage of ['bronze_file_loaded', 'model_built', 'table_exported']) {
    it(`on the first ${stage}: nothing published; the next run marks it abandoned and is clean`, async () => {
      const fault = await injectFault(t, { trigger: stage, act: (child) => child.kill('SIGKILL') });
      expect(fault.outcome.signal, fault.outcome.output).toBe('SIGKILL');
      expect(fault.change).toBe('unchanged');
      expect(await runRow(t, fault.runId)).toMatchObject({ status: 'running' });

      const rerun = await t.cleanBuild();
      expect(rerun.find((e) => e.event === 'run_abandoned')).toMatchObject({ abandoned_run_id: fault.runId });
      expect(await runRow(t, fault.runId)).toMatchObject({ status: 'abandoned' });
      await expectCleanAfterRerun(t, fault.after);
    });
  }

  it('at the failpoint before-commit (every file sealed, nothing committed): nothing published', async () => {
    const fault = await injectFault(t, { trigger: 'run_started', act: () => {}, gate: false, env: { MEDALLION_FAILPOINTS: 'before-commit' } });
    expect(fault.outcome.signal, fault.outcome.output).toBe('SIGKILL');
    // it died after its last export, before its commit
    expect(fault.outcome.events.filter((e) => e.event === 'table_exported')).toHaveLength(GOLD_EXPORTS.length);
    expect(fault.outcome.events.some((e) => e.event === 'publish_committed')).toBe(false);
    expect(fault.change).toBe('unchanged');

    await t.cleanBuild();
    await expectCleanAfterRerun(t, fault.after);
  });

  it('at the failpoint after-commit: gold is the dead run’s; the next run first finishes its exports switch (publish_finished), and is clean', async () => {
    const before = await t.state();
    const child = t.start({ env: { MEDALLION_FAILPOINTS: 'after-commit' } });
    const started = await child.waitFor('run_started');
    const dead = await child.done;
    expect(dead.signal, dead.output).toBe('SIGKILL');
    expect(dead.events.some((e) => e.event === 'publish_committed')).toBe(true);
    // The crash window: the commit made the dead run's gold current; its export is sealed but
    // the folder's link still points at the previous one until the next run.
    const crashed = await t.state();
    expect(crashed.ledger?.run_id).toBe(started.run_id);
    expect(crashed.gold).not.toEqual(before.gold);
    expect(crashed.manifest).toEqual(before.manifest);

    // The next run, held before its own publish (its ledger row is locked from its start), has
    // made the dead run's export current: readers see that run whole.
    const gate = await openGate(t.url);
    const rerun = t.start();
    try {
      const next = await rerun.waitFor('run_started');
      await gate.close(`select 1 from "${t.target}_etl".runs where run_id = $1 for no key update`, [next.run_id]);
      // the version it switched to is the dead run's; the line is the rerun's own
      const finishing = await rerun.waitFor('publish_finished');
      expect(finishing).toMatchObject({ run_id: next.run_id, published_run_id: started.run_id });
      expect(String(finishing.version)).toMatch(new RegExp(`-run-${started.run_id}$`));
      const finished = await t.state();
      expect(compareStates(before, finished)).toBe('new');
      expect(finished.manifest?.run_id).toBe(started.run_id);
      expect(finished.gold).toEqual(crashed.gold);
    } finally {
      await gate.release();
    }
    const done = await rerun.done;
    expect(done.code, done.output).toBe(0);
    expect(await runRow(t, Number(started.run_id))).toMatchObject({ status: 'abandoned' });
    await expectCleanAfterRerun(t, crashed);
  });
});
