/**
 * planModels (src/transform/model-plan.ts) on a small graph: each reason a model is built, and
 * that a model is kept only when nothing it reads changed.
 *   bronze.a → silver.a → gold.x ← silver.b ← bronze.b;  silver.b reads the run's dates
 */
import { describe, expect, it } from 'vitest';
import { type CurrentBuild, type ModelDecision, planModels, type PublishedBuild, steppedBronze } from '../../src/transform/model-plan.ts';
import type { Model, Project } from '../../src/transform/types.ts';

function model(name: string, dependencies: string[], readsAsOf = false): Model {
  const [layer, relation] = name.split('.') as ['silver' | 'gold', string];
  return {
    name,
    layer,
    relation,
    sqlFile: `sql/${layer}/${relation}.sql`,
    ymlFile: `sql/${layer}/${relation}.yml`,
    sql: 'select 1',
    readsAsOf,
    materialized: 'table',
    uniqueKey: [],
    quarantine: false,
    tags: [],
    columns: [],
    tests: [],
    rules: [],
    dependencies,
  };
}

const project: Project = {
  dir: 'sql',
  sources: ['a', 'b'],
  models: [model('silver.a', ['bronze.a']), model('silver.b', ['bronze.b'], true), model('gold.x', ['silver.a', 'silver.b'])],
};
const hashes = new Map([
  ['silver.a', 'h-a'],
  ['silver.b', 'h-b'],
  ['gold.x', 'h-x'],
]);
const published: PublishedBuild = { runId: 7, models: hashes, asOf: '2014-01-29', dataAsOf: '2014-01-29', builtFrom: { a: 3, b: 5 }, sameFunctionsAndVersion: true };
const current: CurrentBuild = { models: hashes, asOf: '2014-01-29', dataAsOf: '2014-01-29', builtFrom: { a: 3, b: 5 } };

const actions = (plan: ModelDecision[]) => Object.fromEntries(plan.map((d) => [d.model, d.action]));
const reasons = (plan: ModelDecision[]) => Object.fromEntries(plan.map((d) => [d.model, d.reason]));

describe('planModels', () => {
  it('keeps every model when nothing changed', () => {
    const plan = planModels(project, published, current);
    expect(actions(plan)).toEqual({ 'silver.a': 'keep', 'silver.b': 'keep', 'gold.x': 'keep' });
    expect(plan[0]!.reason).toBe('nothing it reads changed since run 7');
  });

  it('builds everything without a published run, or when the functions or the version changed', () => {
    expect(new Set(planModels(project, null, current).map((d) => d.action))).toEqual(new Set(['build']));
    const plan = planModels(project, { ...published, sameFunctionsAndVersion: false }, current);
    expect(reasons(plan)['silver.a']).toBe('sql/functions or the medallion version changed since run 7');
    expect(new Set(plan.map((d) => d.action))).toEqual(new Set(['build']));
  });

  it('a model whose hash changed is built, and so is what reads it; the rest is kept', () => {
    const plan = planModels(project, published, { ...current, models: new Map([...hashes, ['silver.a', 'h-a2']]) });
    expect(actions(plan)).toEqual({ 'silver.a': 'build', 'silver.b': 'keep', 'gold.x': 'build' });
    expect(reasons(plan)).toMatchObject({ 'silver.a': 'its SQL, .yml or tests changed since run 7', 'gold.x': 'it reads silver.a, which is built' });
    // only a model built for what it reads names it: the output tells causes from followers by it
    expect(plan.map((d) => d.readsBuilt)).toEqual([undefined, undefined, 'silver.a']);
  });

  it('a new model is built', () => {
    const plan = planModels(project, { ...published, models: new Map([...hashes].filter(([m]) => m !== 'gold.x')) }, current);
    expect(reasons(plan)['gold.x']).toBe('new since run 7');
  });

  it('another load of a bronze table builds its readers; a table changed by hand too', () => {
    expect(actions(planModels(project, published, { ...current, builtFrom: { a: 9, b: 5 } }))).toEqual({ 'silver.a': 'build', 'silver.b': 'keep', 'gold.x': 'build' });
    const byHand = planModels(project, published, { ...current, builtFrom: { a: 3, b: null } });
    expect(reasons(byHand)['silver.b']).toBe('bronze.b was changed since its load');
    expect(actions(byHand)).toEqual({ 'silver.a': 'keep', 'silver.b': 'build', 'gold.x': 'build' });
    // a published run that had a table changed by hand: its readers are built, whatever the load now
    expect(actions(planModels(project, { ...published, builtFrom: { a: null, b: 5 } }, current))['silver.a']).toBe('build');
  });

  it('moved dates build the models that read them (and what reads those), not the others', () => {
    const plan = planModels(project, published, { ...current, asOf: '2014-01-30', dataAsOf: '2014-01-30' });
    expect(actions(plan)).toEqual({ 'silver.a': 'keep', 'silver.b': 'build', 'gold.x': 'build' });
    expect(reasons(plan)['silver.b']).toBe("it reads the run's dates: as_of moved from 2014-01-29 to 2014-01-30");
    const dataOnly = planModels(project, published, { ...current, dataAsOf: '2014-02-03' });
    expect(reasons(dataOnly)['silver.b']).toBe("it reads the run's dates: the data's own as_of is 2014-02-03, not 2014-01-29");
    // a published run that did not record the data's own as_of: its readers are built
    const { dataAsOf: _unrecorded, ...older } = published;
    expect(actions(planModels(project, older, current))['silver.b']).toBe('build');
  });

  it('another load of a bronze table an incremental model declares under partition_inputs updates it when its __changes start at the published load', () => {
    const incremental = { ...model('silver.a', ['bronze.a']), incremental: { partitionBy: 'k', partitionInputs: { 'bronze.a': 'k' } } };
    const withIncremental: Project = { ...project, models: [incremental, ...project.models.slice(1)] };
    const loaded = { ...current, builtFrom: { a: 9, b: 5 } };
    const plan = planModels(withIncremental, published, { ...loaded, bronzeSteps: { a: 3 } });
    expect(actions(plan)).toEqual({ 'silver.a': 'update', 'silver.b': 'keep', 'gold.x': 'build' });
    expect(reasons(plan)['silver.a']).toBe('bronze.a holds another load since run 7: the k partitions of its changed rows');
    expect(steppedBronze(published, { ...loaded, bronzeSteps: { a: 3, b: 5 } })).toEqual(['a']);
    // the changes start at another load (an unpublished run loaded the table in between), or there are none
    for (const bronzeSteps of [{ a: 8 }, {}] as Record<string, number>[]) {
      const built = planModels(withIncremental, published, { ...loaded, bronzeSteps });
      expect(actions(built)['silver.a']).toBe('build');
      expect(reasons(built)['silver.a']).toBe('bronze.a holds another load since run 7');
      expect(steppedBronze(published, { ...loaded, bronzeSteps })).toEqual([]);
    }
    // a model that does not declare the table is built
    expect(actions(planModels(project, published, { ...loaded, bronzeSteps: { a: 3 } }))['silver.a']).toBe('build');
  });
});
