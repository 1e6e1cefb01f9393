/**
 * SIGTERM and SIGINT at each stage of a build (a bronze file loaded, a model built, a table
 * exported): the run exits 143 / 130, is recorded as interrupted, readers see exactly what they
 * saw before, and the next clean run publishes and leaves nothing behind.
 */
import { describe, expect, it } from 'vitest';
import { expectCleanAfterRerun, injectFault, runRow, useFaultTarget } from './harness.ts';

const t = useFaultTarget('fsig');

const STAGES = ['bronze_file_loaded', 'model_built', 'table_exported'] as const;
const SIGNALS = [
  ['SIGTERM', 143],
  ['SIGINT', 130],
] as const;

describe('a signal before the commit point', () => {
  for (const [signal, code] of SIGNALS) {
    for (const stage of STAGES) {
      it(`${signal} on the first ${stage}: exit ${code}, nothing published; the next run is clean`, async () => {
        const fault = await injectFault(t, { trigger: stage, act: (child) => child.kill(signal) });
        expect(fault.outcome.code, fault.outcome.output).toBe(code);
        expect(fault.outcome.output).toContain('INTERRUPTED');
        expect(fault.change).toBe('unchanged');
        expect(await runRow(t, fault.runId)).toMatchObject({ status: 'interrupted', exit_code: code });

        await t.cleanBuild();
        await expectCleanAfterRerun(t, fault.after);
      });
    }
  }
});
