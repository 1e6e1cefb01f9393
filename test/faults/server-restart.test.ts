/**
 * The database server restarts in the middle of the models (the project's embedded PostgreSQL,
 * started for this file alone: the machine's shared server is never restarted): the run exits 3,
 * publishes nothing, and the next clean run, on the restarted server, leaves nothing behind.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedUrl, openEmbedded, stopEmbedded } from '../../src/db/embedded/index.ts';
import { expectCleanAfterRerun, injectFault, runRow, useFaultTarget } from './harness.ts';

let project: string;

/** Starts the embedded server of `project` (kept running until stopped) and returns its URL. */
async function startServer(): Promise<string> {
  await openEmbedded({ projectDir: project, keep: true });
  const url = await embeddedUrl(project);
  if (!url) throw new Error(`the embedded PostgreSQL in ${project} is not running after its start`);
  return url;
}

beforeAll(async () => {
  project = await mkdtemp(path.join(tmpdir(), 'medallion-faults-pg-'));
  // as root the server runs as the postgres user, which must be able to enter the folder
  await chmod(project, 0o755);
});

afterAll(async () => {
  await stopEmbedded({ projectDir: project }).catch(() => {});
  await rm(project, { recursive: true, force: true });
});

const t = useFaultTarget('frestart', async () => ({ url: await startServer() }));

describe('a server restart', () => {
  it('in the middle of the models: exit 3, nothing published; the next run on the restarted server is clean', async () => {
    let restarted = false;
    const fault = await injectFault(t, {
      trigger: 'model_built',
      act: async () => {
        expect(await stopEmbedded({ projectDir: project })).toMatchObject({ stopped: true });
        t.url = await startServer();
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
