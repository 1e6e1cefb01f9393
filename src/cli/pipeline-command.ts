/** Shared by `build` and `load`: options → config → run → final line → exit code. */
import { parseArgs, PIPELINE_OPTIONS, resolvePipelineConfig } from '../config.ts';
import { exitCodeFor, MedallionError } from '../errors.ts';
import { type BuildScope, runBuild } from '../pipeline/index.ts';
import { createLogger } from '../runs/index.ts';
import type { CommandIo } from './command.ts';

export async function runPipelineCommand(argv: string[], io: CommandIo, scope: BuildScope): Promise<number> {
  const { options } = parseArgs(argv, PIPELINE_OPTIONS, io.env);
  const config = resolvePipelineConfig(options, io.env, io.cwd, io.stdout.isTTY === true);
  const logger = createLogger({ format: config.logFormat, quiet: config.quiet, out: io.stdout, err: io.stderr });
  const started = performance.now();
  try {
    const outcome = await runBuild(config, scope, logger, io.signal);
    logger.final(`medallion: run ${outcome.runId} succeeded in ${((performance.now() - started) / 1000).toFixed(1)} s`, { status: 'success', exit_code: 0 });
    return 0;
  } catch (err) {
    const code = exitCodeFor(err);
    const text = err instanceof MedallionError ? `[${err.code}] ${err.describe()}` : String((err as Error)?.stack ?? err);
    logger.final(`medallion: run failed (exit ${code}): ${text}`, { status: 'failed', exit_code: code, error_code: (err as MedallionError).code }, true);
    return code;
  }
}
