/**
 * Runs of the real CLI that a test steers by their log events: in-process (`startCli`) or as a
 * child process that can be killed (`spawnCli`), both with `--log-format json`, each JSON line
 * handed to `onEvent` as soon as it is written; and the blockers that hold such a run at a chosen
 * step (a table lock it waits on), so that a fault lands where the test says whatever the speed.
 */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.ts';
import { generate } from '../../src/generate/index.ts';
import { runLockKey } from '../../src/runs/lock.ts';
import type { CliResult as SupportCliResult } from '../support/cli.ts';
import { query, TEST_DATABASE_URL, testClient } from '../support/database.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export type LogEvent = Record<string, unknown> & { event?: string };

export interface CliResult extends SupportCliResult {
  events: LogEvent[];
}

/** Calls `onEvent` for each complete JSON line written to `stream`; returns every event seen. */
function collectEvents(stream: NodeJS.ReadableStream, onEvent: (e: LogEvent) => void): { events: LogEvent[]; text: () => string } {
  const events: LogEvent[] = [];
  let text = '';
  let pending = '';
  stream.on('data', (chunk: Buffer | string) => {
    text += chunk;
    pending += chunk;
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      nl = pending.indexOf('\n');
      if (!line.startsWith('{')) continue;
      const event = JSON.parse(line) as LogEvent;
      events.push(event);
      onEvent(event);
    }
  });
  return { events, text: () => text };
}

/** The CLI in this process; resolves when the command returns. */
export async function startCli(argv: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; onEvent?: (e: LogEvent) => void; signal?: AbortSignal }): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out = collectEvents(stdout, options.onEvent ?? (() => {}));
  const err = collectEvents(stderr, options.onEvent ?? (() => {}));
  const code = await main(argv, {
    stdout,
    stderr,
    env: options.env ?? { DATABASE_URL: TEST_DATABASE_URL, ETL_LOG_FORMAT: 'json' },
    cwd: options.cwd,
    // what SIGINT and SIGTERM abort in a process of its own (src/cli/main.ts)
    signal: options.signal ?? new AbortController().signal,
  });
  return { code, stdout: out.text(), stderr: err.text(), events: [...out.events, ...err.events] };
}

export interface ChildRun {
  kill(signal: NodeJS.Signals): void;
  /** Resolves when the process has exited. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; events: LogEvent[]; output: string }>;
}

/** `bin/medallion.js` as a child process. */
export function spawnCli(argv: string[], options: { cwd: string; onEvent?: (e: LogEvent) => void }): ChildRun {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/medallion.js'), ...argv, '--log-format', 'json'], {
    cwd: options.cwd,
    env: { ...process.env, DATABASE_URL: TEST_DATABASE_URL },
  });
  const out = collectEvents(child.stdout, options.onEvent ?? (() => {}));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return {
    kill: (signal) => child.kill(signal),
    done: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, events: out.events, output: out.text() + stderr }))),
  };
}

/** The backend pids that hold the run lock of `target` (at most one). */
export async function lockHolders(target: string): Promise<{ pid: number; application_name: string }[]> {
  return query(
    `select a.pid, a.application_name
       from pg_locks as l join pg_stat_activity as a on a.pid = l.pid
      where l.locktype = 'advisory' and l.granted and l.objid = hashtext($1)::oid`,
    [runLockKey(target)],
  );
}

/**
 * Waits until no backend holds the run lock of `target`: a killed run's server process ends when
 * the server notices its client is gone. Polls the catalog; fails after `timeoutMs`.
 */
export async function waitForLockFree(target: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await lockHolders(target)).length > 0) {
    if (Date.now() > deadline) throw new Error(`the run lock of ${target} is still held after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** md5 and row count of each published gold table of `target`. */
export async function publishedGold(target: string): Promise<Record<string, string>> {
  const sums: Record<string, string> = {};
  for (const table of ['fact_sales', 'customer_features', 'sales_daily']) {
    const [r] = await query<{ n: number; sum: string }>(
      `select count(*)::int as n, md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as sum from "${target}_gold".${table} as x`,
    );
    sums[table] = `${r!.n}:${r!.sum}`;
  }
  return sums;
}

/**
 * A folder with a copy of the models and clean generated sources (these tests are about runs and
 * locks, not about what bronze rejects).
 */
export async function workFolder(prefix: string): Promise<{ work: string; seeds: string }> {
  const work = await mkdtemp(path.join(os.tmpdir(), `medallion-${prefix}-`));
  const seeds = path.join(work, 'seeds');
  await cp(path.join(ROOT, 'sql'), path.join(work, 'sql'), { recursive: true });
  await generate({ scale: 0.03, seed: 5, outDir: seeds, clean: true });
  return { work, seeds };
}

/** A transaction on another connection that holds `lock table … in <mode> mode` until released. */
export async function holdTableLock(table: string, mode: string): Promise<{ release(): Promise<void> }> {
  const client = await testClient('medallion-test-blocker');
  await client.query('begin');
  await client.query(`lock table ${table} in ${mode} mode`);
  let released: Promise<void> | undefined;
  return {
    release() {
      released ??= client.query('commit').then(() => client.end());
      return released;
    },
  };
}

