/**
 * pg_terminate_backend on each of a run's sessions while it is busy (the ledger that holds the
 * lock, the two model connections, the export's snapshot): the run exits 3, publishes nothing,
 * records why, and the next clean run leaves nothing behind. Only this run's sessions are ended
 * (found by the ports of its connections), never those of other tests.
 */
import { describe, expect, it } from 'vitest';
import { openGate, terminateBackendsOf, until } from '../support/child-run.ts';
import { expectCleanAfterRerun, injectFault, runRow, useFaultTarget } from './harness.ts';

const t = useFaultTarget('fpgkill');

async function expectExit3NothingPublished(fault: Awaited<ReturnType<typeof injectFault>>, terminated: number, errorCode: RegExp): Promise<void> {
  expect(terminated).toBe(1);
  expect(fault.outcome.code, fault.outcome.output).toBe(3);
  expect(fault.change).toBe('unchanged');
  const row = await runRow(t, fault.runId);
  expect(row).toMatchObject({ status: 'failed', exit_code: 3 });
  expect(row.error_code).toMatch(errorCode);
  await t.cleanBuild();
  await expectCleanAfterRerun(t, fault.after);
}

describe('a session of the run is terminated', () => {
  const cases = [
    ['medallion-ledger', /^LOCK_LOST$/],
    ['medallion-work', /^DB_CONNECTION_LOST$/],
    ['medallion-work-2', /^DB_CONNECTION_LOST$/],
  ] as const;
  for (const [application, errorCode] of cases) {
    it(`${application}, on the first model_built: exit 3, nothing published; the next run is clean`, async () => {
      let terminated = 0;
      const fault = await injectFault(t, {
        trigger: 'model_built',
        act: async (child) => {
          terminated = await terminateBackendsOf(child.pid, application, t.db);
        },
      });
      await expectExit3NothingPublished(fault, terminated, errorCode);
    });
  }

  it('medallion export, while it waits to export its second table: exit 3, nothing published; the next run is clean', async () => {
    // The export's second table is locked from the end of the models stage on, so the export's
    // session is busy (waiting inside its snapshot) when the first table is exported.
    const blocker = await openGate(t.url);
    let terminated = 0;
    let locked: Promise<void> | undefined;
    try {
      const fault = await injectFault(t, {
        trigger: 'table_exported',
        started: (child) => {
          locked = child.waitFor('models_summary').then((e) => blocker.close(`lock table "${t.target}_gold__run_${e.run_id}".customer_features in access exclusive mode`));
        },
        act: async (child, e) => {
          expect(e.table).toBe('fact_sales');
          await locked;
          await until('the export waits on the locked table', () => blocker.waitedOn());
          terminated = await terminateBackendsOf(child.pid, 'medallion export', t.db);
          await blocker.release();
        },
      });
      await expectExit3NothingPublished(fault, terminated, /^DB_CONNECTION_LOST$/);
    } finally {
      await blocker.release();
    }
  });
});
