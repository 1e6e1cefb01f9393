/**
 * Reading and validating one model's `.yml` file (sql/README.md, "The `.yml` file"): dbt's
 * properties shape (`version: 2`, `models:` with one entry named after the file, `config:`,
 * `columns:`, `data_tests:`). Unknown keys, wrong types and bad test or rule definitions are
 * collected as problems — each one naming the file, the line and the key — rather than thrown one
 * at a time, so a single run reports all of them. A file in the shape this project used before dbt's
 * gets one problem that names the new keys.
 */
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import {
  COLUMN_ROLES,
  type ColumnRole,
  type ColumnSpec,
  type DateWindow,
  type EqualTest,
  type ExpressionTest,
  type Incremental,
  type Layer,
  type Materialization,
  type ModelSpec,
  type Project,
  type RelationName,
  type RuleDefinition,
  type RuleKind,
  type Severity,
  type TestDefinition,
  type TestKind,
} from './types.ts';

export interface ModelIdentity {
  name: RelationName;
  layer: Layer;
  relation: string;
  ymlFile: string;
}

type Path = (string | number)[];


const ROOT_KEYS = ['version', 'models'] as const;
const MODEL_KEYS = ['name', 'description', 'config', 'columns', 'data_tests'] as const;
const CONFIG_KEYS = ['materialized', 'unique_key', 'partition_by', 'grants', 'tags', 'indexes', 'unlogged', 'meta'] as const;
/** Ours, not dbt's: under `config.meta`, where dbt keeps a project's own configuration. */
const META_KEYS = ['quarantine', 'rules', 'partition_inputs', 'bronze_lines', 'date_windows', 'related_inputs', 'export', 'planner_settings', 'projection_of'] as const;
/** Under `config.meta.export` of a gold model: what its Parquet export does with its columns. */
const EXPORT_KEYS = ['leave_out'] as const;
const DATE_WINDOW_KEYS = ['columns', 'over', 'dates'] as const;
const COLUMN_KEYS = ['name', 'description', 'meta', 'data_tests'] as const;
/** Ours, under a column's `meta` (where dbt keeps custom column metadata). */
const COLUMN_META_KEYS = ['role'] as const;
/** Keys of the shape before dbt's, and where each one goes now. */
const MOVED_KEYS: Readonly<Record<string, string>> = {
  tests: `rename 'tests' to 'data_tests' (dbt's name)`,
  materialized: `put 'materialized' under config:`,
  unique_key: `put 'unique_key' under config:`,
  grants: `put 'grants' under config:`,
  quarantine: `put 'quarantine' under config: meta:`,
  rules: `put 'rules' under config: meta:`,
};
const OLD_SHAPE_KEYS = ['description', 'materialized', 'unique_key', 'quarantine', 'grants', 'columns', 'tests', 'rules'];
/** Table privileges a `grants:` entry may name (PostgreSQL's GRANT on a table). */
const GRANT_PRIVILEGES = ['select', 'insert', 'update', 'delete', 'truncate', 'references', 'trigger'];
const ROLE_NAME = /^[A-Za-z_][A-Za-z0-9_$-]*$/;
const RULE_KEYS = ['name', 'kind', 'description', 'relation', 'where'] as const;
const RULE_KINDS: readonly RuleKind[] = ['repair', 'superseded', 'flag', 'quarantine'];

/**
 * A mapping under `config.meta` that only an incremental model may declare: the mapping and its
 * path, with a problem recorded when the model is not incremental; undefined when it is absent.
 */
function incrementalMeta(meta: Record<string, unknown>, key: string, metaPath: Path, incremental: boolean, v: Validator): { raw: Record<string, unknown>; path: Path } | undefined {
  const raw = v.optionalMapping(meta, key, metaPath);
  if (!raw) return undefined;
  const path: Path = [...metaPath, key];
  if (!incremental) v.problem(path, `'${key}' is for 'materialized: incremental' models`);
  return { raw, path };
}

/**
 * `config.meta.partition_inputs` of an incremental model: bronze table, or input model without the
 * partition column → the SQL expression over its row that gives the model's partition value.
 */
function readPartitionInputs(meta: Record<string, unknown>, metaPath: Path, incremental: boolean, v: Validator): Record<RelationName, string> | undefined {
  const declared = incrementalMeta(meta, 'partition_inputs', metaPath, incremental, v);
  if (!declared) return undefined;
  const { raw, path } = declared;
  const inputs: Record<RelationName, string> = {};
  for (const input of Object.keys(raw)) {
    if (!RELATION.test(input)) {
      v.problem([...path, input], `expected a bronze table or a model the model reads (bronze.<source>, silver.<name>), got '${input}': an input model with the partition column is filtered by the column itself, one related to it by another column goes under related_inputs`);
      continue;
    }
    const expression = v.optionalString(raw, input, path);
    if (expression !== undefined) inputs[input] = expression;
  }
  return inputs;
}

/**
 * `config.meta.bronze_lines` of an incremental model: bronze table under `partition_inputs` → the
 * model's column that holds each of its lines' `_line_number` (types.ts, Incremental.bronzeLines).
 */
function readBronzeLines(
  meta: Record<string, unknown>,
  metaPath: Path,
  incremental: boolean,
  partitionInputs: Readonly<Record<RelationName, string>> | undefined,
  v: Validator,
): Record<RelationName, string> | undefined {
  const declared = incrementalMeta(meta, 'bronze_lines', metaPath, incremental, v);
  if (!declared) return undefined;
  const { raw, path } = declared;
  const inputs: Record<RelationName, string> = {};
  for (const input of Object.keys(raw)) {
    const at: Path = [...path, input];
    if (!input.startsWith('bronze.') || partitionInputs?.[input] === undefined) {
      v.problem(at, `expected a bronze table under partition_inputs, got '${input}'`);
      continue;
    }
    const column = v.optionalString(raw, input, path);
    if (column === undefined) continue;
    if (!/^[a-z_][a-z0-9_$]*$/.test(column)) {
      v.problem(at, `expected the column that holds the _line_number of each line of ${input}, got '${column}'`);
      continue;
    }
    inputs[input] = column;
  }
  return inputs;
}

/**
 * `config.meta.date_windows` of an incremental model: one-row input → { columns, over, dates }
 * (types.ts, DateWindow). `over` is a `partition_inputs` table, a model with the partition column
 * (project.ts checks that the model reads it), or the model itself (its published rows).
 */
function readDateWindows(
  meta: Record<string, unknown>,
  metaPath: Path,
  incremental: boolean,
  partitionInputs: Readonly<Record<RelationName, string>> | undefined,
  v: Validator,
): Record<RelationName, DateWindow> | undefined {
  const declared = incrementalMeta(meta, 'date_windows', metaPath, incremental, v);
  if (!declared) return undefined;
  const { raw, path } = declared;
  const windows: Record<RelationName, DateWindow> = {};
  for (const input of Object.keys(raw)) {
    const at: Path = [...path, input];
    const entry = v.optionalMapping(raw, input, path);
    if (!RELATION.test(input) || input.startsWith('bronze.')) {
      v.problem(at, `expected a one-row model the model reads (silver.<name>), got '${input}'`);
      continue;
    }
    if (!entry) {
      v.problem(at, 'expected a mapping with columns, over, dates');
      continue;
    }
    v.keys(entry, at, DATE_WINDOW_KEYS);
    const columns = v.columnList(entry.columns, [...at, 'columns'], true);
    const over = v.requiredRelation(entry, 'over', at);
    if (over?.startsWith('bronze.') && partitionInputs?.[over] === undefined) v.problem([...at, 'over'], `${over} has no expression under partition_inputs to give its rows' partition`);
    const isDates = (d: unknown): d is string[] => Array.isArray(d) && d.length > 0 && d.every((x) => typeof x === 'string' && x.trim() !== '');
    // a list: the dates of every column; a mapping: each column's own dates (a column compared
    // with some of them alone adds the rows of those alone to its window)
    const rawDates = entry.dates;
    if (rawDates !== null && typeof rawDates === 'object' && !Array.isArray(rawDates)) {
      const byColumn = rawDates as Record<string, unknown>;
      const keys = Object.keys(byColumn);
      if (!columns || keys.length !== columns.length || !columns.every((c) => keys.includes(c)) || !keys.every((c) => isDates(byColumn[c]))) {
        v.problem([...at, 'dates'], 'expected, per column of `columns` and for each of them, a non-empty list of date expressions over a row of `over`');
        continue;
      }
      const datesOf = Object.fromEntries(keys.map((c) => [c, byColumn[c] as string[]]));
      if (over) windows[input] = { columns, over, dates: [...new Set(Object.values(datesOf).flat())], datesOf };
      continue;
    }
    if (!isDates(rawDates)) {
      v.problem([...at, 'dates'], 'expected a non-empty list of date expressions over a row of `over`, or one per column of `columns`');
      continue;
    }
    if (columns && over) windows[input] = { columns, over, dates: rawDates };
  }
  return windows;
}

/**
 * `config.meta.related_inputs` of an incremental model: input model → the column that relates its
 * rows to the model's partitions (types.ts, Incremental.relatedInputs). project.ts checks that the
 * model reads it.
 */
function readRelatedInputs(
  meta: Record<string, unknown>,
  metaPath: Path,
  incremental: boolean,
  partitionBy: string | undefined,
  dateWindows: Readonly<Record<RelationName, DateWindow>> | undefined,
  v: Validator,
): Record<RelationName, string> | undefined {
  const declared = incrementalMeta(meta, 'related_inputs', metaPath, incremental, v);
  if (!declared) return undefined;
  const { raw, path } = declared;
  const inputs: Record<RelationName, string> = {};
  for (const input of Object.keys(raw)) {
    const at: Path = [...path, input];
    if (!RELATION.test(input) || input.startsWith('bronze.')) {
      v.problem(
        at,
        input.startsWith('bronze.')
          ? `${input} is a bronze table: give the expression of its rows' partition under partition_inputs`
          : `expected a model the model reads (silver.<name> or gold.<name>), got '${input}'`,
      );
      continue;
    }
    const column = v.optionalString(raw, input, path);
    if (column === undefined) continue;
    if (!/^[a-z_][a-z0-9_$]*$/.test(column)) {
      v.problem(at, `expected the column of ${input} that relates its rows to the partitions, got '${column}'`);
      continue;
    }
    if (column === partitionBy) {
      v.problem(at, `${column} is the partition column: an input that has it is filtered by it, with no declaration`);
      continue;
    }
    if (dateWindows?.[input] !== undefined) {
      v.problem(at, `${input} is also under date_windows: a one-row input is compared whole, not related by a column`);
      continue;
    }
    inputs[input] = column;
  }
  return inputs;
}

/**
 * `config.meta.planner_settings`: setting → value, for the model's own statements. Only the
 * planner's method switches (`enable_*`, on or off) and `max_parallel_workers_per_gather` (a whole
 * number): a model may steer its plan, not the memory the build bounds.
 */
function readPlannerSettings(meta: Record<string, unknown>, metaPath: Path, v: Validator): Record<string, string> | undefined {
  const raw = v.optionalMapping(meta, 'planner_settings', metaPath);
  if (raw === undefined) return undefined;
  const path: Path = [...metaPath, 'planner_settings'];
  const settings: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (/^enable_[a-z_]+$/.test(name)) {
      if (typeof value === 'boolean' || value === 'on' || value === 'off') settings[name] = value === true || value === 'on' ? 'on' : 'off';
      else v.problem([...path, name], `expected on or off (true or false), got ${JSON.stringify(value)}`);
    } else if (name === 'max_parallel_workers_per_gather') {
      if (Number.isInteger(value) && (value as number) >= 0) settings[name] = String(value);
      else v.problem([...path, name], `expected a whole number of workers (0 for none), got ${JSON.stringify(value)}`);
    } else {
      v.problem([...path, name], `unknown planner setting '${name}' (expected max_parallel_workers_per_gather or an enable_* switch such as enable_hashagg)`);
    }
  }
  return Object.keys(settings).length ? settings : undefined;
}

/**
 * `config.meta.export.leave_out` of a gold model: columns of its .yml that the Parquet export leaves
 * out, besides the lifetime ones. A key column stays: a reader finds and joins the rows by it.
 */
function readExportLeaveOut(meta: Record<string, unknown>, metaPath: Path, model: ModelIdentity, columns: readonly ColumnSpec[], keys: ReadonlySet<string>, v: Validator): string[] | undefined {
  const raw = v.optionalMapping(meta, 'export', metaPath);
  if (!raw) return undefined;
  const path: Path = [...metaPath, 'export'];
  if (model.layer !== 'gold') v.problem(path, `'export' is for gold models (the layer the Parquet export writes)`);
  v.keys(raw, path, EXPORT_KEYS);
  const listed = v.columnList(raw.leave_out, [...path, 'leave_out'], true);
  if (!listed) return undefined;
  listed.forEach((column, i) => {
    const spec = columns.find((c) => c.name === column);
    if (!spec) v.problem([...path, 'leave_out', i], `'${column}' is not a column of ${model.name} (expected one listed under its columns:)`);
    else if (spec.role === 'key' || keys.has(column)) v.problem([...path, 'leave_out', i], `'${column}' is a key column: readers find and join the rows by it, so the export keeps it`);
  });
  return listed;
}

/**
 * The generic tests a `data_tests:` entry may name, as dbt and dbt_utils name them, and the kind the
 * runner records for each (etl.test_results.kind). `scalar_equality` and `row_count_change` are this
 * project's own generic tests; singular tests are `.sql` files under sql/tests/ (singular-tests.ts).
 */
export const GENERIC_TESTS: Readonly<Record<string, TestKind>> = {
  not_null: 'not_null',
  unique: 'unique',
  accepted_values: 'accepted_values',
  relationships: 'relationships',
  'dbt_utils.expression_is_true': 'expression',
  'dbt_utils.unique_combination_of_columns': 'unique',
  scalar_equality: 'equal',
  row_count_change: 'row_count_change',
};
const GENERIC_NAMES = Object.keys(GENERIC_TESTS);

/**
 * The documented columns of a layer's models, by file stem then column name (the export writes
 * them beside each column's type: src/export, `columnDocs`); `leaveOut` on those the model's
 * `config.meta.export.leave_out` names.
 */
export function columnDocsOf(project: Pick<Project, 'models'>, layer: Layer): Record<string, Record<string, ColumnSpec & { leaveOut?: boolean }>> {
  return Object.fromEntries(project.models.filter((m) => m.layer === layer).map((m) => {
    const leftOut = new Set(m.exportLeaveOut);
    return [m.relation, Object.fromEntries(m.columns.map((c) => [c.name, leftOut.has(c.name) ? { ...c, leaveOut: true } : c]))];
  }));
}

/** The test as the .yml names it: the generic test of dbt or dbt_utils, ours, or `singular` (sql/tests/). */
export function declaredTestName(t: TestDefinition): string {
  switch (t.kind) {
    case 'unique':
      return t.columns.length > 1 ? 'dbt_utils.unique_combination_of_columns' : 'unique';
    case 'expression':
      return 'dbt_utils.expression_is_true';
    case 'equal':
      return 'scalar_equality';
    case 'query':
      return 'singular';
    default:
      return t.kind;
  }
}

/** Test names of the shape before dbt's, and what to write instead. */
const RENAMED_TESTS: Readonly<Record<string, string>> = {
  expression: `write 'dbt_utils.expression_is_true'`,
  expression_is_true: `write 'dbt_utils.expression_is_true' (dbt_utils' test)`,
  unique_combination_of_columns: `write 'dbt_utils.unique_combination_of_columns' (dbt_utils' test)`,
  equal: `write 'scalar_equality' (two scalar queries, left and right)`,
  query: `a query whose rows are the failures is a singular test: put it in sql/tests/<name>.sql (sql/README.md, "Singular tests")`,
};
interface GenericSpec {
  /** Arguments at column level (the column is the one the test is listed under), or undefined: model level only. */
  column?: string[];
  /** Arguments at model level, or undefined: column level only. */
  model?: string[];
  /** Keys its `config:` takes. */
  config: string[];
}
const GENERIC_SPECS: Readonly<Record<string, GenericSpec>> = {
  not_null: { column: [], model: ['column_name'], config: ['severity', 'where'] },
  unique: { column: [], model: ['column_name'], config: ['severity', 'where'] },
  accepted_values: { column: ['values', 'allow_null'], model: ['column_name', 'values', 'allow_null'], config: ['severity', 'where'] },
  relationships: { column: ['to', 'field', 'min_coverage'], model: ['column_name', 'to', 'field', 'min_coverage'], config: ['severity', 'where'] },
  'dbt_utils.expression_is_true': { column: ['expression'], model: ['expression'], config: ['severity', 'where', 'meta'] },
  'dbt_utils.unique_combination_of_columns': { model: ['combination_of_columns'], config: ['severity', 'where'] },
  scalar_equality: { model: ['left', 'right', 'tolerance'], config: ['severity', 'meta'] },
  row_count_change: { model: ['max_drop'], config: ['severity', 'enabled'] },
};
/** Every test takes these besides its arguments: its name, and dbt's per-test config. */
const COMMON_TEST_KEYS = ['name', 'config'];
/** The volume guard every table that is not a quarantine model has unless its .yml says otherwise. */
export const DEFAULT_MAX_DROP = 0.5;
/** Gold is what readers and the exports use: losing its rows blocks the publish; silver's only warns. */
export const DEFAULT_VOLUME_GUARD_SEVERITY: Readonly<Record<Layer, Severity>> = Object.freeze({ silver: 'warn', gold: 'error' });
const RELATION = /^(bronze|silver|gold)\.[a-z_][a-z0-9_$]*$/;

function pathText(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out || '(top level)';
}

function oneOf(values: readonly string[]): string {
  return values.join(', ');
}

/** Parses YAML text; problems (file:line) for text that is not valid YAML. */
export function parseYml(text: string, file: string): { doc?: Document; lineCounter: LineCounter; problems: string[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const problems = doc.errors.map((err) => {
    const line = lineCounter.linePos(err.pos[0]).line;
    return `${file}${line ? `:${line}` : ''}: not valid YAML: ${err.message.split('\n')[0]}`;
  });
  return { ...(problems.length ? {} : { doc }), lineCounter, problems };
}

/** `problem(path, message)` for one file: `file:line: key.path: message`, the line of the key. */
export function problemReporter(doc: Document, lineCounter: LineCounter, file: string, problems: string[]): (path: Path, message: string) => void {
  return (path, message) => {
    const line = nodeLine(doc, lineCounter, path);
    problems.push(`${file}${line ? `:${line}` : ''}: ${path.length ? `${pathText(path)}: ` : ''}${message}`);
  };
}

/** Validates the parsed yml of one model. Returns the spec (when usable) and every problem found. */
export function readModelSpec(text: string, model: ModelIdentity): { spec?: ModelSpec; problems: string[] } {
  const { doc, lineCounter, problems } = parseYml(text, model.ymlFile);
  if (!doc) return { problems };
  const problem = problemReporter(doc, lineCounter, model.ymlFile, problems);

  const root: unknown = doc.toJS() ?? {};
  if (!isPlainObject(root)) {
    problem([], `expected dbt's properties shape: version: 2, models: [{name: ${model.relation}, description, config, columns, data_tests}]`);
    return { problems };
  }
  if (root.models === undefined && Object.keys(root).some((k) => OLD_SHAPE_KEYS.includes(k))) {
    problems.push(
      `${model.ymlFile}:1: the .yml shape before dbt's; write 'version: 2' and 'models:' with one entry 'name: ${model.relation}' holding description, columns and data_tests ` +
        `('tests' is now 'data_tests'); materialized, unique_key and grants go under its config:, quarantine and rules under config: meta: (sql/README.md, "The .yml file")`,
    );
    return { problems };
  }
  const v = new Validator(problem);
  v.keys(root, [], ROOT_KEYS);
  if (root.version === undefined || root.version === null) v.problem([], `missing 'version: 2' (dbt's properties files say version: 2)`);
  else if (root.version !== 2) v.problem(['version'], `expected 2, got ${describe(root.version)}`);
  const entries = v.optionalList(root, 'models', []);
  if (entries === undefined) {
    if (root.models === undefined) v.problem([], `missing 'models:' (a list with one entry, name: ${model.relation})`);
    return { problems };
  }
  if (entries.length !== 1) {
    v.problem(['models'], `expected exactly one model, the one of ${model.relation}.sql (got ${entries.length})`);
    return { problems };
  }
  const at: Path = ['models', 0];
  const entry = entries[0];
  if (!isPlainObject(entry)) {
    v.problem(at, `expected a mapping with name, description, config, columns, data_tests`);
    return { problems };
  }
  v.keys(entry, at, MODEL_KEYS, MOVED_KEYS);
  const name = v.requiredString(entry, 'name', at);
  if (name !== undefined && name !== model.relation) v.problem([...at, 'name'], `expected '${model.relation}', the name of the .sql file beside it, got '${name}'`);
  const description = v.optionalString(entry, 'description', at);

  const config = v.optionalMapping(entry, 'config', at) ?? {};
  const configPath: Path = [...at, 'config'];
  v.keys(config, configPath, CONFIG_KEYS, { quarantine: MOVED_KEYS.quarantine!, rules: MOVED_KEYS.rules! });
  // `incremental` (dbt's word) is a table that a run may update partition by partition
  // (src/transform/incremental.ts); a full build creates it as any table.
  const declared = v.optionalEnum(config, 'materialized', configPath, ['table', 'view', 'incremental']) ?? 'table';
  const materialized: Materialization = declared === 'view' ? 'view' : 'table';
  const uniqueKey = v.columnList(config.unique_key, [...configPath, 'unique_key'], false) ?? [];
  const partitionBy = v.optionalString(config, 'partition_by', configPath);
  if (declared === 'incremental' && partitionBy === undefined) v.problem([...configPath, 'materialized'], `an incremental model needs 'partition_by': the column whose values are its unit of recomputation`);
  // a view may declare it too: a run then computes its rows of the changed partitions (its delta),
  // so that its readers find what changed without reading all of it; it stays a view
  if (declared === 'table' && partitionBy !== undefined) v.problem([...configPath, 'partition_by'], `'partition_by' is for 'materialized: incremental' models and views`);
  const grants = readGrants(config.grants, [...configPath, 'grants'], v);
  const tags = readTags(config.tags, [...configPath, 'tags'], v);
  const indexes = readIndexes(config.indexes, [...configPath, 'indexes'], materialized, v);
  const unlogged = v.optionalBoolean(config, 'unlogged', configPath) ?? false;
  if (unlogged && materialized === 'view') v.problem([...configPath, 'unlogged'], `'unlogged' is for tables ('materialized: table' or 'incremental'); a view stores nothing`);
  const meta = v.optionalMapping(config, 'meta', configPath) ?? {};
  const metaPath: Path = [...configPath, 'meta'];
  v.keys(meta, metaPath, META_KEYS);
  const partitionInputs = readPartitionInputs(meta, metaPath, declared === 'incremental', v);
  const bronzeLines = readBronzeLines(meta, metaPath, declared === 'incremental', partitionInputs, v);
  const dateWindows = readDateWindows(meta, metaPath, declared === 'incremental', partitionInputs, v);
  const relatedInputs = readRelatedInputs(meta, metaPath, declared === 'incremental', partitionBy, dateWindows, v);
  const incremental: Incremental | undefined =
    declared !== 'table' && partitionBy !== undefined
      ? { partitionBy, ...(partitionInputs ? { partitionInputs } : {}), ...(bronzeLines ? { bronzeLines } : {}), ...(dateWindows ? { dateWindows } : {}), ...(relatedInputs ? { relatedInputs } : {}) }
      : undefined;
  const quarantine = v.optionalBoolean(meta, 'quarantine', metaPath) ?? false;
  const plannerSettings = readPlannerSettings(meta, metaPath, v);
  // one row per row of the named model, its same-named columns copied: checked from the SQL (projection.ts)
  const projectionOf = v.optionalRelation(meta, 'projection_of', metaPath);

  const tests: TestDefinition[] = [];
  const columns: ColumnSpec[] = [];
  const defaultNames = new Map<string, number>();
  const ctx: TestContext = { model, defaultNames, v, volumeGuards: 0 };

  v.optionalList(entry, 'columns', at)?.forEach((rawColumn, i) => {
    const path: Path = [...at, 'columns', i];
    if (!isPlainObject(rawColumn)) {
      v.problem(path, 'expected a mapping with name, description, meta, data_tests');
      return;
    }
    v.keys(rawColumn, path, COLUMN_KEYS, { tests: MOVED_KEYS.tests! });
    const colName = v.requiredString(rawColumn, 'name', path);
    const colDescription = v.optionalString(rawColumn, 'description', path);
    const colMeta = v.optionalMapping(rawColumn, 'meta', path) ?? {};
    v.keys(colMeta, [...path, 'meta'], COLUMN_META_KEYS);
    const role = v.optionalEnum(colMeta, 'role', [...path, 'meta'], COLUMN_ROLES) as ColumnRole | undefined;
    if (colName !== undefined) {
      // The same column may appear twice (e.g. once for its tests, once for a relationship).
      const existing = columns.find((c) => c.name === colName);
      if (!existing) {
        columns.push({ name: colName, ...(colDescription !== undefined ? { description: colDescription } : {}), ...(role !== undefined ? { role } : {}) });
      } else {
        if (colDescription !== undefined && existing.description === undefined) existing.description = colDescription;
        if (role !== undefined && existing.role !== undefined && role !== existing.role) v.problem([...path, 'meta', 'role'], `${colName} is already declared with role '${existing.role}'; a column has one role`);
        else if (role !== undefined) existing.role = role;
      }
    }
    v.optionalList(rawColumn, 'data_tests', path)?.forEach((rawTest, j) => {
      const t = readTest(rawTest, [...path, 'data_tests', j], colName, ctx);
      if (t) tests.push(t);
    });
  });
  v.optionalList(entry, 'data_tests', at)?.forEach((rawTest, j) => {
    const t = readTest(rawTest, [...at, 'data_tests', j], undefined, ctx);
    if (t) tests.push(t);
  });
  tests.push(...impliedTests(uniqueKey, tests, model));
  // Implied for tables only. A quarantine model shrinking is good news; a view's rows are those of the
  // tables it reads (guarded themselves), and counting it runs its query twice (int_sales_line_products:
  // 0.15 s against 0.09 s for the fact_sales table at 60k lines). Either may declare one.
  if (ctx.volumeGuards === 0 && !quarantine && materialized === 'table') tests.push(impliedVolumeGuard(model));

  const exportLeaveOut = readExportLeaveOut(meta, metaPath, model, columns, new Set([...uniqueKey, ...(partitionBy !== undefined ? [partitionBy] : [])]), v);

  const rules: RuleDefinition[] = [];
  v.optionalList(meta, 'rules', metaPath)?.forEach((rawRule, i) => {
    const path: Path = [...metaPath, 'rules', i];
    if (!isPlainObject(rawRule)) {
      v.problem(path, 'expected a mapping with name, kind, description, relation, where');
      return;
    }
    v.keys(rawRule, path, RULE_KEYS);
    const ruleName = v.requiredString(rawRule, 'name', path);
    const kind = v.requiredEnum(rawRule, 'kind', path, RULE_KINDS) as RuleKind | undefined;
    const ruleDescription = v.optionalString(rawRule, 'description', path);
    const relation = v.optionalRelation(rawRule, 'relation', path) ?? model.name;
    const where = v.optionalString(rawRule, 'where', path);
    if (where === undefined && kind !== undefined && kind !== 'quarantine' && rawRule.where === undefined) {
      v.problem(path, `a '${kind}' rule needs 'where' (the predicate of the rows it counts)`);
    }
    if (ruleName !== undefined && kind !== undefined) {
      if (rules.some((r) => r.name === ruleName && r.relation === relation)) v.problem([...path, 'name'], `rule '${ruleName}' is declared twice for ${relation}`);
      rules.push({
        name: ruleName,
        kind,
        relation,
        model: model.name,
        file: model.ymlFile,
        ...(ruleDescription !== undefined ? { description: ruleDescription } : {}),
        ...(where !== undefined ? { where } : {}),
      });
    }
  });

  if (problems.length) return { problems };
  return {
    spec: { ...(description !== undefined ? { description } : {}), materialized, ...(incremental ? { incremental } : {}), uniqueKey, quarantine, ...(grants ? { grants } : {}), tags, ...(indexes.length ? { indexes } : {}), ...(unlogged ? { unlogged: true as const } : {}), ...(plannerSettings ? { plannerSettings } : {}), ...(projectionOf ? { projectionOf } : {}), columns, ...(exportLeaveOut ? { exportLeaveOut } : {}), tests, rules },
    problems,
  };
}

/** `tags: nightly` or `tags: [nightly, finance]` (dbt's tags config): what `--select tag:NAME` matches. */
function readTags(raw: unknown, at: Path, v: Validator): string[] {
  if (raw === undefined) return [];
  const list = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(list) || !list.every((t) => typeof t === 'string' && /^[A-Za-z0-9_-]+$/.test(t))) {
    v.problem(at, 'expected a tag or a list of tags (letters, digits, _ and -)');
    return [];
  }
  return [...new Set(list as string[])];
}

/**
 * `indexes: [{columns: [customer_id]}, …]` (dbt-postgres' indexes config, btree only): the column
 * lists, each once. A column that is not in the table fails the build that creates the index.
 */
function readIndexes(raw: unknown, at: Path, materialized: Materialization, v: Validator): string[][] {
  if (raw === undefined || raw === null) return [];
  if (materialized !== 'table') {
    v.problem(at, `'indexes' is for tables ('materialized: table' or 'incremental'); a view has no index`);
    return [];
  }
  if (!Array.isArray(raw)) {
    v.problem(at, 'expected a list of indexes, e.g. [{columns: [customer_id]}]');
    return [];
  }
  const indexes: string[][] = [];
  raw.forEach((entry, i) => {
    const path: Path = [...at, i];
    if (!isPlainObject(entry)) {
      v.problem(path, 'expected a mapping with columns, e.g. {columns: [customer_id]}');
      return;
    }
    v.keys(entry, path, ['columns']);
    const columns = entry.columns;
    if (!Array.isArray(columns) || columns.length === 0 || !columns.every((c) => typeof c === 'string' && c.length > 0)) {
      v.problem([...path, 'columns'], 'expected a non-empty list of column names');
      return;
    }
    if (!indexes.some((x) => x.join('\0') === columns.join('\0'))) indexes.push(columns as string[]);
  });
  return indexes;
}

/** `grants: {select: [analyst, reporting]}` (dbt's grants config): privilege → roles. */
function readGrants(raw: unknown, path: Path, v: Validator): Record<string, string[]> | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isPlainObject(raw)) {
    v.problem(path, `expected a mapping of privilege to roles, e.g. {select: [analyst]}`);
    return undefined;
  }
  const grants: Record<string, string[]> = {};
  for (const [privilege, roles] of Object.entries(raw)) {
    if (!GRANT_PRIVILEGES.includes(privilege)) v.problem([...path, privilege], `'${privilege}' is not a table privilege (${oneOf(GRANT_PRIVILEGES)})`);
    else if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string' && ROLE_NAME.test(r))) v.problem([...path, privilege], 'expected a list of role names');
    else grants[privilege] = roles as string[];
  }
  return grants;
}

interface TestContext {
  model: ModelIdentity;
  defaultNames: Map<string, number>;
  v: Validator;
  /** row_count_change entries read (declared or disabled): at most one, and none is then implied. */
  volumeGuards: number;
}

/**
 * One entry of a `data_tests:` list: `not_null`, or `{ test: { name?, <arguments>, config?: { severity, where } } }`.
 * `column` is the column it is listed under (undefined at model level).
 */
function readTest(raw: unknown, path: Path, column: string | undefined, ctx: TestContext): TestDefinition | undefined {
  const { v, model } = ctx;
  const atColumn = path.includes('columns');
  let generic: string;
  let params: Record<string, unknown>;
  let paramsPath: Path;
  if (typeof raw === 'string') {
    generic = raw;
    params = {};
    paramsPath = path;
  } else if (isPlainObject(raw) && Object.keys(raw).length === 1) {
    generic = Object.keys(raw)[0]!;
    const value = raw[generic];
    paramsPath = [...path, generic];
    if (value === null || value === undefined) params = {};
    else if (isPlainObject(value)) params = value;
    else {
      v.problem(paramsPath, `expected the arguments of '${generic}' as a mapping, got ${describe(value)}`);
      return undefined;
    }
  } else {
    v.problem(path, `expected a generic test (${oneOf(GENERIC_NAMES)}) or a mapping with exactly one of them, got ${describe(raw)}`);
    return undefined;
  }
  const where0 = typeof raw === 'string' ? path : paramsPath;
  const testKind = GENERIC_TESTS[generic];
  const spec = GENERIC_SPECS[generic];
  if (testKind === undefined || spec === undefined) {
    const renamed = RENAMED_TESTS[generic];
    v.problem(where0, renamed ? `'${generic}' is not a test name here: ${renamed}` : `unknown test '${generic}' (expected one of ${oneOf(GENERIC_NAMES)})`);
    return undefined;
  }
  const args = atColumn ? spec.column : spec.model;
  if (args === undefined) {
    v.problem(where0, atColumn ? `${generic} is about the whole model: list it under the model's data_tests, not under a column` : `${generic} is about one column: list it under that column's data_tests`);
    return undefined;
  }
  const before = v.count;
  const moved: Record<string, string> = {};
  for (const k of ['severity', 'where', 'enabled']) if (spec.config.includes(k)) moved[k] = `put '${k}' under config: (dbt's test config), e.g. config: { ${k}: ... }`;
  if (atColumn && spec.model?.includes('column_name')) moved.column_name = 'the column is the one this test is listed under';
  if (!atColumn && spec.model?.includes('column_name')) moved.column = `write 'column_name' (dbt's name)`;
  if (generic === 'dbt_utils.unique_combination_of_columns') moved.columns = `write 'combination_of_columns' (dbt_utils' name)`;
  v.keys(params, paramsPath, [...COMMON_TEST_KEYS, ...args], moved);
  const explicitName = v.optionalString(params, 'name', paramsPath);
  const config = v.optionalMapping(params, 'config', paramsPath) ?? {};
  const configPath: Path = [...paramsPath, 'config'];
  v.keys(config, configPath, spec.config);
  const defaultSeverity = testKind === 'row_count_change' ? DEFAULT_VOLUME_GUARD_SEVERITY[model.layer] : 'error';
  const severity = (v.optionalEnum(config, 'severity', configPath, ['error', 'warn']) ?? defaultSeverity) as Severity;
  const where = spec.config.includes('where') ? v.optionalString(config, 'where', configPath) : undefined;
  const base = { severity, model: model.name, file: model.ymlFile, declaredAt: pathText(path) };
  // Default names are built from the recorded kind (etl.test_results.kind), not the generic test's name.
  const named = (parts: string[]) => {
    if (explicitName !== undefined) return explicitName;
    const stemName = `${testKind}_${model.layer}_${model.relation}`;
    if (parts.length) return `${stemName}_${parts.join('_')}`;
    const n = (ctx.defaultNames.get(testKind) ?? 0) + 1;
    ctx.defaultNames.set(testKind, n);
    return `${stemName}_${n}`;
  };
  const whereField = where !== undefined ? { where } : {};

  // The column the test is about: the one it is listed under, or `column_name` at model level.
  const columnOf = (): string | undefined => (atColumn ? column : v.requiredString(params, 'column_name', paramsPath));

  let test: TestDefinition | undefined;
  switch (generic) {
    case 'not_null':
    case 'unique': {
      const c = columnOf();
      if (c !== undefined) test = { kind: generic, name: named([c]), columns: [c], ...whereField, ...base };
      break;
    }
    case 'dbt_utils.unique_combination_of_columns': {
      const cols = v.columnList(params.combination_of_columns, [...paramsPath, 'combination_of_columns'], true);
      if (cols) test = { kind: 'unique', name: named(cols), columns: cols, ...whereField, ...base };
      break;
    }
    case 'accepted_values': {
      const c = columnOf();
      const values = v.valueList(params, 'values', paramsPath);
      const allowNull = v.optionalBoolean(params, 'allow_null', paramsPath) ?? false;
      if (c !== undefined && values) test = { kind: 'accepted_values', name: named([c]), column: c, values, allowNull, ...whereField, ...base };
      break;
    }
    case 'relationships': {
      const c = columnOf();
      const to = v.requiredRelation(params, 'to', paramsPath);
      const field = v.requiredString(params, 'field', paramsPath);
      const minCoverage = v.optionalNumber(params, 'min_coverage', paramsPath);
      if (minCoverage !== undefined && !(minCoverage > 0 && minCoverage <= 1)) {
        v.problem([...paramsPath, 'min_coverage'], `expected a fraction of the child rows, 0 < min_coverage ≤ 1 (0.95 = 95%), got ${minCoverage}`);
      }
      if (c !== undefined && to && field) {
        const parts = [c, 'to', to.replace('.', '_'), field, ...(minCoverage !== undefined ? ['coverage'] : [])];
        test = { kind: 'relationships', name: named(parts), column: c, to, field, ...whereField, ...(minCoverage !== undefined ? { minCoverage } : {}), ...base };
      }
      break;
    }
    case 'dbt_utils.expression_is_true': {
      const written = v.requiredString(params, 'expression', paramsPath);
      // At column level dbt_utils puts the column in front: `expression: ">= 0"` checks `price >= 0`.
      const expression = written !== undefined && atColumn && column !== undefined ? `"${column.replaceAll('"', '""')}" ${written}` : written;
      // `config.meta.monotone_in_as_of: true` claims that a row passing at one as_of passes at every
      // later one (`order_date < as_of`): src/quality then judges an update's delta alone
      // (ExpressionTest.monotoneInAsOf); the engine never infers it
      const meta = v.optionalMapping(config, 'meta', configPath) ?? {};
      v.keys(meta, [...configPath, 'meta'], ['monotone_in_as_of']);
      const monotoneInAsOf = v.optionalBoolean(meta, 'monotone_in_as_of', [...configPath, 'meta']);
      if (expression !== undefined) {
        const declared: ExpressionTest = { kind: 'expression', name: named([]), expression, ...whereField, ...(monotoneInAsOf ? { monotoneInAsOf } : {}), ...base };
        test = declared;
      }
      break;
    }
    case 'scalar_equality': {
      const left = v.requiredString(params, 'left', paramsPath);
      const right = v.requiredString(params, 'right', paramsPath);
      const tolerance = v.optionalNumber(params, 'tolerance', paramsPath) ?? 0;
      if (tolerance < 0) v.problem([...paramsPath, 'tolerance'], `expected a number ≥ 0, got ${tolerance}`);
      // `config.meta.additive: true` claims that each side is a sum over the rows of the relations it
      // reads (counts, sums, with filters, added up): src/quality recomputes such a side from the
      // rows that changed (EqualTest.additive)
      const meta = v.optionalMapping(config, 'meta', configPath) ?? {};
      v.keys(meta, [...configPath, 'meta'], ['additive']);
      const additive = v.optionalBoolean(meta, 'additive', [...configPath, 'meta']);
      if (left !== undefined && right !== undefined) {
        const equal: EqualTest = { kind: 'equal', name: named([]), left, right, tolerance, ...(additive ? { additive } : {}), ...base };
        test = equal;
      }
      break;
    }
    case 'row_count_change': {
      if (++ctx.volumeGuards > 1) v.problem(path, `row_count_change is declared more than once for ${model.name}`);
      const enabled = v.optionalBoolean(config, 'enabled', configPath) ?? true;
      const maxDrop = v.optionalNumber(params, 'max_drop', paramsPath) ?? DEFAULT_MAX_DROP;
      if (maxDrop < 0 || maxDrop > 1) v.problem([...paramsPath, 'max_drop'], `expected a fraction of the published rows, 0 ≤ max_drop ≤ 1 (0.5 = half of them may go), got ${maxDrop}`);
      if (!enabled) {
        const other = [...Object.keys(params).filter((k) => k !== 'config'), ...Object.keys(config).filter((k) => k !== 'enabled')];
        if (other.length) v.problem(paramsPath, `a disabled row_count_change takes no other key (got ${other.join(', ')})`);
        break;
      }
      test = { kind: 'row_count_change', name: explicitName ?? volumeGuardName(model), maxDrop, ...base };
      break;
    }
  }
  return v.count === before ? test : undefined;
}

/** `unique_key` implies a unique test on the key and a not_null test on each key column. */
function impliedTests(uniqueKey: string[], declared: TestDefinition[], model: ModelIdentity): TestDefinition[] {
  if (uniqueKey.length === 0) return [];
  const base = { severity: 'error' as const, model: model.name, file: model.ymlFile, declaredAt: 'config.unique_key' };
  const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((c) => b.includes(c));
  const implied: TestDefinition[] = [];
  if (!declared.some((t) => t.kind === 'unique' && !t.where && sameSet(t.columns, uniqueKey))) {
    implied.push({ kind: 'unique', name: `unique_${model.layer}_${model.relation}_${uniqueKey.join('_')}`, columns: uniqueKey, ...base });
  }
  for (const c of uniqueKey) {
    if (declared.some((t) => t.kind === 'not_null' && !t.where && t.columns.includes(c))) continue;
    implied.push({ kind: 'not_null', name: `not_null_${model.layer}_${model.relation}_${c}`, columns: [c], ...base });
  }
  return implied;
}

function volumeGuardName(model: ModelIdentity): string {
  return `row_count_change_${model.layer}_${model.relation}`;
}

/** The volume guard a model has when its .yml declares none: DEFAULT_MAX_DROP, severity by layer. */
function impliedVolumeGuard(model: ModelIdentity): TestDefinition {
  return {
    kind: 'row_count_change',
    name: volumeGuardName(model),
    maxDrop: DEFAULT_MAX_DROP,
    severity: DEFAULT_VOLUME_GUARD_SEVERITY[model.layer],
    model: model.name,
    file: model.ymlFile,
    declaredAt: 'implied',
  };
}

/** Type checks that record a problem (with the key's path) and return undefined on failure. */
export class Validator {
  count = 0;
  constructor(private readonly report: (path: Path, message: string) => void) {}

  problem(path: Path, message: string): void {
    this.count++;
    this.report(path, message);
  }

  /** Unknown keys are problems; `hints` says what to write instead of a key this shape does not take. */
  keys(obj: Record<string, unknown>, path: Path, allowed: readonly string[], hints: Readonly<Record<string, string>> = {}): void {
    for (const key of Object.keys(obj)) {
      if (allowed.includes(key)) continue;
      const hint = Object.hasOwn(hints, key) ? hints[key] : undefined;
      this.problem([...path, key], hint ? `'${key}' is not a key here: ${hint}` : `unknown key '${key}' (expected one of ${oneOf(allowed)})`);
    }
  }

  optionalMapping(obj: Record<string, unknown>, key: string, path: Path): Record<string, unknown> | undefined {
    const value = obj[key];
    if (value === undefined || value === null) return undefined;
    if (!isPlainObject(value)) {
      this.problem([...path, key], `expected a mapping, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  optionalString(obj: Record<string, unknown>, key: string, path: Path): string | undefined {
    const value = obj[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || value.trim() === '') {
      this.problem([...path, key], `expected a non-empty string, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  requiredString(obj: Record<string, unknown>, key: string, path: Path, note = ''): string | undefined {
    if (obj[key] === undefined || obj[key] === null) {
      this.problem(path, `missing '${key}'${note}`);
      return undefined;
    }
    return this.optionalString(obj, key, path);
  }

  optionalBoolean(obj: Record<string, unknown>, key: string, path: Path): boolean | undefined {
    const value = obj[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') {
      this.problem([...path, key], `expected true or false, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  optionalNumber(obj: Record<string, unknown>, key: string, path: Path): number | undefined {
    const value = obj[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      this.problem([...path, key], `expected a number, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  optionalEnum(obj: Record<string, unknown>, key: string, path: Path, allowed: readonly string[]): string | undefined {
    const value = obj[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || !allowed.includes(value)) {
      this.problem([...path, key], `expected one of ${oneOf(allowed)}, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  requiredEnum(obj: Record<string, unknown>, key: string, path: Path, allowed: readonly string[]): string | undefined {
    if (obj[key] === undefined || obj[key] === null) {
      this.problem(path, `missing '${key}' (one of ${oneOf(allowed)})`);
      return undefined;
    }
    return this.optionalEnum(obj, key, path, allowed);
  }

  optionalList(obj: Record<string, unknown>, key: string, path: Path): unknown[] | undefined {
    const value = obj[key];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) {
      this.problem([...path, key], `expected a list, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  optionalRelation(obj: Record<string, unknown>, key: string, path: Path): RelationName | undefined {
    const value = this.optionalString(obj, key, path);
    if (value === undefined) return undefined;
    if (!RELATION.test(value)) {
      this.problem([...path, key], `expected a schema-qualified relation such as silver.customers, got '${value}'`);
      return undefined;
    }
    return value;
  }

  requiredRelation(obj: Record<string, unknown>, key: string, path: Path): RelationName | undefined {
    if (obj[key] === undefined || obj[key] === null) {
      this.problem(path, `missing '${key}' (a relation such as silver.customers)`);
      return undefined;
    }
    return this.optionalRelation(obj, key, path);
  }

  /** A column name or a non-empty list of distinct column names. */
  columnList(value: unknown, path: Path, required: boolean): string[] | undefined {
    if (value === undefined || value === null) {
      if (required) this.problem(path, 'missing column list');
      return undefined;
    }
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list) || list.length === 0 || !list.every((c) => typeof c === 'string' && c.trim() !== '')) {
      this.problem(path, `expected a column name or a non-empty list of column names, got ${describe(value)}`);
      return undefined;
    }
    if (new Set(list).size !== list.length) {
      this.problem(path, `a column is listed twice in ${JSON.stringify(list)}`);
      return undefined;
    }
    return list as string[];
  }

  valueList(obj: Record<string, unknown>, key: string, path: Path): (string | number | boolean)[] | undefined {
    const value = obj[key];
    if (value === undefined || value === null) {
      this.problem(path, `missing '${key}' (the list of accepted values)`);
      return undefined;
    }
    if (!Array.isArray(value) || value.length === 0 || !value.every((x) => ['string', 'number', 'boolean'].includes(typeof x))) {
      this.problem([...path, key], `expected a non-empty list of strings, numbers or booleans, got ${describe(value)}`);
      return undefined;
    }
    return value as (string | number | boolean)[];
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

export function describe(value: unknown): string {
  if (value === null) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `'${value}'`;
  return `${typeof value} ${String(value)}`;
}

/** Line (1-based) of the node at `path`, or of the key when the path ends in a mapping key. */
function nodeLine(doc: Document, counter: LineCounter, path: Path): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const sub = path.slice(0, n);
    const last = sub[sub.length - 1];
    if (typeof last === 'string') {
      const parent = sub.length === 1 ? doc.contents : doc.getIn(sub.slice(0, -1), true);
      if (isMap(parent)) {
        const pair = parent.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === last);
        const range = pair && isScalar(pair.key) ? pair.key.range : undefined;
        if (range) return counter.linePos(range[0]).line;
      }
      continue;
    }
    const node = sub.length === 0 ? doc.contents : doc.getIn(sub, true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return counter.linePos(range[0]).line;
  }
  return undefined;
}
