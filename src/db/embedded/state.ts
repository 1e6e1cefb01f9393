/**
 * The embedded cluster's folder (`.medallion/pg/`: the paths of what lives there) and its state:
 * state.json (port, pid, keep), the server's postmaster.pid and the superuser's password file.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { isAlive } from './process.ts';

/** Where the cluster lives, relative to the project folder. */
export const EMBEDDED_DIR = path.join('.medallion', 'pg');

export const EMBEDDED_USER = 'postgres';

export const EMBEDDED_DATABASE = 'medallion';

export interface EmbeddedPaths {
  projectDir: string;
  root: string;
  data: string;
  password: string;
  log: string;
  state: string;
  leases: string;
  lock: string;
}

export function embeddedPaths(projectDir: string): EmbeddedPaths {
  const root = path.resolve(projectDir, EMBEDDED_DIR);
  return {
    projectDir: path.resolve(projectDir),
    root,
    data: path.join(root, 'data'),
    password: path.join(root, 'password'),
    log: path.join(root, 'postgres.log'),
    state: path.join(root, 'state.json'),
    leases: path.join(root, 'leases'),
    lock: path.join(root, 'lock'),
  };
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
