/**
 * One run at a time per target. A session-level advisory lock on the ledger connection: it is
 * released when the run ends or when its connection dies (kill -9 included), so a crashed run
 * never leaves a stale lock behind, unlike a lock file.
 *
 * The lock is exactly as alive as that connection. The connection is therefore kept alive (TCP
 * keepalive, no idle timeouts: src/db/client.ts, `holdsLock`), its loss aborts the run at once
 * (`watchRunLock`: LOCK_LOST, exit 3), and the publishing transaction checks again that it still
 * holds the lock (`assertLockHeldInTransaction`) before it commits anything readers see.
 */
import type { Client } from '../db/index.ts';
import { DependencyError, LockedError } from '../errors.ts';

const LOCK_NAMESPACE = 'medallion-etl';

/** The text whose hashtext() is the advisory lock key of a target. */
export function runLockKey(target: string | null): string {
  return `${LOCK_NAMESPACE}:${target ?? ''}`;
}

function targetLabel(target: string | null): string {
  return `'${target ?? '(default)'}'`;
}

export async function acquireRunLock(client: Client, target: string | null): Promise<void> {
  const key = runLockKey(target);
  const { rows } = await client.query<{ locked: boolean }>('select pg_try_advisory_lock(hashtext($1)) as locked', [key]);
  if (rows[0]?.locked) return;
  const { rows: holders } = await client.query<{ pid: number; application_name: string; backend_start: Date }>(
    `select a.pid, a.application_name, a.backend_start
       from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'advisory' and l.granted and l.objid = hashtext($1)::oid`,
    [key],
  );
  const holder = holders[0];
  throw new LockedError(
    `another run holds the lock on target ${targetLabel(target)}${holder ? ` (backend pid ${holder.pid}, connected since ${holder.backend_start.toISOString()})` : ''}`,
    { hint: 'Wait for it to finish (or stop it) and run again; this run changed nothing.' },
  );
}

/**
 * For the publisher, inside its transaction, on the connection that holds the session lock (the
 * run's ledger connection): the same session takes its own advisory lock again, so
 * `pg_try_advisory_xact_lock` is true exactly while this session holds the target's lock, and
 * false on any other session while the holder lives. False, or an error (the connection is gone),
 * is LOCK_LOST: the run must not publish.
 */
export async function assertLockHeldInTransaction(client: Client, target: string | null): Promise<void> {
  let held = false;
  let cause: unknown;
  try {
    const { rows } = await client.query<{ held: boolean }>('select pg_try_advisory_xact_lock(hashtext($1)) as held', [runLockKey(target)]);
    held = rows[0]?.held === true;
  } catch (err) {
    cause = err;
  }
  if (held) return;
  throw new DependencyError(
    'LOCK_LOST',
    `this run did not hold the lock on target ${targetLabel(target)} when it was about to publish${cause ? ` (${(cause as Error).message})` : ''}, so it must not publish: another run may hold the target; nothing was published by this run`,
    { hint: 'Publish only on the connection that took the lock (the ledger connection). Check for another run on this target, then run again.' },
    { cause },
  );
}

export interface RunLockWatch {
  /** Aborted, with the LOCK_LOST error as its reason, when the lock's connection ends. */
  readonly signal: AbortSignal;
  /** The LOCK_LOST error once the lock is lost, else undefined. */
  readonly lost: DependencyError | undefined;
  /** Stops watching: the run is about to end the connection itself. */
  stop(): void;
}

/**
 * Watches the connection that holds the target's lock, from the moment the lock is taken: its
 * 'error' or 'end' event (a terminated backend, idle_session_timeout, a server restart, a broken
 * network) means the lock is released and another run may take the target. The returned signal
 * aborts at once, so the run stops its work connections instead of finding out at its next
 * ledger write. `published` tells whether this run's publish has already committed (the message
 * then says so instead of "nothing was published").
 */
export function watchRunLock(client: Client, target: string | null, published: () => boolean = () => false): RunLockWatch {
  const controller = new AbortController();
  let lost: DependencyError | undefined;
  let watching = true;
  const onLoss = (err?: unknown) => {
    if (!watching || lost) return;
    const why = err instanceof Error ? err.message : 'the connection ended';
    const done = published() ? 'this run had already published' : 'nothing was published by this run';
    lost = new DependencyError(
      'LOCK_LOST',
      `lost the connection that holds the lock on target ${targetLabel(target)} (${why}): another run may now hold the target, so this run stopped; ${done}`,
      { hint: 'Check what ended the connection (pg_terminate_backend, idle_session_timeout, a server restart, the network), then run again.' },
      { cause: err },
    );
    controller.abort(lost);
  };
  const onError = (err: unknown) => onLoss(err);
  const onEnd = () => onLoss();
  client.on('error', onError);
  client.on('end', onEnd);
  return {
    signal: controller.signal,
    get lost() {
      return lost;
    },
    stop() {
      watching = false;
      client.removeListener('error', onError);
      client.removeListener('end', onEnd);
    },
  };
}
