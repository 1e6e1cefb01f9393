/**
 * What a piece of SQL reads: every schema-qualified reference `bronze.x`, `silver.x`, `gold.x`
 * that PostgreSQL's parser finds in it (sql/README.md, "Dependencies"; see sql-parser.ts), and
 * checking that each one names a bronze source table or a model.
 */
import { DataError } from '../errors.ts';
import { lineAndColumn } from './sql-lexer.ts';
import { extractReferences } from './sql-parser.ts';
import type { Model, Project, RelationName, TestDefinition } from './types.ts';

export { extractReferences };

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
