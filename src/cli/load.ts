import type { Command } from './command.ts';

export const command: Command = {
  summary: 'load and validate the six source CSVs into bronze only',
  description: `Streams seeds/bronze/*.csv (or --seeds DIR) through the contract checks into the bronze schema.
Malformed records go to etl.rejects; a file over --max-reject-rate fails the run (exit 1).`,
  run: async ({ options }, io) => (await import('./pipeline-command.ts')).runPipelineCommand(options, io, 'bronze'),
};
