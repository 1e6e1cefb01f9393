/**
 * Node selection with dbt's graph syntax (`--select` / `--exclude`), as pure functions over the
 * project graph: sources (`bronze.x`), models (`silver.x`, `gold.x`) and data tests are nodes; a
 * model's parents are what its SQL reads, a test's parents the relations it reads.
 *
 *   gold.sales_daily  sales_daily  gold  gold.*     a model by name, by layer (fqn prefix), glob
 *   tag:finance  path:sql/gold  source:cust_info    by `config.tags`, by file or folder, a bronze table
 *   config.materialized:view  resource_type:test  test_name:unique_*  test_type:singular
 *   model+  +model  2+model  model+1  @model       with descendants, ancestors (to a depth), and
 *                                                   @: descendants and every ancestor of those
 *   "a b"  (space)   union ·   "a,b"  (comma)   intersection ·  --exclude: removed from the result
 *
 * A test follows its model: selecting a model selects the tests that belong to it (its `.yml`
 * tests and the singular tests recorded against it), so a build of a selection runs the tests of
 * what it built. A test can also be selected by name, and a model's descendants include the
 * tests that read it. No `--select` and no `--exclude` is every node.
 */
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { relationsRead } from './dependencies.ts';
import type { Model, Project, TestDefinition } from './types.ts';

export type ResourceType = 'model' | 'test' | 'source';

/** What a selection picked, each list in project order. */
export interface Selection {
  models: Model[];
  tests: TestDefinition[];
  /** Bronze tables, without schema. */
  sources: string[];
  /** True when nothing narrowed it (no --select, no --exclude): every node. */
  everything: boolean;
}

export interface SelectOptions {
  /** dbt's `--select`: space-separated union of comma-separated intersections; default every node. */
  select?: string | readonly string[];
  exclude?: string | readonly string[];
  /** The folder `path:` values are relative to (the command's working directory). */
  root?: string;
}

/** One selector term, e.g. `2+tag:finance+` → { parents: 2, method: 'tag', value: 'finance', children: Infinity }. */
export interface SelectorTerm {
  text: string;
  method: Method;
  value: string;
  /** Ancestors to include: 0 none, Infinity all. */
  parents: number;
  children: number;
  /** `@`: the descendants and all the ancestors of those. */
  at: boolean;
}

const METHODS = ['fqn', 'tag', 'path', 'source', 'resource_type', 'config.materialized', 'test_name', 'test_type'] as const;
type Method = (typeof METHODS)[number];

const TERM = /^(@)?(?:(\d*)\+)?(?:([a-z_.]+):)?([^\s,+@:]+)(?:\+(\d*))?$/;

/** `"+a,tag:x b"` → [[+a, tag:x], [b]]: the union of these intersections. Throws CONFIG_INVALID. */
export function parseSelector(text: string | readonly string[], option = 'select'): SelectorTerm[][] {
  const words = (typeof text === 'string' ? [text] : text).flatMap((t) => t.split(/\s+/)).filter(Boolean);
  const problems: string[] = [];
  const union = words.map((word) =>
    word.split(',').flatMap((part) => {
      const m = TERM.exec(part);
      const method = (m?.[3] ?? 'fqn') as Method;
      if (!m || (m[1] && m[2] !== undefined)) {
        problems.push(`--${option} '${part}': expected [@][N+][method:]value[+N], e.g. gold.sales_daily+, +tag:finance, path:sql/gold`);
        return [];
      }
      if (!METHODS.includes(method)) {
        problems.push(`--${option} '${part}': unknown method '${m[3]}:' (methods: ${METHODS.join(', ')})`);
        return [];
      }
      const depth = (d: string | undefined) => (d === undefined ? 0 : d === '' ? Infinity : Number(d));
      return [
        {
          text: part,
          method,
          value: m[4]!,
          parents: depth(m[2]),
          children: depth(m[5]),
          at: m[1] === '@',
        },
      ];
    }),
  );
  if (problems.length)
    throw new UsageError('CONFIG_INVALID', problems, {
      hint: 'dbt node selection syntax: see src/transform/select.ts or `medallion ls --help`.',
    });
  return union.filter((i) => i.length > 0);
}

/** A node of the selection graph: `bronze.x`, `silver.x` / `gold.x`, or `test <name>`. */
interface Node {
  id: string;
  type: ResourceType;
  /** dbt's fqn: [layer, relation] for models and sources, [the model's layer, test name] for tests (as dbt's, the folder and the name). */
  fqn: string[];
  tags: readonly string[];
  files: string[];
  materialized?: string;
  test?: TestDefinition;
  model?: Model;
  parents: string[];
}

export const testNodeId = (name: string) => `test ${name}`;

/** The project as a graph of sources, models and tests (parents and children by id). */
export function projectGraph(project: Project): {
  nodes: Map<string, Node>;
  children: Map<string, string[]>;
} {
  const nodes = new Map<string, Node>();
  for (const s of project.sources)
    nodes.set(`bronze.${s}`, {
      id: `bronze.${s}`,
      type: 'source',
      fqn: ['bronze', s],
      tags: [],
      files: [],
      parents: [],
    });
  for (const m of project.models) {
    nodes.set(m.name, {
      id: m.name,
      type: 'model',
      fqn: [m.layer, m.relation],
      tags: m.tags ?? [],
      files: [m.sqlFile, m.ymlFile],
      materialized: m.materialized,
      model: m,
      parents: m.dependencies.filter((d) => d !== m.name),
    });
  }
  for (const m of project.models) {
    for (const t of m.tests) {
      const reads = [...new Set([t.model, ...relationsRead(t)])].filter((r) => nodes.has(r));
      nodes.set(testNodeId(t.name), {
        id: testNodeId(t.name),
        type: 'test',
        fqn: [m.layer, t.name],
        tags: m.tags ?? [],
        files: [t.file],
        test: t,
        parents: reads,
      });
    }
  }
  const children = new Map<string, string[]>();
  for (const n of nodes.values()) for (const p of n.parents) if (nodes.has(p)) children.set(p, [...(children.get(p) ?? []), n.id]);
  return { nodes, children };
}

/** Every node within `depth` steps along `next` from `start` (start excluded). */
function walk(start: string, depth: number, next: (id: string) => readonly string[]): Set<string> {
  const seen = new Set<string>();
  let frontier = [start];
  for (let d = 0; d < depth && frontier.length; d++) {
    const following: string[] = [];
    for (const id of frontier) {
      for (const n of next(id)) {
        if (seen.has(n) || n === start) continue;
        seen.add(n);
        following.push(n);
      }
    }
    frontier = following;
  }
  return seen;
}

/** `*` as any run of characters, the rest literal. */
function glob(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}

function matches(node: Node, term: SelectorTerm, root: string): boolean {
  const v = term.value;
  switch (term.method) {
    case 'fqn': {
      if (node.type === 'source') return false;
      const parts = v.split('.');
      const name = node.fqn[node.fqn.length - 1]!;
      // `sales_daily` (the name), `gold` / `gold.sales_daily` (a prefix of the fqn), with globs
      if (parts.length === 1 && glob(v).test(name)) return true;
      return parts.length <= node.fqn.length && parts.every((p, i) => glob(p).test(node.fqn[i]!));
    }
    case 'source': {
      if (node.type !== 'source') return false;
      const parts = v.split('.');
      return parts.length === 1
        ? glob(v).test(node.fqn[1]!) || glob(v).test(node.fqn[0]!)
        : parts.length === 2 && glob(parts[0]!).test(node.fqn[0]!) && glob(parts[1]!).test(node.fqn[1]!);
    }
    case 'tag':
      return node.tags.some((t) => glob(v).test(t));
    case 'path': {
      const wanted = path.resolve(root, v);
      return node.files.some((f) => {
        const file = path.resolve(root, f);
        return file === wanted || file.startsWith(wanted.endsWith(path.sep) ? wanted : wanted + path.sep);
      });
    }
    case 'resource_type':
      return node.type === v;
    case 'config.materialized':
      return node.materialized === v;
    case 'test_name':
      return node.type === 'test' && glob(v).test(node.test!.name);
    case 'test_type':
      return node.type === 'test' && (v === 'singular' ? node.test!.kind === 'query' : v === 'generic' && node.test!.kind !== 'query');
  }
}

type Graph = ReturnType<typeof projectGraph>;

/** The ids one term selects, its graph operators applied. */
function termIds(graph: Graph, term: SelectorTerm, root: string): Set<string> {
  const parentsOf = (id: string) => graph.nodes.get(id)?.parents ?? [];
  const childrenOf = (id: string) => graph.children.get(id) ?? [];
  const out = new Set<string>();
  for (const node of graph.nodes.values()) {
    if (!matches(node, term, root)) continue;
    out.add(node.id);
    if (term.at) {
      for (const d of [node.id, ...walk(node.id, Infinity, childrenOf)]) {
        out.add(d);
        for (const a of walk(d, Infinity, parentsOf)) out.add(a);
      }
      continue;
    }
    for (const a of walk(node.id, term.parents, parentsOf)) out.add(a);
    for (const c of walk(node.id, term.children, childrenOf)) out.add(c);
  }
  return out;
}

/** The ids a whole expression selects, and the terms that matched no node. */
function expressionIds(graph: Graph, union: SelectorTerm[][], root: string): { ids: Set<string>; unmatched: string[] } {
  const ids = new Set<string>();
  const unmatched: string[] = [];
  for (const intersection of union) {
    const sets = intersection.map((term) => {
      const s = termIds(graph, term, root);
      if (s.size === 0) unmatched.push(term.text);
      return s;
    });
    for (const id of sets[0] ?? []) if (sets.every((s) => s.has(id))) ids.add(id);
  }
  return { ids, unmatched };
}

/**
 * What `--select` / `--exclude` pick from the project. Tests follow their model (a selected
 * model brings its tests). A `--select` term that matches nothing is a usage error naming it (a
 * typo would otherwise build nothing, or the wrong thing).
 */
export function selectNodes(project: Project, options: SelectOptions = {}): Selection {
  const root = options.root ?? process.cwd();
  const graph = projectGraph(project);
  const given = (v: SelectOptions['select']) => v !== undefined && (typeof v === 'string' ? v.trim() !== '' : v.some((x) => x.trim() !== ''));
  const everything = !given(options.select) && !given(options.exclude);
  let ids: Set<string>;
  if (given(options.select)) {
    const selected = expressionIds(graph, parseSelector(options.select!, 'select'), root);
    if (selected.unmatched.length) {
      const names = project.models.map((m) => m.name);
      throw new UsageError(
        'CONFIG_INVALID',
        selected.unmatched.map((t) => `--select '${t}' matches no model, test or source`),
        {
          hint: `Models: ${names.join(', ')}. Tags: ${[...new Set(project.models.flatMap((m) => m.tags ?? []))].sort().join(', ') || 'none'}.`,
        },
      );
    }
    ids = selected.ids;
  } else {
    ids = new Set(graph.nodes.keys());
  }
  const excluded = given(options.exclude) ? expressionIds(graph, parseSelector(options.exclude!, 'exclude'), root).ids : new Set<string>();
  const models = project.models.filter((m) => ids.has(m.name) && !excluded.has(m.name));
  const modelSet = new Set(models.map((m) => m.name));
  // a test follows its model: selected with it, excluded with it
  const tests = project.models
    .flatMap((m) => m.tests)
    .filter((t) => (ids.has(testNodeId(t.name)) || modelSet.has(t.model)) && !excluded.has(testNodeId(t.name)) && !excluded.has(t.model));
  const sources = project.sources.filter((s) => ids.has(`bronze.${s}`) && !excluded.has(`bronze.${s}`));
  return { models, tests, sources, everything };
}

/** The project narrowed to the selected models and tests (what buildModels and planTests take). */
export function selectedProject(project: Project, selection: Selection): Project {
  const tests = new Set(selection.tests.map((t) => t.name));
  return {
    ...project,
    models: selection.models.map((m) => ({
      ...m,
      tests: m.tests.filter((t) => tests.has(t.name)),
    })),
  };
}
