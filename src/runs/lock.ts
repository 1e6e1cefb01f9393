/**
 * One run at a time per target. A session-level advisory lock on the ledger connection: it is
 * released when the run ends or when its connection dies (kill -9 included), so a crashed run
 * never leaves a stale lock behind, unlike a lock file.
 */
import type { Client } from '../db/client.ts';
import { LockedError } from '../errors.ts';

const LOCK_NAMESPACE = 'medallion-etl';

export async function acquireRunLock(client: Client, target: string | null): Promise<void> {
  const key = `${LOCK_NAMESPACE}:${target ?? ''}`;
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
    `another run holds the lock on target '${target ?? '(default)'}'${holder ? ` (backend pid ${holder.pid}, connected since ${holder.backend_start.toISOString()})` : ''}`,
    { hint: 'Wait for it to finish (or stop it) and run again; this run changed nothing.' },
  );
}
