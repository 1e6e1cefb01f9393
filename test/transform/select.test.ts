/**
 * The selection engine against dbt's documented node selection semantics
 * (https://docs.getdbt.com/reference/node-selection/syntax, graph-operators, set-operators,
 * methods), on the project's own models (sql/) and on a small graph with tags.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { MedallionError } from '../../src/errors.ts';
import { loadProject } from '../../src/transform/project.ts';
import { parseSelector, selectedProject, selectNodes } from '../../src/transform/select.ts';
import type { Model, Project } from '../../src/transform/types.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
let project: Project;
beforeAll(async () => {
  project = await loadProject({ sqlDir: path.join(ROOT, 'sql') });
});

const names = (select?: string, exclude?: string) =>
  selectNodes(project, { select, exclude, root: ROOT })
    .models.map((m) => m.name)
    .sort();

/** a → b → c, a → d; tags on b and d. */
function tiny(): Project {
  const model = (name: string, dependencies: string[], tags: string[] = []): Model => ({
    name,
    layer: name.startsWith('gold') ? 'gold' : 'silver',
    relation: name.split('.')[1]!,
    sqlFile: `sql/${name.replace('.', '/')}.sql`,
    ymlFile: `sql/${name.replace('.', '/')}.yml`,
    sql: 'select 1',
    readsAsOf: false,
    materialized: name === 'gold.d' ? 'view' : 'table',
    uniqueKey: [],
    quarantine: false,
    tags,
    columns: [],
    tests: [
      {
        name: `not_null_${name.replace('.', '_')}_id`,
        kind: 'not_null',
        columns: ['id'],
        severity: 'error',
        model: name,
        file: 'x.yml',
        declaredAt: 'implied',
      },
    ],
    rules: [],
    dependencies,
  });
  return {
    dir: 'sql',
    sources: ['raw'],
    models: [
      model('silver.a', ['bronze.raw']),
      model('silver.b', ['silver.a'], ['finance']),
      model('gold.c', ['silver.b'], ['finance', 'nightly']),
      model('gold.d', ['silver.a'], ['nightly']),
    ],
  };
}

describe('methods', () => {
  it('a model by its full name or its file stem; a layer as the fqn prefix; globs', () => {
    expect(names('gold.sales_daily')).toEqual(['gold.sales_daily']);
    expect(names('sales_daily')).toEqual(['gold.sales_daily']);
    expect(names('gold')).toEqual(['gold.customer_features', 'gold.customer_training_set', 'gold.fact_sales', 'gold.sales_daily']);
    expect(names('silver.int_erp_*')).toEqual(['silver.int_erp_demographics', 'silver.int_erp_locations']);
  });

  it('path: a folder or one file, relative to the root', () => {
    expect(names('path:sql/gold')).toEqual(['gold.customer_features', 'gold.customer_training_set', 'gold.fact_sales', 'gold.sales_daily']);
    expect(names('path:sql/silver/customers.sql')).toEqual(['silver.customers']);
    // a folder whose name is a prefix of another folder's selects only its own files
    expect(() => names('path:sql/gol')).toThrow(/matches no model/);
  });

  it('tag:, config.materialized:, source:', () => {
    const p = tiny();
    const pick = (select: string) => selectNodes(p, { select, root: '/' }).models.map((m) => m.name);
    expect(pick('tag:finance')).toEqual(['silver.b', 'gold.c']);
    expect(pick('config.materialized:view')).toEqual(['gold.d']);
    // a source selects no model itself; its children do
    expect(pick('source:raw')).toEqual([]);
    expect(pick('source:raw+')).toEqual(['silver.a', 'silver.b', 'gold.c', 'gold.d']);
    expect(selectNodes(p, { select: 'source:raw', root: '/' }).sources).toEqual(['raw']);
  });
});

describe('graph operators', () => {
  it('model+ adds every descendant, +model every ancestor', () => {
    expect(names('silver.int_sales_line_products+')).toEqual([
      'gold.customer_features',
      'gold.customer_training_set',
      'gold.sales_daily',
      'silver.int_customer_cutoff_values',
      'silver.int_customer_cutoffs',
      'silver.int_customer_days',
      'silver.int_customer_orders',
      'silver.int_customer_profiles',
      'silver.int_sales_daily_calendar',
      'silver.int_sales_daily_totals',
      'silver.int_sales_line_products',
      'silver.int_training_thresholds',
    ]);
    expect(names('+gold.sales_daily')).toEqual(
      [
        'gold.sales_daily',
        'silver.int_product_categories',
        'silver.int_product_records',
        'silver.int_product_versions',
        'silver.int_sales_daily_calendar',
        'silver.int_sales_daily_totals',
        'silver.int_sales_date_pairs',
        'silver.int_sales_date_range',
        'silver.int_sales_line_products',
        'silver.int_sales_lines',
        'silver.int_sales_ship_lead_time',
        'silver.products',
        'silver.sales_clean',
      ].sort(),
    );
  });

  it('N+ and +N limit the depth', () => {
    expect(names('1+gold.sales_daily')).toEqual(['gold.sales_daily', 'silver.int_sales_daily_calendar', 'silver.int_sales_daily_totals']);
    expect(names('2+gold.sales_daily')).toEqual(['gold.sales_daily', 'silver.int_sales_daily_calendar', 'silver.int_sales_daily_totals', 'silver.int_sales_line_products']);
    expect(names('silver.int_customers+1')).toEqual(['silver.customers', 'silver.int_customers']);
  });

  it('@model: the descendants and all the ancestors of those', () => {
    const p = tiny();
    // @b: b, its child c, and every ancestor of b and c (a); d is a sibling, not selected
    expect(selectNodes(p, { select: '@silver.b', root: '/' }).models.map((m) => m.name)).toEqual(['silver.a', 'silver.b', 'gold.c']);
  });
});

describe('set operators', () => {
  it('space is a union, comma an intersection', () => {
    expect(names('gold.sales_daily silver.customers')).toEqual(['gold.sales_daily', 'silver.customers']);
    expect(names('+gold.sales_daily,+gold.customer_features')).toEqual(names('+silver.int_sales_line_products'));
    const p = tiny();
    expect(
      selectNodes(p, {
        select: 'tag:finance,tag:nightly',
        root: '/',
      }).models.map((m) => m.name),
    ).toEqual(['gold.c']);
  });

  it('--exclude removes from the selection (or from everything when there is no --select)', () => {
    expect(names('gold', 'gold.fact_sales')).toEqual(['gold.customer_features', 'gold.customer_training_set', 'gold.sales_daily']);
    expect(names(undefined, 'silver')).toEqual(['gold.customer_features', 'gold.customer_training_set', 'gold.fact_sales', 'gold.sales_daily']);
    expect(names('+gold.sales_daily', 'silver.int_sales_lines+')).toEqual([
      'silver.int_product_categories',
      'silver.int_product_records',
      'silver.int_product_versions',
      'silver.int_sales_date_pairs',
      'silver.int_sales_date_range',
      'silver.int_sales_ship_lead_time',
      'silver.products',
    ]);
  });
});

describe('tests follow their model', () => {
  it('a selected model brings its tests, an excluded one takes them away', () => {
    const s = selectNodes(project, { select: 'gold.sales_daily', root: ROOT });
    expect(s.tests.length).toBe(project.models.find((m) => m.name === 'gold.sales_daily')!.tests.length);
    expect(new Set(s.tests.map((t) => t.model))).toEqual(new Set(['gold.sales_daily']));
    expect(
      selectNodes(project, {
        exclude: 'gold.sales_daily',
        root: ROOT,
      }).tests.some((t) => t.model === 'gold.sales_daily'),
    ).toBe(false);
  });

  it('a test selected by name, test_type:singular', () => {
    const s = selectNodes(project, {
      select: 'test_name:no_future_leakage',
      root: ROOT,
    });
    expect(s.tests.map((t) => t.name)).toEqual(['no_future_leakage']);
    expect(s.models).toEqual([]);
    const singular = selectNodes(project, {
      select: 'test_type:singular',
      root: ROOT,
    }).tests;
    expect(singular.length).toBeGreaterThan(5);
    expect(singular.every((t) => t.kind === 'query')).toBe(true);
  });

  it('selectedProject keeps the selected models, in build order, with the selected tests', () => {
    const s = selectNodes(project, { select: '+gold.sales_daily', root: ROOT });
    const p = selectedProject(project, s);
    expect(p.models.map((m) => m.name)).toEqual(project.models.map((m) => m.name).filter((n) => s.models.some((m) => m.name === n)));
    expect(p.models.flatMap((m) => m.tests).length).toBe(s.tests.length);
  });

  it('no --select and no --exclude is everything', () => {
    const s = selectNodes(project, { root: ROOT });
    expect(s.everything).toBe(true);
    expect(s.models.length).toBe(project.models.length);
    expect(s.sources.length).toBe(project.sources.length);
  });
});

describe('errors', () => {
  it('a term that matches nothing names itself (CONFIG_INVALID, exit 2)', () => {
    const err = (() => {
      try {
        selectNodes(project, { select: 'gold.sales_dayly+', root: ROOT });
      } catch (e) {
        return e as MedallionError;
      }
    })();
    expect(err?.code).toBe('CONFIG_INVALID');
    expect(err?.message).toContain("'gold.sales_dayly+'");
    expect(err?.context.hint).toContain('gold.sales_daily');
  });

  it('bad syntax and unknown methods are usage errors', () => {
    expect(() => parseSelector('colour:red')).toThrow(/unknown method 'colour:'/);
    expect(() => parseSelector('@2+gold.x')).toThrow(/expected/);
    expect(parseSelector('2+tag:x+ a,b')).toEqual([
      [
        {
          text: '2+tag:x+',
          method: 'tag',
          value: 'x',
          parents: 2,
          children: Infinity,
          at: false,
        },
      ],
      [
        {
          text: 'a',
          method: 'fqn',
          value: 'a',
          parents: 0,
          children: 0,
          at: false,
        },
        {
          text: 'b',
          method: 'fqn',
          value: 'b',
          parents: 0,
          children: 0,
          at: false,
        },
      ],
    ]);
  });
});
