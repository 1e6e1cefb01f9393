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

  it.skipIf(skipBrowserTests)('renders the graph and the lineage in headless Chromium, served on localhost', async () => {
    const config = testConfig(target, ['--sql', path.join(dir, 'sql')]);
    await generateDocs({ config, outDir: path.join(dir, 'site') });
    const server = await serveDocs(path.join(dir, 'site'), 0);
    const opened = await openPage(server.url);
    try {
      const { page } = opened;
      expect(await page.title()).toBe('medallion-etl docs');
      // 6 source files + 6 bronze tables + 4 models + 1 export
      expect(await page.locator('#graph g.gnode').count()).toBe(17);
      expect(await page.locator('#graph path.gedge').count()).toBeGreaterThan(12);
      expect(await page.locator('#graph g.gnode[data-id="gold.fact_sales"]').count()).toBe(1);
      expect(await page.locator('#lineage-graph g.lin-col').count()).toBe(14);
      expect(await page.locator('#lineage-graph path.lin-edge').count()).toBeGreaterThan(14);
      // fact_sales is selected first; its upstream is highlighted
      expect(await page.locator('#detail h2').textContent()).toBe('gold.fact_sales');
      expect(await page.locator('#graph g.gnode.up[data-id="bronze.cust_az12"]').count()).toBe(1);
      await page.locator('#graph g.gnode[data-id="silver.customers"]').click();
      expect(await page.locator('#detail h2').textContent()).toBe('silver.customers');
      expect(await page.locator('#detail').textContent()).toContain('One row per customer, cleaned.');
      await page.locator('#graph g.gnode[data-id="gold.fact_sales"]').click();
      await page.locator('#lineage-graph g.lin-col[data-column="age"]').click();
      expect(await page.locator('#lineage-graph path.lin-edge.hl').count()).toBe(2);
      await opened.screenshot('docs-site.png');
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
