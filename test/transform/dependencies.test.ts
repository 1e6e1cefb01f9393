import { describe, expect, it } from 'vitest';
import { schemaNames } from '../../src/config.ts';
import { compileSql, stagingSchemas } from '../../src/transform/compile.ts';
import { extractReferences, referencedRelations } from '../../src/transform/dependencies.ts';
import { maskSql } from '../../src/transform/sql-lexer.ts';

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

  it('masks to the same length with newlines kept', () => {
    const sql = "select 'a\nb' -- c\n, 1";
    const masked = maskSql(sql);
    expect(masked.length).toBe(sql.length);
    expect(masked.split('\n').length).toBe(sql.split('\n').length);
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
