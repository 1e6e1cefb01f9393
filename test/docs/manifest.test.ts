/**
 * The project manifest (src/docs/manifest.ts): the real project's validates against
 * manifest.schema.json (ajv, draft-07) and holds what the schema promises (every model, test and
 * source, column lineage down to bronze, grants, freshness, parent and child maps that mirror each
 * other); `medallion compile` writes it to --out before it connects, `medallion docs` beside the site.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest, type Manifest } from '../../src/docs/manifest.ts';
import schema from '../../src/docs/manifest.schema.json' with { type: 'json' };
import { loadProject, readSourcesYml } from '../../src/transform/index.ts';
import { runCli } from '../support/cli.ts';

const ajv = new Ajv({ allErrors: true, strict: true });
const validate = ajv.compile(schema);
const sqlDir = path.resolve('sql');
const DEAD = { DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/nothing', ETL_LOG_FORMAT: 'json' };
let manifest: Manifest;
let work: string;

beforeAll(async () => {
  const project = await loadProject({ sqlDir });
  manifest = buildManifest({ project, medallionVersion: '9.9.9', freshness: await readSourcesYml(sqlDir), now: new Date('2026-01-02T03:04:05Z') });
  work = await mkdtemp(path.join(tmpdir(), 'medallion-manifest-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('the manifest of the project', () => {
  it('validates against manifest.schema.json, and a manifest missing a key does not', () => {
    expect(validate(manifest), ajv.errorsText(validate.errors)).toBe(true);
    const broken = structuredClone(manifest) as unknown as { models: Record<string, Record<string, unknown>> };
    delete broken.models['model.gold.fact_sales']!.depends_on;
    expect(validate(broken)).toBe(false);
    expect(ajv.errorsText(validate.errors)).toContain("must have required property 'depends_on'");
  });

  it('holds every model, test and source with its metadata', async () => {
    const project = await loadProject({ sqlDir });
    expect(Object.keys(manifest.models)).toEqual(project.models.map((m) => `model.${m.name}`));
    expect(Object.keys(manifest.tests)).toHaveLength(project.models.reduce((n, m) => n + m.tests.length, 0));
    expect(Object.keys(manifest.sources)).toEqual(['cust_info', 'cust_az12', 'loc_a101', 'prd_info', 'px_cat_g1v2', 'sales_details'].map((s) => `source.bronze.${s}`));
    expect(manifest.metadata).toEqual({ manifest_version: 1, medallion_version: '9.9.9', generated_at: '2026-01-02T03:04:05.000Z', sql_dir: 'sql', catalog_available: false });
    const fact = manifest.models['model.gold.fact_sales']!;
    expect(fact).toMatchObject({ layer: 'gold', materialized: 'table', sql_file: 'sql/gold/fact_sales.sql', yml_file: 'sql/gold/fact_sales.yml' });
    expect(fact.depends_on.every((id) => id in manifest.models || id in manifest.sources)).toBe(true);
    // column lineage reaches bronze columns; a documented column lists its tests
    const price = fact.columns.find((c) => c.lineage.sources.some((s) => s.startsWith('bronze.sales_details.')))!;
    expect(price).toBeDefined();
    const tested = fact.columns.find((c) => c.tests.length > 0)!;
    // each column's role, from meta.role in its .yml
    expect(Object.fromEntries(fact.columns.map((c) => [c.name, c.role]))).toMatchObject({ order_number: 'key', prior_spend: 'feature', total_spend: 'lifetime', price: 'attribute' });
    for (const t of tested.tests) expect(manifest.tests[t]!.model).toBe('model.gold.fact_sales');
    // no model of the project declares grants yet: one that does carries them into the manifest
    const withGrants = { ...project, models: project.models.map((m) => (m.name === 'gold.sales_daily' ? { ...m, grants: { select: ['analyst', 'reporting'] } } : m)) };
    expect(buildManifest({ project: withGrants, medallionVersion: '9.9.9' }).models['model.gold.sales_daily']!.grants).toEqual({ select: ['analyst', 'reporting'] });
    expect(fact.grants).toEqual({});
    expect(manifest.sources['source.bronze.px_cat_g1v2']!.freshness).toEqual({ source: 'erp', warn_after: { count: 90, period: 'day' }, error_after: null, warn_if_unchanged: false });
    expect(manifest.sources['source.bronze.sales_details']!.columns[0]).toEqual({ name: 'sls_ord_num', header: 'sls_ord_num', data_type: null });
    const coverage = Object.values(manifest.tests).find((t) => t.kind === 'relationships' && t.relations_read.includes('silver.customers'))!;
    expect(coverage.depends_on).toContain('model.silver.customers');
  });

  it('the child map is the parent map reversed, and both name only nodes of the manifest', () => {
    const ids = new Set([...Object.keys(manifest.models), ...Object.keys(manifest.tests), ...Object.keys(manifest.sources)]);
    expect(new Set(Object.keys(manifest.parent_map))).toEqual(ids);
    expect(new Set(Object.keys(manifest.child_map))).toEqual(ids);
    const reversed: Record<string, string[]> = Object.fromEntries([...ids].map((id) => [id, []]));
    for (const [child, parents] of Object.entries(manifest.parent_map)) for (const p of parents) reversed[p]!.push(child);
    for (const id of ids) expect([...manifest.child_map[id]!].sort(), id).toEqual(reversed[id]!.sort());
    expect(manifest.child_map['source.bronze.sales_details']!.length).toBeGreaterThan(0);
  });
});

describe('the commands write it', () => {
  it('medallion compile writes --out before it connects (exit 3 without a database)', async () => {
    const out = path.join(work, 'custom', 'manifest.json');
    const r = await runCli(['compile', '--sql', sqlDir, '--out', out], { env: DEAD, cwd: work });
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('manifest: custom/manifest.json');
    const written = JSON.parse(await readFile(out, 'utf8')) as Manifest;
    expect(validate(written), ajv.errorsText(validate.errors)).toBe(true);
    expect(written.metadata.medallion_version).toBe((JSON.parse(await readFile('package.json', 'utf8')) as { version: string }).version);
    const byDefault = await runCli(['compile', '--sql', sqlDir], { env: DEAD, cwd: work });
    expect(byDefault.stdout).toContain('manifest: target/manifest.json');
    expect(validate(JSON.parse(await readFile(path.join(work, 'target', 'manifest.json'), 'utf8')))).toBe(true);
  });

  it('medallion docs writes it beside the site', async () => {
    const r = await runCli(['docs', '--sql', sqlDir], { env: DEAD, cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const written = JSON.parse(await readFile(path.join(work, 'docs', 'site', 'manifest.json'), 'utf8')) as Manifest;
    expect(validate(written), ajv.errorsText(validate.errors)).toBe(true);
    expect(Object.keys(written.models)).toEqual(Object.keys(manifest.models));
  });
});
