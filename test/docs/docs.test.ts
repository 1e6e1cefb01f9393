import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDocs } from '../../src/docs/generate.ts';
import { serveDocs } from '../../src/docs/serve.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, schemaNames, TEST_DATABASE_URL, testClient, testConfig, uniqueTarget } from '../support/database.ts';
import { openPage, skipBrowserTests } from '../report/browser.ts';
import { writeLedgerFixture } from '../report/ledger-fixture.ts';
import { writeFixtureProject } from './fixture-project.ts';

const target = uniqueTarget('docs');
const schemas = schemaNames(target);
let client: pg.Client;
let dir: string;

beforeAll(async () => {
  dir = await writeFixtureProject();
  client = await testClient();
  await writeLedgerFixture(client, schemas, target);
  // What a published build leaves in the catalog (types only; rows do not matter to the docs).
  await client.query(`create schema "${schemas.gold}"; create table "${schemas.gold}".fact_sales (order_number text not null, age integer, prior_spend numeric(18,2), order_date date)`);
});

afterAll(async () => {
  await client?.end();
  await dropTarget(target);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * One GET with the request target exactly as given: `fetch` and `new URL` resolve `/../` before
 * sending, so only a raw request shows what the server does with a path that climbs out.
 */
function rawGet(url: string, target: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path: target, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('docs site', () => {
  it('holds every model with its columns, catalog types, tests, latest run and fact_sales lineage', async () => {
    const config = testConfig(target, ['--sql', path.join(dir, 'sql')]);
    const { index, data } = await generateDocs({ config, outDir: path.join(dir, 'site') });
    expect(index).toBe(path.join(dir, 'site', 'index.html'));
    expect(data.catalog_available).toBe(true);
    expect(data.models.map((m) => m.name).sort()).toEqual(['gold.fact_sales', 'silver.customers', 'silver.customers_quarantine', 'silver.sales_clean']);
    const fact = data.models.find((m) => m.name === 'gold.fact_sales')!;
    expect(fact.description).toContain('One row per sales line');
    expect(fact.sql).toContain('prior_spend');
    expect(fact.columns.find((c) => c.name === 'age')).toMatchObject({ type: 'integer', description: 'Calendar age at the order date.', sources: ['bronze.cust_az12.bdate', 'bronze.sales_details.sls_order_dt'] });
    expect(fact.columns.find((c) => c.name === 'prior_spend')!.type).toBe('numeric');
    expect(fact.tests.map((t) => t.name)).toContain('fact_price_positive');
    expect(fact.latest).toMatchObject({ status: 'success', rows: 60_390 });
    expect(fact.depends_on).toEqual(['silver.customers', 'silver.sales_clean']);
    expect(fact.used_by).toEqual(['export:fact_sales']);
    const customers = data.models.find((m) => m.name === 'silver.customers')!;
    expect(customers.tests.find((t) => t.name === 'accepted_values_silver_customers_gender')!.latest).toEqual({ status: 'fail', failing_rows: 1 });
    expect(customers.rules[0]).toMatchObject({ name: 'customer_name_trimmed', kind: 'repair' });
    expect(data.feature_lineage!.columns).toHaveLength(14);
    expect(data.graph.nodes.filter((n) => n.kind === 'export').map((n) => n.id)).toEqual(['export:fact_sales']);
    const html = await readFile(index, 'utf8');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="(?!data:)|https?:\/\/(?!www\.w3\.org)/);
    expect(JSON.parse(await readFile(path.join(dir, 'site', 'docs.json'), 'utf8')).models).toHaveLength(4);
  });

  it('is written without the database, minus types and run figures', async () => {
    const config = testConfig(target, ['--sql', path.join(dir, 'sql'), '--database-url', 'postgresql://postgres@127.0.0.1:1/none']);
    const warnings: string[] = [];
    const { data } = await generateDocs({ config, outDir: path.join(dir, 'site-offline'), warn: (t) => warnings.push(t) });
    expect(warnings).toHaveLength(1);
    expect(data.catalog_available).toBe(false);
    expect(data.latest_run).toBeNull();
    expect(data.models.find((m) => m.name === 'gold.fact_sales')!.columns.find((c) => c.name === 'age')!.type).toBeNull();
  });

  it.skipIf(skipBrowserTests)('draws a readable graph, opens every page, pans the search to its match, traces a column (headless Chromium, 1400 px)', async () => {
    const config = testConfig(target, ['--sql', path.join(dir, 'sql')]);
    const { data } = await generateDocs({ config, outDir: path.join(dir, 'site') });
    const server = await serveDocs(path.join(dir, 'site'), 0);
    const opened = await openPage(server.url);
    try {
      const { page } = opened;
      expect(await page.title()).toBe('medallion-etl docs');
      // 6 source files + 6 bronze tables + 4 models + 1 export
      expect(await page.locator('#graph g.gnode').count()).toBe(17);
      expect(await page.locator('#graph path.gedge').count()).toBeGreaterThan(12);
      // Fitted to the page's width, every label at 11 px or more, every node inside the page.
      const fit = await page.evaluate(() => {
        const svg = document.querySelector<SVGSVGElement>('#graph')!;
        const labels = [...svg.querySelectorAll<SVGTextElement>('g.gnode text')].map((t) => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM()!.a);
        const right = Math.max(...[...svg.querySelectorAll('g.gnode')].map((g) => g.getBoundingClientRect().right));
        return { smallest: Math.min(...labels), right, page: document.documentElement.clientWidth, width: svg.getBoundingClientRect().width };
      });
      expect(fit.smallest).toBeGreaterThanOrEqual(11);
      expect(fit.right).toBeLessThanOrEqual(fit.page);
      expect(fit.width).toBeGreaterThan(fit.page * 0.5);
      await opened.screenshot('docs-graph.png');

      // Search: the graph pans to the match and marks it.
      await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
      await page.locator('#search').fill('sales_clean');
      const match = page.locator('#graph g.gnode.match');
      expect(await match.getAttribute('data-id')).toBe('silver.sales_clean');
      const box = (await match.boundingBox())!;
      const viewport = page.viewportSize()!;
      expect(box.y).toBeGreaterThan(0);
      expect(box.y + box.height).toBeLessThan(viewport.height);
      expect(await page.locator('#graph g.gnode.dim').count()).toBe(16);
      await page.locator('#search').press('Enter');
      await page.waitForFunction(() => location.hash === '#/silver.sales_clean');
      expect(await page.locator('#view h1').textContent()).toBe('silver.sales_clean');

      // Every model page opens, with its columns, upstream and downstream.
      for (const m of data.models) {
        await page.goto(`${server.url}#/${encodeURIComponent(m.name)}`);
        await page.locator('#view h1').waitFor();
        expect(await page.locator('#view h1').textContent()).toBe(m.name);
        expect(await page.locator('#columns tbody tr').count()).toBe(m.columns.length);
        expect(await page.locator('#upstream li').count()).toBe(m.depends_on.length);
        expect(await page.locator('#downstream li').count()).toBe(m.used_by.length);
      }
      // fact_sales: read by its export; its columns' types and descriptions; one column's lineage as a tree down to bronze.
      await page.goto(`${server.url}#/gold.fact_sales/age`);
      await page.locator('#lineage-tree').waitFor();
      expect(await page.locator('#downstream').textContent()).toContain('export:fact_sales');
      expect(await page.locator('#columns').textContent()).toContain('Calendar age at the order date.');
      // each column's role beside it: a lifetime column stands out from a feature
      const roles = Object.fromEntries(await page.locator('#columns tbody tr').evaluateAll((rows) =>
        rows.map((tr) => [tr.querySelector('code')?.textContent, tr.querySelector('.role')?.textContent ?? null])));
      expect(roles).toMatchObject({ prior_spend: 'feature', age: 'feature', order_number: 'key', price: null });
      expect(await page.locator('#columns tbody tr .role-feature').count()).toBe(2);
      expect(await page.locator('#lineage-column').inputValue()).toBe('age');
      const leaves = await page.locator('#lineage-tree li[data-ref^="bronze."]').evaluateAll((li) => li.map((x) => x.getAttribute('data-ref')));
      expect([...new Set(leaves)].sort()).toEqual(['bronze.cust_az12.bdate', 'bronze.sales_details.sls_order_dt']);
      await page.locator('#lineage-column').selectOption('prior_spend');
      await page.waitForFunction(() => location.hash.endsWith('/prior_spend'));
      expect(await page.locator('#lineage-tree > li > strong').textContent()).toBe('gold.fact_sales.prior_spend');
      await opened.screenshot('docs-fact-sales.png');
      // Source and export pages.
      await page.goto(`${server.url}#/${encodeURIComponent('export:fact_sales')}`);
      expect(await page.locator('#view h1').textContent()).toBe('exports/fact_sales.parquet');
      await page.goto(`${server.url}#/bronze.cust_az12`);
      expect(await page.locator('#view h1').textContent()).toBe('bronze.cust_az12');
      expect(opened.errors).toEqual([]);
    } finally {
      await opened.close();
      await server.close();
    }
  });

  it('serves only files inside the site folder, whatever the spelling of the path', async () => {
    // A secret beside the site folder: what a path that climbs out by one level would reach.
    const site = path.join(dir, 'site-traversal');
    await mkdir(site, { recursive: true });
    await writeFile(path.join(site, 'index.html'), '<title>inside</title>');
    await writeFile(path.join(dir, 'secret.txt'), 'SECRET-OUTSIDE-THE-SITE');
    const server = await serveDocs(site, 0);
    try {
      // the raw request reaches the server and a file inside is served
      expect(await rawGet(server.url, '/index.html')).toEqual({ status: 200, body: '<title>inside</title>' });
      const deep = '../'.repeat(20);
      const attempts = [
        '/..%2f..%2fetc/passwd',
        '/../../etc/passwd',
        '/%2e%2e/%2e%2e/etc/passwd',
        `/${deep}etc/passwd`,
        `/${deep.replaceAll('/', '%2f')}etc/passwd`,
        `/${deep.replaceAll('..', '%2e%2e')}etc/passwd`,
        '/../secret.txt',
        '/..%2fsecret.txt',
        '/%2e%2e%2fsecret.txt',
        '/%2e%2e/secret.txt',
        '/..%5csecret.txt',
        '/%252e%252e%252fsecret.txt',
        '/index.html%00',
        '/..%2fsecret.txt%00.html',
      ];
      for (const attempt of attempts) {
        const { status, body } = await rawGet(server.url, attempt);
        expect([403, 404], attempt).toContain(status);
        expect(body, attempt).not.toMatch(/SECRET-OUTSIDE|root:/);
      }
    } finally {
      await server.close();
    }
  });

  it('medallion docs writes docs/site under the working folder', async () => {
    const result = await runCli(['docs', '--target', target, '--sql', path.join(dir, 'sql')], { env: { DATABASE_URL: TEST_DATABASE_URL }, cwd: dir });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(path.join(dir, 'docs', 'site', 'index.html'));
    expect((await runCli(['docs', '--port', 'x'], { cwd: dir })).code).toBe(2);
  });
});
