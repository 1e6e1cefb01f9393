/**
 * The server process: initdb on first use, pg_ctl start on a free port of 127.0.0.1 (retried when
 * the port is taken meanwhile), pg_ctl stop, and the project's database and client settings.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import type { PgClientSettings } from '../../config.ts';
import type { EmbeddedBinaries } from './binaries.ts';
import { EmbeddedFailure } from './failure.ts';
import { run, type RunAs } from './process.ts';
import { EMBEDDED_DATABASE, EMBEDDED_USER, type EmbeddedPaths, readPostmaster, shownPath } from './state.ts';

const START_TIMEOUT_S = 60;

export async function initialise(paths: EmbeddedPaths, bins: EmbeddedBinaries, runAs: RunAs | undefined, log: (line: string) => void): Promise<void> {
  const entries = await fs.readdir(paths.data).catch(() => undefined);
  if (entries && entries.length > 0) {
    throw new EmbeddedFailure(`${paths.data} exists but is not a PostgreSQL data folder (no PG_VERSION)`, `Move it away or delete it; medallion then creates a new cluster there.`);
  }
  log(`initialising a new embedded PostgreSQL ${bins.version} cluster in ${shownPath(paths, paths.data)} (first run only)`);
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

export async function startServer(paths: EmbeddedPaths, bins: EmbeddedBinaries, runAs: RunAs | undefined, preferredPort: number | undefined, log: (line: string) => void): Promise<{ pid: number; port: number }> {
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

/**
 * pg_ctl's shutdown modes: `fast` ends the sessions and writes a shutdown checkpoint; `immediate`
 * ends every process at once without one, so the next start runs crash recovery (which resets the
 * unlogged tables to empty): what the fault tests use to crash the server.
 */
export type StopMode = 'fast' | 'immediate';

export async function stopServer(paths: EmbeddedPaths, bins: EmbeddedBinaries, runAs: RunAs | undefined, mode: StopMode = 'fast'): Promise<void> {
  if (!readPostmaster(paths)) return;
  await run(bins.pgCtl, ['stop', '-D', paths.data, '-m', mode, '-w', '-t', '60'], { runAs, timeoutMs: 70_000 });
}

export function clientSettings(port: number, password: string): PgClientSettings {
  const client: PgClientSettings = { host: '127.0.0.1', port, user: EMBEDDED_USER, database: EMBEDDED_DATABASE, application_name: 'medallion' };
  Object.defineProperty(client, 'password', { value: password, enumerable: false });
  return Object.freeze(client);
}

export async function ensureDatabase(paths: EmbeddedPaths, port: number, password: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: EMBEDDED_USER, password, database: 'postgres', connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [EMBEDDED_DATABASE]);
    if (!rowCount) await client.query(`create database ${EMBEDDED_DATABASE}`);
  } catch (err) {
    throw new EmbeddedFailure(`the server started on 127.0.0.1:${port} but does not accept our connection: ${(err as Error).message}`, `If ${paths.password} was changed or lost, delete ${paths.data} to start afresh (its data is lost).`);
  } finally {
    await client.end().catch(() => {});
  }
}

export async function readPassword(paths: EmbeddedPaths): Promise<string> {
  try {
    return (await fs.readFile(paths.password, 'utf8')).trim();
  } catch (err) {
    throw new EmbeddedFailure(`cannot read the embedded server's password from ${paths.password}: ${(err as Error).message}`, `Delete ${paths.data} to start afresh (its data is lost).`);
  }
}
