import { PIPELINE_OPTIONS } from '../config.ts';
import type { Command } from './command.ts';
import { runPipelineCommand } from './pipeline-command.ts';

export const command: Command = {
  summary: 'load and validate the six source CSVs into bronze only',
  usage: `usage: medallion load [options]

Streams seeds/bronze/*.csv (or --seeds DIR) through the contract checks into the bronze schema.
Malformed records go to etl.rejects; a file over --max-reject-rate fails the run (exit 1).

options:
${PIPELINE_OPTIONS.map((o) => `  --${o}`).join('\n')}`,
  run: (argv, io) => runPipelineCommand(argv, io, 'bronze'),
};
