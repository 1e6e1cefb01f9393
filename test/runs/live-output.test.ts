import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolvePipelineConfig } from '../../src/config.ts';
import { openExportsDir } from '../../src/export/index.ts';
import { createLogger } from '../../src/runs/logger.ts';
import { formatTable, graphOrder, modelsSummary, rowsText, stageOutput } from '../../src/runs/output.ts';
import { fakeTty } from '../support/tty.ts';

const plain = (s: string) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

describe('the live region on a terminal', () => {
  it('shows every running task with its elapsed time, and the printed lines above it', () => {
    const out = fakeTty();
    const logger = createLogger({ format: 'pretty', quiet: false, out, err: out, env: {} });
    logger.progress('model:a', '  building silver.a (table)');
    logger.progress('model:b', '  building silver.b (view)');
    const drawn = plain(out.text());
    expect(drawn).toMatch(/building silver\.a \(table\)\s+0\.\d s/);
    expect(drawn).toMatch(/building silver\.b \(view\)\s+0\.\d s/);
    logger.event('x', {}, 'a printed line');
    logger.progressDone('model:a');
    logger.final('medallion: run 1 succeeded in 1.0 s');
    const text = out.text();
    // The last drawing after the printed line holds b alone; the final line ends it all.
    const afterPrint = plain(text.slice(text.lastIndexOf('a printed line')));
    expect(afterPrint).toContain('building silver.b');
    expect(plain(text).trimEnd().endsWith('medallion: run 1 succeeded in 1.0 s')).toBe(true);
    expect(text).toContain('\x1b[32m'); // green final line: colour on a terminal
  });

  it('keeps lines within the terminal width and says how many more when they do not fit', () => {
    const out = fakeTty(40, 5);
    const logger = createLogger({ format: 'pretty', quiet: false, out, err: out, env: {} });
    for (let i = 0; i < 6; i++) logger.progress(`t${i}`, `  testing a_rather_long_test_name_number_${i}`);
    const last = plain(out.text().slice(out.text().lastIndexOf('\x1b[J') + 3));
    for (const line of last.split('\n')) expect(line.length).toBeLessThanOrEqual(39);
    expect(last).toContain('… and 4 more');
    logger.progressDone();
  });

  it('has no colour with NO_COLOR, and no live lines nor escapes off a terminal or in JSON', () => {
    const tty = fakeTty();
    const noColor = createLogger({ format: 'pretty', quiet: false, out: tty, err: tty, env: { NO_COLOR: '1' } });
    noColor.progress('k', 'working');
    noColor.final('done', {}, true);
    expect(tty.text()).not.toMatch(/\x1b\[\d+m/);

    const pipe = fakeTty();
    pipe.isTTY = false;
    const off = createLogger({ format: 'pretty', quiet: false, out: pipe, err: pipe, env: {} });
    off.progress('k', 'working');
    off.event('e', { n: 1 }, 'line');
    off.final('done');
    expect(pipe.text()).toBe('line\ndone\n');

    const jsonOut = fakeTty();
    const json = createLogger({ format: 'json', quiet: false, out: jsonOut, err: jsonOut, env: {} });
    json.bind({ run_id: 3, target: 'x' });
    json.progress('k', 'working');
    json.event('model_built', { model: 'silver.a', rows: 1, seconds: 0.1 });
    json.final('done', { status: 'success', exit_code: 0 });
    const lines = jsonOut.text().trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.event)).toEqual(['model_built', 'run_finished']);
    expect(lines[0]).toMatchObject({ level: 'info', run_id: 3, target: 'x', model: 'silver.a', rows: 1, seconds: 0.1 });
  });
});

describe('the live export line', () => {
  it('shows the table at once, then its rows and MB/s as the samples come, and goes before the table\'s line', () => {
    const out = fakeTty();
    const output = stageOutput(createLogger({ format: 'pretty', quiet: false, out, err: out, env: {} }));
    expect(output.live).toBe(true);
    output.exportProgress({ table: 'fact_sales', rows: 0, bytes: 0, seconds: 0 });
    expect(plain(out.text())).toMatch(/ {2}exporting fact_sales\s+0\.\d s$/);
    output.exportProgress({ table: 'fact_sales', rows: 250_000, bytes: 75_000_000, seconds: 1.5 });
    // An update shows at the next redraw; a printed line redraws at once.
    output.exportSource('gold', { runId: 1, asOf: null, inputs: 6 }, '/tmp/x');
    const drawn = plain(out.text().slice(out.text().lastIndexOf('exporting gold')));
    expect(drawn).toMatch(/exporting fact_sales: 250,000 rows, 75\.0 MB of CSV, 50\.0 MB\/s\s+\d\.\d s$/);
    output.exportTable({ table: 'fact_sales', rows: 250_000, files: [{ bytes: 5e6 }] } as never, 1.6);
    const after = plain(out.text().slice(out.text().lastIndexOf('exported fact_sales')));
    expect(after).not.toContain('exporting');
  });

  it('uses the usual width on a terminal that reports no size (0 × 0)', () => {
    const out = fakeTty(0, 0);
    const output = stageOutput(createLogger({ format: 'pretty', quiet: false, out, err: out, env: {} }));
    output.exportProgress({ table: 'fact_sales', rows: 46_588, bytes: 13_500_000, seconds: 0.25 });
    expect(plain(out.text())).toContain('exporting fact_sales: 46,588 rows, 13.5 MB of CSV, 54.0 MB/s');
    output.exportTable({ table: 'fact_sales', rows: 1, files: [] } as never, 0.3);
  });

  it('is not drawn off a terminal, in JSON or with --quiet', () => {
    for (const [format, quiet, isTTY] of [['pretty', false, false], ['json', false, true], ['pretty', true, true]] as const) {
      const out = fakeTty();
      out.isTTY = isTTY;
      const output = stageOutput(createLogger({ format, quiet, out, err: out, env: {} }));
      expect(output.live).toBe(false);
      output.exportProgress({ table: 'fact_sales', rows: 10, bytes: 1000, seconds: 0.1 });
      expect(out.text()).toBe('');
    }
  });
});

describe('the summary tables', () => {
  const records = [
    { model: 'gold.fact', depends_on: ['silver.b', 'silver.a'] },
    { model: 'silver.b', depends_on: ['silver.a'] },
    { model: 'silver.v', depends_on: [] },
    { model: 'silver.a', depends_on: [] },
  ];
  it('orders models by the graph, whatever order they finished in', () => {
    expect([...graphOrder(records).keys()]).toEqual(['silver.a', 'silver.b', 'gold.fact', 'silver.v']);
  });

  it('writes counts one way, right-aligned, with no row count for a view', () => {
    const built = {
      models: [
        { model: 'gold.fact', materialized: 'table', rows: 18494, seconds: 1.5 },
        { model: 'silver.v', materialized: 'view', rows: null, seconds: 0 },
        { model: 'silver.b', materialized: 'table', rows: 1, seconds: 0.25 },
        { model: 'silver.a', materialized: 'table', rows: 1234567, seconds: 12 },
      ],
    } as never;
    const tests = { counts: { pass: 1200 }, results: [] } as never;
    const text = modelsSummary(built, { counts: [], quarantined: 0 } as never, tests, records as never);
    const lines = text.split('\n');
    const table = lines.slice(lines.indexOf('silver + gold') + 1, lines.indexOf('silver + gold') + 7);
    expect(table.slice(2).map((l) => l.split(/\s+/)[0])).toEqual(['silver.a', 'silver.b', 'gold.fact', 'silver.v']);
    expect(table[2]).toMatch(/silver\.a\s+table\s+1,234,567\s+12\.00$/);
    expect(table[4]).toMatch(/gold\.fact\s+table\s+18,494\s+1\.50$/);
    expect(table[5]).toMatch(/silver\.v\s+view\s+0\.00$/);
    // Right-aligned: every row ends in the same column.
    expect(new Set(table.slice(2).map((l) => l.length)).size).toBe(1);
    expect(text).toContain('tests: 1,200 passed, 0 warned, 0 failed');
  });

  it('says 1 row and 2 rows, and aligns numbers written as text', () => {
    expect(rowsText(1)).toBe('1 row');
    expect(rowsText(18494)).toBe('18,494 rows');
    expect(formatTable(['a', 'MB'], [['x', '0.03'], ['y', '12.50']])).toBe('a     MB\n-  -----\nx   0.03\ny  12.50');
  });
});

describe('each target its own folders', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('defaults to exports/ and reports/ for the default target, exports/<t>/ and reports/<t>/ for a named one', () => {
    const d = resolvePipelineConfig({}, {}, '/p', false);
    const ci = resolvePipelineConfig({ target: 'ci' }, {}, '/p', false);
    expect([d.exportsDir, d.reportsDir, d.projectDir]).toEqual(['/p/exports', '/p/reports', '/p']);
    expect([ci.exportsDir, ci.reportsDir, ci.projectDir]).toEqual(['/p/exports/ci', '/p/reports/ci', '/p']);
    expect(resolvePipelineConfig({ target: 'ci', out: 'elsewhere' }, {}, '/p', false).exportsDir).toBe('/p/elsewhere');
  });

  it("accepts a named target's exports folder inside the default's, in either order, and nothing else", async () => {
    for (const order of [['ci', ''], ['', 'ci']]) {
      const root = await mkdtemp(path.join(os.tmpdir(), 'medallion-targets-'));
      dirs.push(root);
      await writeFile(path.join(root, '.gitkeep'), '');
      for (const t of order) await openExportsDir(path.join(root, t), ['_manifest.json', 'fact_sales']);
      for (const t of order) await openExportsDir(path.join(root, t), ['_manifest.json', 'fact_sales']);
      expect((await readdir(root)).sort()).toEqual(['.gitkeep', '.medallion', 'ci']);
    }
    const root = await mkdtemp(path.join(os.tmpdir(), 'medallion-targets-'));
    dirs.push(root);
    await mkdir(path.join(root, 'notes'));
    await expect(openExportsDir(root)).rejects.toThrow(/files that medallion did not write \(notes\)/);
    // A target named like the folder the default target links: each refuses the other's.
    const both = await mkdtemp(path.join(os.tmpdir(), 'medallion-targets-'));
    dirs.push(both);
    await openExportsDir(path.join(both, 'fact_sales'));
    await expect(openExportsDir(both, ['_manifest.json', 'fact_sales'])).rejects.toThrow(/exports folder of the target named 'fact_sales'/);
  });
});
