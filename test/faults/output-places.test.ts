/**
 * Odd places for `--out`: a regular file, a read-only mount, a folder with a user's file, the
 * working copy of a git checkout are refused with exit 2 before any run starts (no ledger row,
 * in seconds) and left exactly as they were; a mount point works like any folder (it is never
 * renamed or replaced), and a file a user adds later inside an exports folder survives builds.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../runs/helpers.ts';
import { type ChildOutcome, spawnMedallion } from '../support/child-run.ts';
import { describeWithTmpfs, mountTmpfs, type Tmpfs } from '../support/mounts.ts';
import { expectCleanAfterRerun, useFaultTarget } from './harness.ts';

const t = useFaultTarget('fout');

async function runCount(): Promise<number> {
  const [r] = await t.db<{ n: number }>(`select count(*)::int as n from "${t.target}_etl".runs`);
  return r!.n;
}

/** A build of this target into `out`, from `cwd`: it must be refused with exit 2 before any run. */
async function expectRefused(out: string, cwd = t.work): Promise<ChildOutcome> {
  const runs = await runCount();
  const run = await spawnMedallion(['build', '--seeds', t.seeds, '--target', t.target, '--out', out], { cwd }).done;
  expect(run.code, run.output).toBe(2);
  expect(run.events.at(-1)).toMatchObject({ event: 'run_finished', exit_code: 2, error_code: 'CONFIG_INVALID' });
  // refused before any work: it never connected nor started a run
  expect(run.events.some((e) => e.event === 'run_started' || e.event === 'connecting')).toBe(false);
  expect(await runCount()).toBe(runs);
  return run;
}

describe('--out refused before any work', () => {
  it('a regular file: exit 2, no run row, no connection; the file is untouched', async () => {
    const file = path.join(t.work, 'exports.parquet');
    await writeFile(file, 'not a folder\n');
    const run = await expectRefused(file);
    expect(run.output).toMatch(/is not a folder but a file/);
    expect(await readFile(file, 'utf8')).toBe('not a folder\n');
  });

  it("a folder with a user's file: exit 2, the folder and the file untouched", async () => {
    const dir = path.join(t.work, 'mine');
    await mkdir(dir);
    await writeFile(path.join(dir, 'report.xlsx'), 'quarterly numbers');
    const before = await stat(path.join(dir, 'report.xlsx'));
    const run = await expectRefused(dir);
    expect(run.output).toMatch(/refusing to write into .*report\.xlsx/);
    expect(execFileSync('ls', ['-A', dir], { encoding: 'utf8' }).trim().split('\n')).toEqual(['report.xlsx']);
    const after = await stat(path.join(dir, 'report.xlsx'));
    expect({ mtime: after.mtimeMs, size: after.size }).toEqual({ mtime: before.mtimeMs, size: before.size });
    expect(await readFile(path.join(dir, 'report.xlsx'), 'utf8')).toBe('quarterly numbers');
  });

  it('`--out .` in a git checkout: exit 2, the working copy stays clean', async () => {
    const repo = path.join(t.work, 'checkout');
    await cp(path.join(ROOT, 'sql'), path.join(repo, 'sql'), { recursive: true });
    await cp(path.join(ROOT, 'package.json'), path.join(repo, 'package.json'));
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: repo, encoding: 'utf8' });
    git('init', '-q');
    git('add', '.');
    git('commit', '-qm', 'checkout');
    await expectRefused('.', repo);
    expect(git('status', '--porcelain', '--ignored')).toBe('');
  });
});

describeWithTmpfs('--out on mounts', () => {
  let mount: Tmpfs | undefined;
  afterAll(() => mount?.unmount());

  it('a read-only mount: exit 2 before any run, nothing written', async () => {
    mount = mountTmpfs('1m');
    mount.remount('ro');
    const run = await expectRefused(mount.dir);
    expect(run.output).toMatch(/not writable/);
    expect(execFileSync('ls', ['-A', mount.dir], { encoding: 'utf8' })).toBe('');
    mount.unmount();
  });

  it('a mount point (a fresh tmpfs): two builds publish into it, pandas reads it, nothing is left over', async () => {
    mount = mountTmpfs('16m');
    const previous = t.out;
    t.out = mount.dir;
    try {
      const first = await t.state();
      await t.cleanBuild();
      await t.cleanBuild();
      const published = await expectCleanAfterRerun(t, first);
      // the mount point itself is never replaced: it is still the mount
      expect(execFileSync('findmnt', ['-n', '-o', 'FSTYPE', mount.dir], { encoding: 'utf8' }).trim()).toBe('tmpfs');
      const python = path.join(ROOT, '.venv/bin/python');
      if (existsSync(python)) {
        const rows = execFileSync(python, ['-c', 'import sys, pandas as pd; print(len(pd.read_parquet(sys.argv[1] + "/fact_sales")))', mount.dir], { encoding: 'utf8' });
        expect(Number(rows)).toBe(published.manifest!.rows.fact_sales);
      }
    } finally {
      t.out = previous;
      mount.unmount();
    }
  });
});

describe("a user's files inside an exports folder", () => {
  it('added after a build, they survive the next builds untouched', async () => {
    const notes = path.join(t.out, 'notes.txt');
    const model = path.join(t.out, 'analysis', 'model.json');
    await writeFile(notes, 'what I found');
    await mkdir(path.dirname(model));
    await writeFile(model, '{"k": 4}');
    const before = await t.state();
    await t.cleanBuild();
    await t.cleanBuild();
    expect(await readFile(notes, 'utf8')).toBe('what I found');
    expect(await readFile(model, 'utf8')).toBe('{"k": 4}');
    const after = await expectCleanAfterRerun(t, before, ['notes.txt', 'analysis']);
    expect(after.files).toEqual(expect.arrayContaining(['notes.txt', 'analysis/model.json', '_manifest.json']));
  });
});
