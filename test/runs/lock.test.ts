/**
 * One run per target, even when the connection that holds the lock dies: the run stops at once
 * with LOCK_LOST (exit 3) and publishes nothing, a role's idle_session_timeout does not end the
 * lock's session, a second run at the same time exits 75, and the publisher's check inside its
 * transaction is true only on the session that holds the lock.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaNames } from '../../src/config.ts';
import { connect } from '../../src/db/client.ts';
import { DependencyError } from '../../src/errors.ts';
import { acquireRunLock, assertLockHeldInTransaction, watchRunLock } from '../../src/runs/lock.ts';
import { stagingSchemaPattern } from '../../src/transform/compile.ts';
import { dropTarget, query, TEST_DATABASE_URL, testClient, testConnection, uniqueTarget } from '../support/database.ts';
import { type CliResult, holdTableLock, lockHolders, publishedGold, startCli, workFolder } from './helpers.ts';

const target = uniqueTarget('lock');
const etl = `"${target}_etl"`;
let work: string;
let seeds: string;

/** A build that loads and builds everything (--full-refresh: with nothing changed it would not). */
async function build(extra: string[] = [], options: { onEvent?: Parameters<typeof startCli>[1]['onEvent']; env?: NodeJS.ProcessEnv; target?: string } = {}) {
  return startCli(['build', '--seeds', seeds, '--target', options.target ?? target, '--out', path.join(work, 'exports'), '--as-of', '2014-01-29', '--full-refresh', ...extra], {
    cwd: work,
    env: options.env,
    onEvent: options.onEvent,
  });
}

beforeAll(async () => {
  ({ work, seeds } = await workFolder('lock'));
  const r = await build();
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  await dropTarget(target);
  await rm(work, { recursive: true, force: true });
});

describe('the lock on the target', () => {
  it('a terminated ledger connection stops the run at once with LOCK_LOST (exit 3), publishes nothing, and the next run succeeds', async () => {
    const before = await publishedGold(target);
    // The first data test result the run writes waits on this lock: the run cannot finish (or
    // publish) before its ledger connection is terminated, whatever the machine's speed.
    const blocker = await holdTableLock(`${etl}.test_results`, 'exclusive');
    let terminated: Promise<number> | undefined;
    let terminatedAt = 0;
    let result: CliResult;
    try {
      result = await build([], {
        onEvent: (e) => {
          // A model is built: the run is in its models stage, with the lock and staging schemas.
          if (e.event === 'model_built' && !terminated) {
            terminated = (async () => {
              const ledgers = (await lockHolders(target)).filter((h) => h.application_name === 'medallion-ledger');
              await query('select pg_terminate_backend(pid) from unnest($1::int[]) as pid', [ledgers.map((h) => h.pid)]);
              terminatedAt = performance.now();
              return ledgers.length;
            })();
          }
        },
      });
    } finally {
      await blocker.release();
    }
    expect(await terminated).toBe(1);
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain('LOCK_LOST');
    expect(result.stderr).not.toContain('MODEL_SQL_FAILED');
    expect(result.stderr).toMatch(/another run may now hold the target.*nothing was published by this run/);
    // event-driven: the run does not wait for a statement to notice (a model at scale 0.03 takes < 1 s)
    expect(performance.now() - terminatedAt).toBeLessThan(5_000);
    const [lost] = await query(`select status, exit_code, error_code from ${etl}.runs order by run_id desc limit 1`);
    expect(lost).toEqual({ status: 'failed', exit_code: 3, error_code: 'LOCK_LOST' });
    expect(await publishedGold(target)).toEqual(before);

    const next = await build();
    expect(next.code, next.stderr).toBe(0);
    expect(next.events.filter((e) => e.event === 'run_abandoned')).toEqual([]);
    const runs = await query<{ status: string; error_code: string | null }>(`select status, error_code from ${etl}.runs order by run_id desc limit 2`);
    expect(runs).toEqual([{ status: 'success', error_code: null }, { status: 'failed', error_code: 'LOCK_LOST' }]);
    expect(await query(`select count(*)::int as n from ${etl}.runs where status in ('abandoned', 'running')`)).toEqual([{ n: 0 }]);
    // the stopped run's staging schemas were dropped by the next run, which published its own
    expect(await query('select nspname from pg_namespace where nspname ~ $1', [stagingSchemaPattern(schemaNames(target))])).toEqual([]);
  });

  it('two runs at once on one target: the second exits 75 and changes nothing, the first goes on', async () => {
    const blocker = await holdTableLock(`${etl}.test_results`, 'exclusive');
    let startSecond!: (run: ReturnType<typeof build>) => void;
    const secondStarted = new Promise<ReturnType<typeof build>>((resolve) => (startSecond = resolve));
    let started = false;
    let first: CliResult;
    try {
      const firstRun = build([], {
        onEvent: (e) => {
          // the first run holds the lock and waits on the blocker
          if (e.event === 'model_built' && !started) {
            started = true;
            startSecond(build());
          }
        },
      });
      const second = await Promise.race([secondStarted, firstRun.then((r) => Promise.reject(new Error(`the first run ended first: ${r.stderr}`)))]);
      const r2 = await second;
      expect(r2.code, r2.stderr).toBe(75);
      expect(r2.stdout + r2.stderr).toContain('RUN_LOCKED');
      await blocker.release();
      first = await firstRun;
    } finally {
      await blocker.release();
    }
    expect(first.code, first.stderr).toBe(0);
    // the second run left no row and marked nothing
    const runs = await query<{ status: string }>(`select status from ${etl}.runs order by run_id desc limit 1`);
    expect(runs).toEqual([{ status: 'success' }]);
    expect(await query(`select count(*)::int as n from ${etl}.runs where status in ('abandoned', 'running')`)).toEqual([{ n: 0 }]);
  });

  it("a role's idle_session_timeout does not end the run's sessions while they wait", async () => {
    const role = uniqueTarget('idle_role');
    const idleTarget = uniqueTarget('idle');
    const database = decodeURIComponent(new URL(TEST_DATABASE_URL).pathname.slice(1));
    const url = new URL(TEST_DATABASE_URL);
    url.username = role;
    url.password = '';
    const env = { DATABASE_URL: url.toString(), ETL_LOG_FORMAT: 'json' };
    await query(`create role ${role} login`);
    try {
      await query(`grant create on database "${database}" to ${role}`);
      const setup = await build(['--skip-export'], { env, target: idleTarget });
      expect(setup.code, setup.stderr).toBe(0);
      await query(`alter role ${role} set idle_session_timeout = '1s'`);
      // The bronze swap waits on this lock after every file has loaded: the ledger connection is
      // idle meanwhile (so is the second load connection).
      const blocker = await holdTableLock(`"${idleTarget}_bronze".cust_info`, 'access exclusive');
      let idleSeen: Promise<'idle' | 'gone'> | undefined;
      let run: CliResult;
      try {
        let loaded = 0;
        run = await build(['--skip-export'], {
          env,
          target: idleTarget,
          onEvent: (e) => {
            if (e.event === 'bronze_file_loaded' && ++loaded === 6) {
              idleSeen = ledgerIdleOrGone(role).finally(() => blocker.release());
            }
          },
        });
      } finally {
        await blocker.release();
      }
      expect(await idleSeen).toBe('idle');
      expect(run.code, run.stderr).toBe(0);
      const [last] = await query(`select status from "${idleTarget}_etl".runs order by run_id desc limit 1`);
      expect(last).toEqual({ status: 'success' });
    } finally {
      await dropTarget(idleTarget);
      await query(`drop owned by ${role}`);
      await query(`drop role ${role}`);
    }
  });
});

/**
 * Waits until the role's ledger session has been idle for 1.5 s (past the role's 1 s
 * idle_session_timeout), or has disappeared (the server ended it).
 */
async function ledgerIdleOrGone(role: string): Promise<'idle' | 'gone'> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const rows = await query<{ idle: boolean }>(
      `select state = 'idle' and clock_timestamp() - state_change > interval '1500 milliseconds' as idle
         from pg_stat_activity where usename = $1 and application_name = 'medallion-ledger'`,
      [role],
    );
    if (rows.length === 0) return 'gone';
    if (rows[0]!.idle) return 'idle';
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the ledger session was neither idle for 1.5 s nor gone within 30 s');
}

describe('assertLockHeldInTransaction', () => {
  const key = uniqueTarget('lockunit');

  it('passes on the session that holds the lock and is LOCK_LOST on any other while the holder lives', async () => {
    const holder = await testClient('lock-holder');
    const other = await testClient('lock-other');
    try {
      await acquireRunLock(holder, key);
      await holder.query('begin');
      await assertLockHeldInTransaction(holder, key);
      await holder.query('commit');
      // the xact lock ended with the transaction; the session lock is still held
      expect((await lockHolders(key)).map((h) => h.pid)).toEqual([(holder as unknown as { processID: number }).processID]);

      await other.query('begin');
      const err = await assertLockHeldInTransaction(other, key).catch((e) => e);
      await other.query('rollback');
      expect(err).toBeInstanceOf(DependencyError);
      expect(err.code).toBe('LOCK_LOST');
      expect(err.message).toMatch(/must not publish/);
    } finally {
      await holder.end();
    }
    // the holder is gone: the other session may publish
    await other.query('begin');
    await assertLockHeldInTransaction(other, key);
    await other.query('rollback');
    // a connection that is gone is LOCK_LOST too
    await other.end();
    expect((await assertLockHeldInTransaction(other, key).catch((e) => e)).code).toBe('LOCK_LOST');
  });

  it('watchRunLock aborts with LOCK_LOST as soon as the holding backend is terminated', async () => {
    const holder = await testClient('lock-holder');
    await acquireRunLock(holder, key);
    const watch = watchRunLock(holder, key);
    const aborted = new Promise<unknown>((resolve) => watch.signal.addEventListener('abort', () => resolve(watch.signal.reason), { once: true }));
    await query('select pg_terminate_backend($1)', [(holder as unknown as { processID: number }).processID]);
    const reason = (await aborted) as DependencyError;
    expect(reason.code).toBe('LOCK_LOST');
    expect(watch.lost).toBe(reason);
    watch.stop();
    await holder.end().catch(() => {});
  });

  it('the lock session ignores idle timeouts; every session ignores idle_session_timeout', async () => {
    const ledger = await connect(testConnection(), 'lock-holder', { holdsLock: true });
    const plain = await testClient('lock-plain');
    try {
      const settings = "select current_setting('idle_session_timeout') as idle, current_setting('idle_in_transaction_session_timeout') as idle_in_transaction, current_setting('client_connection_check_interval') as check_interval";
      expect((await ledger.query(settings)).rows[0]).toEqual({ idle: '0', idle_in_transaction: '0', check_interval: '2s' });
      expect((await plain.query(settings)).rows[0]).toMatchObject({ idle: '0', check_interval: '2s' });
    } finally {
      await ledger.end();
      await plain.end();
    }
  });
});
