/**
 * Compile: rewrite the schema of every reference to the schemas of this run — `bronze` to the
 * target's bronze schema, `silver` and `gold` to the staging schemas the build writes into
 * (`schemas.staging`: the run's own `<silver>__run_<id>`, `<gold>__run_<id>` inside a run), and
 * the `etl` of a function call (`etl.real_date(…)`, sql/functions) to the target's etl schema,
 * which no publish renames. Only the schema word changes; comments, literals and layout are kept, and the returned offset map lets
 * an error position in the compiled text be traced back to a line of the .sql file.
 */
import type { SchemaNames } from '../config.ts';
import { ident } from '../db/index.ts';
import { extractReferences } from './dependencies.ts';
import { extractFunctionReferences } from './sql-parser.ts';
import { lineAndColumn } from './sql-lexer.ts';
import type { RelationName, SourceLayer, StagingSchemas } from './types.ts';

export function stagingSchemas(schemas: SchemaNames): StagingSchemas {
  return schemas.staging;
}

/**
 * A POSIX regular expression (for `nspname ~ $1`) that matches the staging schema of any run of
 * this target: `<silver>__run_<id>`, `<gold>__run_<id>`, and the `<silver>_next`, `<gold>_next`
 * that a build outside a run writes. Another target's schemas never match: the pattern is anchored
 * at both ends and a target's schemas all start with its own prefix.
 */
export function stagingSchemaPattern(schemas: SchemaNames): string {
  return `^(${[schemas.silver, schemas.gold].map(literalPattern).join('|')})(__run_[0-9]+|_next)(${UPDATE_SCHEMA_INFIX}[0-9]+)?$`;
}

/**
 * A POSIX regular expression (for `nspname ~ $1`) that matches the update schemas
 * (`<staging>_u<n>`) of the given staging schemas, and nothing else.
 */
export function updateSchemaPattern(staging: readonly string[]): string {
  return `^(${staging.map(literalPattern).join('|')})${UPDATE_SCHEMA_INFIX}[0-9]+$`;
}

/** A schema name as a regular expression that matches it only: every character but [a-z0-9_] escaped. */
function literalPattern(name: string): string {
  return name.replace(/[^a-z0-9_]/gi, (c) => `\\${c}`);
}

/**
 * `<staging>_u<n>`: the schema of one incremental model's update in a run (its partitions, filtered
 * inputs and delta; src/transform/incremental.ts), dropped with the run's staging schemas.
 */
export const UPDATE_SCHEMA_INFIX = '_u';

/** The update schema of the model at `index` of the project, beside the staging schema `staging`. */
export function updateSchemaName(staging: string, index: number): string {
  return `${staging}${UPDATE_SCHEMA_INFIX}${index}`;
}

/** Whether `schema` is the staging schema of some run of this target (see stagingSchemaPattern). */
export function isStagingSchema(schema: string, schemas: SchemaNames): boolean {
  return new RegExp(stagingSchemaPattern(schemas)).test(schema);
}

/**
 * The schemas of a build of a selection (src/transform/select.ts): the models in `readPublished`
 * are not rebuilt, so a reference to one compiles to its published schema, not to staging.
 */
export type SelectionSchemas = SchemaNames & {
  readonly readPublished?: ReadonlySet<RelationName>;
  /**
   * Relations read from another schema: the partition-filtered inputs of an incremental model's
   * delta (src/transform/incremental.ts), views of the same name in the update's own schema.
   */
  readonly readFrom?: ReadonlyMap<RelationName, string>;
};

/** `schemas` with `relations` (models not selected) read from the published schemas. */
export function readingPublished(schemas: SchemaNames, relations: Iterable<RelationName>): SchemaNames {
  return Object.freeze({ ...schemas, readPublished: new Set(relations) }) as SelectionSchemas;
}

/** `schemas` whose staging is the published schemas: data tests of what is published (`medallion test`). */
export function publishedTarget(schemas: SchemaNames): SchemaNames {
  return Object.freeze({ ...schemas, staging: Object.freeze({ silver: schemas.silver, gold: schemas.gold }) });
}

/**
 * The schema a layer compiles to for a build: bronze as is, silver/gold to their staging schemas,
 * or to the published ones for a model the selection reads as published.
 */
export function buildSchemaFor(layer: SourceLayer, schemas: SchemaNames, relation?: RelationName): string {
  const redirected = relation !== undefined ? (schemas as SelectionSchemas).readFrom?.get(relation) : undefined;
  if (redirected !== undefined) return redirected;
  if (layer === 'bronze') return schemas.bronze;
  return relation !== undefined && (schemas as SelectionSchemas).readPublished?.has(relation) ? schemas[layer] : stagingSchemas(schemas)[layer];
}

/** `silver.customers` → `"dev_silver_next"."customers"` (quoted, ready for SQL text). */
export function compiledRelation(relation: RelationName, schemas: SchemaNames): string {
  const dot = relation.indexOf('.');
  const layer = relation.slice(0, dot) as SourceLayer;
  return `${ident(buildSchemaFor(layer, schemas, relation))}.${ident(relation.slice(dot + 1))}`;
}

interface Edit {
  /** Where the replacement starts in the compiled text, and how much longer it is. */
  compiledStart: number;
  compiledEnd: number;
  originalStart: number;
  delta: number;
}

export interface CompiledSql {
  sql: string;
  /** Offset in the original text of a 0-based offset in the compiled text. */
  originalOffset(compiledOffset: number): number;
}

/** Rewrites the schema of each reference and `etl` function call in `sql` for a build of `schemas`. */
export function compileSql(sql: string, schemas: SchemaNames): CompiledSql {
  const edits: Edit[] = [];
  let out = '';
  let last = 0;
  let shift = 0;
  const rewrites = [
    ...extractReferences(sql).map((ref) => ({ ...ref, schema: buildSchemaFor(ref.layer, schemas, ref.relation) })),
    ...extractFunctionReferences(sql).map((ref) => ({ ...ref, schema: schemas.etl })),
  ].sort((a, b) => a.schemaStart - b.schemaStart);
  for (const ref of rewrites) {
    const replacement = ident(ref.schema);
    out += sql.slice(last, ref.schemaStart);
    const compiledStart = ref.schemaStart + shift;
    out += replacement;
    const delta = replacement.length - (ref.schemaEnd - ref.schemaStart);
    shift += delta;
    edits.push({ compiledStart, compiledEnd: compiledStart + replacement.length, originalStart: ref.schemaStart, delta });
    last = ref.schemaEnd;
  }
  out += sql.slice(last);
  return {
    sql: out,
    originalOffset(offset: number): number {
      let total = 0;
      for (const e of edits) {
        if (offset < e.compiledStart) break;
        if (offset < e.compiledEnd) return e.originalStart;
        total += e.delta;
      }
      return offset - total;
    },
  };
}

/**
 * Where an error position of PostgreSQL (1-based, in the statement sent: `prefixLength` characters,
 * then `compiled.sql`) lies in the original text, as line and column; undefined when it is in the
 * prefix. The `locate` of modelSqlError (src/sql-runtime/sql-error.ts).
 */
export function errorLocator(original: string, compiled: CompiledSql, prefixLength = 0): (position: number) => { line: number; column: number } | undefined {
  return (position) => {
    const compiledOffset = position - 1 - prefixLength;
    return compiledOffset >= 0 ? lineAndColumn(original, compiled.originalOffset(compiledOffset)) : undefined;
  };
}
