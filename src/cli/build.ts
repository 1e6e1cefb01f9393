import { PIPELINE_OPTIONS } from '../config.ts';
import type { Command } from './command.ts';
import { runPipelineCommand } from './pipeline-command.ts';

export const command: Command = {
  summary: 'load bronze, build and test silver and gold, publish, export Parquet (npm run build-features)',
  usage: `usage: medallion build [options]

Runs the whole pipeline as one run: bronze (load and validate the CSVs) → silver → gold → data tests
→ publish → Parquet exports. A failed run publishes nothing.

options:
${PIPELINE_OPTIONS.map((o) => `  --${o}`).join('\n')}`,
  run: (argv, io) => runPipelineCommand(argv, io, 'all'),
};
