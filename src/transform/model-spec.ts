/**
 * Reading and validating one model's `.yml` file (sql/README.md, "The `.yml` file"). Unknown keys,
 * wrong types and bad test or rule definitions are collected as problems — each one naming the file,
 * the line and the key — rather than thrown one at a time, so a single run reports all of them.
 */
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type {
  ColumnSpec,
  Layer,
  Materialization,
  ModelSpec,
  RelationName,
  RuleDefinition,
  RuleKind,
  Severity,
  TestDefinition,
  TestKind,
} from './types.ts';

export interface ModelIdentity {
  name: RelationName;
  layer: Layer;
  relation: string;
  ymlFile: string;
}

type Path = (string | number)[];

const TOP_KEYS = ['description', 'materialized', 'unique_key', 'quarantine', 'grants', 'columns', 'tests', 'rules'] as const;
/** Table privileges a `grants:` entry may name (PostgreSQL's GRANT on a table). */
const GRANT_PRIVILEGES = ['select', 'insert', 'update', 'delete', 'truncate', 'references', 'trigger'];
const ROLE_NAME = /^[A-Za-z_][A-Za-z0-9_$-]*$/;
const COLUMN_KEYS = ['name', 'description', 'tests'] as const;
const RULE_KEYS = ['name', 'kind', 'description', 'relation', 'where'] as const;
const RULE_KINDS: readonly RuleKind[] = ['repair', 'superseded', 'flag', 'quarantine'];
const TEST_KINDS: readonly TestKind[] = ['not_null', 'unique', 'accepted_values', 'relationships', 'expression', 'query', 'equal', 'row_count_change'];
const COMMON_TEST_KEYS = ['name', 'severity'];
/** Keys each test kind takes besides name/severity; `column`/`columns` only at model level. */
const TEST_KEYS: Record<TestKind, { column: string[]; model: string[] }> = {
  not_null: { column: ['where'], model: ['column', 'columns', 'where'] },
  unique: { column: ['where'], model: ['column', 'columns', 'where'] },
  accepted_values: { column: ['values', 'allow_null', 'where'], model: ['column', 'values', 'allow_null', 'where'] },
  relationships: { column: ['to', 'field', 'where', 'min_coverage'], model: ['column', 'to', 'field', 'where', 'min_coverage'] },
  expression: { column: ['expression', 'where'], model: ['expression', 'where'] },
  query: { column: ['sql'], model: ['sql'] },
  equal: { column: ['left', 'right', 'tolerance'], model: ['left', 'right', 'tolerance'] },
  row_count_change: { column: [], model: ['max_drop', 'enabled'] },
};
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

/** Validates the parsed yml of one model. Returns the spec (when usable) and every problem found. */
export function readModelSpec(text: string, model: ModelIdentity): { spec?: ModelSpec; problems: string[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const problems: string[] = [];
  const lineOf = (path: Path): number | undefined => nodeLine(doc, lineCounter, path);
  const problem = (path: Path, message: string) => {
    const line = lineOf(path);
    problems.push(`${model.ymlFile}${line ? `:${line}` : ''}: ${path.length ? `${pathText(path)}: ` : ''}${message}`);
  };
  for (const err of doc.errors) {
    const line = lineCounter.linePos(err.pos[0]).line;
    problems.push(`${model.ymlFile}${line ? `:${line}` : ''}: not valid YAML: ${err.message.split('\n')[0]}`);
  }
  if (doc.errors.length) return { problems };

  const root: unknown = doc.toJS() ?? {};
  if (!isPlainObject(root)) {
    problem([], 'expected a mapping with description, materialized, columns, tests, rules');
    return { problems };
  }
  const v = new Validator(problem);
  v.keys(root, [], TOP_KEYS);

  const description = v.optionalString(root, 'description', []);
  const materialized = (v.optionalEnum(root, 'materialized', [], ['table', 'view']) ?? 'table') as Materialization;
  const quarantine = v.optionalBoolean(root, 'quarantine', []) ?? false;
  const uniqueKey = v.columnList(root.unique_key, ['unique_key'], false) ?? [];
  const grants = readGrants(root.grants, problem);

  const tests: TestDefinition[] = [];
  const columns: ColumnSpec[] = [];
  const defaultNames = new Map<string, number>();
  const ctx: TestContext = { model, defaultNames, v, volumeGuards: 0 };

  const rawColumns = v.optionalList(root, 'columns', []);
  rawColumns?.forEach((rawColumn, i) => {
    const path: Path = ['columns', i];
    if (!isPlainObject(rawColumn)) {
      problem(path, 'expected a mapping with name, description, tests');
      return;
    }
    v.keys(rawColumn, path, COLUMN_KEYS);
    const name = v.requiredString(rawColumn, 'name', path);
    const colDescription = v.optionalString(rawColumn, 'description', path);
    if (name !== undefined) {
      // The same column may appear twice (e.g. once for its tests, once for a relationship).
      const existing = columns.find((c) => c.name === name);
      if (!existing) columns.push({ name, ...(colDescription !== undefined ? { description: colDescription } : {}) });
      else if (colDescription !== undefined && existing.description === undefined) existing.description = colDescription;
    }
    v.optionalList(rawColumn, 'tests', path)?.forEach((rawTest, j) => {
      const t = readTest(rawTest, [...path, 'tests', j], name, ctx);
      if (t) tests.push(t);
    });
  });
  v.optionalList(root, 'tests', [])?.forEach((rawTest, j) => {
    const t = readTest(rawTest, ['tests', j], undefined, ctx);
    if (t) tests.push(t);
  });
  tests.push(...impliedTests(uniqueKey, tests, model));
  // Implied for tables only. A quarantine model shrinking is good news; a view's rows are those of the
  // tables it reads (guarded themselves), and counting it runs its query twice (int_sales_line_products:
  // 0.15 s against 0.09 s for the fact_sales table at 60k lines). Either may declare one.
  if (ctx.volumeGuards === 0 && !quarantine && materialized === 'table') tests.push(impliedVolumeGuard(model));

  const rules: RuleDefinition[] = [];
  v.optionalList(root, 'rules', [])?.forEach((rawRule, i) => {
    const path: Path = ['rules', i];
    if (!isPlainObject(rawRule)) {
      problem(path, 'expected a mapping with name, kind, description, relation, where');
      return;
    }
    v.keys(rawRule, path, RULE_KEYS);
    const name = v.requiredString(rawRule, 'name', path);
    const kind = v.requiredEnum(rawRule, 'kind', path, RULE_KINDS) as RuleKind | undefined;
    const ruleDescription = v.optionalString(rawRule, 'description', path);
    const relation = v.optionalRelation(rawRule, 'relation', path) ?? model.name;
    const where = v.optionalString(rawRule, 'where', path);
    if (where === undefined && kind !== undefined && kind !== 'quarantine' && rawRule.where === undefined) {
      problem(path, `a '${kind}' rule needs 'where' (the predicate of the rows it counts)`);
    }
    if (name !== undefined && kind !== undefined) {
      if (rules.some((r) => r.name === name && r.relation === relation)) problem([...path, 'name'], `rule '${name}' is declared twice for ${relation}`);
      rules.push({
        name,
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
    spec: { ...(description !== undefined ? { description } : {}), materialized, uniqueKey, quarantine, ...(grants ? { grants } : {}), columns, tests, rules },
    problems,
  };
}

/** `grants: {select: [analyst, reporting]}` (dbt's grants config): privilege → roles. */
function readGrants(raw: unknown, problem: (path: Path, message: string) => void): Record<string, string[]> | undefined {
  if (raw === undefined) return undefined;
  if (!isPlainObject(raw)) {
    problem(['grants'], `expected a mapping of privilege to roles, e.g. {select: [analyst]}`);
    return undefined;
  }
  const grants: Record<string, string[]> = {};
  for (const [privilege, roles] of Object.entries(raw)) {
    if (!GRANT_PRIVILEGES.includes(privilege)) problem(['grants', privilege], `'${privilege}' is not a table privilege (${oneOf(GRANT_PRIVILEGES)})`);
    else if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string' && ROLE_NAME.test(r))) problem(['grants', privilege], 'expected a list of role names');
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

/** One entry of a `tests:` list: `not_null`, or `{ kind: { ...params } }`. */
function readTest(raw: unknown, path: Path, column: string | undefined, ctx: TestContext): TestDefinition | undefined {
  const { v, model } = ctx;
  const atColumn = path[0] === 'columns';
  let kind: string;
  let params: Record<string, unknown>;
  let paramsPath: Path;
  if (typeof raw === 'string') {
    kind = raw;
    params = {};
    paramsPath = path;
  } else if (isPlainObject(raw) && Object.keys(raw).length === 1) {
    kind = Object.keys(raw)[0]!;
    const value = raw[kind];
    paramsPath = [...path, kind];
    if (value === null || value === undefined) params = {};
    else if (isPlainObject(value)) params = value;
    else {
      v.problem(paramsPath, `expected the parameters of '${kind}' as a mapping, got ${describe(value)}`);
      return undefined;
    }
  } else {
    v.problem(path, `expected a test kind (${oneOf(TEST_KINDS)}) or a mapping with exactly one of them, got ${describe(raw)}`);
    return undefined;
  }
  if (!(TEST_KINDS as readonly string[]).includes(kind)) {
    v.problem(typeof raw === 'string' ? path : paramsPath, `unknown test kind '${kind}' (expected one of ${oneOf(TEST_KINDS)})`);
    return undefined;
  }
  const testKind = kind as TestKind;
  const allowed = [...COMMON_TEST_KEYS, ...(atColumn ? TEST_KEYS[testKind].column : TEST_KEYS[testKind].model)];
  const before = v.count;
  v.keys(params, paramsPath, allowed, atColumn && TEST_KEYS[testKind].model.includes('column') ? ' (the column is the one this test is listed under)' : '');
  const explicitName = v.optionalString(params, 'name', paramsPath);
  const defaultSeverity = testKind === 'row_count_change' ? DEFAULT_VOLUME_GUARD_SEVERITY[model.layer] : 'error';
  const severity = (v.optionalEnum(params, 'severity', paramsPath, ['error', 'warn']) ?? defaultSeverity) as Severity;
  const where = TEST_KEYS[testKind].model.includes('where') ? v.optionalString(params, 'where', paramsPath) : undefined;
  const base = { severity, model: model.name, file: model.ymlFile, declaredAt: pathText(path) };
  const named = (parts: string[]) => {
    if (explicitName !== undefined) return explicitName;
    const stemName = `${testKind}_${model.layer}_${model.relation}`;
    if (parts.length) return `${stemName}_${parts.join('_')}`;
    const n = (ctx.defaultNames.get(testKind) ?? 0) + 1;
    ctx.defaultNames.set(testKind, n);
    return `${stemName}_${n}`;
  };
  const whereField = where !== undefined ? { where } : {};

  // The column(s) the test is about: the one it is listed under, or `column`/`columns` at model level.
  const columnsOf = (multi: boolean): string[] | undefined => {
    if (atColumn) return column === undefined ? undefined : [column];
    if (multi && params.columns !== undefined) {
      if (params.column !== undefined) v.problem(paramsPath, `give 'column' or 'columns', not both`);
      return v.columnList(params.columns, [...paramsPath, 'columns'], true);
    }
    const c = v.requiredString(params, 'column', paramsPath, multi ? ` (or 'columns')` : '');
    return c === undefined ? undefined : [c];
  };

  let test: TestDefinition | undefined;
  switch (testKind) {
    case 'not_null':
    case 'unique': {
      const cols = columnsOf(true);
      if (cols) test = { kind: testKind, name: named(cols), columns: cols, ...whereField, ...base };
      break;
    }
    case 'accepted_values': {
      const cols = columnsOf(false);
      const values = v.valueList(params, 'values', paramsPath);
      const allowNull = v.optionalBoolean(params, 'allow_null', paramsPath) ?? false;
      if (cols && values) test = { kind: testKind, name: named(cols), column: cols[0]!, values, allowNull, ...whereField, ...base };
      break;
    }
    case 'relationships': {
      const cols = columnsOf(false);
      const to = v.requiredRelation(params, 'to', paramsPath);
      const field = v.requiredString(params, 'field', paramsPath);
      const minCoverage = v.optionalNumber(params, 'min_coverage', paramsPath);
      if (minCoverage !== undefined && !(minCoverage > 0 && minCoverage <= 1)) {
        v.problem([...paramsPath, 'min_coverage'], `expected a fraction of the child rows, 0 < min_coverage ≤ 1 (0.95 = 95%), got ${minCoverage}`);
      }
      if (cols && to && field) {
        const parts = [cols[0]!, 'to', to.replace('.', '_'), field, ...(minCoverage !== undefined ? ['coverage'] : [])];
        test = { kind: testKind, name: named(parts), column: cols[0]!, to, field, ...whereField, ...(minCoverage !== undefined ? { minCoverage } : {}), ...base };
      }
      break;
    }
    case 'expression': {
      const expression = v.requiredString(params, 'expression', paramsPath);
      if (expression !== undefined) test = { kind: testKind, name: named([]), expression, ...whereField, ...base };
      break;
    }
    case 'query': {
      const sql = v.requiredString(params, 'sql', paramsPath);
      if (sql !== undefined) test = { kind: testKind, name: named([]), sql, ...base };
      break;
    }
    case 'equal': {
      const left = v.requiredString(params, 'left', paramsPath);
      const right = v.requiredString(params, 'right', paramsPath);
      const tolerance = v.optionalNumber(params, 'tolerance', paramsPath) ?? 0;
      if (tolerance < 0) v.problem([...paramsPath, 'tolerance'], `expected a number ≥ 0, got ${tolerance}`);
      if (left !== undefined && right !== undefined) test = { kind: testKind, name: named([]), left, right, tolerance, ...base };
      break;
    }
    case 'row_count_change': {
      if (atColumn) {
        v.problem(typeof raw === 'string' ? path : paramsPath, `row_count_change is about the whole model: list it under the model's tests, not under a column`);
        break;
      }
      if (++ctx.volumeGuards > 1) v.problem(path, `row_count_change is declared more than once for ${model.name}`);
      const enabled = v.optionalBoolean(params, 'enabled', paramsPath) ?? true;
      const maxDrop = v.optionalNumber(params, 'max_drop', paramsPath) ?? DEFAULT_MAX_DROP;
      if (maxDrop < 0 || maxDrop > 1) v.problem([...paramsPath, 'max_drop'], `expected a fraction of the published rows, 0 ≤ max_drop ≤ 1 (0.5 = half of them may go), got ${maxDrop}`);
      if (!enabled) {
        const other = Object.keys(params).filter((k) => k !== 'enabled');
        if (other.length) v.problem(paramsPath, `a disabled row_count_change takes no other key (got ${other.join(', ')})`);
        break;
      }
      test = { kind: testKind, name: explicitName ?? volumeGuardName(model), maxDrop, ...base };
      break;
    }
  }
  return v.count === before ? test : undefined;
}

/** `unique_key` implies a unique test on the key and a not_null test on each key column. */
function impliedTests(uniqueKey: string[], declared: TestDefinition[], model: ModelIdentity): TestDefinition[] {
  if (uniqueKey.length === 0) return [];
  const base = { severity: 'error' as const, model: model.name, file: model.ymlFile, declaredAt: 'unique_key' };
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
class Validator {
  count = 0;
  constructor(private readonly report: (path: Path, message: string) => void) {}

  problem(path: Path, message: string): void {
    this.count++;
    this.report(path, message);
  }

  keys(obj: Record<string, unknown>, path: Path, allowed: readonly string[], note = ''): void {
    for (const key of Object.keys(obj)) {
      if (!allowed.includes(key)) {
        this.problem([...path, key], `unknown key '${key}' (expected one of ${oneOf(allowed)})${key === 'column' || key === 'columns' ? note : ''}`);
      }
    }
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

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function describe(value: unknown): string {
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
