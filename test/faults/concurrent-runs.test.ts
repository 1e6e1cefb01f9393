/**
 * Two runs at once. On one target the second exits 75 at once and changes nothing (no ledger row,
 * nothing published), while the first goes on and publishes; on two targets both run at the same
 * time and both publish.
 */
import { describe, expect, it } from 'vitest';
import { type MedallionChild, openGate, spawnMedallion, until } from '../support/child-run.ts';
import { compareStates } from '../support/published-state.ts';
import { expectCleanAfterRerun, type FaultTarget, useFaultTarget } from './harness.ts';

const t = useFaultTarget('fconc');
const other = useFaultTarget('fconc2');

/** Starts a build of `target` held once it holds the lock (its as_of write waits on a gate). */
async function startHeld(target: FaultTarget): Promise<{ child: MedallionChild; held: Promise<void>; release(): Promise<void> }> {
  const gate = await openGate(target.url);
  const child = target.start();
  const held = child.waitFor('run_started').then(async (e) => {
    await gate.close(`select 1 from "${target.target}_etl".runs where run_id = $1 for no key update`, [e.run_id]);
    await until(`${target.target}'s run waits on its gate`, () => gate.waitedOn());
  });
  // Released, the run goes on; the test waits for it to end, so no run outlives its test.
  return { child, held, release: () => gate.release().then(() => child.done).then(() => {}) };
}

async function runCount(target: FaultTarget): Promise<number> {
  const [r] = await target.db<{ n: number }>(`select count(*)::int as n from "${target.target}_etl".runs`);
  return r!.n;
}

describe('two runs at once', () => {
  it('on one target: the second exits 75 at once and changes nothing; the first publishes', async () => {
    const before = await t.state();
    const first = await startHeld(t);
    try {
      await first.held;
      const runs = await runCount(t);
      const started = performance.now();
      const second = await spawnMedallion(t.buildArgs(), { cwd: t.work }).done;
      expect(second.code, second.output).toBe(75);
      expect(second.events.at(-1)).toMatchObject({ event: 'run_finished', exit_code: 75, error_code: 'RUN_LOCKED' });
      expect(second.endedAt - started).toBeLessThan(5_000);
      expect(await runCount(t)).toBe(runs);
      expect(compareStates(before, await t.state())).toBe('unchanged');
    } finally {
      await first.release();
    }
    const done = await first.child.done;
    expect(done.code, done.output).toBe(0);
    await expectCleanAfterRerun(t, before);
  });

  it('on two targets: both hold their lock at the same time and both publish', async () => {
    const before = await Promise.all([t.state(), other.state()]);
    const runs = [await startHeld(t), await startHeld(other)];
    try {
      // both runs are inside their run at the same moment
      await Promise.all(runs.map((r) => r.held));
    } finally {
      await Promise.all(runs.map((r) => r.release()));
    }
    for (const r of runs) {
      const done = await r.child.done;
      expect(done.code, done.output).toBe(0);
    }
    expect(compareStates(before[0]!, await t.state())).toBe('new');
    expect(compareStates(before[1]!, await other.state())).toBe('new');
  });
});
