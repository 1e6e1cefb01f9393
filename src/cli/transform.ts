import type { Command } from './command.ts';

export const command: Command = {
  summary: 'rebuild, test and publish silver and gold (and the exports) from the bronze already loaded',
  description: 'Like `medallion build` without the bronze load: for rebuilding the models after editing sql/**.',
  run: async ({ options }, io) => (await import('./pipeline-command.ts')).runPipelineCommand(options, io, 'transform'),
};
