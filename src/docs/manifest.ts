/**
 * The project manifest, dbt's `target/manifest.json` for this project: every model (layer,
 * materialization, description, columns with their descriptions, tests and lineage, tags, grants,
 * files, what it reads), every data test (kind, severity, model, relations read), the sources (file,
 * columns, freshness), and the graph as `parent_map` and `child_map`. The shape is
 * manifest.schema.json (draft-07); `metadata.manifest_version` changes when it does.
 *
 * Nothing here computes anything twice: the models' columns and lineage are the docs site's
 * (docsData, lineage.ts), the graph is the selection engine's (projectGraph of src/transform).
 * Node ids follow dbt's `unique_id`: `source.bronze.cust_info`, `model.silver.customers`,
 * `test.<name>`.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { SourceFreshnessConfig } from '../bronze/index.ts';
import { type Project, projectGraph, relationsRead } from '../transform/index.ts';
import { docsProjectOf } from './project.ts';
import { atomicWrite, type DocsData, docsData } from './site.ts';

/** Changes with the shape of the manifest (manifest.schema.json). */
export const MANIFEST_VERSION = 1;

export interface ManifestOptions {
  project: Project;
  /** `medallion --version`. */
  medallionVersion: string;
  /** The docs site's data when it was just written (with the catalog's column types); computed otherwise. */
  docs?: DocsData;
  /** sql/sources.yml as read; absent: the sources carry no freshness. */
  freshness?: readonly SourceFreshnessConfig[];
  now?: Date;
}

type Id = string;

export interface Manifest {
  metadata: { manifest_version: number; medallion_version: string; generated_at: string; sql_dir: string; catalog_available: boolean };
  models: Record<Id, ManifestModel>;
  tests: Record<Id, ManifestTest>;
  sources: Record<Id, ManifestSource>;
  parent_map: Record<Id, Id[]>;
  child_map: Record<Id, Id[]>;
}

export interface ManifestModel {
  unique_id: Id;
  name: string;
  layer: 'silver' | 'gold';
  relation: string;
  materialized: string;
  description: string | null;
  quarantine: boolean;
  unique_key: string[];
  tags: string[];
  grants: Record<string, string[]>;
  sql_file: string;
  yml_file: string;
  depends_on: Id[];
  columns: { name: string; description: string | null; role: string | null; data_type: string | null; documented: boolean; tests: Id[]; lineage: { direct: string[]; sources: string[]; declared: boolean } }[];
  tests: Id[];
  rules: { name: string; kind: string; description: string | null; relation: string }[];
}

export interface ManifestTest {
  unique_id: Id;
  name: string;
  /** As recorded in etl.test_results.kind. */
  kind: string;
  /** As the .yml names it (`dbt_utils.expression_is_true`, `singular`). */
  declared_as: string;
  severity: string;
  model: Id;
  columns: string[];
  relations_read: string[];
  depends_on: Id[];
  file: string;
  declared_at: string;
  summary: string;
}

export interface ManifestSource {
  unique_id: Id;
  name: string;
  relation: string;
  file: string;
  system: string;
  description: string;
  columns: { name: string; header: string | null; data_type: string | null }[];
  freshness: { source: string | null; warn_after: { count: number; period: string } | null; error_after: { count: number; period: string } | null; warn_if_unchanged: boolean } | null;
}

export function buildManifest(options: ManifestOptions): Manifest {
  const { project } = options;
  const root = path.dirname(project.dir);
  const rel = (file: string) => path.relative(root, file).split(path.sep).join('/');
  const docs = options.docs ?? docsData({ project: docsProjectOf(project, project.dir), outDir: '' });
  const { nodes, children } = projectGraph(project);
  const idOf = (nodeId: string): Id => {
    const node = nodes.get(nodeId)!;
    return node.type === 'test' ? `test.${node.test!.name}` : `${node.type}.${node.id}`;
  };
  const testId = (name: string) => `test.${name}`;
  const parent_map: Record<Id, Id[]> = {};
  const child_map: Record<Id, Id[]> = {};
  for (const node of nodes.values()) {
    parent_map[idOf(node.id)] = node.parents.filter((p) => nodes.has(p)).map(idOf);
    child_map[idOf(node.id)] = (children.get(node.id) ?? []).map(idOf);
  }

  const pages = new Map(docs.models.map((m) => [m.name, m]));
  const models: Record<Id, ManifestModel> = {};
  const tests: Record<Id, ManifestTest> = {};
  for (const m of project.models) {
    const page = pages.get(m.name)!;
    const id = `model.${m.name}`;
    models[id] = {
      unique_id: id,
      name: m.name,
      layer: m.layer,
      relation: m.relation,
      materialized: m.materialized,
      description: m.description ?? null,
      quarantine: m.quarantine,
      unique_key: m.uniqueKey,
      tags: m.tags ?? [],
      grants: Object.fromEntries(Object.entries(m.grants ?? {}).map(([privilege, roles]) => [privilege, [...roles]])),
      sql_file: rel(m.sqlFile),
      yml_file: rel(m.ymlFile),
      depends_on: parent_map[id]!,
      columns: page.columns.map((c) => ({
        name: c.name,
        description: c.description,
        role: c.role,
        data_type: c.type,
        documented: c.documented,
        tests: c.tests.map(testId),
        lineage: { direct: c.direct, sources: c.sources, declared: c.declared },
      })),
      tests: m.tests.map((t) => testId(t.name)),
      rules: m.rules.map((r) => ({ name: r.name, kind: r.kind, description: r.description ?? null, relation: r.relation })),
    };
    for (const t of m.tests) {
      const tid = testId(t.name);
      const shown = page.tests.find((x) => x.name === t.name)!;
      tests[tid] = {
        unique_id: tid,
        name: t.name,
        kind: t.kind,
        declared_as: shown.kind,
        severity: t.severity,
        model: id,
        columns: 'columns' in t ? t.columns : 'column' in t ? [t.column] : [],
        relations_read: relationsRead(t),
        depends_on: parent_map[tid]!,
        file: rel(t.file),
        declared_at: t.declaredAt,
        summary: shown.summary,
      };
    }
  }

  const freshness = new Map((options.freshness ?? []).map((f) => [f.source, f]));
  const sources: Record<Id, ManifestSource> = {};
  for (const s of docs.sources) {
    const id = `source.${s.relation}`;
    const f = freshness.get(s.name as SourceFreshnessConfig['source']);
    sources[id] = {
      unique_id: id,
      name: s.name,
      relation: s.relation,
      file: s.file,
      system: s.system,
      description: s.description,
      columns: s.columns.map((c) => ({ name: c.name, header: c.header, data_type: c.type })),
      freshness: f ? { source: f.sourceGroup, warn_after: f.warnAfter, error_after: f.errorAfter, warn_if_unchanged: f.warnIfUnchanged } : null,
    };
  }
  return {
    metadata: {
      manifest_version: MANIFEST_VERSION,
      medallion_version: options.medallionVersion,
      generated_at: (options.now ?? new Date()).toISOString(),
      sql_dir: rel(project.dir) || '.',
      catalog_available: docs.catalog_available,
    },
    models,
    tests,
    sources,
    parent_map,
    child_map,
  };
}

/** Writes the manifest to `file` (its folder created; replaced whole, never half-written). */
export async function writeManifest(file: string, options: ManifestOptions): Promise<Manifest> {
  const manifest = buildManifest(options);
  await mkdir(path.dirname(file), { recursive: true });
  await atomicWrite(file, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
