/**
 * What the docs need from the model project, read through src/transform/project.ts (loadProject):
 * one adapter so that the docs do not depend on the loader's internal types beyond this file.
 */
import { bronzeColumns, LINEAGE_COLUMNS, SOURCE_CONTRACTS } from '../bronze/index.ts';
import { declaredTestName, loadProject, type Model, type Project, type TestDefinition } from '../transform/index.ts';

export interface DocsTest {
  name: string;
  /** As the .yml names it (`dbt_utils.expression_is_true`, `scalar_equality`), or `singular`. */
  kind: string;
  severity: string;
  /** Columns the test is about, when it is about columns. */
  columns: string[];
  /** One line: what the test checks. */
  summary: string;
}

export interface DocsModel {
  name: string;
  layer: 'silver' | 'gold';
  description: string | null;
  sql: string;
  sqlFile: string;
  materialized: string;
  quarantine: boolean;
  uniqueKey: string[];
  columns: { name: string; description: string | null; role: string | null }[];
  tests: DocsTest[];
  rules: { name: string; kind: string; description: string | null; relation: string }[];
  dependencies: string[];
  /** Declared column lineage (`lineage:` in the .yml), when the loader provides it. */
  lineage?: Record<string, string[]>;
}

export interface DocsSource {
  name: string;
  relation: string;
  file: string;
  system: string;
  description: string;
  columns: string[];
  header: string[];
}

export interface DocsProject {
  sqlDir: string;
  sources: DocsSource[];
  models: DocsModel[];
}

/** The bronze lineage columns the loader adds after the data columns. */
export const BRONZE_LINEAGE_COLUMNS: readonly string[] = LINEAGE_COLUMNS;

export async function loadDocsProject(sqlDir: string): Promise<DocsProject> {
  return docsProjectOf(await loadProject({ sqlDir }), sqlDir);
}

/** The docs' view of a project already loaded (`medallion compile` has one). */
export function docsProjectOf(project: Project, sqlDir: string): DocsProject {
  return {
    sqlDir,
    sources: SOURCE_CONTRACTS.map((c) => ({
      name: c.name,
      relation: `bronze.${c.name}`,
      file: c.file,
      system: c.system,
      description: c.description,
      columns: [...bronzeColumns(c), ...BRONZE_LINEAGE_COLUMNS],
      header: [...c.header],
    })),
    models: project.models.map(toDocsModel),
  };
}

function toDocsModel(m: Model): DocsModel {
  const declared = (m as Model & { lineage?: unknown }).lineage;
  return {
    name: m.name,
    layer: m.layer,
    description: m.description ?? null,
    sql: m.sql,
    sqlFile: m.sqlFile,
    materialized: m.materialized,
    quarantine: m.quarantine,
    uniqueKey: m.uniqueKey,
    columns: m.columns.map((c) => ({ name: c.name, description: c.description ?? null, role: c.role ?? null })),
    tests: m.tests.map(toDocsTest),
    rules: m.rules.map((r) => ({ name: r.name, kind: r.kind, description: r.description ?? null, relation: r.relation })),
    dependencies: m.dependencies,
    ...(isLineage(declared) ? { lineage: declared } : {}),
  };
}

function isLineage(v: unknown): v is Record<string, string[]> {
  return typeof v === 'object' && v !== null && Object.values(v).every((x) => Array.isArray(x) && x.every((s) => typeof s === 'string'));
}

function toDocsTest(t: TestDefinition): DocsTest {
  const base = { name: t.name, kind: declaredTestName(t), severity: t.severity };
  const where = 'where' in t && t.where ? ` where ${t.where}` : '';
  switch (t.kind) {
    case 'not_null':
    case 'unique':
      return { ...base, columns: t.columns, summary: `${t.kind} (${t.columns.join(', ')})${where}` };
    case 'accepted_values':
      return { ...base, columns: [t.column], summary: `${t.column} in (${t.values.join(', ')})${t.allowNull ? ' or NULL' : ''}${where}` };
    case 'relationships':
      return { ...base, columns: [t.column], summary: `${t.column} → ${t.to}.${t.field}${where}${t.minCoverage !== undefined ? `, at least ${t.minCoverage * 100}% of rows` : ''}` };
    case 'expression':
      return { ...base, columns: [], summary: `${t.expression}${where}` };
    case 'query':
      return { ...base, columns: [], summary: t.description ?? `rows returned by ${t.declaredAt} are failures` };
    case 'equal':
      return { ...base, columns: [], summary: `${t.left.trim()} = ${t.right.trim()}${t.tolerance ? ` (± ${t.tolerance})` : ''}` };
    case 'row_count_change':
      return { ...base, columns: [], summary: `row count vs the published model: a drop of more than ${t.maxDrop * 100}% (or to 0 rows) fails` };
  }
}
