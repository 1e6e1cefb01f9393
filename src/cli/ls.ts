import type { Command } from './command.ts';

export const command: Command = {
  summary: 'list the models, data tests and sources (dbt ls); --select / --exclude / --resource-type narrow the list',
  description: `One node per line, in build order: sources (source:bronze.NAME), models (silver.NAME, gold.NAME),
then data tests (test:NAME). Nothing connects to the database.

Selection (dbt's syntax; space = union, comma = intersection):
  gold.sales_daily  sales_daily  gold  silver.int_*     by name, by layer, with a glob
  tag:NAME  path:sql/gold  source:cust_info             by config.tags, by file or folder, a bronze table
  config.materialized:view  test_name:NAME  test_type:singular|generic  resource_type:model
  model+  +model  2+model  model+1  @model              descendants, ancestors (to a depth), @: the
                                                        descendants and all their ancestors`,
  run: async ({ options }, io) => {
    const path = await import('node:path');
    const { loadProject, selectNodes } = await import('../transform/index.ts');
    const project = await loadProject({
      sqlDir: path.resolve(io.cwd, typeof options.sql === 'string' ? options.sql : 'sql'),
    });
    const s = selectNodes(project, {
      select: typeof options.select === 'string' ? options.select : undefined,
      exclude: typeof options.exclude === 'string' ? options.exclude : undefined,
      root: io.cwd,
    });
    const type = typeof options['resource-type'] === 'string' ? options['resource-type'] : undefined;
    const lines = [
      ...(!type || type === 'source' ? s.sources.map((n) => `source:bronze.${n}`) : []),
      ...(!type || type === 'model' ? s.models.map((m) => m.name) : []),
      ...(!type || type === 'test' ? s.tests.map((t) => `test:${t.name}`) : []),
    ];
    io.stdout.write(lines.length ? `${lines.join('\n')}\n` : '');
    return 0;
  },
};
