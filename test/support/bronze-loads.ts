/**
 * `medallion load` of small sales files into throwaway targets, for the tests of the bronze load
 * paths (append, lineage): each target and file is removed after the test file's tests.
 */
import { afterAll, expect } from 'vitest';
import { runCli } from './cli.ts';
import { dropTarget, uniqueTarget } from './database.ts';
import { type FixtureDir, writeSources } from './source-fixtures.ts';

export interface BronzeLoads {
  /** A new target named from `prefix`, dropped after the file's tests. */
  target(prefix: string): string;
  /** A folder of valid source files with this sales_details content. */
  sales(content: string): Promise<string>;
  /** Loads `dir` into `t`, expects exit `code`, and returns the run's id and its JSON events. */
  load(t: string, dir: string, code?: number): Promise<{ runId: number; events: Record<string, unknown>[] }>;
}

export function useBronzeLoads(): BronzeLoads {
  const targets: string[] = [];
  const fixtures: FixtureDir[] = [];
  afterAll(async () => {
    for (const t of targets) await dropTarget(t);
    for (const f of fixtures) await f.cleanup();
  });
  return {
    target(prefix) {
      const t = uniqueTarget(prefix);
      targets.push(t);
      return t;
    },
    async sales(content) {
      const f = await writeSources({ sales_details: content });
      fixtures.push(f);
      return f.dir;
    },
    async load(t, dir, code = 0) {
      const r = await runCli(['load', '--seeds', dir, '--target', t]);
      expect(r.code, r.stderr + r.stdout).toBe(code);
      const events = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      return { runId: Number(events.find((e) => e.event === 'run_started')!.run_id), events };
    },
  };
}
