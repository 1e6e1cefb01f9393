/**
 * An open defect of the full-disk fault (see open-defects.test.ts): the error a full disk gives
 * while DuckDB writes a Parquet file is IO_ERROR, but without the hint every MedallionError
 * carries (what to do: free space or point --out elsewhere; nothing was published), which the
 * same error from the folder's own writes has.
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import { describeWithTmpfs, fillDisk, useTmpfs } from '../support/mounts.ts';
import { useFaultTarget } from './harness.ts';

describeWithTmpfs('open defects: a full disk under --out', () => {
  const disk = useTmpfs('2m');
  const t = useFaultTarget('fdiskhint', () => ({ out: disk.dir }));

  it('the IO_ERROR of a Parquet file that does not fit says the disk is full and what to do', async () => {
    await fillDisk(disk.dir, path.join(disk.dir, 'my-notes.bin'), 64 * 1024);
    const run = await t.start().done;
    expect(run.code, run.output).toBe(3);
    expect(run.events.at(-1)).toMatchObject({ event: 'run_finished', error_code: 'IO_ERROR' });
    expect(String(run.events.at(-1)!.message)).toMatch(/The disk is full: free space \(or point --out elsewhere\) and run again; nothing was published/);
  });
});
