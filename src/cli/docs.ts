import path from 'node:path';
import { defaultOf, resolvePipelineConfig } from '../config.ts';
import type { Command } from './command.ts';

export const command: Command = {
  summary: 'write the lineage and docs site (docs/site/); --serve serves it on localhost',
  synopsis: '[options] [--serve [--port N]]',
  description: `Writes docs/site/index.html: an interactive graph of sources → bronze → silver → gold → exports,
every model's description, SQL, columns (types from the database catalog), tests and the latest
run's figures, and the column-level lineage of every model, down to the bronze source columns,
derived from the models' SQL.
The database is optional: without it the site has no column types and no run figures.
Also writes docs/site/manifest.json, the project manifest (as \`medallion compile\` writes it).`,
  async run({ options }, io) {
    const { generateDocs, serveDocs, writeManifest } = await import('../docs/index.ts');
    const serve = options.serve === true;
    const port = Number(options.port ?? defaultOf('port', 'docs'));
    const config = resolvePipelineConfig(options, io.env, io.cwd);
    const outDir = path.resolve(io.cwd, 'docs', 'site');
    const { index, data } = await generateDocs({ config, outDir, warn: (t) => io.stderr.write(`medallion: ${t}\n`) });
    const { loadProject, readSourcesYml } = await import('../transform/index.ts');
    const { version } = await import('./version.ts');
    await writeManifest(path.join(outDir, 'manifest.json'), { project: await loadProject({ sqlDir: config.sqlDir }), medallionVersion: version(), docs: data, freshness: await readSourcesYml(config.sqlDir) });
    io.stdout.write(`${index} (${data.models.length} models${data.feature_lineage ? `, ${data.feature_lineage.columns.length} fact_sales columns traced` : ''})\n`);
    if (!serve) return 0;
    const server = await serveDocs(outDir, port);
    io.stdout.write(`serving ${server.url} (Ctrl-C to stop)\n`);
    await new Promise<void>((resolve) => {
      if (io.signal.aborted) resolve();
      else io.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await server.close();
    return 0;
  },
};
