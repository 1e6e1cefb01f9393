/**
 * projectionColumns (src/transform/projection.ts): `config.meta.projection_of` is proven from the
 * model's parse tree or refused, and the copied columns are exactly the bare references to the
 * carried input's columns.
 */
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { MedallionError } from '../../src/errors.ts';
import { loadProject } from '../../src/transform/project.ts';
import { projectionColumns } from '../../src/transform/projection.ts';
import { caught, modelYml, removeProject, SOURCES, writeProject } from './helpers.ts';

const columnsOf = (sql: string, input = 'silver.p') => {
  const proven = projectionColumns(sql, input);
  return 'columns' in proven ? [...proven.columns].sort() : proven.problem;
};

describe('projectionColumns', () => {
  it('proves gold.customer_features one row per row of silver.int_customer_profiles, customer_id copied', async () => {
    const sql = await readFile('sql/gold/customer_features.sql', 'utf8');
    const columns = columnsOf(sql, 'silver.int_customer_profiles');
    expect(columns).toContain('customer_id');
    // computed from as_of or the scores, not copied
    for (const computed of ['age', 'recency_days', 'tenure_days', 'r_score', 'rfm_segment']) expect(columns).not.toContain(computed);
  });

  it('accepts cross joins with one-row relations (no from, an aggregate without group by, one-row only), CTEs, subqueries and offset 0', () => {
    expect(columnsOf('select k, v from silver.p')).toEqual(['k', 'v']);
    expect(columnsOf('select c.k, c.v + 1 as v, one.n from silver.p as c cross join (select count(*) as n from silver.q) as one')).toEqual(['k']);
    expect(columnsOf(`with d as (select current_setting('x')::date as d),
      t as (select min(v) filter (where v > 2) as t2 from silver.p),
      both_ as (select d.d, t.t2, (select array_agg(g) from generate_series(1, 3) as g) as a from d cross join t),
      rows_ as (select p.k, p.v, p.w as renamed from silver.p as p cross join both_ offset 0)
      select k, etl.f(v) as v, renamed as w, coalesce(k, 0) as k2 from rows_ cross join both_`)).toEqual(['k']);
    // an unqualified column that no one-row relation has is the carrier's
    expect(columnsOf('select c.k, v from silver.p as c cross join (select 1 as n) as one')).toEqual(['k', 'v']);
  });

  it('refuses what may drop or repeat a row, or hide which column is copied', () => {
    const refused = {
      'select k from silver.p where k > 1': 'a where',
      'select distinct k from silver.p': 'a distinct',
      'select k from silver.p group by k': 'a group by',
      'select k from silver.p limit 5': 'a limit',
      'select k from silver.p offset 1': 'an offset other than 0',
      'select k from silver.p union all select k from silver.p': 'a set operation',
      'select k, generate_series(1, 2) as g from silver.p': 'calls generate_series',
      'select k, count(*) over () as n from silver.p': 'calls count',
      'select max(k) as k from silver.p': 'calls max',
      'select k from silver.p cross join generate_series(1, 2)': 'RangeFunction',
      'select p.k from silver.p as p join silver.q as q on q.k = p.k': 'a join with a condition',
      'select p.k from silver.p as p left join (select 1 as n) as one on true': 'a join with a condition',
      'select p.k from silver.p as p cross join silver.q as q': 'silver.q read beside silver.p',
      'select p.k from silver.p as p cross join silver.p as p2': 'reads 2 relations carrying silver.p',
      'with two as (select 1 as n where false) select k from silver.p cross join two': 'a where',
      'with g as (select max(v) as m from silver.q group by k) select k from silver.p cross join g': 'group by',
      'with r as (select k, v from silver.p) select r.k from r cross join r as r2': 'relations carrying',
      'select k from silver.p cross join (select count(*) as k from silver.q) as one': 'names none of its columns',
      'select * from silver.p': 'select *',
      'select k::int as k from silver.p': 'names none of its columns',
      'select k from silver.p as p cross join lateral (select p.k as n) as one': 'lateral',
      'with recursive r as (select 1 as n) select k from silver.p cross join r': 'recursive',
    };
    for (const [sql, why] of Object.entries(refused)) expect([sql, columnsOf(sql)]).toEqual([sql, expect.stringContaining(why)]);
  });
});

describe('loadProject: projection_of', () => {
  let dir: string | undefined;
  afterEach(async () => {
    await removeProject(dir);
    dir = undefined;
  });
  const files = (sql: string) => ({
    'silver/base.sql': 'select id as customer_id from bronze.cust_info',
    'silver/base.yml': modelYml('base'),
    'gold/projected.sql': sql,
    'gold/projected.yml': modelYml('projected', 'config:\n  meta:\n    projection_of: silver.base\n'),
  });

  it('keeps the columns proven copied on the model', async () => {
    dir = await writeProject(files('select b.customer_id, 1 as n from silver.base as b'));
    const project = await loadProject({ sqlDir: dir, sources: SOURCES });
    const model = project.models.find((m) => m.name === 'gold.projected')!;
    expect(model.projection?.of).toBe('silver.base');
    expect([...model.projection!.columns]).toEqual(['customer_id']);
  });

  it('is a problem of the model files when the SQL does not prove it', async () => {
    dir = await writeProject(files('select customer_id from silver.base where customer_id > 0'));
    const err = (await caught(loadProject({ sqlDir: dir, sources: SOURCES }))) as unknown as MedallionError;
    expect(err).toBeInstanceOf(MedallionError);
    expect(err.code).toBe('MODEL_FILE_INVALID');
    expect(err.message).toContain('projected.yml: config.meta.projection_of: silver.base is not proven from');
    expect(err.message).toContain('a where');
  });
});
