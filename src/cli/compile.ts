import type { Command } from './command.ts';

export const command: Command = {
  summary: 'check every model against the database without writing anything, and print the build plan (dbt compile)',
  description: `Reads and checks sql/** (the parse, the references, the graph), then, in one transaction that is
rolled back, creates the functions and each selected model in build order as a view, so PostgreSQL
checks its SQL against bronze and the models before it. Prints the plan: the order, what each
model reads and its columns. A model whose SQL fails is reported with its file, line and column
(exit 1). Needs a loaded bronze; writes nothing to the database.
First writes the project manifest (dbt's manifest.json: models, columns, tests, sources, lineage,
parent and child maps; schema src/docs/manifest.schema.json) to --out, target/manifest.json.`,
  run: async ({ options }, io) => {
    const path = await import('node:path');
    const { defaultOf, resolvePipelineConfig } = await import('../config.ts');
    const { writeManifest } = await import('../docs/index.ts');
    const { version } = await import('./version.ts');
    const { connect } = await import('../db/index.ts');
    const { checkModels, loadProject, readingPublished, readSourcesYml, selectedProject, selectNodes } = await import('../transform/index.ts');
    const config = resolvePipelineConfig(options, io.env, io.cwd);
    const project = await loadProject({ sqlDir: config.sqlDir });
    const manifestFile = path.resolve(io.cwd, typeof options.out === 'string' ? options.out : String(defaultOf('out', 'compile')));
    await writeManifest(manifestFile, { project, medallionVersion: version(), freshness: await readSourcesYml(config.sqlDir) });
    io.stdout.write(`manifest: ${path.relative(io.cwd, manifestFile) || manifestFile}\n`);
    const selection = selectNodes(project, {
      select: config.selection.select ?? undefined,
      exclude: config.selection.exclude ?? undefined,
      root: io.cwd,
    });
    const chosen = new Set(selection.models.map((m) => m.name));
    // a selection is checked against the published versions of the models it does not hold
    const schemas = selection.everything
      ? config.schemas
      : readingPublished(
          config.schemas,
          project.models.map((m) => m.name).filter((n) => !chosen.has(n)),
        );
    const client = await connect(config.connection, 'medallion-compile');
    try {
      const checked = await checkModels(
        client,
        schemas,
        selection.everything ? project : selectedProject(project, selection),
        config.asOf ?? new Date().toISOString().slice(0, 10),
      );
      const lines = checked.map((c, i) => {
        const reads = c.model.dependencies.filter((d) => d !== c.model.name);
        return `${String(i + 1).padStart(3)}. ${c.model.name} (${c.model.materialized}, ${c.columns.length} columns, ${c.model.tests.length} tests) ← ${reads.join(', ') || 'nothing'}`;
      });
      io.stdout.write(`${lines.join('\n')}\n${checked.length} models checked against ${config.connection.display}; nothing was written\n`);
      return 0;
    } finally {
      await client.end().catch(() => {});
    }
  },
};
