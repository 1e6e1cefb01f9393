/**
 * Running as root: PostgreSQL refuses it, so the server runs as the unprivileged `postgres` system
 * user (created when missing), which must be able to reach its binaries and own its folders.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { EmbeddedBinaries } from './binaries.ts';
import { EmbeddedFailure } from './failure.ts';
import { run, type RunAs } from './process.ts';
import { type EmbeddedPaths, SYSTEM_DIR, systemRoot } from './state.ts';

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

/** The first folder from `dir` up to / that `runAs` cannot pass (the x bit that applies to it), if any. */
async function blockedFolder(dir: string, runAs: RunAs): Promise<{ dir: string; mode: number } | undefined> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const st = await fs.stat(d);
    const ok = st.uid === runAs.uid ? (st.mode & 0o100) !== 0 : st.gid === runAs.gid ? (st.mode & 0o010) !== 0 : (st.mode & 0o001) !== 0;
    if (!ok) return { dir: d, mode: st.mode & 0o777 };
    if (d === path.dirname(d)) return undefined;
  }
}

/** As root, the server's user must be able to reach the data folder through every parent folder. */
export async function checkReachable(paths: EmbeddedPaths, runAs: RunAs | undefined): Promise<void> {
  if (!runAs) return;
  const blocked = await blockedFolder(path.dirname(paths.root), runAs);
  if (!blocked) return;
  // Only a cluster created in `.medallion/pg/` before its folder became unreachable gets here.
  const target = systemRoot(paths.projectDir);
  throw new EmbeddedFailure(
    `PostgreSQL runs as the user '${runAs.name}' (it refuses root), which cannot enter ${blocked.dir} (mode ${blocked.mode.toString(8)}) to reach the cluster in ${paths.data}`,
    `Allow it with \`chmod o+x ${blocked.dir}\`, or move the cluster where medallion looks for it in that case: \`mkdir -p ${SYSTEM_DIR} && mv ${paths.root} ${target} && chown ${runAs.name}: ${target} && chmod 700 ${target}\`.`,
  );
}

export async function prepareFolders(paths: EmbeddedPaths, runAs: RunAs | undefined): Promise<void> {
  try {
    if (paths.location === 'system') {
      // SYSTEM_DIR: root's, 0755, so that the server's user enters it; the project's folder in it:
      // the server's user's, 0700 (root, which writes the leases, the lock and the state, passes).
      await fs.mkdir(SYSTEM_DIR, { recursive: true, mode: 0o755 });
      await fs.mkdir(paths.root, { recursive: true, mode: 0o700 });
      if (runAs) await fs.chown(paths.root, runAs.uid, runAs.gid);
      await fs.chmod(paths.root, 0o700);
      // Names the project the folder belongs to, for whoever lists SYSTEM_DIR.
      await fs.writeFile(path.join(paths.root, 'project'), `${paths.projectDir}\n`);
    }
    await fs.mkdir(paths.leases, { recursive: true });
    if (runAs && paths.location === 'project') {
      // Other users must be able to enter .medallion/ and .medallion/pg/ (the data folder itself is 0700).
      await fs.chmod(path.dirname(paths.root), 0o755);
      await fs.chmod(paths.root, 0o755);
    }
    const logHandle = await fs.open(paths.log, 'a');
    await logHandle.close();
    if (runAs) await fs.chown(paths.log, runAs.uid, runAs.gid);
  } catch (err) {
    throw new EmbeddedFailure(`cannot create ${paths.root}: ${(err as Error).message}`, paths.location === 'system' ? `As root, medallion keeps the cluster of a project that the user '${OS_USER_FOR_ROOT}' cannot enter under ${SYSTEM_DIR}: check that it is writable, or keep the project in a folder other users can enter.` : 'Check that the project folder is writable.');
  }
}

/**
 * As root, binaries the server's user can run: the package's own when it can reach them, else a
 * copy of their installation (bin/, lib/, share/) under SYSTEM_DIR, one per build of the server
 * (named by its version and a hash of the postgres executable), made once and shared by projects.
 */
export async function reachableBinaries(bins: EmbeddedBinaries, runAs: RunAs | undefined, log: (line: string) => void): Promise<EmbeddedBinaries> {
  if (!runAs) return bins;
  const binDir = path.dirname(bins.postgres);
  if (!(await blockedFolder(binDir, runAs))) return bins;
  const home = path.dirname(binDir);
  const digest = createHash('sha256').update(await fs.readFile(bins.postgres)).digest('hex').slice(0, 12);
  const copy = path.join(SYSTEM_DIR, `postgresql-${bins.version}-${digest}`);
  const inCopy = (file: string) => path.join(copy, path.relative(home, file));
  if (!existsSync(inCopy(bins.postgres))) {
    log(`the user '${runAs.name}' cannot reach ${binDir}: copying the PostgreSQL ${bins.version} binaries to ${copy} (once)`);
    const tmp = `${copy}.tmp-${process.pid}`;
    try {
      await fs.mkdir(SYSTEM_DIR, { recursive: true, mode: 0o755 });
      await fs.rm(tmp, { recursive: true, force: true });
      await fs.cp(home, tmp, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
      await fs.chmod(tmp, 0o755);
      // A process copying at the same time may have renamed its copy first: that one is as good.
      await fs.rename(tmp, copy).catch((err) => {
        if (!existsSync(inCopy(bins.postgres))) throw err;
      });
    } catch (err) {
      throw new EmbeddedFailure(`PostgreSQL runs as the user '${runAs.name}' (it refuses root), which cannot reach its binaries in ${binDir}, and copying them to ${copy} failed: ${(err as Error).message}`, `Make ${SYSTEM_DIR} writable, or install the project in a folder other users can enter.`);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
    }
  }
  return { ...bins, initdb: inCopy(bins.initdb), pgCtl: inCopy(bins.pgCtl), postgres: inCopy(bins.postgres) };
}
