/**
 * `medallion docs`: the model project, plus (when the database is reachable) the column types of
 * the published schemas and the latest run's figures, written as the static site.
 */
import type { PipelineConfig } from '../config.ts';
import { type Client, connect } from '../db/index.ts';
import { DependencyError } from '../errors.ts';
import { collectRunReport, latestRunId, type RunReport } from '../report/index.ts';
import { type Catalog, readCatalog } from './db-catalog.ts';
import { loadDocsProject } from './project.ts';
import { buildDocsSite, type DocsData } from './site.ts';

export interface GenerateDocsOptions {
  config: Pick<PipelineConfig, 'connection' | 'schemas' | 'sqlDir'>;
  outDir: string;
  /** Called with a sentence when the database cannot be read (the site is written without it). */
  warn?: (text: string) => void;
}

export async function generateDocs(options: GenerateDocsOptions): Promise<{ index: string; data: DocsData }> {
  const { config } = options;
  const project = await loadDocsProject(config.sqlDir);
  let catalog: Catalog | undefined;
  let latestRun: RunReport | undefined;
  let client: Client | undefined;
  try {
    client = await connect(config.connection, 'medallion-docs');
    catalog = await readCatalog(client, config.schemas);
    const runId = await latestRunId(client, config.schemas);
    if (runId !== undefined) {
      latestRun = await collectRunReport({
        client,
        schemas: config.schemas,
        runId,
        models: project.models.map((m) => ({ name: m.name, layer: m.layer, materialized: m.materialized, quarantine: m.quarantine, dependencies: m.dependencies })),
      });
    }
  } catch (err) {
    if (!(err instanceof DependencyError) && client === undefined) throw err;
    options.warn?.(`docs written without the database: ${(err as Error).message}`);
  } finally {
    await client?.end().catch(() => {});
  }
  return buildDocsSite({ project, outDir: options.outDir, ...(catalog ? { catalog } : {}), ...(latestRun ? { latestRun } : {}) });
}
