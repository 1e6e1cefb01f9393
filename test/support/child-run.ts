/**
 * `bin/medallion.js` as a child process that a fault-injection test steers by its JSON log events
 * (`waitFor`), kills (`kill`), and whose database sessions it can name (`backendsOf`): the test
 * acts when the run says it reached a step, never after a sleep. A `Gate` is a transaction of the
 * test's that the run's writes wait on, so that a fault lands before the step it guards whatever
 * the machine's speed.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { TEST_DATABASE_URL } from './database.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

export type LogEvent = Record<string, unknown> & { event?: string };

export interface ChildOutcome {
  /** The exit code, or null when a signal ended the process (then `signal` names it). */
  code: number | null;
  signal: NodeJS.Signals | null;
  events: LogEvent[];
  /** stdout and stderr, for failure messages. */
  output: string;
  /** When the process ended (performance.now()). */
  endedAt: number;
}

export interface MedallionChild {
  readonly pid: number;
  kill(signal: NodeJS.Signals): void;
  /** Resolves with the first event named `event` (matching `where`); rejects if the run ends first. */
  waitFor(event: string, where?: (e: LogEvent) => boolean): Promise<LogEvent>;
  readonly exited: boolean;
  done: Promise<ChildOutcome>;
}

const live = new Set<MedallionChild>();

/** kill -9 on every child still running and waits for each to end (a test that failed midway). */
export async function killLiveChildren(): Promise<void> {
  for (const c of live) c.kill('SIGKILL');
  await Promise.all([...live].map((c) => c.done));
}

/**
 * Runs `medallion ARGV --log-format json` in `cwd`. `env` is added to this process's environment,
 * with DATABASE_URL the test database unless `env` gives another.
 */
export function spawnMedallion(argv: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): MedallionChild {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/medallion.js'), ...argv, '--log-format', 'json'], {
    cwd: options.cwd,
    env: { ...process.env, DATABASE_URL: TEST_DATABASE_URL, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: LogEvent[] = [];
  let output = '';
  const waiters: { event: string; where: (e: LogEvent) => boolean; resolve: (e: LogEvent) => void; reject: (err: Error) => void }[] = [];
  let exited = false;
  const onLine = (line: string) => {
    output += `${line}\n`;
    if (!line.startsWith('{')) return;
    const e = JSON.parse(line) as LogEvent;
    events.push(e);
    for (const w of [...waiters]) {
      if (w.event === e.event && w.where(e)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  };
  const stdoutClosed = new Promise((resolve) => createInterface({ input: child.stdout }).on('line', onLine).on('close', resolve));
  const stderrClosed = new Promise((resolve) => createInterface({ input: child.stderr }).on('line', onLine).on('close', resolve));
  const done = new Promise<ChildOutcome>((resolve) => {
    child.on('exit', (code, signal) => {
      const endedAt = performance.now();
      void Promise.all([stdoutClosed, stderrClosed]).then(() => {
        exited = true;
        for (const w of waiters.splice(0)) w.reject(new Error(`the run ended (code ${code}, signal ${signal}) before it logged ${w.event}:\n${output}`));
        resolve({ code, signal, events, output, endedAt });
      });
    });
  });
  const handle: MedallionChild = {
    pid: child.pid!,
    kill: (signal) => void child.kill(signal),
    waitFor(event, where = () => true) {
      const seen = events.find((e) => e.event === event && where(e));
      if (seen) return Promise.resolve(seen);
      if (exited) return Promise.reject(new Error(`the run ended before it logged ${event}:\n${output}`));
      return new Promise((resolve, reject) => waiters.push({ event, where, resolve, reject }));
    },
    get exited() {
      return exited;
    },
    done,
  };
  live.add(handle);
  void done.then(() => live.delete(handle));
  return handle;
}

/** A query function on one database: the test database by default, or the embedded one. */
export type Row = pg.QueryResultRow;
export type Db = <T extends Row = Row>(sql: string, params?: unknown[]) => Promise<T[]>;

export function dbAt(url: string = TEST_DATABASE_URL): Db {
  return async <T extends Row>(sql: string, params: unknown[] = []) => {
    const client = new pg.Client({ connectionString: url, application_name: 'medallion-test' });
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end();
    }
  };
}

/** The local TCP ports of `pid`'s sockets (Linux /proc): a database session's `client_port`. */
async function localPortsOf(pid: number): Promise<number[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
    const m = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ''));
    if (m) inodes.add(m[1]!);
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of (await readFile(table, 'utf8').catch(() => '')).split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && inodes.has(f[9]!)) ports.push(Number.parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

export interface Backend {
  pid: number;
  application_name: string;
  state: string | null;
  wait_event_type: string | null;
}

/** The database sessions of the process `pid` (by the ports of its TCP connections). */
export async function backendsOf(pid: number, db: Db = dbAt()): Promise<Backend[]> {
  const ports = await localPortsOf(pid);
  if (!ports.length) return [];
  return db<Backend>(
    `select pid, application_name, state, wait_event_type from pg_stat_activity
      where backend_type = 'client backend' and client_port = any($1::int[]) order by pid`,
    [ports],
  );
}

/** pg_terminate_backend on the sessions of process `pid` named `applicationName`; returns how many. */
export async function terminateBackendsOf(pid: number, applicationName: string, db: Db = dbAt()): Promise<number> {
  const targets = (await backendsOf(pid, db)).filter((b) => b.application_name === applicationName);
  await db('select pg_terminate_backend(pid) from unnest($1::int[]) as pid', [targets.map((b) => b.pid)]);
  return targets.length;
}

/** Resolves once `check` is true, checking every 20 ms; rejects after `timeoutMs` naming `what`. */
export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`still waiting after ${timeoutMs} ms until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface Gate {
  /** The gate's own session (what a waiting session's pg_blocking_pids names). */
  readonly pid: number;
  /** Takes the row lock now: every later update of the row waits until `release`. */
  close(sql: string, params?: unknown[]): Promise<void>;
  /** True while some session waits on the gate. */
  waitedOn(): Promise<boolean>;
  release(): Promise<void>;
}

/**
 * A session of the test's, opened ahead (so closing the gate is one statement, taken in a
 * millisecond when the event that calls for it arrives), inside a transaction until `release`.
 */
export async function openGate(url: string = TEST_DATABASE_URL): Promise<Gate> {
  const client = new pg.Client({ connectionString: url, application_name: 'medallion-test-gate' });
  client.on('error', () => {});
  await client.connect();
  const [{ pid }] = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows as [{ pid: number }];
  await client.query('begin');
  let released: Promise<void> | undefined;
  const db = dbAt(url);
  return {
    pid,
    async close(sql, params = []) {
      await client.query(sql, params);
    },
    async waitedOn() {
      // A server that is going away has no one waiting.
      return (await db('select 1 from pg_stat_activity where $1 = any(pg_blocking_pids(pid))', [pid]).catch(() => [])).length > 0;
    },
    release() {
      // A gate whose session the server ended (a restart) is open already.
      released ??= client.query('rollback').then(() => client.end(), () => client.end().catch(() => {}));
      return released;
    },
  };
}
