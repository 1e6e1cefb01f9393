/**
 * The embedded cluster's folder (where it lives, and the paths of what lives there) and its state:
 * state.json (port, pid, keep), the server's postmaster.pid and the superuser's password file.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { isAlive } from './process.ts';

/** Where the cluster lives, relative to the project folder, unless the project's folder cannot hold it. */
export const EMBEDDED_DIR = path.join('.medallion', 'pg');

/**
 * As root, where the clusters of projects that the server's user cannot reach live: one folder per
 * project, named by its folder's name and a hash of its real path (root-owned, mode 0755, so that
 * the server's user can enter it; each project's folder is the server's user's, mode 0700).
 */
export const SYSTEM_DIR = '/var/lib/medallion';

export const EMBEDDED_USER = 'postgres';

export const EMBEDDED_DATABASE = 'medallion';

export interface EmbeddedPaths {
  projectDir: string;
  /** 'project': `.medallion/pg/` of the project; 'system': its folder under SYSTEM_DIR (as root). */
  location: 'project' | 'system';
  root: string;
  data: string;
  password: string;
  log: string;
  state: string;
  leases: string;
  lock: string;
}

/** True when every folder from `dir` up to / lets other users pass (the x bit for others). */
function othersCanEnter(dir: string): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    let mode: number;
    try {
      mode = statSync(d).mode;
    } catch {
      return false;
    }
    if ((mode & 0o001) === 0) return false;
    if (d === path.dirname(d)) return true;
  }
}

/** The project's folder under SYSTEM_DIR: its name, then a hash of its real path. */
export function systemRoot(projectDir: string): string {
  let real = path.resolve(projectDir);
  try {
    real = realpathSync(real);
  } catch {}
  const name = path.basename(real).replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '') || 'project';
  return path.join(SYSTEM_DIR, `${name}-${createHash('sha256').update(real).digest('hex').slice(0, 16)}`);
}

/**
 * Where the project's cluster lives. Not root: `.medallion/pg/`. As root the server runs as another
 * user, who must reach the cluster: a cluster already in the project's folder under SYSTEM_DIR
 * stays there, one already in `.medallion/pg/` stays there (openEmbedded says what to do if the
 * server's user cannot reach it), and a new one goes to `.medallion/pg/` when other users can
 * enter the project folder and all its parents, otherwise to SYSTEM_DIR. The answer depends only
 * on the file system, so every command of the project (and `medallion db`) finds the same cluster.
 */
function locate(projectDir: string): { location: 'project' | 'system'; root: string } {
  const inProject = path.resolve(projectDir, EMBEDDED_DIR);
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { location: 'project', root: inProject };
  const inSystem = systemRoot(projectDir);
  if (existsSync(path.join(inSystem, 'data', 'PG_VERSION'))) return { location: 'system', root: inSystem };
  let isFolder = false;
  try {
    isFolder = statSync(projectDir).isDirectory();
  } catch {}
  // A project path that is no folder keeps the project location, so that the error names it.
  if (!isFolder || existsSync(path.join(inProject, 'data', 'PG_VERSION')) || othersCanEnter(projectDir)) return { location: 'project', root: inProject };
  return { location: 'system', root: inSystem };
}

export function embeddedPaths(projectDir: string): EmbeddedPaths {
  const { location, root } = locate(projectDir);
  return {
    projectDir: path.resolve(projectDir),
    location,
    root,
    data: path.join(root, 'data'),
    password: path.join(root, 'password'),
    log: path.join(root, 'postgres.log'),
    state: path.join(root, 'state.json'),
    leases: path.join(root, 'leases'),
    lock: path.join(root, 'lock'),
  };
}

/** A path of the cluster as the output names it: relative inside the project, absolute outside. */
export function shownPath(paths: EmbeddedPaths, p: string): string {
  const rel = path.relative(paths.projectDir, p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
}

interface State {
  pid: number;
  port: number;
  /** True when `medallion db start` asked to keep the server running after commands end. */
  keep: boolean;
  version: string;
  startedAt: string;
  startedByPid: number;
}

export function readState(paths: EmbeddedPaths): State | undefined {
  try {
    return JSON.parse(readFileSync(paths.state, 'utf8')) as State;
  } catch {
    return undefined;
  }
}

export async function writeState(paths: EmbeddedPaths, state: State): Promise<void> {
  const tmp = `${paths.state}.${process.pid}.tmp`;
  await fs.writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await fs.rename(tmp, paths.state);
}

/** pid and port of the server running on the data folder, from its postmaster.pid. */
export function readPostmaster(paths: EmbeddedPaths): { pid: number; port: number } | undefined {
  let text: string;
  try {
    text = readFileSync(path.join(paths.data, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  return isAlive(pid) && port > 0 ? { pid, port } : undefined;
}
