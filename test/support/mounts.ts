/**
 * tmpfs mounts for the tests of odd output places (a full disk, a read-only mount, a mount
 * point). Mounting needs root: `tmpfsProblem()` says why it cannot be done here, and
 * `describeWithTmpfs` skips the tests naming that reason, except in CI (which runs as root),
 * where a test that cannot run is a failure, not a skip.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';

export interface Tmpfs {
  readonly dir: string;
  /** `mount -o remount,<options>`, e.g. `ro`. */
  remount(options: string): void;
  /** Unmounts and removes the mount point. */
  unmount(): void;
}

function run(args: string[]): void {
  try {
    execFileSync(args[0]!, args.slice(1), { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`${args.join(' ')}: ${(err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message}`);
  }
}

/** Mounts a new tmpfs of `size` (e.g. `2m`) on a new folder. */
export function mountTmpfs(size: string): Tmpfs {
  const dir = mkdtempSync(path.join(tmpdir(), 'medallion-tmpfs-'));
  try {
    run(['mount', '-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
  } catch (err) {
    rmdirSync(dir);
    throw err;
  }
  let mounted = true;
  return {
    dir,
    remount: (options) => run(['mount', '-o', `remount,${options}`, dir]),
    unmount() {
      if (!mounted) return;
      mounted = false;
      run(['umount', dir]);
      rmdirSync(dir);
    },
  };
}

/** Why no tmpfs can be mounted here (not root, no mount permission), or null. */
export function tmpfsProblem(): string | null {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root (CI runs the tests as root)';
  try {
    mountTmpfs('64k').unmount();
    return null;
  } catch (err) {
    return `cannot mount a tmpfs: ${(err as Error).message}`;
  }
}

/** `describe(name, fn)` when a tmpfs can be mounted; else skipped with the reason, or failing in CI. */
export function describeWithTmpfs(name: string, fn: () => void): void {
  const problem = tmpfsProblem();
  if (problem && process.env.CI) describe(name, () => it(`can mount a tmpfs (required in CI): ${problem}`, () => { throw new Error(problem); }));
  else describe.skipIf(problem !== null)(problem ? `${name} (skipped: ${problem})` : name, fn);
}

/** A tmpfs of `size`, mounted in the enclosing block's beforeAll and unmounted in its afterAll. */
export function useTmpfs(size: string): { readonly dir: string } {
  let mount: Tmpfs | undefined;
  beforeAll(() => {
    mount = mountTmpfs(size);
  });
  afterAll(() => mount?.unmount());
  return {
    get dir() {
      if (!mount) throw new Error('the tmpfs is used before its beforeAll');
      return mount.dir;
    },
  };
}

/** Writes `file` (on the file system of `dir`) so that `leaveBytes` stay free; returns its bytes. */
export async function fillDisk(dir: string, file: string, leaveBytes: number): Promise<Buffer> {
  const { bavail, bsize } = await statfs(dir);
  const content = Buffer.alloc(Number(bavail) * bsize - leaveBytes, 7);
  await writeFile(file, content);
  return content;
}
