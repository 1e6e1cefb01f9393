/**
 * Finding what a piece of SQL reads: every schema-qualified reference `bronze.x`, `silver.x`,
 * `gold.x` outside comments and string literals (sql/README.md, "Dependencies"), and checking that
 * each one names a bronze source table or a model.
 */
import { DataError } from '../errors.ts';
import { lineAndColumn, maskSql } from './sql-lexer.ts';
import type { Model, Project, RelationName, SourceLayer, TestDefinition } from './types.ts';

export interface Reference {
  layer: SourceLayer;
  /** Table name, lower-cased (unquoted identifiers fold to lower case). */
  name: string;
  /** `silver.customers` */
  relation: RelationName;
  /** Offsets of the schema word (what compile rewrites) and of the whole reference. */
  schemaStart: number;
  schemaEnd: number;
  end: number;
}

// Not preceded by an identifier character or a dot (`x.silver.y` is not a schema reference);
// whitespace and comments (masked to spaces) may surround the dot. The schema may be written
// "silver" and the table "customers" (quoted identifiers are masked, so they are read from the text).
const LAYER_WORD = /^(bronze|silver|gold)$/i;
const SCHEMA = /(?<![\p{L}\p{N}_$.])(?:(bronze|silver|gold)|"(bronze|silver|gold)")(?![\p{L}\p{N}_$])\s*\.\s*/giu;
const PLAIN_NAME = /[\p{L}_][\p{L}\p{N}_$]*/uy;
const QUOTED_NAME = /"((?:[^"]|"")*)"/y;

/** Every schema-qualified reference in the SQL, in order of appearance. */
export function extractReferences(sql: string): Reference[] {
  // Code only, except that quoted identifiers are kept (they may be a schema or a table name).
  const masked = maskSql(sql, ['comment', 'string']);
  const code = maskSql(sql);
  const refs: Reference[] = [];
  for (const m of masked.matchAll(SCHEMA)) {
    const schemaStart = m.index!;
    const quotedSchema = m[2] !== undefined;
    // A quoted schema must be a whole identifier segment; a bare one must be code.
    if (!quotedSchema && code[schemaStart] === ' ') continue;
    if (quotedSchema && !LAYER_WORD.test(m[2]!)) continue;
    const word = (m[1] ?? m[2])!;
    if (quotedSchema && word !== word.toLowerCase()) continue; // "Silver" is another schema
    const after = schemaStart + m[0].length;
    let name: string | undefined;
    let end = after;
    PLAIN_NAME.lastIndex = after;
    QUOTED_NAME.lastIndex = after;
    const plain = PLAIN_NAME.exec(masked);
    const quoted = plain ? null : QUOTED_NAME.exec(masked);
    if (plain) {
      name = plain[0].toLowerCase();
      end = after + plain[0].length;
    } else if (quoted) {
      name = quoted[1]!.replace(/""/g, '"');
      end = after + quoted[0].length;
    }
    if (name === undefined) continue;
    const layer = word.toLowerCase() as SourceLayer;
    refs.push({ layer, name, relation: `${layer}.${name}`, schemaStart, schemaEnd: schemaStart + word.length + (quotedSchema ? 2 : 0), end });
  }
  return refs;
}

/** The distinct relations the SQL reads, sorted. */
export function referencedRelations(sql: string): RelationName[] {
  return [...new Set(extractReferences(sql).map((r) => r.relation))].sort();
}

export interface UnknownRelation {
  file: string;
  /** Line in the file, for references in a .sql file. */
  line?: number;
  /** What in the file holds the reference, for SQL embedded in a .yml (`test 'x'`). */
  label?: string;
  relation: RelationName;
  reason: string;
}

export interface KnownRelations {
  /** Bronze source tables, without schema. */
  sources: ReadonlySet<string>;
  /** Model names, `silver.customers`. */
  models: ReadonlySet<RelationName>;
}

/** Why a relation is unknown, or undefined when it is a source table or a model. */
export function unknownRelationReason(relation: RelationName, known: KnownRelations): string | undefined {
  const dot = relation.indexOf('.');
  const layer = relation.slice(0, dot);
  const name = relation.slice(dot + 1);
  if (layer === 'bronze') {
    return known.sources.has(name) ? undefined : `bronze.${name} is not a source table (sources: ${[...known.sources].sort().join(', ')})`;
  }
  return known.models.has(relation) ? undefined : `${relation} is not a model (no sql/${layer}/${name}.sql)`;
}

/**
 * Checks each reference of `sql` against the known sources and models. For a .sql file the line
 * of each reference is given; for SQL embedded in a .yml file, `label` says which entry holds it.
 * Returns the problems; does not throw.
 */
export function checkReferences(sql: string, file: string, known: KnownRelations, label?: string): UnknownRelation[] {
  const problems: UnknownRelation[] = [];
  for (const ref of extractReferences(sql)) {
    const reason = unknownRelationReason(ref.relation, known);
    if (!reason) continue;
    problems.push(label ? { file, label, relation: ref.relation, reason } : { file, line: lineAndColumn(sql, ref.schemaStart).line, relation: ref.relation, reason });
  }
  return problems;
}

/** One line per problem: `sql/gold/x.sql:3: silver.y is not a model …`. */
export function describeUnknownRelation(p: UnknownRelation): string {
  return `${p.file}${p.line !== undefined ? `:${p.line}` : ''}: ${p.label ? `${p.label}: ` : ''}${p.reason}`;
}

/** Throws MODEL_UNKNOWN_RELATION listing every unknown reference, if any. */
export function throwUnknownRelations(problems: UnknownRelation[]): void {
  if (problems.length === 0) return;
  const lines = problems.map(describeUnknownRelation);
  const first = problems[0]!;
  throw new DataError(
    'MODEL_UNKNOWN_RELATION',
    lines.length === 1 ? `${first.label ? `${first.label}: ` : ''}${first.reason}` : `${lines.length} unknown relations:\n  - ${lines.join('\n  - ')}`,
    {
      file: first.file,
      ...(first.line !== undefined ? { line: first.line } : {}),
      relation: first.relation,
      problems: lines,
      hint: 'Reference only bronze source tables and the models of sql/silver and sql/gold, schema-qualified.',
    },
  );
}

/**
 * The distinct relations of `relations` that are among `models`: what a task scheduled with the
 * model builds (a data test, a rule count) must wait for. Bronze and unknown names drop out.
 */
export function modelsAmong(relations: readonly RelationName[], models: ReadonlySet<RelationName>): RelationName[] {
  return [...new Set(relations)].filter((r) => models.has(r));
}

/** The bronze tables the project's models read, without the schema (`sales_details`), each once. */
export function bronzeTablesRead(project: Pick<Project, 'models'>): string[] {
  return [...new Set(project.models.flatMap((m) => m.dependencies).filter((d) => d.startsWith('bronze.')))].map((d) => d.slice('bronze.'.length));
}

/** Model names a model depends on (bronze references excluded). */
export function modelDependencies(model: Pick<Model, 'dependencies'>): RelationName[] {
  return model.dependencies.filter((d) => !d.startsWith('bronze.'));
}

/** The relations a test reads: its model, a relationship's parent, and what its SQL references. */
export function relationsRead(test: TestDefinition): RelationName[] {
  const sql: string[] = [];
  const relations: RelationName[] = [test.model];
  if ('where' in test && test.where) sql.push(test.where);
  if (test.kind === 'relationships') relations.push(test.to);
  if (test.kind === 'expression') sql.push(test.expression);
  if (test.kind === 'query') sql.push(test.sql);
  if (test.kind === 'equal') sql.push(test.left, test.right);
  return [...new Set([...relations, ...sql.flatMap(referencedRelations)])];
}
