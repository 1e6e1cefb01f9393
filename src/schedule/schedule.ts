/**
 * Runs tasks on a fixed set of connections, at most one statement per connection at a time: a task
 * starts as soon as the tasks it depends on have finished and a connection is free. Used for the
 * bronze files (two at once), the model builds (independent branches of the model graph at once)
 * and the data tests.
 *
 * Why connections and not promises: PostgreSQL runs one statement per connection, so N connections
 * are N server processes working at once, and a build that is CPU-bound in the server (sorts,
 * windows, hashes) scales with them up to the server's cores.
 *
 * The first failure stops the schedule: no new task starts, the statements still running on the
 * other connections are cancelled (pg_cancel_backend, from the failed task's connection), and the
 * first error is thrown once every connection is idle again, so the caller can use them (or close
 * them) safely.
 */
import type { Client } from '../db/index.ts';

export interface ScheduledTask<T> {
  /** Unique among the tasks; what `dependsOn` names. */
  readonly id: string;
  /** Ids of the tasks that must finish first; unknown ids are an error (a bug in the caller). */
  readonly dependsOn?: readonly string[];
  /** Higher first among the tasks that are ready (default 0); ties keep the list's order. */
  readonly priority?: number;
  /** Expected seconds (e.g. the last run's), for criticalPathFirst. */
  readonly cost?: number;
  readonly run: (client: Client) => Promise<T>;
}

export interface ScheduleOptions {
  /** Checked before each task starts; an aborted signal stops the schedule with its reason. */
  signal?: AbortSignal;
}

/** Runs every task; resolves with the results by task id, or rejects with the first error. */
export async function runScheduled<T>(tasks: readonly ScheduledTask<T>[], clients: readonly Client[], options: ScheduleOptions = {}): Promise<Map<string, T>> {
  if (clients.length === 0) throw new Error('runScheduled needs at least one connection');
  const ids = new Set(tasks.map((t) => t.id));
  if (ids.size !== tasks.length) throw new Error('runScheduled: task ids must be unique');
  for (const t of tasks) for (const d of t.dependsOn ?? []) if (!ids.has(d)) throw new Error(`runScheduled: task ${t.id} depends on unknown task ${d}`);

  const results = new Map<string, T>();
  const pending = [...tasks];
  const busy = new Map<Client, string>();
  let failure: { error: unknown } | undefined;

  return new Promise((resolve, reject) => {
    const finishIfDone = () => {
      if (busy.size > 0) return;
      if (failure) reject(failure.error);
      else if (pending.length === 0) resolve(results);
      else reject(new Error(`runScheduled: tasks ${pending.map((t) => t.id).join(', ')} can never start (their dependencies form a cycle)`));
    };

    const fail = (error: unknown, on: Client) => {
      if (failure) return;
      failure = { error };
      for (const other of busy.keys()) {
        if (other === on) continue;
        // best effort: the other statements end with "canceling statement due to user request"
        on.query('select pg_cancel_backend($1)', [backendPid(other)]).catch(() => {});
      }
    };

    const startNext = () => {
      if (!failure && options.signal?.aborted) failure = { error: options.signal.reason };
      if (failure) return finishIfDone();
      for (const client of clients) {
        if (busy.has(client)) continue;
        const next = nextReady();
        if (!next) break;
        pending.splice(pending.indexOf(next), 1);
        busy.set(client, next.id);
        next
          .run(client)
          .then(
            (result) => results.set(next.id, result),
            (error) => fail(error, client),
          )
          .finally(() => {
            busy.delete(client);
            startNext();
          });
      }
      finishIfDone();
    };

    const nextReady = (): ScheduledTask<T> | undefined => {
      let best: ScheduledTask<T> | undefined;
      for (const t of pending) {
        if (!(t.dependsOn ?? []).every((d) => results.has(d))) continue;
        if (!best || (t.priority ?? 0) > (best.priority ?? 0)) best = t;
      }
      return best;
    };

    startNext();
  });
}

/**
 * The tasks with `priority` set to their critical path: the task's own cost plus the longest chain
 * of costs of the tasks that wait for it, directly or not (the "bottom level" of list scheduling).
 * Started highest first, the longest chain starts as early as it can and short independent tasks
 * fill the other connections around it. Costs are expected seconds (the last run's timings); a
 * task without a cost counts `defaultCost`. The result does not depend on the tasks' order.
 */
export function criticalPathFirst<T>(tasks: readonly ScheduledTask<T>[], defaultCost = 1): ScheduledTask<T>[] {
  const waiting = new Map<string, string[]>();
  for (const t of tasks) for (const d of t.dependsOn ?? []) waiting.set(d, [...(waiting.get(d) ?? []), t.id]);
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const level = new Map<string, number>();
  const visiting = new Set<string>();
  const levelOf = (id: string): number => {
    const known = level.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) return 0; // a cycle: runScheduled reports it
    visiting.add(id);
    const after = Math.max(0, ...(waiting.get(id) ?? []).map(levelOf));
    visiting.delete(id);
    const value = (byId.get(id)?.cost ?? defaultCost) + after;
    level.set(id, value);
    return value;
  };
  return tasks.map((t) => ({ ...t, priority: levelOf(t.id) }));
}

/** The server process of a connection (pg sets it from BackendKeyData; its types omit it). */
function backendPid(client: Client): number | undefined {
  return (client as unknown as { processID?: number }).processID;
}
