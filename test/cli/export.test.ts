/**
 * `medallion export`: the manifest names the run whose gold it read (its as_of and input files),
 * never a later load's, and the output folder is checked before anything runs.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/generate/index.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, uniqueTarget } from '../support/database.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const target = uniqueTarget('cli_export');
let work: string;

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

async function manifest(out: string): Promise<{ run_id: number; as_of: string; inputs: { file: string; sha256: string }[] }> {
  return JSON.parse(await readFile(path.join(out, '_manifest.json'), 'utf8'));
}

const runs = async () => (await query<{ n: number }>(`select count(*)::int as n from ${target}_etl.runs`))[0]!.n;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'medallion-cli-export-'));
  await cp(path.join(ROOT, 'sql'), path.join(work, 'sql'), { recursive: true });
  await generate({ scale: 0.02, seed: 11, outDir: path.join(work, 'seeds-a') });
  await generate({ scale: 0.02, seed: 12, outDir: path.join(work, 'seeds-b') });
});

afterAll(async () => {
  await dropTarget(target);
  await rm(work, { recursive: true, force: true });
});

describe('medallion export', () => {
  it('names the inputs of the run whose gold it exports, not those of a later load', async () => {
    const built = await runCli(['build', '--seeds', path.join(work, 'seeds-a'), '--target', target, '--out', path.join(work, 'out-build'), '--as-of', '2014-01-29'], { cwd: work });
    expect(built.code, built.stderr).toBe(0);
    const loaded = await runCli(['load', '--seeds', path.join(work, 'seeds-b'), '--target', target], { cwd: work });
    expect(loaded.code, loaded.stderr).toBe(0);

    const out = path.join(work, 'out-export');
    const exported = await runCli(['export', '--target', target, '--out', out], { cwd: work });
    expect(exported.code, exported.stderr).toBe(0);
    const m = await manifest(out);
    const [first] = await query<{ run_id: number }>(`select min(run_id)::int as run_id from ${target}_etl.runs where command = 'build'`);
    expect(m.run_id).toBe(first!.run_id);
    expect(m.as_of).toBe('2014-01-29');
    const sales = m.inputs.find((i) => i.file.endsWith('sales_details.csv'))!;
    expect(sales.sha256).toBe(await sha256(path.join(work, 'seeds-a', 'sales_details.csv')));
    expect(sales.sha256).not.toBe(await sha256(path.join(work, 'seeds-b', 'sales_details.csv')));

    // Once a transform publishes gold built from the new load, the export names those files.
    const transformed = await runCli(['transform', '--target', target, '--skip-export', '--as-of', '2014-01-29'], { cwd: work });
    expect(transformed.code, transformed.stderr).toBe(0);
    expect((await runCli(['export', '--target', target, '--out', out], { cwd: work })).code).toBe(0);
    const again = await manifest(out);
    expect(again.inputs.find((i) => i.file.endsWith('sales_details.csv'))!.sha256).toBe(await sha256(path.join(work, 'seeds-b', 'sales_details.csv')));
  });

  it('refuses an output folder that holds the user\'s files, or a file, before anything runs (exit 2)', async () => {
    const before = await runs();
    const theirs = path.join(work, 'theirs');
    await mkdir(theirs);
    await writeFile(path.join(theirs, 'report.xlsx'), 'mine');
    for (const command of [['export'], ['build', '--seeds', path.join(work, 'seeds-a')]]) {
      const r = await runCli([...command, '--target', target, '--out', theirs], { cwd: work });
      expect(r.code).toBe(2);
      expect(r.stdout + r.stderr).toMatch(/refusing to write into .*theirs.*report\.xlsx/);
    }
    const file = path.join(work, 'a-file');
    await writeFile(file, 'x');
    const r = await runCli(['build', '--seeds', path.join(work, 'seeds-a'), '--target', target, '--out', file], { cwd: work });
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/not a folder/);
    expect(await readFile(path.join(theirs, 'report.xlsx'), 'utf8')).toBe('mine');
    expect(await readFile(file, 'utf8')).toBe('x');
    expect(await runs()).toBe(before);
  });
});
