import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MedallionError } from '../../src/errors.ts';
import { columnDocsOf } from '../../src/transform/model-spec.ts';
import { loadProject } from '../../src/transform/project.ts';
import { caught, removeProject, SOURCES, modelYml, writeProject } from './helpers.ts';

let dir: string | undefined;
afterEach(async () => {
  await removeProject(dir);
  dir = undefined;
});

async function load(files: Record<string, string>) {
  dir = await writeProject(files);
  return loadProject({ sqlDir: dir, sources: SOURCES });
}

async function loadError(files: Record<string, string>) {
  const err = await caught(load(files));
  expect(err).toBeInstanceOf(MedallionError);
  return err as unknown as MedallionError & { context: { problems?: string[] } };
}

describe('loadProject: models', () => {
  it('reads models and their yml into typed models', async () => {
    const project = await load({
      'silver/customers.sql': '-- customers\nselect id as customer_id, gender from bronze.cust_info;\n',
      'silver/customers.yml': modelYml('customers', `
description: one row per customer.
config:
  unique_key: [customer_id]
  meta:
    rules:
      - name: gender_unknown
        kind: flag
        description: No gender.
        where: "gender = 'Unknown'"
columns:
  - name: customer_id
    description: the id.
    data_tests: [not_null]
  - name: gender
    data_tests:
      - accepted_values: { values: [Female, Male, Unknown], config: { severity: warn } }
  - name: customer_id
    data_tests:
      - relationships: { to: bronze.cust_info, field: id, config: { where: "gender is not null" } }
data_tests:
  - dbt_utils.expression_is_true: { name: positive_id, expression: "customer_id > 0" }
`),
      'gold/dim.sql': 'select * from silver.customers',
      'gold/dim.yml': modelYml('dim', `
config:
  materialized: view
  meta:
    quarantine: false
`),
      'README.md': 'ignored',
    });
    expect(project.models.map((m) => m.name)).toEqual(['silver.customers', 'gold.dim']);
    const customers = project.models[0]!;
    expect(customers).toMatchObject({
      layer: 'silver',
      relation: 'customers',
      materialized: 'table',
      quarantine: false,
      uniqueKey: ['customer_id'],
      dependencies: ['bronze.cust_info'],
      columns: [{ name: 'customer_id', description: 'the id.' }, { name: 'gender' }],
    });
    expect(customers.sql).toBe('-- customers\nselect id as customer_id, gender from bronze.cust_info');
    expect(customers.tests.map((t) => [t.kind, t.name, t.severity])).toEqual([
      ['not_null', 'not_null_silver_customers_customer_id', 'error'],
      ['accepted_values', 'accepted_values_silver_customers_gender', 'warn'],
      ['relationships', 'relationships_silver_customers_customer_id_to_bronze_cust_info_id', 'error'],
      ['expression', 'positive_id', 'error'],
      // implied by unique_key; not_null is already declared
      ['unique', 'unique_silver_customers_customer_id', 'error'],
      // the volume guard every model has by default (warn in silver)
      ['row_count_change', 'row_count_change_silver_customers', 'warn'],
    ]);
    expect(customers.tests[2]).toMatchObject({ kind: 'relationships', column: 'customer_id', to: 'bronze.cust_info', field: 'id', where: 'gender is not null' });
    expect(customers.rules).toEqual([
      { name: 'gender_unknown', kind: 'flag', description: 'No gender.', where: "gender = 'Unknown'", relation: 'silver.customers', model: 'silver.customers', file: `${dir}/silver/customers.yml` },
    ]);
    expect(project.models[1]).toMatchObject({ materialized: 'view', dependencies: ['silver.customers'] });
  });

  it('reads every test kind at model level', async () => {
    const project = await load({
      'silver/a.sql': 'select 1 as x, 2 as y',
      'silver/a.yml': modelYml('a', `
data_tests:
  - dbt_utils.unique_combination_of_columns: { combination_of_columns: [x, y] }
  - not_null: { column_name: x, config: { where: "y > 0" } }
  - accepted_values: { column_name: x, values: [1, 2], allow_null: true }
  - relationships: { column_name: x, to: silver.a, field: y }
  - dbt_utils.expression_is_true: { expression: "x < y" }
  - scalar_equality: { left: "select 1", right: "select 1", tolerance: 0.5 }
`),
      'tests/none.sql': '-- a singular test: rows returned are failures\nselect * from silver.a where false\n',
      'tests/schema.yml': 'version: 2\ndata_tests:\n  - name: none\n    description: Never fails.\n    config: { severity: warn }\n',
    });
    expect(project.models[0]!.tests).toMatchObject([
      { kind: 'unique', columns: ['x', 'y'], name: 'unique_silver_a_x_y' },
      { kind: 'not_null', columns: ['x'], where: 'y > 0' },
      { kind: 'accepted_values', column: 'x', values: [1, 2], allowNull: true },
      { kind: 'relationships', column: 'x', to: 'silver.a', field: 'y' },
      { kind: 'expression', expression: 'x < y', name: 'expression_silver_a_1' },
      { kind: 'equal', tolerance: 0.5, name: 'equal_silver_a_1' },
      { kind: 'row_count_change', maxDrop: 0.5, name: 'row_count_change_silver_a', declaredAt: 'implied' },
      { kind: 'query', name: 'none', model: 'silver.a', severity: 'warn', description: 'Never fails.', declaredAt: 'tests/none.sql' },
    ]);
  });

  it('expression_is_true under a column puts the column in front, as dbt_utils does', async () => {
    const project = await load({
      'silver/a.sql': 'select 1 as x',
      'silver/a.yml': modelYml('a', 'columns:\n  - name: x\n    data_tests:\n      - dbt_utils.expression_is_true: { expression: ">= 0" }\n'),
    });
    expect(project.models[0]!.tests[0]).toMatchObject({ kind: 'expression', expression: '"x" >= 0', declaredAt: 'models[0].columns[0].data_tests[0]' });
  });

  it('a singular test belongs to the last model, in build order, that it reads', async () => {
    const project = await load({
      'silver/a.sql': 'select 1 as x',
      'silver/a.yml': modelYml('a'),
      'gold/b.sql': 'select x from silver.a',
      'gold/b.yml': modelYml('b'),
      'tests/b_matches_a.sql': 'select x from gold.b except select x from silver.a',
    });
    expect(project.models[1]!.tests.find((t) => t.name === 'b_matches_a')).toMatchObject({ kind: 'query', model: 'gold.b', severity: 'error' });
  });

  it('an empty sql folder is an empty project', async () => {
    expect((await load({ 'other.txt': '' })).models).toEqual([]);
  });

  it('a sql folder that is not there (or is a file) is MODEL_FILE_INVALID naming it, not an empty project', async () => {
    dir = await writeProject({ 'other.txt': '' });
    for (const sqlDir of [path.join(dir, 'missing'), path.join(dir, 'other.txt')]) {
      const err = (await caught(loadProject({ sqlDir, sources: SOURCES }))) as unknown as MedallionError;
      expect(err).toBeInstanceOf(MedallionError);
      expect(err.code).toBe('MODEL_FILE_INVALID');
      expect(err.message).toBe(`the sql folder ${sqlDir} ${sqlDir.endsWith('missing') ? 'does not exist' : 'is not a folder'}`);
      expect(err.context.file).toBe(sqlDir);
    }
  });
});

describe('loadProject: invalid files (MODEL_FILE_INVALID, every problem at once)', () => {
  it('names the file, the line and the key of each yml problem', async () => {
    const err = await loadError({
      'silver/a.sql': 'select 1 as x',
      'silver/a.yml': [
        'version: 2',
        'models:',
        '  - name: b',
        '    materialised: table',
        '    columns:',
        '      - name: x',
        '        data_tests:',
        '          - accepted_values: { value: [a] }',
        '          - unique: { config: { severity: fatal } }',
        '          - distinct',
        '          - relationships: { to: customers, field: id, where: "x > 0" }',
        '          - not_null: { column_name: y }',
        '          - expression: { expression: "x > 0" }',
        '    config:',
        '      meta:',
        '        rules:',
        '          - name: r',
        '            kind: fix',
        '          - name: s',
        '            kind: repair',
        '',
      ].join('\n'),
    });
    expect(err.code).toBe('MODEL_FILE_INVALID');
    const f = `${dir}/silver/a.yml`;
    expect(err.context.problems).toEqual([
      `${f}:4: models[0].materialised: unknown key 'materialised' (expected one of name, description, config, columns, data_tests)`,
      `${f}:3: models[0].name: expected 'a', the name of the .sql file beside it, got 'b'`,
      `${f}:8: models[0].columns[0].data_tests[0].accepted_values.value: unknown key 'value' (expected one of name, config, values, allow_null)`,
      `${f}:8: models[0].columns[0].data_tests[0].accepted_values: missing 'values' (the list of accepted values)`,
      `${f}:9: models[0].columns[0].data_tests[1].unique.config.severity: expected one of error, warn, got 'fatal'`,
      `${f}:10: models[0].columns[0].data_tests[2]: unknown test 'distinct' (expected one of not_null, unique, accepted_values, relationships, dbt_utils.expression_is_true, dbt_utils.unique_combination_of_columns, scalar_equality, row_count_change)`,
      `${f}:11: models[0].columns[0].data_tests[3].relationships.where: 'where' is not a key here: put 'where' under config: (dbt's test config), e.g. config: { where: ... }`,
      `${f}:11: models[0].columns[0].data_tests[3].relationships.to: expected a schema-qualified relation such as silver.customers, got 'customers'`,
      `${f}:12: models[0].columns[0].data_tests[4].not_null.column_name: 'column_name' is not a key here: the column is the one this test is listed under`,
      `${f}:13: models[0].columns[0].data_tests[5].expression: 'expression' is not a test name here: write 'dbt_utils.expression_is_true'`,
      `${f}:18: models[0].config.meta.rules[0].kind: expected one of repair, superseded, flag, quarantine, got 'fix'`,
      `${f}:19: models[0].config.meta.rules[1]: a 'repair' rule needs 'where' (the predicate of the rows it counts)`,
    ]);
    expect(err.message).toMatch(/^12 problems in the model files:/);
    expect(err.context.file).toBe(f);
  });

  it('refuses the old .yml shape with one problem naming the new keys', async () => {
    const err = await loadError({ 'silver/a.sql': 'select 1 as x', 'silver/a.yml': 'description: old\nmaterialized: view\ntests:\n  - expression: { expression: "x > 0" }\n' });
    expect(err.context.problems).toEqual([
      `${dir}/silver/a.yml:1: the .yml shape before dbt's; write 'version: 2' and 'models:' with one entry 'name: a' holding description, columns and data_tests ('tests' is now 'data_tests'); materialized, unique_key and grants go under its config:, quarantine and rules under config: meta: (sql/README.md, "The .yml file")`,
    ]);
  });

  it('reports the problems of the singular tests: no model read, a name taken, a schema.yml entry without its file', async () => {
    const err = await loadError({
      'silver/a.sql': 'select 1 as x',
      'silver/a.yml': modelYml('a', 'data_tests:\n  - dbt_utils.expression_is_true: { name: taken, expression: "x > 0" }\n'),
      'tests/reads_nothing.sql': 'select 1 where false',
      'tests/taken.sql': 'select * from silver.a where false',
      'tests/schema.yml': 'version: 2\ndata_tests:\n  - name: gone\n  - name: taken\n    config: { severity: info }\n',
    });
    expect(err.code).toBe('MODEL_FILE_INVALID');
    expect(err.context.problems).toEqual([
      `${dir}/tests/schema.yml:5: data_tests[1].config.severity: expected one of error, warn, got 'info'`,
      `${dir}/tests/reads_nothing.sql: a singular test reads at least one model (silver.x or gold.x); this one reads none`,
      `${dir}/tests/taken.sql: test name 'taken' is already used by ${dir}/silver/a.yml (models[0].data_tests[0]); rename the file or give the other test a different 'name'`,
      `${dir}/tests/schema.yml:3: data_tests[0]: 'gone' has no gone.sql beside schema.yml`,
    ]);
  });

  it('a singular test reading an unknown relation → MODEL_UNKNOWN_RELATION naming the test file', async () => {
    const err = await loadError({ 'silver/a.sql': 'select 1 as x', 'silver/a.yml': modelYml('a'), 'tests/q.sql': 'select * from silver.a join gold.nope using (x)' });
    expect(err.code).toBe('MODEL_UNKNOWN_RELATION');
    expect(err.context.problems).toEqual([`${dir}/tests/q.sql: test 'q': gold.nope is not a model (no sql/gold/nope.sql)`]);
  });

  it('reports missing and orphan yml files, bad names, several statements and clock functions', async () => {
    const err = await loadError({
      'silver/no_yml.sql': 'select 1',
      'silver/orphan.yml': modelYml('orphan'),
      'silver/Bad-Name.sql': 'select 1',
      'silver/two.sql': 'select 1; select 2;',
      'silver/two.yml': modelYml('two'),
      'gold/clock.sql': "-- now() in a comment is fine\nselect 'now()' as s,\n  now() as t",
      'gold/clock.yml': modelYml('clock'),
      'gold/insert.sql': 'insert into x values (1)',
      'gold/insert.yml': modelYml('insert'),
      'gold/view_as_of.sql': "select current_setting('medallion.as_of')::date as d",
      'gold/view_as_of.yml': modelYml('view_as_of', 'config:\n  materialized: view\n'),
      'silver/view_on_bronze.sql': 'select cst_id from bronze.cust_info',
      'silver/view_on_bronze.yml': modelYml('view_on_bronze', 'config:\n  materialized: view\n'),
      'gold/yaml.yaml': modelYml('yaml'),
    });
    const p = err.context.problems!;
    expect(p).toContain(`${dir}/silver/Bad-Name.sql: a model file name must be a lower-case SQL name (letters, digits, _), got 'Bad-Name'`);
    expect(p).toContain(`${dir}/silver/no_yml.sql: no no_yml.yml beside it; every model needs one (description, columns, tests)`);
    expect(p).toContain(`${dir}/silver/orphan.yml: no orphan.sql beside it; a .yml describes the .sql file of the same name`);
    expect(p).toContain(`${dir}/silver/two.sql:1: more than one statement; a model is one select statement`);
    expect(p).toContain(`${dir}/gold/clock.sql:3: now() makes the model depend on the wall clock; use current_setting('medallion.as_of')::date`);
    expect(p).toContain(`${dir}/gold/insert.sql:1: a model is one select statement (starting with select or with), got 'insert'`);
    expect(p.some((x) => x.startsWith(`${dir}/gold/view_as_of.yml: materialized: view, but`))).toBe(true);
    expect(p).toContain(`${dir}/gold/yaml.yaml: name the file yaml.yml (the runner reads .yml files)`);
    expect(p).toContain(`${dir}/silver/view_on_bronze.yml: materialized: view, but ${dir}/silver/view_on_bronze.sql reads bronze.cust_info; a model that reads bronze must be a table (a view would show each new load before its tests pass)`);
    expect(p).toHaveLength(9);
  });

  it('reads materialized: incremental with partition_by as a table with its partition column, and refuses either without the other', async () => {
    const project = await load({
      'gold/by_customer.sql': 'select 1::bigint as customer_id',
      'gold/by_customer.yml': modelYml('by_customer', 'config:\n  materialized: incremental\n  partition_by: customer_id\n'),
    });
    expect(project.models[0]).toMatchObject({ materialized: 'table', incremental: { partitionBy: 'customer_id' } });
    const err = await loadError({
      'gold/no_column.sql': 'select 1 as customer_id',
      'gold/no_column.yml': modelYml('no_column', 'config:\n  materialized: incremental\n'),
      'gold/not_incremental.sql': 'select 1 as customer_id',
      'gold/not_incremental.yml': modelYml('not_incremental', 'config:\n  materialized: table\n  partition_by: customer_id\n'),
    });
    const p = err.context.problems!;
    expect(p.some((x) => x.includes('no_column.yml') && x.includes("an incremental model needs 'partition_by'"))).toBe(true);
    expect(p.some((x) => x.includes('not_incremental.yml') && x.includes("'partition_by' is for 'materialized: incremental' models"))).toBe(true);
  });

  it('reads config.indexes of a table as column lists, each once, and refuses it on a view or in another shape', async () => {
    const project = await load({
      'gold/indexed.sql': 'select 1::bigint as customer_id, 2 as product_id',
      'gold/indexed.yml': modelYml('indexed', 'config:\n  indexes:\n    - columns: [customer_id]\n    - columns: [product_id, customer_id]\n    - columns: [customer_id]\n'),
    });
    expect(project.models[0]!.indexes).toEqual([['customer_id'], ['product_id', 'customer_id']]);
    const err = await loadError({
      'gold/on_view.sql': 'select 1 as customer_id',
      'gold/on_view.yml': modelYml('on_view', 'config:\n  materialized: view\n  indexes: [{ columns: [customer_id] }]\n'),
      'gold/not_list.sql': 'select 1 as customer_id',
      'gold/not_list.yml': modelYml('not_list', 'config:\n  indexes: { columns: [customer_id] }\n'),
      'gold/no_columns.sql': 'select 1 as customer_id',
      'gold/no_columns.yml': modelYml('no_columns', 'config:\n  indexes: [{ columns: [] }, { unique: true, columns: [customer_id] }]\n'),
    });
    const p = err.context.problems!;
    expect(p.some((x) => x.includes('on_view.yml') && x.includes("'indexes' is for tables"))).toBe(true);
    expect(p.some((x) => x.includes('not_list.yml') && x.includes('expected a list of indexes'))).toBe(true);
    expect(p.some((x) => x.includes('no_columns.yml') && x.includes('expected a non-empty list of column names'))).toBe(true);
    expect(p.some((x) => x.includes('no_columns.yml') && x.includes('unique'))).toBe(true);
  });

  it('reads partition_inputs and date_windows under config.meta of an incremental model, and refuses them elsewhere or on an input the model does not read', async () => {
    const meta = [
      'config:',
      '  materialized: incremental',
      '  partition_by: order_number',
      '  meta:',
      '    partition_inputs:',
      `      bronze.sales_details: "nullif(btrim(sls_ord_num), '')"`,
      '    date_windows:',
      '      silver.range:',
      '        columns: [as_of]',
      '        over: bronze.sales_details',
      '        dates: ["etl.real_date(2000, 1, 1)"]',
      '',
    ].join('\n');
    const project = await load({
      'silver/range.sql': "select current_setting('medallion.as_of')::date as as_of",
      'silver/range.yml': modelYml('range'),
      'silver/lines.sql': 'select nullif(btrim(sls_ord_num), \'\') as order_number from bronze.sales_details cross join silver.range',
      'silver/lines.yml': modelYml('lines', meta),
    });
    expect(project.models.find((m) => m.name === 'silver.lines')!.incremental).toEqual({
      partitionBy: 'order_number',
      partitionInputs: { 'bronze.sales_details': "nullif(btrim(sls_ord_num), '')" },
      dateWindows: { 'silver.range': { columns: ['as_of'], over: 'bronze.sales_details', dates: ['etl.real_date(2000, 1, 1)'] } },
    });
    // an input model without the partition column: the column (or expression) of its rows that gives it
    const byDate = await load({
      'silver/lines.sql': "select date '2014-01-01' as order_date",
      'silver/lines.yml': modelYml('lines'),
      'silver/days.sql': 'select order_date as date, count(*) as lines from silver.lines group by order_date',
      'silver/days.yml': modelYml('days', 'config:\n  materialized: incremental\n  partition_by: date\n  meta:\n    partition_inputs: { silver.lines: order_date }\n'),
    });
    expect(byDate.models.find((m) => m.name === 'silver.days')!.incremental).toEqual({ partitionBy: 'date', partitionInputs: { 'silver.lines': 'order_date' } });
    const err = await loadError({
      'silver/range.sql': "select current_setting('medallion.as_of')::date as as_of",
      'silver/range.yml': modelYml('range'),
      'silver/unread.sql': 'select 1 as order_number from silver.range',
      'silver/unread.yml': modelYml('unread', meta),
      'silver/table.sql': 'select 1 as order_number from bronze.sales_details',
      'silver/table.yml': modelYml('table', 'config:\n  meta:\n    partition_inputs: { bronze.sales_details: sls_ord_num }\n'),
      'silver/model_input.sql': 'select 1 as order_number from silver.range',
      'silver/model_input.yml': modelYml('model_input', 'config:\n  materialized: incremental\n  partition_by: order_number\n  meta:\n    partition_inputs: { range: as_of }\n'),
    });
    const p = err.context.problems!;
    expect(p.some((x) => x.includes('unread.yml: config.meta names bronze.sales_details, which') && x.includes('does not read'))).toBe(true);
    expect(p.some((x) => x.includes('table.yml') && x.includes("'partition_inputs' is for 'materialized: incremental' models"))).toBe(true);
    expect(p.some((x) => x.includes('model_input.yml') && x.includes("expected a bronze table or a model the model reads (bronze.<source>, silver.<name>), got 'range'"))).toBe(true);
  });

  it('reads bronze_lines (a partition_inputs table) and date_windows dates per column, and refuses them on another input or without every column', async () => {
    const meta = (lines: string, dates: string) =>
      [
        'config:',
        '  materialized: incremental',
        '  partition_by: order_number',
        '  meta:',
        '    partition_inputs:',
        `      bronze.sales_details: "nullif(btrim(sls_ord_num), '')"`,
        `    bronze_lines: { ${lines}: line_number }`,
        '    date_windows:',
        '      silver.range:',
        '        columns: [as_of, latest]',
        '        over: silver.lines',
        `        dates: ${dates}`,
        '',
      ].join('\n');
    const files = (yml: string) => ({
      'silver/range.sql': "select current_setting('medallion.as_of')::date as as_of, current_setting('medallion.as_of')::date + 365 as latest",
      'silver/range.yml': modelYml('range'),
      'silver/lines.sql': "select nullif(btrim(sls_ord_num), '') as order_number, _line_number as line_number, null::date as d1, null::date as d2 from bronze.sales_details cross join silver.range",
      'silver/lines.yml': modelYml('lines', yml),
    });
    const project = await load(files(meta('bronze.sales_details', '{ as_of: [d1], latest: [d1, d2] }')));
    expect(project.models.find((m) => m.name === 'silver.lines')!.incremental).toEqual({
      partitionBy: 'order_number',
      partitionInputs: { 'bronze.sales_details': "nullif(btrim(sls_ord_num), '')" },
      bronzeLines: { 'bronze.sales_details': 'line_number' },
      dateWindows: { 'silver.range': { columns: ['as_of', 'latest'], over: 'silver.lines', dates: ['d1', 'd2'], datesOf: { as_of: ['d1'], latest: ['d1', 'd2'] } } },
    });
    const err = await loadError(files(meta('bronze.cust_info', '{ as_of: [d1] }')));
    const p = err.context.problems!;
    expect(p.some((x) => x.includes('lines.yml') && x.includes("expected a bronze table under partition_inputs, got 'bronze.cust_info'"))).toBe(true);
    expect(p.some((x) => x.includes('lines.yml') && x.includes('per column of `columns`'))).toBe(true);
  });

  it('reads related_inputs under config.meta of an incremental model (an input model related by another column), and refuses it elsewhere, on bronze, on the partition column, beside a date window or on an input the model does not read', async () => {
    const files = {
      'silver/records.sql': 'select 1::bigint as customer_id, 1 as customer_key',
      'silver/records.yml': modelYml('records'),
      'silver/erp.sql': 'select 1 as customer_key',
      'silver/erp.yml': modelYml('erp'),
    };
    const related = (extra = '') => `config:\n  materialized: incremental\n  partition_by: customer_id\n  meta:\n    related_inputs: { silver.erp: customer_key${extra} }\n`;
    const join = 'select r.customer_id from silver.records as r left join silver.erp as e on e.customer_key = r.customer_key';
    const project = await load({ ...files, 'silver/joined.sql': join, 'silver/joined.yml': modelYml('joined', related()) });
    expect(project.models.find((m) => m.name === 'silver.joined')!.incremental).toEqual({ partitionBy: 'customer_id', relatedInputs: { 'silver.erp': 'customer_key' } });
    const err = await loadError({
      ...files,
      'silver/table.sql': join,
      'silver/table.yml': modelYml('table', 'config:\n  meta:\n    related_inputs: { silver.erp: customer_key }\n'),
      'silver/unread.sql': 'select customer_id from silver.records',
      'silver/unread.yml': modelYml('unread', related()),
      'silver/bronze.sql': 'select 1::bigint as customer_id from bronze.cust_info',
      'silver/bronze.yml': modelYml('bronze', related(', bronze.cust_info: cst_key')),
      'silver/own.sql': join,
      'silver/own.yml': modelYml('own', 'config:\n  materialized: incremental\n  partition_by: customer_id\n  meta:\n    related_inputs: { silver.records: customer_id }\n'),
      'silver/bad_column.sql': join,
      'silver/bad_column.yml': modelYml('bad_column', 'config:\n  materialized: incremental\n  partition_by: customer_id\n  meta:\n    related_inputs: { silver.erp: "upper(customer_key)" }\n'),
      'silver/windowed.sql': join,
      'silver/windowed.yml': modelYml(
        'windowed',
        `${related()}    date_windows:\n      silver.erp: { columns: [customer_key], over: silver.records, dates: ["date '2000-01-01'"] }\n`,
      ),
    });
    const p = err.context.problems!;
    expect(p.some((x) => x.includes('table.yml') && x.includes("'related_inputs' is for 'materialized: incremental' models"))).toBe(true);
    expect(p.some((x) => x.includes('unread.yml: config.meta names silver.erp, which') && x.includes('does not read'))).toBe(true);
    expect(p.some((x) => x.includes('bronze.yml') && x.includes('bronze.cust_info is a bronze table: give the expression of its rows\' partition under partition_inputs'))).toBe(true);
    expect(p.some((x) => x.includes('own.yml') && x.includes('customer_id is the partition column: an input that has it is filtered by it, with no declaration'))).toBe(true);
    expect(p.some((x) => x.includes('bad_column.yml') && x.includes("expected the column of silver.erp that relates its rows to the partitions, got 'upper(customer_key)'"))).toBe(true);
    expect(p.some((x) => x.includes('windowed.yml') && x.includes('silver.erp is also under date_windows'))).toBe(true);
  });

  it('reads planner_settings under config.meta (enable_* switches and max_parallel_workers_per_gather) and refuses any other setting or value', async () => {
    const settings = (body: string) => `config:\n  meta:\n    planner_settings:\n${body}`;
    const project = await load({
      'silver/steered.sql': 'select 1 as x',
      'silver/steered.yml': modelYml('steered', settings('      max_parallel_workers_per_gather: 0\n      enable_hashagg: off\n      enable_sort: true\n')),
      'silver/plain.sql': 'select 1 as x',
      'silver/plain.yml': modelYml('plain'),
    });
    expect(project.models.find((m) => m.name === 'silver.steered')!.plannerSettings).toEqual({ max_parallel_workers_per_gather: '0', enable_hashagg: 'off', enable_sort: 'on' });
    expect(project.models.find((m) => m.name === 'silver.plain')!.plannerSettings).toBeUndefined();
    const err = await loadError({
      'silver/memory.sql': 'select 1 as x',
      'silver/memory.yml': modelYml('memory', settings('      work_mem: 4GB\n')),
      'silver/workers.sql': 'select 1 as x',
      'silver/workers.yml': modelYml('workers', settings('      max_parallel_workers_per_gather: -1\n')),
      'silver/switch.sql': 'select 1 as x',
      'silver/switch.yml': modelYml('switch', settings('      enable_nestloop: sometimes\n')),
    });
    const p = err.context.problems!;
    expect(p.some((x) => x.includes('memory.yml') && x.includes("unknown planner setting 'work_mem'"))).toBe(true);
    expect(p.some((x) => x.includes('workers.yml') && x.includes('expected a whole number of workers (0 for none), got -1'))).toBe(true);
    expect(p.some((x) => x.includes('switch.yml') && x.includes('expected on or off (true or false), got "sometimes"'))).toBe(true);
  });

  it('reports YAML syntax errors and duplicate keys with their line', async () => {
    const err = await loadError({
      'silver/a.sql': 'select 1',
      'silver/a.yml': 'description: a\ndescription: b\n',
      'silver/b.sql': 'select 1',
      'silver/b.yml': 'columns: [\n',
      'silver/c.sql': 'select 1',
      'silver/c.yml': '- just a list\n',
    });
    const p = err.context.problems!;
    expect(p[0]).toMatch(new RegExp(`^${dir}/silver/a.yml:2: not valid YAML: Map keys must be unique`));
    expect(p[1]).toMatch(new RegExp(`^${dir}/silver/b.yml:\\d+: not valid YAML:`));
    expect(p[2]).toBe(`${dir}/silver/c.yml:1: expected dbt's properties shape: version: 2, models: [{name: c, description, config, columns, data_tests}]`);
  });

  it('rejects the same test name twice in the project', async () => {
    const err = await loadError({
      'silver/a.sql': 'select 1 as x',
      'silver/a.yml': modelYml('a', 'data_tests:\n  - dbt_utils.expression_is_true: { name: same, expression: "x > 0" }\n'),
      'silver/b.sql': 'select 1 as x',
      'silver/b.yml': modelYml('b', 'data_tests:\n  - dbt_utils.expression_is_true: { name: same, expression: "x > 0" }\n'),
    });
    expect(err.context.problems).toEqual([
      `${dir}/silver/b.yml: models[0].data_tests[0]: test name 'same' is already used by ${dir}/silver/a.yml (models[0].data_tests[0]); give one of them a different 'name'`,
    ]);
  });
});

describe('loadProject: references', () => {
  it('unknown model or non-source bronze table → MODEL_UNKNOWN_RELATION naming file and relation', async () => {
    const err = await loadError({
      'silver/a.sql': '-- silver.ghost in a comment is fine\nselect *\nfrom bronze.cust_info, bronze.not_a_source',
      'silver/a.yml': modelYml('a'),
      'gold/b.sql': 'select * from silver.a join silver.missing using (x)',
      'gold/b.yml': modelYml('b', 'data_tests:\n  - relationships: { column_name: x, to: silver.gone, field: x }\n'),
    });
    expect(err.code).toBe('MODEL_UNKNOWN_RELATION');
    expect(err.context.problems).toEqual([
      `${dir}/silver/a.sql:3: bronze.not_a_source is not a source table (sources: cust_az12, cust_info, loc_a101, prd_info, px_cat_g1v2, sales_details)`,
      `${dir}/gold/b.sql:1: silver.missing is not a model (no sql/silver/missing.sql)`,
      `${dir}/gold/b.yml: test 'relationships_gold_b_x_to_silver_gone_x': silver.gone is not a model (no sql/silver/gone.sql)`,
    ]);
    expect(err.context).toMatchObject({ file: `${dir}/silver/a.sql`, line: 3, relation: 'bronze.not_a_source' });
  });

  it('a single unknown relation is the message', async () => {
    const err = await loadError({ 'gold/b.sql': 'select * from silver.missing', 'gold/b.yml': modelYml('b') });
    expect(err.message).toBe('silver.missing is not a model (no sql/silver/missing.sql)');
    expect(err.context).toMatchObject({ file: `${dir}/gold/b.sql`, line: 1 });
  });
});

describe('loadProject: build order', () => {
  it('orders by dependencies, alphabetically among equals', async () => {
    const project = await load({
      'silver/z_base.sql': 'select 1 as x',
      'silver/z_base.yml': modelYml('z_base'),
      'silver/b.sql': 'select * from silver.z_base',
      'silver/b.yml': modelYml('b'),
      'silver/a.sql': 'select * from silver.z_base, silver.b',
      'silver/a.yml': modelYml('a'),
      'silver/c.sql': 'select 1 as x',
      'silver/c.yml': modelYml('c'),
      'gold/a.sql': 'select * from silver.c',
      'gold/a.yml': modelYml('a'),
      'gold/early.sql': 'select 1 as x',
      'gold/early.yml': modelYml('early'),
    });
    expect(project.models.map((m) => m.name)).toEqual(['gold.early', 'silver.c', 'gold.a', 'silver.z_base', 'silver.b', 'silver.a']);
  });

  it('a cycle → MODEL_CYCLE naming the cycle path', async () => {
    const err = await loadError({
      'silver/a.sql': 'select * from silver.c',
      'silver/a.yml': modelYml('a'),
      'silver/b.sql': 'select * from silver.a',
      'silver/b.yml': modelYml('b'),
      'silver/c.sql': 'select * from silver.b',
      'silver/c.yml': modelYml('c'),
      'silver/free.sql': 'select 1',
      'silver/free.yml': modelYml('free'),
    });
    expect(err.code).toBe('MODEL_CYCLE');
    expect(err.message).toBe('models depend on each other in a cycle: silver.a → silver.b → silver.c → silver.a');
    expect(err.context).toMatchObject({ cycle: ['silver.a', 'silver.b', 'silver.c', 'silver.a'], file: `${dir}/silver/a.sql` });
  });

  it('a model reading itself is a cycle', async () => {
    const err = await loadError({ 'silver/a.sql': 'select * from silver.a', 'silver/a.yml': modelYml('a') });
    expect(err.code).toBe('MODEL_CYCLE');
    expect(err.message).toMatch(/silver\.a → silver\.a$/);
  });
});

describe('loadProject: column roles (meta.role)', () => {
  it('reads each column role and refuses an unknown role, an unknown meta key and two roles for one column, with file:line', async () => {
    const project = await load({
      'gold/g.sql': 'select 1 as id, 2 as n',
      'gold/g.yml': modelYml('g', `
columns:
  - name: id
    description: the key.
    meta: { role: key }
  - name: n
    meta: { role: feature }
  - name: n
    data_tests: [not_null]
`),
    });
    expect(project.models[0]!.columns).toEqual([{ name: 'id', description: 'the key.', role: 'key' }, { name: 'n', role: 'feature' }]);
    await removeProject(dir);

    const err = await loadError({
      'gold/g.sql': 'select 1 as id, 2 as n',
      'gold/g.yml': [
        'version: 2',
        'models:',
        '  - name: g',
        '    columns:',
        '      - name: id',
        '        meta: { role: identifier }',
        '      - name: n',
        '        meta: { role: feature, owner: me }',
        '      - name: n',
        '        meta: { role: lifetime }',
        '',
      ].join('\n'),
    });
    const f = `${dir}/gold/g.yml`;
    expect(err.context.problems).toEqual([
      `${f}:6: models[0].columns[0].meta.role: expected one of key, feature, lifetime, label, attribute, got 'identifier'`,
      `${f}:8: models[0].columns[1].meta.owner: unknown key 'owner' (expected one of role)`,
      `${f}:10: models[0].columns[2].meta.role: n is already declared with role 'feature'; a column has one role`,
    ]);
  });
});

describe('loadProject: the export leave-out (config.meta.export.leave_out)', () => {
  const columns = ['columns:', '  - name: id', '    meta: { role: key }', '  - name: name', '    meta: { role: attribute }', '  - name: age', '    meta: { role: feature }'];

  it('reads the columns a gold model leaves out of its export, and marks them in the column docs', async () => {
    const project = await load({
      'gold/g.sql': "select 1 as id, 'a' as name, 30 as age",
      'gold/g.yml': modelYml('g', [...columns, 'config:', '  meta:', '    export:', '      leave_out: [name, age]', ''].join('\n')),
    });
    expect(project.models[0]!.exportLeaveOut).toEqual(['name', 'age']);
    const docs = columnDocsOf(project, 'gold').g!;
    expect(Object.entries(docs).filter(([, c]) => c.leaveOut).map(([n]) => n)).toEqual(['name', 'age']);
    expect(docs.id!.leaveOut).toBeUndefined();
  });

  it('refuses a column the model does not list, a key column, an unknown key and a model outside gold, with file:line (MODEL_FILE_INVALID)', async () => {
    const err = await loadError({
      'gold/g.sql': "select 1 as id, 'a' as name, 30 as age",
      'gold/g.yml': modelYml('g', [...columns, 'config:', '  unique_key: [name]', '  meta:', '    export:', '      leave_out: [agee, id, name]', '      keep: [age]', ''].join('\n')),
      'silver/s.sql': 'select 1 as id',
      'silver/s.yml': modelYml('s', ['columns:', '  - name: id', 'config:', '  meta:', '    export: { leave_out: id }', ''].join('\n')),
    });
    expect(err.code).toBe('MODEL_FILE_INVALID');
    const g = `${dir}/gold/g.yml`;
    const s = `${dir}/silver/s.yml`;
    expect(err.context.problems).toEqual([
      `${s}:8: models[0].config.meta.export: 'export' is for gold models (the layer the Parquet export writes)`,
      `${g}:16: models[0].config.meta.export.keep: unknown key 'keep' (expected one of leave_out)`,
      `${g}:15: models[0].config.meta.export.leave_out[0]: 'agee' is not a column of gold.g (expected one listed under its columns:)`,
      `${g}:15: models[0].config.meta.export.leave_out[1]: 'id' is a key column: readers find and join the rows by it, so the export keeps it`,
      `${g}:15: models[0].config.meta.export.leave_out[2]: 'name' is a key column: readers find and join the rows by it, so the export keeps it`,
    ]);
  });
});

describe('loadProject: config.unlogged', () => {
  it('is read on tables; a view, a gold table and the storage of a view users read may not declare it', async () => {
    const project = await load({
      'silver/int_a.sql': 'select 1 as x',
      'silver/int_a.yml': modelYml('int_a', 'config: { unlogged: true }\n'),
      'silver/int_b.sql': 'select x from silver.int_a',
      'silver/int_b.yml': modelYml('int_b', 'config: { materialized: view }\n'),
    });
    expect(project.models.find((m) => m.name === 'silver.int_a')!.unlogged).toBe(true);
    expect(project.models.find((m) => m.name === 'silver.int_b')!.unlogged).toBeUndefined();
    const err = await loadError({
      'silver/int_a.sql': 'select 1 as x',
      'silver/int_a.yml': modelYml('int_a', 'config: { unlogged: true }\n'),
      'silver/int_v.sql': 'select x from silver.int_a',
      'silver/int_v.yml': modelYml('int_v', 'config: { materialized: view }\n'),
      'silver/int_w.sql': 'select 2 as y',
      'silver/int_w.yml': modelYml('int_w', 'config: { materialized: view, unlogged: true }\n'),
      'silver/clean.sql': 'select x from silver.int_v',
      'silver/clean.yml': modelYml('clean', 'config: { materialized: view }\n'),
      'gold/g.sql': 'select x from silver.int_a',
      'gold/g.yml': modelYml('g', 'config: { unlogged: true }\n'),
    });
    expect(err.context.problems).toEqual([
      `${dir}/silver/int_w.yml:4: models[0].config.unlogged: 'unlogged' is for tables ('materialized: table' or 'incremental'); a view stores nothing`,
      `${dir}/silver/int_a.yml: config.unlogged: silver.clean, a view users read, reads silver.int_a; a server crash would empty it under them (keep it logged)`,
      `${dir}/gold/g.yml: config.unlogged: a gold table is what users and the export read; a server crash would empty it`,
    ]);
  });
});
