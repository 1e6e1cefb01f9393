/**
 * examples/train_next_spend.py on a small built export: the roles of
 * sql/gold/customer_training_set.yml reach the manifest, the script takes the `feature` columns from
 * them, splits on the latest cutoff and prints its two metrics in its format; an exports folder
 * without the training set's folder or one without the labels exits 1 with the reason. Runs in the project's .venv (as
 * consumers.test.ts): skipped without it on a developer machine, FAILS in CI (CI=true).
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportGold, type Manifest } from '../../src/export/index.ts';
import { generate } from '../../src/generate/index.ts';
import { columnDocsOf, loadProject } from '../../src/transform/index.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, testConnection, uniqueTarget } from '../support/database.ts';
import { PYTHON, run, venvMissing } from './python.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const EXAMPLE = path.join(ROOT, 'examples/train_next_spend.py');
const target = uniqueTarget('train_example');
const inCi = process.env.CI === 'true';

const missing = await venvMissing(['pandas', 'pyarrow', 'sklearn']);

/** The example's exit code and output, whether it succeeds or not. */
async function example(exportsDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(PYTHON, [EXAMPLE, exportsDir]).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
  );
}

describe('examples/train_next_spend.py', () => {
  it.runIf(inCi && missing)('has the Python venv in CI', () => {
    expect.fail(`CI=true but ${missing}; npm run pretest creates or updates it (.venv/bin/pip install -r test/consumers/requirements.txt)`);
  });

  describe.skipIf(missing)('with .venv, on a built export', () => {
    let work: string;
    let exportsDir: string;

    beforeAll(async () => {
      work = await mkdtemp(path.join(os.tmpdir(), 'medallion-train-example-'));
      exportsDir = path.join(work, 'exports');
      await cp(path.join(ROOT, 'sql'), path.join(work, 'sql'), { recursive: true });
      await generate({ scale: 0.05, seed: 9, outDir: path.join(work, 'seeds'), clean: true });
      const built = await runCli(['build', '--seeds', path.join(work, 'seeds'), '--target', target, '--out', exportsDir, '--as-of', '2014-01-29'], { cwd: work });
      expect(built.code, built.stderr).toBe(0);
    });

    afterAll(async () => {
      await dropTarget(target);
      if (work) await rm(work, { recursive: true, force: true });
    });

    it("exports every column with its .yml role and prints the split and both metrics from the file's feature columns", async () => {
      const manifest = JSON.parse(await readFile(path.join(exportsDir, '_manifest.json'), 'utf8')) as Manifest;
      const table = manifest.tables.customer_training_set!;
      const yml = columnDocsOf(await loadProject({ sqlDir: path.join(work, 'sql') }), 'gold').customer_training_set!;
      expect(table.columns.map((c) => [c.name, c.role, c.description])).toEqual(Object.values(yml).map((c) => [c.name, c.role, c.description]));
      const features = table.columns.filter((c) => c.role === 'feature').length;
      const [{ n, cutoffs, last }] = (await query<{ n: number; cutoffs: number; last: string }>(
        `select count(*)::int as n, count(distinct cutoff_date)::int as cutoffs, max(cutoff_date)::text as last from ${target}_gold.customer_training_set`,
      )) as [{ n: number; cutoffs: number; last: string }];
      const [{ validate }] = (await query<{ validate: number }>(`select count(*)::int as validate from ${target}_gold.customer_training_set where cutoff_date = $1::date`, [last])) as [{ validate: number }];

      const r = await example(exportsDir);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines).toHaveLength(4);
      const count = (x: number) => x.toLocaleString('en-US');
      expect(lines[0]).toMatch(new RegExp(`^customer_training_set: ${count(n)} rows, ${features} features \\(role feature\\), ${cutoffs} cutoffs \\d{4}-\\d\\d-01\\.\\.${last}$`));
      expect(lines[1]).toBe(`time split: train ${count(n - validate)} rows (${cutoffs - 1} cutoffs before ${last}), validate ${count(validate)} rows (cutoff ${last})`);
      expect(lines[2]).toMatch(/^next_spend: RMSE \d+\.\d\d, predict the training mean \(\d+\.\d\d\) \d+\.\d\d: -?\d+\.\d% lower; MAE \d+\.\d\d, the mean \d+\.\d\d, the training median \(\d+\.\d\d\) \d+\.\d\d$/);
      const auc = /^ordered_again: ROC AUC (\d\.\d{3}) \(base rate (0\.\d{3}); 0\.5 = chance\)$/.exec(lines[3]!);
      expect(auc, lines[3]).not.toBeNull();
      expect(Number(auc![1])).toBeGreaterThan(0);
      expect(Number(auc![1])).toBeLessThanOrEqual(1);
    });

    it('exits 1 naming the missing file, or the missing labels', async () => {
      const none = await example(path.join(work, 'no-such-exports'));
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/^train_next_spend: .*no-such-exports\/customer_training_set does not exist/);

      // The same table without its labels, exported with the .yml's roles.
      const scratch = `${target}_nolabels`;
      await query(`create schema ${scratch}`);
      await query(`create view ${scratch}.customer_training_set as select customer_id, cutoff_date, recency_days, frequency, next_orders from ${target}_gold.customer_training_set`);
      const out = path.join(work, 'no-labels');
      await exportGold({
        connection: testConnection(), schemas: { gold: scratch }, exportsDir: out, runId: 1, asOf: '2014-01-29', inputFiles: [],
        rowGroupSize: 131072, compression: 'zstd', tables: ['customer_training_set'],
        columnDocs: columnDocsOf(await loadProject({ sqlDir: path.join(work, 'sql') }), 'gold'),
      });
      const unlabelled = await example(out);
      expect(unlabelled.code).toBe(1);
      expect(unlabelled.stderr).toMatch(/customer_training_set lacks the column\(s\) next_spend, ordered_again\n$/);
      expect(unlabelled.stdout).toBe('');
    });
  });
});
