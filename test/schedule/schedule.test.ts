/**
 * runScheduled (src/schedule/schedule.ts) on real connections: dependencies are respected, independent
 * tasks overlap (one per connection), and the first failure cancels what runs elsewhere and is the
 * error thrown.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '../../src/db/client.ts';
import { criticalPathFirst, runScheduled } from '../../src/schedule/schedule.ts';
import { testClient } from '../support/database.ts';

let clients: Client[];

beforeAll(async () => {
  clients = [await testClient(), await testClient()];
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end()));
});

const pid = (c: Client) => (c as unknown as { processID: number }).processID;

describe('runScheduled', () => {
  it('starts a task only after its dependencies, and runs independent tasks on different connections at once', async () => {
    const log: string[] = [];
    const task = (id: string, seconds: number, dependsOn: string[] = []) => ({
      id,
      dependsOn,
      run: async (c: Client) => {
        log.push(`start ${id}`);
        await c.query('select pg_sleep($1)', [seconds]);
        log.push(`end ${id}`);
        return pid(c);
      },
    });
    const result = await runScheduled([task('a', 0.3), task('b', 0.3), task('c', 0.01, ['a', 'b'])], clients);
    expect(log.slice(0, 2).sort()).toEqual(['start a', 'start b']); // both started before either ended
    expect(log.indexOf('start c')).toBeGreaterThan(Math.max(log.indexOf('end a'), log.indexOf('end b')));
    expect(result.get('a')).not.toBe(result.get('b')); // two server processes
  });

  it('prefers the ready task with the higher priority', async () => {
    const order: string[] = [];
    const task = (id: string, priority: number) => ({ id, priority, run: async () => void order.push(id) });
    await runScheduled([task('low', 0), task('high', 5), task('mid', 1)], [clients[0]!]);
    expect(order).toEqual(['high', 'mid', 'low']);
  });

  it('the first failure cancels the statement running on the other connection and is what it throws', async () => {
    const started = performance.now();
    let otherError: unknown;
    const error = await runScheduled(
      [
        {
          id: 'slow',
          run: async (c: Client) => {
            try {
              await c.query('select pg_sleep(30)');
            } catch (err) {
              otherError = err;
              throw err;
            }
          },
        },
        { id: 'failing', run: async (c: Client) => void (await c.query('select 1 / 0')) },
        { id: 'never', dependsOn: ['failing'], run: async () => void 0 },
      ],
      clients,
    ).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect((error as { code?: string }).code).toBe('22012'); // division_by_zero, not the cancel
    expect((otherError as { code?: string }).code).toBe('57014'); // query_canceled
    expect((performance.now() - started) / 1000).toBeLessThan(30); // cancelled, not slept out
    // both connections are usable again
    for (const c of clients) expect((await c.query('select 1 as one')).rows[0].one).toBe(1);
  });

  it('rejects unknown dependencies and stops on an aborted signal', async () => {
    await expect(runScheduled([{ id: 'a', dependsOn: ['b'], run: async () => 1 }], clients)).rejects.toThrow(/unknown task b/);
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(runScheduled([{ id: 'a', run: async () => 1 }], clients, { signal: controller.signal })).rejects.toThrow('stop');
  });

  it('criticalPathFirst: ranks a task by its cost plus the longest chain of costs waiting for it', async () => {
    const none = async () => undefined;
    const tasks = [
      { id: 'short', cost: 5, run: none },
      { id: 'head', cost: 1, run: none },
      { id: 'tail', cost: 10, dependsOn: ['head'], run: none },
      { id: 'side', cost: 2, dependsOn: ['head'], run: none },
      { id: 'unknown', dependsOn: ['short'], run: none }, // no cost: counts the default, 1
    ];
    const ranked = new Map(criticalPathFirst(tasks).map((t) => [t.id, t.priority]));
    expect(Object.fromEntries(ranked)).toEqual({ short: 6, head: 11, tail: 10, side: 2, unknown: 1 });
    // the same ranks whatever the order of the list
    expect(new Map(criticalPathFirst([...tasks].reverse()).map((t) => [t.id, t.priority]))).toEqual(ranked);
    // on one connection: the head of the long chain before the short task that was listed first
    const order: string[] = [];
    const logged = tasks.map((t) => ({ ...t, run: async () => void order.push(t.id) }));
    await runScheduled(criticalPathFirst(logged), [clients[0]!]);
    expect(order).toEqual(['head', 'tail', 'short', 'side', 'unknown']);
  });
});
