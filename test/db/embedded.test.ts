/**
 * The embedded PostgreSQL, for real: started in a temporary project folder, used with COPY,
 * stopped, started again with its data kept; `medallion db start|status|url|stop`; the guards that
 * stop it when a process ends without closing; and the exit-3 message when it cannot start.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeFor } from '../../src/errors.ts';
import { resolveConnection } from '../../src/config.ts';
import { connect } from '../../src/db/client.ts';
import { embeddedStatus, openEmbedded, stopEmbedded } from '../../src/db/embedded/index.ts';
import { openDatabase } from '../../src/db/open.ts';
import { DependencyError } from '../../src/errors.ts';
import { runCli } from '../support/cli.ts';

const EMBEDDED = resolveConnection({}, {});
const ROOT = path.resolve(import.meta.dirname, '../..');
const dirs: string[] = [];

/** A temporary project folder (0755: as root, the server's user must be able to enter it). */
async function projectDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'medallion-db-'));
  await chmod(dir, 0o755);
  dirs.push(dir);
  return dir;
}

function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitUntil(check: () => boolean, ms = 15_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

let project: string;

beforeAll(async () => {
  project = await projectDir();
});

afterAll(async () => {
  for (const dir of dirs) {
    await stopEmbedded({ projectDir: dir }).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
});

describe('embedded PostgreSQL', () => {
  it('starts in .medallion/pg, on loopback only, takes COPY, stops on close, and keeps its data', async () => {
    const lines: string[] = [];
    const db = await openDatabase(EMBEDDED, { projectDir: project, log: (l) => lines.push(l) });
    let pid: number | undefined;
    try {
      expect(db.connection.source).toBe('embedded');
      expect(db.connection.display).toMatch(/^postgres@127\.0\.0\.1:\d+\/medallion \(embedded PostgreSQL \d+ in \.medallion\/pg\)$/);
      expect(JSON.stringify(db.connection)).not.toMatch(/password/);
      expect(lines.join('\n')).toMatch(/initialising a new embedded PostgreSQL/);
      pid = embeddedStatus(project).pid;
      expect(isAlive(pid)).toBe(true);

      const client = await connect(db.connection);
      try {
        const settings = await client.query<{ name: string; setting: string }>(
          `select name, setting from pg_settings where name in ('listen_addresses', 'unix_socket_directories', 'server_version_num', 'server_encoding')`,
        );
        const s = Object.fromEntries(settings.rows.map((r) => [r.name, r.setting]));
        expect(s).toMatchObject({ listen_addresses: '127.0.0.1', unix_socket_directories: '', server_encoding: 'UTF8' });
        expect(Number(s.server_version_num)).toBeGreaterThanOrEqual(150000);
        // Code point order, like the C.UTF-8 servers the pipeline also runs on.
        const order = await client.query<{ lt: boolean; up: string }>(`select 'a' < 'B' as lt, upper('é') as up`);
        expect(order.rows[0]).toEqual({ lt: false, up: 'É' });

        await client.query('create table kept (id int, name text)');
        const copy = client.query(copyFrom('copy kept from stdin (format csv)'));
        await pipeline(Readable.from(['1,ada\n2,"grace, hopper"\n3,é\n']), copy);
        expect(copy.rowCount).toBe(3);
      } finally {
        await client.end();
      }
      if (process.getuid?.() === 0) {
        // PostgreSQL refuses root: the server and its data belong to an unprivileged user.
        const data = await stat(path.join(project, '.medallion/pg/data'));
        expect(data.uid).not.toBe(0);
        expect((await stat(`/proc/${pid}`)).uid).toBe(data.uid);
      }
    } finally {
      await db.close();
    }
    expect(await waitUntil(() => !isAlive(pid))).toBe(true);
    expect(embeddedStatus(project).running).toBe(false);

    // Started again: the data is still there, possibly on another port.
    const again = await openDatabase(EMBEDDED, { projectDir: project });
    try {
      const client = await connect(again.connection);
      try {
        expect((await client.query('select name from kept order by id')).rows.map((r) => r.name)).toEqual(['ada', 'grace, hopper', 'é']);
      } finally {
        await client.end();
      }
    } finally {
      await again.close();
    }
    expect(embeddedStatus(project).running).toBe(false);
  });

  it('is shared: a second user reuses it, and it stops when the last one closes', async () => {
    const first = await openDatabase(EMBEDDED, { projectDir: project });
    const second = await openDatabase(EMBEDDED, { projectDir: project });
    expect(first.connection.embedded?.started).toBe(true);
    expect(second.connection.embedded?.started).toBe(false);
    expect(second.connection.embedded?.port).toBe(first.connection.embedded?.port);
    await first.close();
    expect(embeddedStatus(project).running).toBe(true);
    const client = await connect(second.connection);
    await client.query('select 1');
    await client.end();
    await second.close();
    expect(embeddedStatus(project).running).toBe(false);
  });

  it('medallion db start|status|url|stop, and commands leave a kept server running', async () => {
    const env = {};
    const start = await runCli(['db', 'start'], { env, cwd: project });
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toMatch(/embedded PostgreSQL \d+\.\d+ started on 127\.0\.0\.1:\d+/);

    const status = await runCli(['db', 'status'], { env, cwd: project });
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/running on 127\.0\.0\.1:\d+ .*kept running by `medallion db start`/);

    const url = await runCli(['db', 'url'], { env, cwd: project });
    expect(url.code).toBe(0);
    const client = new pg.Client({ connectionString: url.stdout.trim() });
    await client.connect();
    expect((await client.query('select current_database() as db')).rows[0].db).toBe('medallion');
    await client.end();

    // A command that finds it running uses it and leaves it running.
    const db = await openDatabase(EMBEDDED, { projectDir: project });
    expect(db.connection.embedded?.started).toBe(false);
    await db.close();
    expect(embeddedStatus(project).running).toBe(true);

    // With DATABASE_URL set, the db commands still manage the embedded server, and say so.
    const noted = await runCli(['db', 'status'], { env: { DATABASE_URL: 'postgresql://x@elsewhere:5432/y' }, cwd: project });
    expect(noted.stderr).toMatch(/pipeline commands connect to x@elsewhere:5432\/y \(from DATABASE_URL\)/);

    const stop = await runCli(['db', 'stop'], { env, cwd: project });
    expect(stop.code).toBe(0);
    expect(stop.stdout).toMatch(/stopped/);
    expect((await runCli(['db', 'status'], { env, cwd: project })).stdout).toMatch(/not running/);
    const noUrl = await runCli(['db', 'url'], { env, cwd: project });
    expect(noUrl.code).toBe(3);
    expect(noUrl.stderr).toMatch(/medallion db start/);
    expect((await runCli(['db', 'restart'], { env, cwd: project })).code).toBe(2);
  });

  it.each(['exit', 'SIGTERM'] as const)('a process that ends without closing (%s) stops the server it started', async (how) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/db/fixtures/hold.ts'), project, how === 'exit' ? 'exit' : 'wait'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    expect(await waitUntil(() => /ready \d+/.test(out) || child.exitCode !== null, 30_000), err).toBe(true);
    const pid = Number(/ready (\d+)/.exec(out)?.[1]);
    expect(pid, err).toBeGreaterThan(0);
    if (how === 'SIGTERM') child.kill('SIGTERM');
    const result = await exited;
    if (how === 'SIGTERM') expect(result.signal).toBe('SIGTERM');
    expect(await waitUntil(() => !isAlive(pid))).toBe(true);
    expect(embeddedStatus(project).running).toBe(false);
  });

  it('a server orphaned by kill -9 is reused by the next command, which stops it', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/db/fixtures/hold.ts'), project, 'wait'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    expect(await waitUntil(() => /ready \d+/.test(out) || child.exitCode !== null, 30_000)).toBe(true);
    child.kill('SIGKILL');
    await exited;
    const orphan = embeddedStatus(project);
    expect(orphan.running).toBe(true);
    expect(orphan.users).toEqual([]);
    const db = await openDatabase(EMBEDDED, { projectDir: project });
    expect(db.connection.embedded?.started).toBe(false);
    await db.close();
    expect(embeddedStatus(project).running).toBe(false);
  });

  it('fails with exit 3, naming what was tried, when the embedded server cannot start', async () => {
    // A project folder that cannot hold .medallion/pg (a file stands where a folder should be).
    const dir = await projectDir();
    await writeFile(path.join(dir, 'not-a-folder'), '');
    const err = await openDatabase(EMBEDDED, { projectDir: path.join(dir, 'not-a-folder') }).catch((e) => e);
    expect(err).toBeInstanceOf(DependencyError);
    expect(err.code).toBe('EMBEDDED_DB_FAILED');
    expect(exitCodeFor(err)).toBe(3);
    expect(err.describe()).toMatch(/no PostgreSQL server is configured and the embedded one could not start: cannot create .*not-a-folder\/\.medallion\/pg/);
    expect(err.describe()).toMatch(/Tried: --database-url, DATABASE_URL and PGHOST.* \(none set\), then the embedded PostgreSQL .* in .*\.medallion\/pg/);
    expect(err.describe()).toMatch(/DATABASE_URL=postgresql:/);

    // Binaries that fail to initialise a cluster (simulated): initdb's own words are in the message.
    const bin = path.join(dir, 'bin');
    await rm(bin, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(bin, { mode: 0o755 }));
    await writeFile(path.join(bin, 'postgres'), '#!/bin/sh\necho "postgres (PostgreSQL) 18.4"\n', { mode: 0o755 });
    await writeFile(path.join(bin, 'initdb'), '#!/bin/sh\necho "initdb: error: simulated: cannot create cluster" >&2\nexit 1\n', { mode: 0o755 });
    await writeFile(path.join(bin, 'pg_ctl'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    const simulated = await openEmbedded({ projectDir: dir, binDir: bin }).catch((e) => e);
    expect(simulated).toBeInstanceOf(DependencyError);
    expect(exitCodeFor(simulated)).toBe(3);
    expect(simulated.describe()).toMatch(/initdb failed .*simulated: cannot create cluster/);
    expect(simulated.describe()).toMatch(/Tried: .*embedded PostgreSQL 18\.4 in /);

    // And through the CLI.
    const cli = await runCli(['db', 'start'], { env: {}, cwd: path.join(dir, 'not-a-folder') });
    expect(cli.code).toBe(3);
    expect(cli.stderr).toMatch(/\[EMBEDDED_DB_FAILED\] the embedded PostgreSQL could not start: cannot create/);
  });
});
