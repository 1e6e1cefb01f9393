import { PIPELINE_OPTIONS } from '../config.ts';
import type { Command } from './command.ts';
import { runPipelineCommand } from './pipeline-command.ts';

export const command: Command = {
  summary: 'rebuild, test and publish silver and gold (and the exports) from the bronze already loaded',
  usage: `usage: medallion transform [options]

Like \`medallion build\` without the bronze load: for rebuilding the models after editing sql/**.

options:
${PIPELINE_OPTIONS.map((o) => `  --${o}`).join('\n')}`,
  run: (argv, io) => runPipelineCommand(argv, io, 'transform'),
};
