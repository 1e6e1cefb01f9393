/**
 * Singular tests (dbt's name): `sql/tests/<name>.sql`, one query whose rows are the failing rows,
 * and an optional `sql/tests/schema.yml` giving some of them a description and a severity (dbt's
 * `data_tests:` properties of singular tests). sql/README.md, "Singular tests".
 *
 * A test belongs to the last model, in build order, among the models its SQL reads: that is the
 * model etl.test_results names and the one the test waits for (with the others it reads).
 *
 * Errors: MODEL_FILE_INVALID (every problem at once: a bad file name, an empty file, a test that
 * reads no model, a schema.yml entry without its .sql, a name another test uses) and
 * MODEL_UNKNOWN_RELATION (a reference to something that is neither a source nor a model).
 *
 * `config.meta.partition_by: <column>` (under meta: dbt's test config has no such key) claims that
 * the test's failing rows of one value of the column depend only on the rows with that value of the
 * test's model (and on the other relations it reads as they are): a run that updates that model by
 * that column runs the test on the delta (src/quality/incremental-tests.ts). The test carries it as
 * `partitionBy` (QueryTest.partitionBy).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { DataError } from '../errors.ts';
import { checkReferences, type KnownRelations, referencedRelations, throwUnknownRelations, type UnknownRelation } from './dependencies.ts';
import { describe, isPlainObject, parseYml, problemReporter, Validator } from './model-spec.ts';
import { withoutTrailingSemicolon } from './sql-lexer.ts';
import type { Model, QueryTest, Severity } from './types.ts';

/** The folder of the singular tests, inside the sql folder. */
export const SINGULAR_TESTS_DIR = 'tests';
const PROPERTIES_FILE = 'schema.yml';
const STEM = /^[a-z_][a-z0-9_]*$/;
const ENTRY_KEYS = ['name', 'description', 'config'];
const CONFIG_KEYS = ['severity', 'meta'];
const META_KEYS = ['partition_by'];
const COLUMN = /^[a-z_][a-z0-9_]*$/;

interface Properties {
  description?: string;
  severity?: Severity;
  partitionBy?: string;
  /** Where the entry is, for problems. */
  at: (string | number)[];
}

/**
 * Reads sql/tests/ and adds each singular test to the tests of its model. `models` are in build
 * order (the last one a test reads is its model). A folder that does not exist holds no test.
 */
export async function addSingularTests(sqlDir: string, models: readonly Model[], sources: readonly string[]): Promise<void> {
  const dir = path.join(sqlDir, SINGULAR_TESTS_DIR);
  const problems: string[] = [];
  let entries: string[];
  try {
    entries = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return;
    throw new DataError('MODEL_FILE_INVALID', `${dir}: cannot read the folder (${(err as Error).message})`, { file: dir, hint: 'Make sql/tests readable, or remove it.' });
  }
  const { properties, report } = entries.includes(PROPERTIES_FILE) ? await readProperties(path.join(dir, PROPERTIES_FILE), problems) : { properties: new Map<string, Properties>(), report: () => {} };
  const known: KnownRelations = { sources: new Set(sources), models: new Set(models.map((m) => m.name)) };
  const unknown: UnknownRelation[] = [];
  const order = new Map(models.map((m, i) => [m.name, i]));
  const byName = new Map(models.map((m) => [m.name, m]));
  const taken = new Map(models.flatMap((m) => m.tests.map((t) => [t.name, t] as const)));
  const added: [Model, QueryTest][] = [];
  for (const entry of entries) {
    const file = path.join(dir, entry);
    if (entry === PROPERTIES_FILE) continue;
    const ext = path.extname(entry);
    const stem = entry.slice(0, -ext.length);
    if (ext === '.yml' || ext === '.yaml') {
      problems.push(`${file}: the properties of the singular tests go in ${PROPERTIES_FILE} (one file for the folder)`);
      continue;
    }
    if (ext !== '.sql') continue;
    if (!STEM.test(stem)) {
      problems.push(`${file}: a test file name must be a lower-case SQL name (letters, digits, _), got '${stem}'`);
      continue;
    }
    const sql = withoutTrailingSemicolon(await readFile(file, 'utf8'));
    const reads = referencedRelations(sql);
    const model = reads.filter((r) => order.has(r)).sort((a, b) => order.get(a)! - order.get(b)!).at(-1);
    unknown.push(...checkReferences(sql, file, known, `test '${stem}'`));
    if (model === undefined) {
      if (!unknown.some((u) => u.file === file)) problems.push(`${file}: a singular test reads at least one model (silver.x or gold.x); this one reads none`);
      continue;
    }
    const other = taken.get(stem);
    if (other) {
      problems.push(`${file}: test name '${stem}' is already used by ${other.file} (${other.declaredAt}); rename the file or give the other test a different 'name'`);
      continue;
    }
    const props = properties.get(stem);
    const test: QueryTest = {
      kind: 'query',
      name: stem,
      sql,
      severity: props?.severity ?? 'error',
      model,
      file,
      declaredAt: `${SINGULAR_TESTS_DIR}/${entry}`,
      ...(props?.description !== undefined ? { description: props.description } : {}),
      ...(props?.partitionBy !== undefined ? { partitionBy: props.partitionBy } : {}),
    };
    taken.set(stem, test);
    added.push([byName.get(model)!, test]);
  }
  for (const [name, props] of properties) {
    if (!entries.includes(`${name}.sql`)) report(props.at, `'${name}' has no ${name}.sql beside ${PROPERTIES_FILE}`);
  }
  if (problems.length) {
    throw new DataError('MODEL_FILE_INVALID', problems.length === 1 ? problems[0]! : `${problems.length} problems in the singular tests:\n  - ${problems.join('\n  - ')}`, {
      file: problems[0]!.split(':')[0],
      problems,
      hint: 'Fix the singular tests as described in sql/README.md ("Singular tests").',
    });
  }
  throwUnknownRelations(unknown);
  for (const [model, test] of added) model.tests.push(test);
}

/** sql/tests/schema.yml: `version: 2`, `data_tests:` entries with name, description, config.severity, config.meta.partition_by. */
async function readProperties(file: string, problems: string[]): Promise<{ properties: Map<string, Properties>; report: (at: (string | number)[], message: string) => void }> {
  const out = new Map<string, Properties>();
  const { doc, lineCounter, problems: yamlProblems } = parseYml(await readFile(file, 'utf8'), file);
  problems.push(...yamlProblems);
  if (!doc) return { properties: out, report: () => {} };
  const report = problemReporter(doc, lineCounter, file, problems);
  const v = new Validator(report);
  const root: unknown = doc.toJS() ?? {};
  if (!isPlainObject(root)) {
    v.problem([], `expected version: 2 and data_tests: [{name, description, config: {severity}}], got ${describe(root)}`);
  } else {
    v.keys(root, [], ['version', 'data_tests']);
    if (root.version !== 2) v.problem(root.version === undefined ? [] : ['version'], `expected 'version: 2', got ${describe(root.version)}`);
    v.optionalList(root, 'data_tests', [])?.forEach((raw, i) => {
      const at: (string | number)[] = ['data_tests', i];
      if (!isPlainObject(raw)) {
        v.problem(at, `expected a mapping with name, description, config, got ${describe(raw)}`);
        return;
      }
      v.keys(raw, at, ENTRY_KEYS);
      const name = v.requiredString(raw, 'name', at);
      const description = v.optionalString(raw, 'description', at);
      const config = v.optionalMapping(raw, 'config', at) ?? {};
      v.keys(config, [...at, 'config'], CONFIG_KEYS);
      const severity = v.optionalEnum(config, 'severity', [...at, 'config'], ['error', 'warn']) as Severity | undefined;
      const meta = v.optionalMapping(config, 'meta', [...at, 'config']) ?? {};
      v.keys(meta, [...at, 'config', 'meta'], META_KEYS);
      const partitionBy = v.optionalString(meta, 'partition_by', [...at, 'config', 'meta']);
      if (partitionBy !== undefined && !COLUMN.test(partitionBy)) v.problem([...at, 'config', 'meta', 'partition_by'], `expected a column name (lower-case letters, digits, _), got '${partitionBy}'`);
      if (name === undefined) return;
      if (out.has(name)) v.problem([...at, 'name'], `'${name}' is listed twice`);
      else
        out.set(name, {
          at,
          ...(description !== undefined ? { description } : {}),
          ...(severity !== undefined ? { severity } : {}),
          ...(partitionBy !== undefined && COLUMN.test(partitionBy) ? { partitionBy } : {}),
        });
    });
  }
  return { properties: out, report };
}
