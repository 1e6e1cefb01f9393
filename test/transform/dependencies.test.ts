import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { schemaNames } from '../../src/config.ts';
import { MedallionError } from '../../src/errors.ts';
import { compileSql, stagingSchemas } from '../../src/transform/compile.ts';
import { extractReferences, referencedRelations, relationsRead } from '../../src/transform/dependencies.ts';
import { loadProject } from '../../src/transform/project.ts';
import { withoutTrailingSemicolon } from '../../src/transform/sql-lexer.ts';
import { extractFunctionReferences, readFunctionSql, readModelSql } from '../../src/transform/sql-parser.ts';
import { caught, removeProject, SOURCES, modelYml, writeProject } from './helpers.ts';

const SQL_DIR = path.resolve(import.meta.dirname, '../../sql');

describe('extractReferences', () => {
  it('finds schema-qualified references in code', () => {
    const sql = 'select * from bronze.cust_info c join silver.customers s on s.id = c.id join gold.x using (id)';
    expect(referencedRelations(sql)).toEqual(['bronze.cust_info', 'gold.x', 'silver.customers']);
  });

  it('ignores comments, string literals, dollar quotes and quoted identifiers', () => {
    const sql = [
      '-- reads silver.in_line_comment',
      '/* silver.in_block /* nested silver.nested */ still gold.comment */',
      "select 'silver.in_string', e'it''s \\' silver.escaped', $$ gold.dollar $$, $tag$ silver.tagged $tag$,",
      "  U&'from silver.unicode', 'from silver.x' as \"from silver.y\",",
      '  "silver.quoted_identifier", x.silver.not_schema, mysilver.not_schema',
      'from silver.real',
    ].join('\n');
    expect(referencedRelations(sql)).toEqual(['silver.real']);
  });

  it('does not take $1 or identifiers with $ for dollar quotes', () => {
    expect(referencedRelations('select a$b, $1 from silver.t where x = $2 and y = silver.u.col')).toEqual(['silver.t', 'silver.u']);
  });

  it('folds case and accepts blanks and comments around the dot', () => {
    expect(referencedRelations('select * from Silver . Customers, gold/* c */.facts')).toEqual(['gold.facts', 'silver.customers']);
  });

  it('reports the offsets of the schema word', () => {
    const [ref] = extractReferences('select 1 from silver.a');
    expect(ref).toMatchObject({ layer: 'silver', name: 'a', schemaStart: 14, schemaEnd: 20 });
  });

  it('counts offsets in characters when the text before holds multi-byte characters', () => {
    const sql = '-- café → naïve 🚀\nselect \'é\' as x from SILVER.a, "gold".b';
    expect(extractReferences(sql).map((r) => sql.slice(r.schemaStart, r.schemaEnd))).toEqual(['SILVER', '"gold"']);
  });

  it('measures a schema written as a Unicode-escaped identifier', () => {
    const sql = 'select * from U&"\\0073ilver".a';
    const [ref] = extractReferences(sql);
    expect(ref).toMatchObject({ relation: 'silver.a' });
    expect(sql.slice(ref!.schemaStart, ref!.schemaEnd)).toBe('U&"\\0073ilver"');
  });

  it('keyword operators with FROM are not a FROM clause: is distinct from, extract, substring, overlay, trim', () => {
    const sql = `select a is distinct from b as changed, extract(year from d) as y, substring(s from 2) as s2,
      overlay(s placing 'x' from 2 for 1) as o, trim(both ' ' from s) as t, a is not distinct from b as same
      from silver.t`;
    expect(extractReferences(sql).map((r) => r.relation)).toEqual(['silver.t']);
  });

  it('a CTE is not a reference, whatever it is called; a CTE named like a layer neither', () => {
    expect(referencedRelations('with customers as (select 1 as id) select * from customers')).toEqual([]);
    expect(referencedRelations('with silver as (select 1 as x) select silver.x from silver')).toEqual([]);
  });

  it('finds references in subqueries, lateral joins, set operations and nested CTEs', () => {
    const sql = `with a as (with b as (select * from bronze.cust_info) select * from b)
      select (select max(x) from silver.m) as m from a
      cross join lateral (select * from silver.l where l.id = a.id) as l
      where exists (select from gold.e) union all select 1 from silver.u`;
    expect(referencedRelations(sql)).toEqual(['bronze.cust_info', 'gold.e', 'silver.l', 'silver.m', 'silver.u']);
  });

  it('reads an expression as a where clause holds it (test and rule predicates)', () => {
    expect(referencedRelations('customer_id in (select customer_id from silver.customers) and x is distinct from y')).toEqual(['silver.customers']);
    expect(referencedRelations('first_name_raw is distinct from first_name')).toEqual([]);
  });

  it('SQL the parser rejects has no references (the server reports the error when it runs)', () => {
    expect(referencedRelations('select from from silver.x where')).toEqual([]);
  });
});

describe('the repository models (sql/silver, sql/gold)', () => {
  // The graph of the repository's models, model for model: a change to it is a deliberate edit here.
  const EXPECTED: Record<string, string[]> = {
    'gold.customer_features': ['silver.int_customer_profiles'],
    'gold.customer_training_set': ['silver.int_customer_cutoffs', 'silver.int_training_cutoffs', 'silver.int_training_thresholds'],
    'gold.fact_sales': ['silver.customers', 'silver.int_product_versions', 'silver.sales_clean'],
    'gold.sales_daily': ['silver.int_sales_daily_calendar', 'silver.int_sales_daily_totals'],
    'silver.customers': ['silver.int_customers'],
    'silver.customers_quarantine': ['silver.int_customer_records', 'silver.int_erp_demographics', 'silver.int_erp_locations'],
    'silver.int_customer_cutoffs': ['silver.int_customer_days', 'silver.int_training_cutoffs'],
    'silver.int_customer_days': ['silver.customers', 'silver.int_product_versions', 'silver.int_sales_line_products', 'silver.sales_clean'],
    'silver.int_customer_orders': ['silver.int_sales_line_products'],
    'silver.int_customer_profiles': ['silver.customers', 'silver.int_customer_orders'],
    'silver.int_customer_records': ['bronze.cust_info'],
    'silver.int_customers': ['silver.int_customer_records', 'silver.int_erp_demographics', 'silver.int_erp_locations', 'silver.int_sales_lines'],
    'silver.int_birthdate_bounds': [],
    'silver.int_erp_demographics': ['bronze.cust_az12', 'silver.int_birthdate_bounds'],
    'silver.int_erp_locations': ['bronze.loc_a101'],
    'silver.int_product_categories': ['bronze.px_cat_g1v2'],
    'silver.int_product_records': ['bronze.prd_info'],
    'silver.int_product_versions': ['silver.products'],
    'silver.int_sales_date_range': ['bronze.prd_info'],
    'silver.int_sales_daily_calendar': ['silver.int_sales_daily_totals'],
    'silver.int_sales_daily_totals': ['silver.int_sales_line_products'],
    'silver.int_sales_line_products': ['silver.int_product_versions', 'silver.sales_clean'],
    'silver.int_sales_lines': ['bronze.sales_details', 'silver.int_sales_date_range', 'silver.int_sales_ship_lead_time'],
    'silver.int_sales_date_pairs': ['bronze.sales_details'],
    'silver.int_sales_ship_lead_time': ['silver.int_sales_date_pairs'],
    'silver.products': ['silver.int_product_categories', 'silver.int_product_records'],
    'silver.products_quarantine': ['silver.int_product_categories', 'silver.int_product_records'],
    'silver.sales_clean': ['silver.int_sales_lines'],
    'silver.sales_quarantine': ['bronze.sales_details', 'silver.int_sales_lines'],
    'silver.int_training_cutoffs': [],
    'silver.int_training_thresholds': ['silver.int_customer_cutoff_values'],
    'silver.int_customer_cutoff_values': ['silver.int_customer_cutoffs'],
  };
  // Tests that read more than their own model (and a relationship's parent); every other test reads just that.
  const TESTS_READING_MORE: Record<string, string[]> = {
    customers_bronze_eq_silver_plus_superseded_plus_quarantine: ['bronze.cust_info', 'silver.customers', 'silver.customers_quarantine', 'silver.int_customer_records', 'silver.int_customers'],
    erp_demographics_bronze_eq_kept_plus_superseded_plus_quarantine: ['bronze.cust_az12', 'silver.customers', 'silver.customers_quarantine', 'silver.int_erp_demographics'],
    erp_locations_bronze_eq_kept_plus_superseded_plus_quarantine: ['bronze.loc_a101', 'silver.customers', 'silver.customers_quarantine', 'silver.int_erp_locations'],
    categories_bronze_eq_kept_plus_superseded_plus_quarantine: ['bronze.px_cat_g1v2', 'silver.int_product_categories', 'silver.products_quarantine'],
    products_bronze_eq_silver_plus_superseded_plus_quarantine: ['bronze.prd_info', 'silver.int_product_records', 'silver.products', 'silver.products_quarantine'],
    order_date_plausible: ['silver.int_sales_date_range', 'silver.sales_clean'],
    sales_lines_bronze_eq_silver_plus_superseded_plus_quarantine: ['bronze.sales_details', 'silver.int_sales_lines', 'silver.sales_clean', 'silver.sales_quarantine'],
    fact_sales_customer_coverage: ['gold.fact_sales', 'silver.customers'],
    fact_sales_product_coverage: ['gold.fact_sales', 'silver.products'],
    fact_sales_category_coverage: ['gold.fact_sales', 'silver.int_product_categories'],
    product_version_valid_at_order_date: ['gold.fact_sales', 'silver.products'],
    sales_lines_bronze_eq_fact_plus_quarantine_plus_collapsed: ['bronze.sales_details', 'gold.fact_sales', 'silver.int_sales_lines', 'silver.sales_quarantine'],
    sales_lines_silver_eq_gold: ['gold.fact_sales', 'silver.sales_clean'],
    sales_amount_silver_eq_gold: ['gold.fact_sales', 'silver.sales_clean'],
    customers_silver_eq_features: ['gold.customer_features', 'silver.customers'],
    customer_spend_eq_fact: ['gold.customer_features', 'gold.fact_sales'],
    revenue_eq_fact: ['gold.fact_sales', 'gold.sales_daily'],
    profit_eq_fact: ['gold.fact_sales', 'gold.sales_daily'],
  };

  it('every model file yields its dependency list', () => {
    const found: Record<string, string[]> = {};
    for (const layer of ['silver', 'gold']) {
      for (const f of readdirSync(path.join(SQL_DIR, layer)).filter((x) => x.endsWith('.sql'))) {
        const file = path.join(SQL_DIR, layer, f);
        const problems: string[] = [];
        const read = readModelSql(readFileSync(file, 'utf8'), file, problems);
        expect(problems).toEqual([]);
        found[`${layer}.${f.slice(0, -4)}`] = read!.dependencies;
      }
    }
    expect(found).toEqual(EXPECTED);
  });

  it('loadProject gives each model those dependencies, and each test the relations it reads', async () => {
    const project = await loadProject({ sqlDir: SQL_DIR });
    expect(Object.fromEntries(project.models.map((m) => [m.name, m.dependencies]))).toEqual(EXPECTED);
    const tests = project.models.flatMap((m) => m.tests);
    expect(tests.length).toBeGreaterThan(100);
    for (const t of tests) {
      const expected = TESTS_READING_MORE[t.name] ?? [...new Set([t.model, ...(t.kind === 'relationships' ? [t.to] : [])])].sort();
      expect([...relationsRead(t)].sort(), t.name).toEqual(expected);
    }
    for (const r of project.models.flatMap((m) => m.rules)) expect(referencedRelations(r.where ?? ''), r.name).toEqual([]);
  });
});

describe('readModelSql: one select statement that only reads, without the clock', () => {
  const read = (text: string) => {
    const problems: string[] = [];
    const result = readModelSql(text, 'm.sql', problems);
    return { result, problems };
  };

  it('returns the statement without its final semicolon, its dependencies and whether it reads as_of', () => {
    const { result, problems } = read("-- header\nselect current_setting('medallion.as_of')::date as d from silver.a; -- done\n");
    expect(problems).toEqual([]);
    expect(result).toEqual({ sql: "-- header\nselect current_setting('medallion.as_of')::date as d from silver.a", dependencies: ['silver.a'], readsAsOf: true });
    expect(read('select 1 as x -- medallion.as_of in a comment').result?.readsAsOf).toBe(false);
  });

  it('a syntax error names the line PostgreSQL stopped at', () => {
    expect(read('select a,\n  b\nfrm silver.t').problems).toEqual(['m.sql:3: syntax error at or near "silver" (a model is one select statement that PostgreSQL can parse)']);
    expect(read("select 'unterminated").problems[0]).toMatch(/^m\.sql:1: unterminated quoted string/);
  });

  it('no SQL, several statements, or another statement than a select', () => {
    expect(read('-- nothing\n').problems).toEqual(['m.sql: no SQL (a model is one select statement)']);
    // the line where the second statement starts
    expect(read('select 1;\n\nselect 2;').problems).toEqual(['m.sql:3: more than one statement; a model is one select statement']);
    expect(read('select 1;;')).toMatchObject({ problems: [], result: { sql: 'select 1' } }); // empty statements are nothing, as in psql
    expect(read('-- x\ninsert into silver.x values (1)').problems).toEqual(["m.sql:2: a model is one select statement (starting with select or with), got 'insert'"]);
    expect(read("select ';' as semicolon, $$;$$ as too -- ;\n").problems).toEqual([]);
  });

  it('a select that writes: select into, for update, a data-modifying CTE', () => {
    expect(read('select 1 as x\ninto silver.t').problems).toEqual(['m.sql:2: select … into creates a table; a model is a plain select (the runner creates its table)']);
    expect(read('select * from silver.t\nfor update').problems).toEqual(['m.sql:2: a model only reads; remove the locking clause (for update / for share)']);
    expect(read('with gone as (\n  delete from bronze.cust_info returning *\n)\nselect * from gone').problems).toEqual(["m.sql:1: a model only reads; the CTE 'gone' holds delete statement"]);
  });

  it('clock functions, the SQL value keywords and the clock literals, each with its line', () => {
    const sql = [
      'select now() as a,',
      '  pg_catalog.clock_timestamp() as b,',
      '  current_date as c, localtimestamp(3) as d,',
      "  'today'::date as e, timestamp 'now' as f,",
      "  'now' as text_is_fine, 'now()' as g, t.now_ts, current_setting('medallion.as_of')::date as h -- now()",
      'from silver.t',
    ].join('\n');
    expect(read(sql).problems).toEqual([
      "m.sql:1: now() makes the model depend on the wall clock; use current_setting('medallion.as_of')::date",
      "m.sql:2: clock_timestamp() makes the model depend on the wall clock; use current_setting('medallion.as_of')::date",
      "m.sql:3: current_date makes the model depend on the wall clock; use current_setting('medallion.as_of')::date",
      "m.sql:3: localtimestamp makes the model depend on the wall clock; use current_setting('medallion.as_of')::date",
      "m.sql:4: 'today' cast to a date or time makes the model depend on the wall clock; use current_setting('medallion.as_of')::date",
      "m.sql:4: 'now' cast to a date or time makes the model depend on the wall clock; use current_setting('medallion.as_of')::date",
    ]);
  });
});

describe('loadProject reports a model that does not parse as MODEL_FILE_INVALID', () => {
  let dir: string | undefined;
  afterEach(async () => {
    await removeProject(dir);
    dir = undefined;
  });

  it('naming the file and the line', async () => {
    dir = await writeProject({
      'silver/a.sql': '-- a\nselect cst_id\nfrom bronze.cust_info\nwhere cst_id is distinct from from',
      'silver/a.yml': modelYml('a'),
      'silver/b.sql': "with gone as (delete from bronze.cust_info returning *)\nselect * from gone",
      'silver/b.yml': modelYml('b'),
    });
    const err = (await caught(loadProject({ sqlDir: dir, sources: SOURCES }))) as unknown as MedallionError & { context: { problems: string[]; file: string } };
    expect(err).toBeInstanceOf(MedallionError);
    expect(err.code).toBe('MODEL_FILE_INVALID');
    expect(err.context.file).toBe(`${dir}/silver/a.sql`);
    expect(err.context.problems).toEqual([
      `${dir}/silver/a.sql:4: syntax error at or near "from" (a model is one select statement that PostgreSQL can parse)`,
      `${dir}/silver/b.sql:1: a model only reads; the CTE 'gone' holds delete statement`,
    ]);
  });
});

describe('compileSql', () => {
  const schemas = schemaNames('dev');

  it('rewrites bronze to the target and silver/gold to the staging schemas', () => {
    expect(stagingSchemas(schemas)).toEqual({ silver: 'dev_silver_next', gold: 'dev_gold_next' });
    const { sql } = compileSql("select * from bronze.cust_info b join silver.customers c using (id) -- silver.x\nwhere 'gold.y' <> gold.z.col", schemas);
    expect(sql).toBe(`select * from "dev_bronze".cust_info b join "dev_silver_next".customers c using (id) -- silver.x\nwhere 'gold.y' <> "dev_gold_next".z.col`);
  });

  it('without a target uses the plain schema names', () => {
    expect(compileSql('select * from bronze.a, silver.b', schemaNames(null)).sql).toBe('select * from "bronze".a, "silver_next".b');
  });

  it('maps offsets in the compiled text back to the original', () => {
    const original = 'select x\nfrom silver.a\nwhere oops';
    const compiled = compileSql(original, schemas);
    const at = compiled.sql.indexOf('oops');
    expect(compiled.originalOffset(at)).toBe(original.indexOf('oops'));
    expect(compiled.originalOffset(compiled.sql.indexOf('"dev_silver_next"') + 3)).toBe(original.indexOf('silver'));
    expect(compiled.originalOffset(3)).toBe(3);
  });

  it('rewrites the references of an expression (a rule or test predicate) at their place', () => {
    expect(compileSql("note <> 'silver.x' and id in (select id from silver.customers) -- gold.y", schemas).sql).toBe(
      `note <> 'silver.x' and id in (select id from "dev_silver_next".customers) -- gold.y`,
    );
  });

  it('rewrites the right characters after multi-byte text', () => {
    expect(compileSql("-- Überblick → silver\nselect 'naïve' as x, gold.a.y from gold.a", schemas).sql).toBe(
      `-- Überblick → silver\nselect 'naïve' as x, "dev_gold_next".a.y from "dev_gold_next".a`,
    );
  });
});

describe('etl function calls', () => {
  const schemas = schemaNames('dev');

  it('rewrites the etl of a function call to the target etl schema, in code only, and is no dependency', () => {
    const sql = [
      "select etl.real_date(y, m, d) as a, ETL . real_date(1, 2, 3), \"etl\".real_date(1, 2, 3) -- etl.real_date(0, 0, 0)",
      "from silver.t where etl.real_date(silver.t.y, 1, 1) is not null and 'etl.real_date(1, 1, 1)' <> s",
    ].join('\n');
    expect(compileSql(sql, schemas).sql).toBe(
      [
        'select "dev_etl".real_date(y, m, d) as a, "dev_etl" . real_date(1, 2, 3), "dev_etl".real_date(1, 2, 3) -- etl.real_date(0, 0, 0)',
        `from "dev_silver_next".t where "dev_etl".real_date("dev_silver_next".t.y, 1, 1) is not null and 'etl.real_date(1, 1, 1)' <> s`,
      ].join('\n'),
    );
    expect(referencedRelations(sql)).toEqual(['silver.t']);
    expect(extractFunctionReferences(sql).map((f) => f.name)).toEqual(['real_date', 'real_date', 'real_date', 'real_date']);
  });

  it('leaves a relation or column of a schema named etl, and a function of another schema, as written', () => {
    const sql = 'select etl.runs.run_id, db.etl.f(1), public.f(2), f(3) from etl.runs';
    expect(compileSql(sql, schemas).sql).toBe(sql);
  });

  it('rewrites the name a create function statement gives and the etl calls of its body', () => {
    const sql = '-- create function etl.commented()\nCREATE OR REPLACE FUNCTION etl.f(x int) returns int language sql immutable\nreturn etl.g(x) + 1;';
    expect(compileSql(sql, schemas).sql).toBe('-- create function etl.commented()\nCREATE OR REPLACE FUNCTION "dev_etl".f(x int) returns int language sql immutable\nreturn "dev_etl".g(x) + 1;');
  });

  it('a rule or test predicate calling an etl function is rewritten too', () => {
    expect(compileSql('etl.real_date(2024, 2, 29) is null', schemas).sql).toBe('"dev_etl".real_date(2024, 2, 29) is null');
  });
});

describe('readFunctionSql', () => {
  it('accepts one create function etl.<file stem>; returns it without the final semicolon', () => {
    const problems: string[] = [];
    expect(readFunctionSql('-- doc\ncreate or replace function etl.f() returns int language sql return 1;\n', 'fns/f.sql', 'f', problems)).toBe(
      '-- doc\ncreate or replace function etl.f() returns int language sql return 1',
    );
    expect(problems).toEqual([]);
  });

  it('names the file and line of each problem: another name or schema, another statement, a syntax error', () => {
    const problems: string[] = [];
    expect(readFunctionSql('create function public.f() returns int language sql return 1', 'f.sql', 'f', problems)).toBeUndefined();
    expect(readFunctionSql('create function etl.g() returns int language sql return 1', 'f.sql', 'f', problems)).toBeUndefined();
    expect(readFunctionSql('create function etl.f() returns int language sql return 1;\ndrop table x', 'f.sql', 'f', problems)).toBeUndefined();
    expect(readFunctionSql('\nselect 1', 'f.sql', 'f', problems)).toBeUndefined();
    expect(readFunctionSql('create function etl.f( returns', 'f.sql', 'f', problems)).toBeUndefined();
    expect(problems).toEqual([
      'f.sql:1: the function is named public.f; a file of sql/functions creates etl.f, named after the file',
      'f.sql:1: the function is named etl.g; a file of sql/functions creates etl.f, named after the file',
      'f.sql:2: more than one statement; a function file is one create function statement',
      'f.sql:2: a function file is one statement, create or replace function etl.f(…)',
      "f.sql:1: syntax error at end of input (a function file is one create function statement that PostgreSQL can parse)",
    ]);
  });

  it('every file of sql/functions passes', () => {
    const dir = path.join(SQL_DIR, 'functions');
    const files = readdirSync(dir).filter((f) => f.endsWith('.sql'));
    expect(files.length).toBeGreaterThan(0);
    const problems: string[] = [];
    for (const f of files) readFunctionSql(readFileSync(path.join(dir, f), 'utf8'), f, f.slice(0, -4), problems);
    expect(problems).toEqual([]);
  });
});

describe('withoutTrailingSemicolon', () => {
  it('drops a final semicolon and the comments after it, nothing else', () => {
    expect(withoutTrailingSemicolon('select 1; -- done\n')).toBe('select 1');
    expect(withoutTrailingSemicolon("select ';'")).toBe("select ';'");
    expect(withoutTrailingSemicolon('select 1 -- ;')).toBe('select 1 -- ;');
    expect(withoutTrailingSemicolon("select 'unterminated;")).toBe("select 'unterminated;");
  });
});

describe('quoted identifiers', () => {
  it('a quoted schema or table is still a reference (so it is checked and rewritten)', () => {
    expect(referencedRelations('select * from "silver".customers, silver."Products", "gold"."x", bronze . "cust_info"')).toEqual([
      'bronze.cust_info',
      'gold.x',
      'silver.Products',
      'silver.customers',
    ]);
    expect(compileSql('select * from "silver".customers, silver."Products"', schemaNames('dev')).sql).toBe('select * from "dev_silver_next".customers, "dev_silver_next"."Products"');
  });

  it('"Silver" (another schema), "silver.x" (one identifier) and a column named silver are not references', () => {
    expect(referencedRelations('select "Silver".a, "silver.x", t."silver", silver from t')).toEqual([]);
  });
});
