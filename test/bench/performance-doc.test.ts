/**
 * `npm run perf-doc` (bench/performance-doc.ts), run as the script on bench results written here:
 * the newest result of each scale is copied into the data folder, and the doc has one table per
 * scale with ours, the baseline, the ratio, the target and the peak RSS, the command and the machine.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchResult, BenchStage } from '../../bench/performance-doc.ts';

const run = promisify(execFile);
const SCRIPT = path.resolve(import.meta.dirname, '../../bench/performance-doc.ts');

function stage(name: string, baseline: string, ours: number, base: number | null, peakRssMb?: number): BenchStage {
  return {
    stage: name,
    baseline,
    ours: [ours],
    base: base === null ? [] : [base],
    rows: 1000,
    bytes: 0,
    peakRssMb,
    oursMedian: ours,
    baseMedian: base,
    ratio: base === null ? null : ours / base,
  };
}

const NEXT_DAY_NOTE = 'run 2: loaded 4 files, kept 2 (prd_info, px_cat_g1v2); changes: sales_details +7 ~0 -0; export: 41 files, 37 of them linked unchanged';

function result(scale: number, finishedAt: string, bronzeSeconds: number, partial = false): BenchResult {
  return {
    scale,
    seed: 42,
    repeat: 1,
    command: `npm run bench -- --scale ${scale} --repeat 1${partial ? ' --stages daily' : ''}`,
    partial,
    startedAt: finishedAt,
    finishedAt,
    loadAverageAtStart: 0.5,
    cli: 'dist',
    cpus: 2,
    cpu: 'Test CPU',
    memoryBytes: 24 * 2 ** 30,
    os: 'Linux 6.1',
    node: 'v20.1.0',
    postgres: '15.20',
    sharedBuffers: '128MB',
    results: [
      stage('bronze load', 'psql \\copy', bronzeSeconds, 1.2, 140.4),
      stage('  same, baseline 2 psql at once', '2 × psql \\copy', bronzeSeconds, 0.75),
      stage('silver+gold', 'sorted copy of sales', 20, 2),
      stage('  of which models+tests', 'sorted copy of sales', 18, 2),
      stage('  floor skeleton', 'sorted copy of sales', 8, 2),
      stage('  silver+gold', 'floor skeleton', 20, 8),
      stage('export fact_sales', 'psql \\copy to csv', 3, 2, 300),
      stage('export fact_sales', 'psql csv + DuckDB parquet', 3, 4, 300),
      stage('export all gold tables', '(wall time)', 4, null, 310.2),
      stage('medallion build', '(wall time)', 30, null, 420),
      stage('full build (day 0)', '(wall time)', 30, null, 380),
      { ...stage("next day's build", 'full build (day 0)', 6, 30, 250), note: NEXT_DAY_NOTE },
      stage('  same day again (no-op)', 'full build (day 0)', 0.6, 30, 150),
    ],
  };
}

let dir: string;
const results = () => path.join(dir, 'results');
const data = () => path.join(dir, 'data');
const doc = () => path.join(dir, 'performance.md');
const perfDoc = (...extra: string[]) => run('node', ['--import', 'tsx', SCRIPT, '--results', results(), '--data', data(), '--out', doc(), ...extra]);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'medallion-perf-doc-'));
  await mkdir(results());
  // Two results of scale 1: only the newer (bronze 1.50 s) may reach the doc.
  await writeFile(path.join(results(), '2026-12-01-1.json'), JSON.stringify(result(1, '2026-12-01T10:00:00.000Z', 9.99)));
  await writeFile(path.join(results(), '2026-12-05-1.json'), JSON.stringify(result(1, '2026-12-05T10:00:00.000Z', 1.5)));
  await writeFile(path.join(results(), '2026-12-05-10.json'), JSON.stringify(result(10, '2026-12-05T11:00:00.000Z', 12)));
  // A later run of some stages only (--stages daily) must not replace the complete one.
  await writeFile(path.join(results(), '2026-12-05-10-daily.json'), JSON.stringify(result(10, '2026-12-05T12:00:00.000Z', 7.77, true)));
  await perfDoc();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('npm run perf-doc', () => {
  it('copies the newest result of each scale into the tracked data folder', async () => {
    expect((await readdir(data())).sort()).toEqual(['scale-1.json', 'scale-10.json']);
    const scale1 = JSON.parse(await readFile(path.join(data(), 'scale-1.json'), 'utf8')) as BenchResult;
    expect(scale1.finishedAt).toBe('2026-12-05T10:00:00.000Z');
  });

  it('leaves out a newer run of some stages only', async () => {
    const scale10 = JSON.parse(await readFile(path.join(data(), 'scale-10.json'), 'utf8')) as BenchResult;
    expect(scale10.finishedAt).toBe('2026-12-05T11:00:00.000Z');
    expect(await readFile(doc(), 'utf8')).not.toContain('7.77');
  });

  it("judges the next day's build by its ratio to the full build and its peak, and says what it did", async () => {
    const text = await readFile(doc(), 'utf8');
    const scale1 = text.slice(text.indexOf('## Scale 1\n'), text.indexOf('## Scale 10\n'));
    const rows = scale1.split('\n').filter((l) => l.startsWith('|'));
    expect(rows).toContain('| full build (day 0) | 30.00 s | (wall time) |  |  | peak < 400 MB | met | 380 MB |');
    expect(rows).toContain("| next day's build | 6.00 s | full build (day 0) | 30.00 s | 0.20 | ratio ≤ 0.10 (goal 0.05), peak < 400 MB | **missed** | 250 MB |");
    expect(rows).toContain('| &nbsp;&nbsp;same day again (no-op) | 0.60 s | full build (day 0) | 30.00 s | 0.02 |  |  | 150 MB |');
    expect(scale1).toContain(`\n- next day's build: ${NEXT_DAY_NOTE}\n`);
    expect(text).toContain("- next day's build against full build (day 0): ratio ≤ 0.10 (goal 0.05), peak RSS < 400 MB\n");
  });

  it('writes one table per scale: ours, the baseline, the ratio, the target and the peak RSS', async () => {
    const text = await readFile(doc(), 'utf8');
    const scale1 = text.slice(text.indexOf('## Scale 1\n'), text.indexOf('## Scale 10\n'));
    expect(text.indexOf('## Scale 1\n')).toBeLessThan(text.indexOf('## Scale 10\n'));
    const rows = scale1.split('\n').filter((l) => l.startsWith('|'));
    expect(rows[0]).toBe('| stage | ours | baseline | baseline time | ratio | target | status | peak RSS |');
    expect(rows).toContain('| bronze load | 1.50 s | psql \\copy | 1.20 s | 1.25 | ratio ≤ 1.00 | **missed** | 140 MB |');
    expect(rows).toContain('| &nbsp;&nbsp;same, baseline 2 psql at once | 1.50 s | 2 × psql \\copy | 0.75 s | 2.00 |  |  |  |');
    expect(rows).toContain('| silver+gold | 20.00 s | sorted copy of sales | 2.00 s | 10.00 |  |  |  |');
    expect(rows).toContain('| &nbsp;&nbsp;silver+gold | 20.00 s | floor skeleton | 8.00 s | 2.50 | ratio ≤ 2.50 | met |  |');
    expect(rows).toContain('| export fact_sales | 3.00 s | psql \\copy to csv | 2.00 s | 1.50 |  |  | 300 MB |');
    expect(rows).toContain('| export fact_sales | 3.00 s | psql csv + DuckDB parquet | 4.00 s | 0.75 | ratio ≤ 1.00 | met | 300 MB |');
    expect(rows).toContain('| export all gold tables | 4.00 s | (wall time) |  |  | peak < 400 MB | met | 310 MB |');
    expect(rows).toContain('| medallion build | 30.00 s | (wall time) |  |  | peak < 400 MB | **missed** | 420 MB |');
    expect(text).not.toContain('9.99');
    expect(text).toContain('- export fact_sales against psql csv + DuckDB parquet: ratio ≤ 1.00\n');
    expect(scale1).toContain('- Command: `npm run bench -- --scale 1 --repeat 1` (seed 42, 1 run of each stage, finished 2026-12-05 10:00 UTC)');
    expect(scale1).toContain('- Machine: 2 cores (Test CPU), 24.0 GiB memory, Linux 6.1, Node v20.1.0, PostgreSQL 15.20 (shared_buffers 128MB), load average 0.50 at the start, medallion ran dist');
  });

  it('--check passes on the doc it wrote and fails once the doc and the data differ', async () => {
    await expect(perfDoc('--check')).resolves.toBeDefined();
    const text = await readFile(doc(), 'utf8');
    await writeFile(doc(), text.replace('| 1.25 |', '| 1.00 |'));
    await expect(perfDoc('--check')).rejects.toMatchObject({ code: 1 });
    await writeFile(doc(), text);
  });

  it('keeps the tracked result when the results folder only has an older one', async () => {
    await rm(path.join(results(), '2026-12-05-1.json'));
    await perfDoc();
    const scale1 = JSON.parse(await readFile(path.join(data(), 'scale-1.json'), 'utf8')) as BenchResult;
    expect(scale1.finishedAt).toBe('2026-12-05T10:00:00.000Z');
    expect(await readFile(doc(), 'utf8')).not.toContain('9.99');
  });
});
