import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectRunReport } from '../../src/report/collect.ts';
import { buildFlowGraph } from '../../src/report/flow.ts';
import { renderRunReportHtml } from '../../src/report/html.ts';
import schema from '../../src/report/run-report.schema.json' with { type: 'json' };
import { RUN_REPORT_SCHEMA_VERSION } from '../../src/report/types.ts';
import { writeRunReport } from '../../src/report/write.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, schemaNames, TEST_DATABASE_URL, testClient, uniqueTarget } from '../support/database.ts';
import { openPage, skipBrowserTests } from './browser.ts';
import { type LedgerFixture, writeLedgerFixture } from './ledger-fixture.ts';

const target = uniqueTarget('report');
const schemas = schemaNames(target);
let client: pg.Client;
let fixture: LedgerFixture;
let dir: string;

const ajv = new Ajv({ allErrors: true, strict: true });
const validate = ajv.compile(schema);

beforeAll(async () => {
  client = await testClient();
  fixture = await writeLedgerFixture(client, schemas, target);
  dir = await mkdtemp(path.join(tmpdir(), 'medallion-report-'));
});

afterAll(async () => {
  await client?.end();
  await dropTarget(target);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('run report JSON', () => {
  it('writes run-<id>.json and latest.json that validate against the schema', async () => {
    const reportsDir = path.join(dir, 'reports');
    const written = await writeRunReport({ client, schemas, runId: fixture.runs.latest, reportsDir });
    expect(written.json).toBe(path.join(reportsDir, `run-${fixture.runs.latest}.json`));
    expect(written.latest).toBe(path.join(reportsDir, 'latest.json'));
    const json = JSON.parse(await readFile(written.json, 'utf8'));
    expect(validate(json), ajv.errorsText(validate.errors)).toBe(true);
    expect(await readFile(written.latest!, 'utf8')).toBe(await readFile(written.json, 'utf8'));

    expect(json.schema_version).toBe(RUN_REPORT_SCHEMA_VERSION);
    expect(json.run).toMatchObject({ run_id: fixture.runs.latest, status: 'success', target, as_of: '2014-01-29', exit_code: 0 });
    expect(json.sources).toHaveLength(6);
    expect(json.rejects.total).toBe(3);
    expect(json.rejects.by_source).toContainEqual({ source: 'sales_details', reason: 'field_count', rows: 1 });
    expect(json.quarantine.total).toBe(7);
    expect(json.quarantine.by_rule).toContainEqual({ model: 'silver.sales_clean', rule: 'sales_key_missing', rows: 3 });
    expect(json.tests.counts).toEqual({ pass: 3, warn: 1, fail: 1, error: 0, total: 5 });
    expect(json.tests.results[0]).toMatchObject({ status: 'fail', failing_rows: 1, sample: [{ gender: 'F ', customer_id: 11000 }] });
    expect(json.models.find((m: { model: string }) => m.model === 'gold.fact_sales')).toMatchObject({ status: 'success', rows: 60_390 });
    expect(json.exports.map((x: { table: string }) => x.table)).toEqual(['fact_sales', 'customer_features', 'sales_daily']);
    expect(json.history.map((h: { run_id: number }) => h.run_id)).toEqual([fixture.runs.good, fixture.runs.failed, fixture.runs.latest]);
  });

  it('reports a failed run too, and leaves latest.json to the newest run', async () => {
    const reportsDir = path.join(dir, 'reports');
    const written = await writeRunReport({ client, schemas, runId: fixture.runs.failed, reportsDir });
    expect(written.latest).toBeNull();
    const json = JSON.parse(await readFile(written.json, 'utf8'));
    expect(validate(json), ajv.errorsText(validate.errors)).toBe(true);
    expect(json.run).toMatchObject({ status: 'failed', exit_code: 1, error_code: 'BRONZE_HEADER_MISMATCH' });
    expect(json.stages).toEqual([{ stage: 'bronze', status: 'failed', seconds: 1.1, rows: null }]);
    expect(json.models).toEqual([]);
    expect(json.exports).toEqual([]);
    expect(JSON.parse(await readFile(path.join(reportsDir, 'latest.json'), 'utf8')).run.run_id).toBe(fixture.runs.latest);
  });

  it('the schema rejects a report that breaks it', async () => {
    const report = await collectRunReport({ client, schemas, runId: fixture.runs.latest });
    expect(validate(report)).toBe(true);
    expect(validate({ ...report, schema_version: '0.9' })).toBe(false);
    expect(validate({ ...report, run: { ...report.run, status: 'ok' } })).toBe(false);
    const { history: _dropped, ...withoutHistory } = report;
    expect(validate(withoutHistory)).toBe(false);
  });
});

describe('row flow', () => {
  it('draws files, bronze, models and exports, with the rows that leave where they leave', async () => {
    const report = await collectRunReport({ client, schemas, runId: fixture.runs.latest });
    const graph = buildFlowGraph(report);
    const ids = graph.nodes.map((n) => n.id);
    expect(ids).toEqual(expect.arrayContaining(['file:sales_details', 'bronze.sales_details', 'silver.sales_clean', 'gold.fact_sales', 'export:fact_sales']));
    expect(ids).not.toContain('silver.customers_quarantine');
    const node = (id: string) => graph.nodes.find((n) => n.id === id)!;
    expect(node('file:sales_details').exits).toEqual([{ kind: 'rejected', rows: 2, detail: ['field_count: 1', 'unterminated_quote: 1'] }]);
    expect(node('silver.customers').exits.map((x) => [x.kind, x.rows])).toEqual([['quarantined', 4], ['superseded', 6]]);
    // columns: files < bronze < silver < gold < exports
    expect(node('file:cust_info').column).toBeLessThan(node('bronze.cust_info').column);
    expect(node('silver.sales_clean').column).toBeGreaterThan(node('silver.customers').column);
    expect(node('gold.fact_sales').column).toBeGreaterThan(node('silver.sales_clean').column);
    expect(node('export:fact_sales').column).toBeGreaterThan(node('gold.customer_features').column);
    expect(graph.edges).toContainEqual({ from: 'gold.fact_sales', to: 'export:fact_sales', rows: 60_390 });
  });
});

describe('HTML report', () => {
  it('escapes what the data holds', async () => {
    const report = await collectRunReport({ client, schemas, runId: fixture.runs.latest });
    const html = renderRunReportHtml(report);
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toMatch(/<script|<link[^>]+href="(?!data:)|src="http|href="http/i);
  });

  it.skipIf(skipBrowserTests)('renders in headless Chromium with the flow diagram and no console errors', async () => {
    const reportsDir = path.join(dir, 'html');
    const written = await writeRunReport({ client, schemas, runId: fixture.runs.latest, reportsDir, html: true });
    expect(written.html).toBe(path.join(reportsDir, `run-${fixture.runs.latest}.html`));
    const opened = await openPage(written.html!);
    try {
      const { page } = opened;
      expect(await page.title()).toBe(`Run ${fixture.runs.latest} — success`);
      expect(await page.locator('svg.flow').count()).toBe(1);
      expect(await page.locator('svg.flow g.flow-node').count()).toBe(6 + 6 + 6 + 3); // files, bronze, models (no quarantine model), exports
      expect(await page.locator('svg.flow g.flow-node[data-node="gold.fact_sales"]').count()).toBe(1);
      expect(await page.locator('svg.flow path.flow-edge').count()).toBeGreaterThan(15);
      expect(await page.locator('g.flow-exit[data-kind="rejected"]').count()).toBe(2);
      expect(await page.locator('g.flow-exit[data-kind="quarantined"]').count()).toBe(2);
      expect(await page.locator('g.flow-exit[data-kind="superseded"]').count()).toBe(2);
      const box = await page.locator('svg.flow').boundingBox();
      expect(box!.width).toBeGreaterThan(600);
      // At 1400 px every column of the flow is on the page, drawn at its own size, no label outside its box.
      const fit = await page.evaluate(() => {
        const svg = document.querySelector<SVGSVGElement>('svg.flow')!;
        const right = Math.max(...[...svg.querySelectorAll('g.flow-node')].map((g) => g.getBoundingClientRect().right));
        const overflow = [...svg.querySelectorAll<SVGGElement>('g.flow-node')].filter((g) => {
          const rect = g.querySelector('rect')!.getBoundingClientRect();
          return [...g.querySelectorAll(':scope > text')].some((t) => t.getBoundingClientRect().right > rect.right + 0.5);
        });
        return { right, page: document.documentElement.clientWidth, drawn: svg.getBoundingClientRect().width, natural: Number(svg.getAttribute('width')), overflow: overflow.map((g) => g.dataset.node), heads: [...svg.querySelectorAll('text.flow-col')].map((t) => t.textContent) };
      });
      expect(fit.right).toBeLessThanOrEqual(fit.page - 28);
      expect(fit.drawn).toBe(fit.natural);
      expect(fit.overflow).toEqual([]);
      expect(fit.heads.filter((h) => h!.startsWith('silver'))).toHaveLength(1);
      expect(fit.heads.join(' | ')).toMatch(/source files \| bronze \| silver.* \| gold.* \| exports/);
      // Tests grouped by model, the group with a failure first and open.
      const groups = page.locator('#tests details.test-group');
      expect(await groups.first().getAttribute('data-model')).toBe('silver.customers');
      expect(await groups.first().getAttribute('open')).not.toBeNull();
      expect(await page.locator('#tests details.test-group:not([open])').count()).toBeGreaterThan(0);
      expect(await page.locator('svg.trend rect.trend-bar').count()).toBe(9);
      expect(await page.locator('#tests details.sample[open] table.mini').count()).toBe(1);
      await opened.screenshot(`report-run-${fixture.runs.latest}.png`);
      expect(opened.errors).toEqual([]);
    } finally {
      await opened.close();
    }
  });

  it.skipIf(skipBrowserTests)('renders a failed run', async () => {
    const reportsDir = path.join(dir, 'html');
    const written = await writeRunReport({ client, schemas, runId: fixture.runs.failed, reportsDir, html: true });
    const opened = await openPage(written.html!);
    try {
      expect(await opened.page.locator('header .error').textContent()).toContain('BRONZE_HEADER_MISMATCH');
      await opened.screenshot(`report-run-${fixture.runs.failed}-failed.png`);
      expect(opened.errors).toEqual([]);
    } finally {
      await opened.close();
    }
  });
});

describe('HTML report of runs that go wrong', () => {
  it('shows a transform run reading bronze loaded earlier, an equal test with its difference, and what a quarantine rule does', async () => {
    const report = await collectRunReport({ client, schemas, runId: fixture.runs.latest });
    report.run.command = 'transform';
    report.sources = [];
    const equal = report.tests.results.find((t) => t.kind === 'equal')!;
    Object.assign(equal, { status: 'fail', failing_rows: 1, sample: [{ left_value: '60393.50', right_value: '60390', difference: null }] });
    report.rules.push({ model: 'silver.customers', rule: 'customer_id_invalid', kind: 'quarantine', rows: 4, description: null });
    const html = renderRunReportHtml(report);
    expect(html).not.toContain('not built');
    expect(html).toMatch(/<text class="flow-rows"[^>]*>loaded earlier</);
    expect(html).toContain('<th>left − right</th><td>3.50</td>');
    expect(html).not.toMatch(/difference<\/th>[\s\S]*?NULL/);
    expect(html).toMatch(/customer_id_invalid<\/code>[\s\S]*?kept out of silver\.customers/);
  });
});

describe('medallion report', () => {
  it('renders the newest run by default, and a given one', async () => {
    const env = { DATABASE_URL: TEST_DATABASE_URL };
    const latest = await runCli(['report', '--target', target], { env, cwd: dir });
    expect(latest.stderr).toBe('');
    expect(latest.code).toBe(0);
    // A named target's reports have a folder of their own.
    expect(latest.stdout.trim()).toBe(path.join(dir, 'reports', target, `run-${fixture.runs.latest}.html`));
    const given = await runCli(['report', String(fixture.runs.good), '--target', target], { env, cwd: dir });
    expect(given.code).toBe(0);
    expect(await readFile(path.join(dir, 'reports', target, `run-${fixture.runs.good}.html`), 'utf8')).toContain(`Run ${fixture.runs.good}`);
  });

  it('exits 2 for an unknown run or a bad argument', async () => {
    const env = { DATABASE_URL: TEST_DATABASE_URL };
    const unknown = await runCli(['report', '999999', '--target', target], { env, cwd: dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('run 999999 is not in');
    const bad = await runCli(['report', 'abc', '--target', target], { env, cwd: dir });
    expect(bad.code).toBe(2);
  });
});
