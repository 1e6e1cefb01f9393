/**
 * Finding what a piece of SQL reads: every schema-qualified reference `bronze.x`, `silver.x`,
 * `gold.x` outside comments and string literals (sql/README.md, "Dependencies"), and checking that
 * each one names a bronze source table or a model.
 */
import { DataError } from '../errors.ts';
import { lineAndColumn, maskSql } from './sql-lexer.ts';
import type { Model, RelationName, SourceLayer } from './types.ts';

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
// whitespace and comments (masked to spaces) may surround the dot.
const REFERENCE = /(?<![\p{L}\p{N}_$."])(bronze|silver|gold)(\s*\.\s*)([\p{L}_][\p{L}\p{N}_$]*)/giu;

/** Every schema-qualified reference in the SQL, in order of appearance. */
export function extractReferences(sql: string): Reference[] {
  const masked = maskSql(sql);
  const refs: Reference[] = [];
  for (const m of masked.matchAll(REFERENCE)) {
    const layer = m[1]!.toLowerCase() as SourceLayer;
    const name = m[3]!.toLowerCase();
    const schemaStart = m.index!;
    refs.push({
      layer,
      name,
      relation: `${layer}.${name}`,
      schemaStart,
      schemaEnd: schemaStart + m[1]!.length,
      end: schemaStart + m[0].length,
    });
  }
  return refs;
}

/** The distinct relations the SQL reads, sorted. */
export function referencedRelations(sql: string): RelationName[] {
  return [...new Set(extractReferences(sql).map((r) => r.relation))].sort();
}

export interface UnknownRelation {
  file: string;
  line: number;
  relation: RelationName;
  reason: string;
}

/**
 * Checks each reference of `sql` (from `file`, whose text starts at line `lineOffset + 1`) against
 * the known sources and models. Returns the problems; does not throw.
 */
export function checkReferences(
  sql: string,
  file: string,
  known: { sources: ReadonlySet<string>; models: ReadonlySet<RelationName> },
  lineOffset = 0,
): UnknownRelation[] {
  const problems: UnknownRelation[] = [];
  for (const ref of extractReferences(sql)) {
    const ok = ref.layer === 'bronze' ? known.sources.has(ref.name) : known.models.has(ref.relation);
    if (ok) continue;
    const reason =
      ref.layer === 'bronze'
        ? `bronze.${ref.name} is not a source table (sources: ${[...known.sources].sort().join(', ')})`
        : `${ref.relation} is not a model (no sql/${ref.layer}/${ref.name}.sql)`;
    problems.push({ file, line: lineOffset + lineAndColumn(sql, ref.schemaStart).line, relation: ref.relation, reason });
  }
  return problems;
}

/** Throws MODEL_UNKNOWN_RELATION listing every unknown reference, if any. */
export function throwUnknownRelations(problems: UnknownRelation[]): void {
  if (problems.length === 0) return;
  const lines = problems.map((p) => `${p.file}:${p.line}: ${p.reason}`);
  const first = problems[0]!;
  throw new DataError(
    'MODEL_UNKNOWN_RELATION',
    lines.length === 1 ? `${first.reason}` : `${lines.length} unknown relations:\n  - ${lines.join('\n  - ')}`,
    {
      file: first.file,
      line: first.line,
      relation: first.relation,
      problems: lines,
      hint: 'Reference only bronze source tables and models of sql/silver and sql/gold, schema-qualified.',
    },
  );
}

/** Model names a model depends on (bronze references excluded). */
export function modelDependencies(model: Pick<Model, 'dependencies'>): RelationName[] {
  return model.dependencies.filter((d) => !d.startsWith('bronze.'));
}
