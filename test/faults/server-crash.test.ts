/**
 * A real server crash and the unlogged intermediate tables (`config.unlogged`, decision 0023): the
 * project's embedded PostgreSQL (started for this file alone: the machine's shared server is never
 * stopped) is stopped in immediate mode, with no shutdown checkpoint, so its next start runs crash
 * recovery, which resets every unlogged table to empty and keeps every committed logged row. The
 * run that follows finds the emptied tables, rebuilds them and their readers instead of doing
 * nothing, and publishes what a build from scratch publishes; the run after it is a no-op again.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProject } from '../../src/transform/index.ts';
import type { LogEvent } from '../support/child-run.ts';
import { runCli } from '../support/cli.ts';
import { uniqueTarget } from '../support/database.ts';
import { expectSameTargets } from '../support/target-equality.ts';
import { type FaultTarget, faultTarget, useOwnServer } from './harness.ts';

type Decision = { model: string; action: string; reason: string };

const server = useOwnServer('medallion-faults-crash-');
let t: FaultTarget;

const exportsOf = (target: string) => path.join(t.work, 'exports', target);

/** A build of `target` on one fixed as_of (so a second run with nothing changed is a no-op) that must succeed. */
async function build(target: string, extra: string[] = []): Promise<LogEvent[]> {
  const argv = ['build', '--seeds', t.seeds, '--target', target, '--out', exportsOf(target), '--as-of', '2014-01-29', '--log-format', 'json', ...extra];
  const r = await runCli(argv, { cwd: t.work, env: { DATABASE_URL: t.url } });
  expect(r.code, r.stdout.slice(-3000) + r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogEvent);
}

const noOp = (events: LogEvent[]) => events.some((e) => e.event === 'nothing_changed');

/** Rows of each model, `layer.name` → count, in `target`. */
async function rowCounts(target: string, models: string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const model of models) {
    const [layer, name] = model.split('.') as [string, string];
    const [r] = await t.db<{ n: number }>(`select count(*)::int as n from "${target}_${layer}"."${name}"`);
    counts.set(model, r!.n);
  }
  return counts;
}

async function manifestRows(target: string): Promise<Record<string, number>> {
  const m = JSON.parse(await readFile(path.join(exportsOf(target), '_manifest.json'), 'utf8')) as { tables: Record<string, { rows: number }> };
  return Object.fromEntries(Object.entries(m.tables).map(([name, table]) => [name, table.rows]));
}

beforeAll(async () => {
  t = await faultTarget('fcrash', { url: await server.start() });
  await build(t.target);
});

afterAll(async () => {
  await t?.dispose();
});

describe('a server crash', () => {
  it('empties the unlogged tables; the next run rebuilds them and their readers, equals a build from scratch; the run after it is a no-op', async () => {
    expect(noOp(await build(t.target)), 'the run before the crash').toBe(true);
    const unlogged = (await loadProject({ sqlDir: path.join(t.work, 'sql') })).models.filter((m) => m.unlogged).map((m) => m.name);
    expect(unlogged.length).toBeGreaterThan(0);
    const held = await rowCounts(t.target, unlogged);
    const emptied = unlogged.filter((m) => held.get(m)! > 0).sort();
    expect(emptied.length).toBeGreaterThan(0);
    const before = await t.state();
    const exportedRows = await manifestRows(t.target);

    expect(await server.stop('immediate')).toMatchObject({ stopped: true });
    t.url = await server.start();

    // the crash happened: crash recovery emptied every unlogged table and kept the committed logged rows
    expect(Object.fromEntries(await rowCounts(t.target, unlogged))).toEqual(Object.fromEntries(unlogged.map((m) => [m, 0])));
    expect((await t.state()).gold).toEqual(before.gold);

    const events = await build(t.target);
    expect(noOp(events), 'the run after the crash').toBe(false);
    expect(events.filter((e) => e.event === 'unlogged_emptied').map((e) => e.model).sort()).toEqual(emptied);
    const [run] = await t.db<{ plan: Decision[] }>(`select summary -> 'model_plan' as plan from "${t.target}_etl".runs where published_at is not null order by run_id desc limit 1`);
    for (const model of emptied) {
      expect(run!.plan.find((d) => d.model === model), model).toEqual({ model, action: 'build', reason: `${model} was emptied by a server crash (unlogged)` });
    }
    // nothing else changed: every other model built is a reader of an emptied one, and says so
    const readers = run!.plan.filter((d) => d.action === 'build' && !emptied.includes(d.model));
    expect(readers.filter((d) => d.model.startsWith('gold.')).length).toBeGreaterThan(0);
    for (const d of readers) {
      const cause = /which is built whole: (\S+) was emptied by a server crash \(unlogged\)$/.exec(d.reason)?.[1];
      expect(emptied, `${d.model}: ${d.reason}`).toContain(cause);
    }
    expect(Object.fromEntries(await rowCounts(t.target, unlogged))).toEqual(Object.fromEntries(held));
    expect(await manifestRows(t.target)).toEqual(exportedRows);
    expect((await t.state()).gold).toEqual(before.gold);

    // the truth lives on the embedded server too, removed with it
    const truth = uniqueTarget('fcrash_full');
    await build(truth, ['--full-refresh']);
    await expectSameTargets({ target: t.target, exportsDir: exportsOf(t.target) }, { target: truth, exportsDir: exportsOf(truth) }, 'after the crash', t.db);

    expect(noOp(await build(t.target)), 'the run after the rebuild').toBe(true);
  });
});
