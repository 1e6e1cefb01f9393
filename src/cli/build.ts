import type { Command } from './command.ts';

export const command: Command = {
  summary: 'load bronze, build and test silver and gold, publish, export Parquet (npm run build-features)',
  description: `Runs the whole pipeline as one run: bronze (load and validate the CSVs) → silver → gold → data tests
→ publish → Parquet exports. A failed run publishes nothing.`,
  run: async ({ options }, io) => (await import('./pipeline-command.ts')).runPipelineCommand(options, io, 'all'),
};
