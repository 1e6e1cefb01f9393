/**
 * The output folder's disk fills up during the export (an 8 MB tmpfs as `--out`, nearly filled by
 * a file of the user's after the first build): the run exits 3 with IO_ERROR saying the disk is
 * full, the published gold is unchanged and the previous export reads back whole; once there is
 * room again, the next run is clean (and the user's file was never touched).
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import { describeWithTmpfs, fillDisk, useTmpfs } from '../support/mounts.ts';
import { expectCleanAfterRerun, injectFault, runRow, useFaultTarget } from './harness.ts';

describeWithTmpfs('a full disk under --out', () => {
  const disk = useTmpfs('8m');
  const t = useFaultTarget('fdisk', () => ({ out: disk.dir }));

  it('exit 3 with IO_ERROR (disk full), gold unchanged, the previous export still reads back; the next run with room is clean', async () => {
    // The user's file takes all but 64 KiB: the next export (about 2 MB: a file per order month of
    // fact_sales and per bucket of the training set) cannot fit.
    const filler = path.join(disk.dir, 'my-notes.bin');
    const content = await fillDisk(disk.dir, filler, 64 * 1024);

    const fault = await injectFault(t, { trigger: 'run_started', act: () => {}, gate: false });
    expect(fault.outcome.code, fault.outcome.output).toBe(3);
    const last = fault.outcome.events.at(-1)!;
    expect(last).toMatchObject({ event: 'run_finished', exit_code: 3, error_code: 'IO_ERROR' });
    expect(String(last.message)).toMatch(/no space left on device/i);
    expect(String(last.message)).toMatch(/The disk is full: free space \(or point --out elsewhere\) and run again; nothing was published/);
    // the file or folder being written is named once: the error's context puts it before the message
    const named = String(last.message).match(new RegExp(`${disk.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[^\\s:]*`, 'g')) ?? [];
    expect(named.length).toBeGreaterThan(0);
    expect(new Set(named).size).toBe(named.length);
    expect(fault.change).toBe('unchanged');
    expect(fault.after.unreadable).toEqual([]);
    expect(await runRow(t, fault.runId)).toMatchObject({ status: 'failed', exit_code: 3, error_code: 'IO_ERROR' });
    expect((await readFile(filler)).equals(content)).toBe(true);

    await rm(filler);
    await t.cleanBuild();
    await expectCleanAfterRerun(t, fault.after);
  });
});
