/**
 * What the server is running, for fault injection driven by the server's own state instead of by
 * sleeps: a test waits until the statement it means to interrupt is seen active in
 * pg_stat_activity, asserts that it was seen, then acts.
 */
import type pg from 'pg';

export interface ActiveQuery {
  pid: number;
  query: string;
  waitEventType: string | null;
}

/**
 * Polls pg_stat_activity (every `pollMs`) until an active statement of another session whose text
 * matches `like` (an SQL LIKE pattern), on `pid` and waiting on `waitEventType` (e.g. 'Lock') when
 * given, is seen; returns it. A statement is active before it reaches the wait it is meant to
 * block in, so a test that needs the wait names it here rather than checking the first sight. Returns null
 * if `until` settles first (the work ended without ever running that statement).
 */
export async function waitForActiveQuery(
  client: Pick<pg.ClientBase, 'query'>,
  match: { like: string; pid?: number; waitEventType?: string },
  until: Promise<unknown>,
  pollMs = 10,
): Promise<ActiveQuery | null> {
  let settled = false;
  const done = until.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  for (;;) {
    const { rows } = await client.query<{ pid: number; query: string; wait_event_type: string | null }>(
      `select pid, query, wait_event_type from pg_stat_activity
        where state = 'active' and pid <> pg_backend_pid() and query like $1 and ($2::int is null or pid = $2)
          and ($3::text is null or wait_event_type = $3)
        order by backend_start limit 1`,
      [match.like, match.pid ?? null, match.waitEventType ?? null],
    );
    if (rows[0]) return { pid: rows[0].pid, query: rows[0].query, waitEventType: rows[0].wait_event_type };
    if (settled) return null;
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, pollMs))]);
  }
}
