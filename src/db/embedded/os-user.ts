/**
 * Running as root: PostgreSQL refuses it, so the server runs as the unprivileged `postgres` system
 * user (created when missing), which must be able to reach and own its folders.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { EmbeddedFailure } from './failure.ts';
import { run, type RunAs } from './process.ts';
import type { EmbeddedPaths } from './state.ts';

/** The OS user the server runs as when we are root (PostgreSQL refuses to run as root). */
const OS_USER_FOR_ROOT = 'postgres';

/** As root, the unprivileged user to run PostgreSQL as (created when missing); otherwise none. */
export async function runAsFor(log: (line: string) => void): Promise<RunAs | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const lookup = async (): Promise<RunAs> => {
    const [u, g] = await Promise.all([run('id', ['-u', OS_USER_FOR_ROOT], {}), run('id', ['-g', OS_USER_FOR_ROOT], {})]);
    return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()), name: OS_USER_FOR_ROOT };
  };
  let runAs: RunAs;
  try {
    runAs = await lookup();
  } catch {
    log(`running as root, which PostgreSQL refuses: creating the system user '${OS_USER_FOR_ROOT}' to run it as`);
    try {
      await run('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', OS_USER_FOR_ROOT], {});
      runAs = await lookup();
    } catch (err) {
      throw new EmbeddedFailure(`PostgreSQL refuses to run as root, and creating the user '${OS_USER_FOR_ROOT}' to run it as failed: ${(err as Error).message}`, `Create an unprivileged user named ${OS_USER_FOR_ROOT} (useradd --system ${OS_USER_FOR_ROOT}), or run medallion as a normal user.`);
    }
  }
  return runAs;
}

/** As root, the server's user must be able to reach the data folder through every parent folder. */
export async function checkReachable(paths: EmbeddedPaths, runAs: RunAs | undefined): Promise<void> {
  if (!runAs) return;
  for (let dir = path.dirname(paths.root); ; dir = path.dirname(dir)) {
    const st = await fs.stat(dir);
    const ok = st.uid === runAs.uid ? (st.mode & 0o100) !== 0 : st.gid === runAs.gid ? (st.mode & 0o010) !== 0 : (st.mode & 0o001) !== 0;
    if (!ok) {
      throw new EmbeddedFailure(`PostgreSQL runs as the user '${runAs.name}' (it refuses root), which cannot enter ${dir} (mode ${(st.mode & 0o777).toString(8)})`, `Allow it with \`chmod o+x ${dir}\`, or keep the project in a folder other users can enter.`);
    }
    if (dir === path.dirname(dir)) break;
  }
}

export async function prepareFolders(paths: EmbeddedPaths, runAs: RunAs | undefined): Promise<void> {
  try {
    await fs.mkdir(paths.leases, { recursive: true });
    if (runAs) {
      // Other users must be able to enter .medallion/ and .medallion/pg/ (the data folder itself is 0700).
      await fs.chmod(path.dirname(paths.root), 0o755);
      await fs.chmod(paths.root, 0o755);
    }
    const logHandle = await fs.open(paths.log, 'a');
    await logHandle.close();
    if (runAs) await fs.chown(paths.log, runAs.uid, runAs.gid);
  } catch (err) {
    throw new EmbeddedFailure(`cannot create ${paths.root}: ${(err as Error).message}`, 'Check that the project folder is writable.');
  }
}
