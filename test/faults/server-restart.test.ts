/**
 * The database server restarts in the middle of the models (the project's embedded PostgreSQL,
 * started for this file alone: the machine's shared server is never restarted): the run exits 3,
 * publishes nothing, and the next clean run, on the restarted server, leaves nothing behind.
 */
import { describe, expect, it } from 'vitest';
import { expectCleanAfterRerun, injectFault, runRow, useFaultTarget, useOwnServer } from './harness.ts';

const server = useOwnServer('medallion-faults-pg-');

const t = useFaultTarget('frestart', async () => ({ url: await server.start() }));

describe('a server restart', () => {
  it('in the middle of the models: exit 3, nothing published; the next run on the restarted server is clean', async () => {
    let restarted = false;
    const fault = await injectFault(t, {
      trigger: 'model_built',
      act: async () => {
        expect(await server.stop()).toMatchObject({ stopped: true });
        t.url = await server.start();
        restarted = true;
      },
    });
    expect(restarted).toBe(true);
    expect(fault.outcome.code, fault.outcome.output).toBe(3);
    expect(fault.outcome.events.at(-1)).toMatchObject({ event: 'run_finished', exit_code: 3, error_code: expect.stringMatching(/^(LOCK_LOST|DB_CONNECTION_LOST|DB_UNREACHABLE)$/) });
    expect(fault.change).toBe('unchanged');

    await t.cleanBuild();
    // closed by itself if the server was back in time, else marked abandoned by the next run
    expect((await runRow(t, fault.runId)).status).toMatch(/^(failed|abandoned)$/);
    await expectCleanAfterRerun(t, fault.after);
  });
});
