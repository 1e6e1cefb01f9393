/**
 * Who uses the server: one lease file per process in `leases/`, the `lock` file held while a
 * process starts or stops it, and the guards that stop a server nobody else uses when a process
 * exits (or gets a last signal) without closing its handle.
 */
import { closeSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { EmbeddedFailure } from './failure.ts';
import { isAlive } from './process.ts';
import { type EmbeddedPaths, readPostmaster, readState } from './state.ts';

const LOCK_WAIT_MS = 120_000;

export function liveLeases(paths: EmbeddedPaths): { file: string; pid: number }[] {
  let names: string[];
  try {
    names = readdirSync(paths.leases);
  } catch {
    return [];
  }
  const live: { file: string; pid: number }[] = [];
  for (const name of names) {
    const pid = Number(name.split('-')[0]);
    if (isAlive(pid)) live.push({ file: path.join(paths.leases, name), pid });
    else rmSync(path.join(paths.leases, name), { force: true });
  }
  return live;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` holding `.medallion/pg/lock` (an exclusive file; a dead holder's lock is taken over). */
export async function withLock<T>(paths: EmbeddedPaths, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fd = openSync(paths.lock, 'wx');
      try {
        writeSync(fd, String(process.pid));
      } finally {
        closeSync(fd);
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(await fs.readFile(paths.lock, 'utf8').catch(() => ''));
      if (holder && !isAlive(holder)) {
        await fs.rm(paths.lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new EmbeddedFailure(`${paths.lock} has been held by process ${holder || '?'} for ${LOCK_WAIT_MS / 1000} s`, 'If no medallion command is running, delete that file.');
      if (signal?.aborted) throw signal.reason;
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(paths.lock, { force: true });
  }
}

export interface OpenLease {
  paths: EmbeddedPaths;
  leaseFile: string;
}

export const openLeases = new Set<OpenLease>();

/** Synchronous, for 'exit' and a last signal: drop our leases and stop servers nobody else uses. */
function emergencyStop(): void {
  for (const lease of openLeases) {
    rmSync(lease.leaseFile, { force: true });
    const state = readState(lease.paths);
    const running = readPostmaster(lease.paths);
    if (running && state && !state.keep && liveLeases(lease.paths).length === 0) {
      try {
        process.kill(running.pid, 'SIGINT'); // fast shutdown: the server rolls back and stops by itself
      } catch {}
    }
  }
  openLeases.clear();
  removeGuards();
}

const onExit = () => emergencyStop();

function onSignal(signal: NodeJS.Signals) {
  // Someone else (src/cli/main.ts) handles this signal: it aborts the command, whose finally
  // closes the handle. Only when we are the only listener (e.g. a second Ctrl-C, main.ts's
  // listener being a `once`) do we act as the default action would, after stopping the server.
  if (process.listenerCount(signal) > 1) return;
  emergencyStop();
  process.kill(process.pid, signal);
}

const onSigint = () => onSignal('SIGINT');

const onSigterm = () => onSignal('SIGTERM');

let guarded = false;

export function installGuards(): void {
  if (guarded) return;
  guarded = true;
  process.on('exit', onExit);
  // Prepended, so that we run before src/cli/main.ts's `once` listener removes itself: while it is
  // registered we leave the signal to it.
  process.prependListener('SIGINT', onSigint);
  process.prependListener('SIGTERM', onSigterm);
}

export function removeGuards(): void {
  if (!guarded) return;
  guarded = false;
  process.removeListener('exit', onExit);
  process.removeListener('SIGINT', onSigint);
  process.removeListener('SIGTERM', onSigterm);
}
