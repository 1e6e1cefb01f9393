/**
 * Loading the model project: every `sql/silver/*.sql` and `sql/gold/*.sql` with the `.yml` beside
 * it, validated against sql/README.md and returned as typed Model objects in build order.
 *
 * Errors, each listing every problem of its kind at once:
 * - MODEL_FILE_INVALID: a .sql without .yml (or the reverse), a bad file name, a .sql that is not
 *   one select, a clock function instead of `as_of`, a view reading `as_of`, any yml problem
 *   (unknown key, bad test or rule), duplicate test names;
 * - MODEL_UNKNOWN_RELATION: a reference (in a model, a test or a rule) to something that is neither
 *   a bronze source table nor a model;
 * - MODEL_CYCLE: models that depend on each other in a cycle.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { SOURCE_CONTRACTS } from '../bronze/index.ts';
import { DataError } from '../errors.ts';
import { checkReferences, unknownRelationReason, type KnownRelations, type UnknownRelation, throwUnknownRelations } from './dependencies.ts';
import { orderModels } from './graph.ts';
import { readModelSpec } from './model-spec.ts';
import { projectionColumns } from './projection.ts';
import { addSingularTests } from './singular-tests.ts';
import { readModelSql } from './sql-parser.ts';
import type { Layer, Model, Project, TestDefinition } from './types.ts';

export const LAYERS: readonly Layer[] = ['silver', 'gold'];
const STEM = /^[a-z_][a-z0-9_]*$/;

export interface LoadProjectOptions {
  /** The folder holding silver/ and gold/ (usually `sql`). Paths in errors are joined to it. */
  sqlDir: string;
  /** Bronze source table names; default: the six of src/bronze/contracts.ts. */
  sources?: readonly string[];
}

/** Reads, validates and orders the models. Throws a DataError naming the files on any problem. */
export async function loadProject(options: LoadProjectOptions): Promise<Project> {
  const sources = options.sources ?? SOURCE_CONTRACTS.map((c) => c.name);
  await assertSqlFolder(options.sqlDir);
  const problems: string[] = [];
  const models: Model[] = [];
  for (const layer of LAYERS) {
    const dir = path.join(options.sqlDir, layer);
    const entries = await listFolder(dir, problems);
    const names = new Set(entries);
    for (const entry of entries.sort()) {
      const file = path.join(dir, entry);
      const ext = path.extname(entry);
      const stem = entry.slice(0, -ext.length);
      if (ext === '.yaml') problems.push(`${file}: name the file ${stem}.yml (the runner reads .yml files)`);
      if (ext === '.yml' && !names.has(`${stem}.sql`)) problems.push(`${file}: no ${stem}.sql beside it; a .yml describes the .sql file of the same name`);
      if (ext !== '.sql') continue;
      if (!STEM.test(stem)) {
        problems.push(`${file}: a model file name must be a lower-case SQL name (letters, digits, _), got '${stem}'`);
        continue;
      }
      const model = await readModel(layer, stem, file, path.join(dir, `${stem}.yml`), names.has(`${stem}.yml`), problems);
      if (model) models.push(model);
    }
  }
  checkTestNames(models, problems);
  checkRuleNames(models, problems);
  checkUnlogged(models, problems);
  if (problems.length) {
    throw new DataError('MODEL_FILE_INVALID', problems.length === 1 ? problems[0]! : `${problems.length} problems in the model files:\n  - ${problems.join('\n  - ')}`, {
      file: problems[0]!.split(':')[0],
      problems,
      hint: 'Fix the model files as described in sql/README.md.',
    });
  }
  throwUnknownRelations(checkAllReferences(models, sources));
  const ordered = orderModels(models);
  await addSingularTests(options.sqlDir, ordered, sources);
  return { dir: options.sqlDir, models: ordered, sources };
}

/**
 * The project's folder must be there: a mistyped --sql, or a command run outside the project,
 * would otherwise read as a project without models. An existing folder without models is one.
 */
async function assertSqlFolder(sqlDir: string): Promise<void> {
  const found = await stat(sqlDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null;
    throw err;
  });
  if (found?.isDirectory()) return;
  throw new DataError('MODEL_FILE_INVALID', `the sql folder ${sqlDir} ${found ? 'is not a folder' : 'does not exist'}`, {
    file: sqlDir,
    hint: 'Run the command in the project folder (the one that holds sql/), or pass --sql the folder that holds silver/ and gold/.',
  });
}

async function listFolder(dir: string, problems: string[]): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT') return []; // a layer without models (yet)
    problems.push(`${dir}: cannot read the folder (${code ?? (err as Error).message})`);
    return [];
  }
}

async function readModel(layer: Layer, stem: string, sqlFile: string, ymlFile: string, hasYml: boolean, problems: string[]): Promise<Model | undefined> {
  const name = `${layer}.${stem}`;
  const sqlText = await readFile(sqlFile, 'utf8');
  const before = problems.length;
  const read = readModelSql(sqlText, sqlFile, problems);
  if (!hasYml) {
    problems.push(`${sqlFile}: no ${stem}.yml beside it; every model needs one (description, columns, tests)`);
    return undefined;
  }
  const { spec, problems: specProblems } = readModelSpec(await readFile(ymlFile, 'utf8'), { name, layer, relation: stem, ymlFile });
  problems.push(...specProblems);
  if (!spec || read === undefined) return undefined;
  if (spec.materialized === 'view' && read.readsAsOf) {
    problems.push(`${ymlFile}: materialized: view, but ${sqlFile} reads medallion.as_of; a model that uses as_of must be a table (a view would read the reader's setting)`);
  }
  const bronzeRead = read.dependencies.filter((d) => d.startsWith('bronze.'));
  if (spec.materialized === 'view' && bronzeRead.length) {
    // Each load replaces bronze: a published view on it would show rows no run has tested, and
    // would stand in the way of the load's table swap.
    problems.push(`${ymlFile}: materialized: view, but ${sqlFile} reads ${bronzeRead.join(', ')}; a model that reads bronze must be a table (a view would show each new load before its tests pass)`);
  }
  const declaredInputs = [
    ...Object.keys(spec.incremental?.partitionInputs ?? {}),
    // a date window over the model itself reads its published rows, not an input
    ...Object.entries(spec.incremental?.dateWindows ?? {}).flatMap(([input, w]) => (w.over === name ? [input] : [input, w.over])),
    ...Object.keys(spec.incremental?.relatedInputs ?? {}),
  ];
  for (const input of new Set(declaredInputs)) {
    if (!read.dependencies.includes(input)) problems.push(`${ymlFile}: config.meta names ${input}, which ${sqlFile} does not read`);
  }
  let projection: Model['projection'];
  if (spec.projectionOf !== undefined) {
    const proven = read.dependencies.includes(spec.projectionOf) ? projectionColumns(read.sql, spec.projectionOf) : { problem: `${sqlFile} does not read it` };
    if ('problem' in proven) problems.push(`${ymlFile}: config.meta.projection_of: ${spec.projectionOf} is not proven from ${sqlFile}: ${proven.problem}`);
    else projection = { of: spec.projectionOf, columns: proven.columns };
  }
  if (problems.length > before) return undefined;
  return {
    name,
    layer,
    relation: stem,
    sqlFile,
    ymlFile,
    sql: read.sql,
    ...(spec.description !== undefined ? { description: spec.description } : {}),
    materialized: spec.materialized,
    ...(spec.incremental ? { incremental: spec.incremental } : {}),
    uniqueKey: spec.uniqueKey,
    quarantine: spec.quarantine,
    ...(spec.grants ? { grants: spec.grants } : {}),
    tags: spec.tags ?? [],
    ...(spec.indexes ? { indexes: spec.indexes } : {}),
    ...(spec.unlogged ? { unlogged: spec.unlogged } : {}),
    columns: spec.columns,
    ...(spec.exportLeaveOut ? { exportLeaveOut: spec.exportLeaveOut } : {}),
    ...(spec.plannerSettings ? { plannerSettings: spec.plannerSettings } : {}),
    ...(spec.projectionOf ? { projectionOf: spec.projectionOf } : {}),
    ...(projection ? { projection } : {}),
    tests: spec.tests,
    rules: spec.rules,
    dependencies: read.dependencies,
    readsAsOf: read.readsAsOf,
  };
}

function checkTestNames(models: Model[], problems: string[]): void {
  const seen = new Map<string, TestDefinition>();
  for (const m of models) {
    for (const t of m.tests) {
      const other = seen.get(t.name);
      if (other) problems.push(`${t.file}: ${t.declaredAt}: test name '${t.name}' is already used by ${other.file} (${other.declaredAt}); give one of them a different 'name'`);
      else seen.set(t.name, t);
    }
  }
}

/**
 * `unlogged: true` stays on tables that only the tool reads: a server crash empties them until the
 * next run rebuilds them (unlogged.ts). Gold is what users and the export read; a view that is not
 * an intermediate (`int_`) model is read by users, and an unlogged table under it (through other
 * views) would be its storage.
 */
function checkUnlogged(models: Model[], problems: string[]): void {
  const byName = new Map(models.map((m) => [m.name, m]));
  const storage = (m: Model, seen = new Set<string>()): Model[] =>
    m.dependencies.flatMap((d) => {
      const input = byName.get(d);
      if (!input || seen.has(d)) return [];
      seen.add(d);
      return input.materialized === 'view' ? storage(input, seen) : [input];
    });
  for (const m of models) {
    if (m.unlogged && m.layer === 'gold') problems.push(`${m.ymlFile}: config.unlogged: a gold table is what users and the export read; a server crash would empty it`);
    if (m.materialized !== 'view' || m.relation.startsWith('int_')) continue;
    const emptied = storage(m).filter((t) => t.unlogged);
    if (emptied.length) problems.push(`${emptied[0]!.ymlFile}: config.unlogged: ${m.name}, a view users read, reads ${emptied.map((t) => t.name).join(', ')}; a server crash would empty it under them (keep it logged)`);
  }
}

function checkRuleNames(models: Model[], problems: string[]): void {
  const seen = new Map<string, string>();
  for (const m of models) {
    for (const r of m.rules) {
      const key = `${r.relation}\u0000${r.name}`;
      const other = seen.get(key);
      if (other && other !== r.file) problems.push(`${r.file}: rule '${r.name}' on ${r.relation} is also declared in ${other}`);
      else seen.set(key, r.file);
    }
  }
}

/** References in the models' SQL, their tests and their rules, checked against sources and models. */
function checkAllReferences(models: Model[], sources: readonly string[]): UnknownRelation[] {
  const known: KnownRelations = { sources: new Set(sources), models: new Set(models.map((m) => m.name)) };
  const problems: UnknownRelation[] = [];
  const checkRelation = (relation: string, file: string, label: string) => {
    const reason = unknownRelationReason(relation, known);
    if (reason) problems.push({ file, label, relation, reason });
  };
  for (const m of models) {
    problems.push(...checkReferences(m.sql, m.sqlFile, known));
    for (const t of m.tests) {
      const label = `test '${t.name}'`;
      for (const snippet of testSql(t)) problems.push(...checkReferences(snippet, t.file, known, label));
      if (t.kind === 'relationships') checkRelation(t.to, t.file, label);
    }
    for (const r of m.rules) {
      const label = `rule '${r.name}'`;
      checkRelation(r.relation, r.file, label);
      if (r.where) problems.push(...checkReferences(r.where, r.file, known, label));
    }
  }
  return problems;
}

/** The SQL snippets a test carries (they may reference other relations). */
export function testSql(t: TestDefinition): string[] {
  switch (t.kind) {
    case 'query':
      return [t.sql];
    case 'equal':
      return [t.left, t.right];
    case 'expression':
      return [t.expression, ...(t.where ? [t.where] : [])];
    case 'row_count_change':
      return [];
    default:
      return t.where ? [t.where] : [];
  }
}
