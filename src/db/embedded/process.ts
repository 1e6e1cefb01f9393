/**
 * Child processes: initdb, pg_ctl and the other tools run with a clean environment (no PG*
 * settings, messages in English), as the server's user when we are root; whether a pid is alive.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';

export interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

export function run(file: string, args: string[], options: { runAs?: RunAs; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, {
      env: options.env ?? childEnv(),
      timeout: options.timeoutMs ?? 120_000,
      // As the server's user, from / : it may not be allowed into our working directory.
      ...(options.runAs ? { uid: options.runAs.uid, gid: options.runAs.gid, cwd: '/' } : {}),
      maxBuffer: 4 * 1024 * 1024,
    }, (err, stdout, stderr) => {
      if (err) {
        const e = err as Error & { code?: number | string };
        reject(Object.assign(new Error(`${path.basename(file)} failed (${e.code ?? 'error'}): ${(stderr || stdout || e.message).trim()}`), { exitCode: e.code, stdout, stderr }));
      } else resolve({ stdout, stderr });
    });
  });
}

/** The environment for initdb/pg_ctl: ours without libpq/PG* settings, messages in English. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  env.LC_MESSAGES = 'C';
  env.LC_ALL = 'C';
  env.LANG = 'C';
  return env;
}

export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
