/** Shared by `build`, `load` and `transform`: options → config → run → final line → exit code. */
import { type Stats, statSync } from 'node:fs';
import { type ParsedOptions, resolvePipelineConfig } from '../config.ts';
import { DataError } from '../errors.ts';
import { type BuildScope, runBuild } from '../pipeline/index.ts';
import { createLogger } from '../runs/index.ts';
import type { CommandIo } from './command.ts';
import { finishWithError } from './final-line.ts';

export async function runPipelineCommand(options: ParsedOptions, io: CommandIo, scope: BuildScope): Promise<number> {
  const config = resolvePipelineConfig(options, io.env, io.cwd, io.stdout.isTTY === true);
  const logger = createLogger({ format: config.logFormat, quiet: config.quiet, out: io.stdout, err: io.stderr });
  const started = performance.now();
  try {
    if (scope !== 'transform') assertSeedsFolder(config.seedsDir, typeof options.seeds === 'string');
    const outcome = await runBuild(config, scope, logger, io.signal, { fullRefresh: options['full-refresh'] === true });
    logger.final(`medallion: run ${outcome.runId} succeeded in ${((performance.now() - started) / 1000).toFixed(1)} s`, { status: 'success', exit_code: 0 });
    return 0;
  } catch (err) {
    return finishWithError(logger, 'run', err);
  }
}

/**
 * A seeds folder that is not there is one problem, found before connecting and before a run is
 * recorded (not six missing files after the run has started).
 */
function assertSeedsFolder(dir: string, fromOption: boolean): void {
  let stat: Stats | undefined;
  try {
    stat = statSync(dir, { throwIfNoEntry: false });
  } catch (err) {
    // a folder on the way that this user may not enter (EACCES), a loop of links (ELOOP)
    throw new DataError('BRONZE_FILE_UNREADABLE', `the seeds folder ${dir} cannot be read: ${(err as Error).message}`, { file: dir, hint: 'Check the path and the permissions of the folders on it.' }, { cause: err });
  }
  if (stat?.isDirectory()) return;
  throw new DataError('BRONZE_FILE_MISSING', `the seeds folder ${dir} ${stat ? 'is not a folder' : 'does not exist'}`, {
    file: dir,
    hint: fromOption ? 'Pass --seeds (or ETL_SEEDS) the folder that holds the six source CSV files.' : 'Put the six source CSV files in seeds/bronze, pass --seeds DIR, or write sample ones with `medallion generate`.',
  });
}
