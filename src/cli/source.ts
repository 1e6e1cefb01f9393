import type { Command } from './command.ts';

export const command: Command = {
  summary: 'check the age of each source file and whether it changed since the last load (dbt source freshness)',
  synopsis: 'freshness [options]',
  positionals: 1,
  description: `medallion source freshness: for each of the six source files in --seeds, its modification time and
age, and whether it has the same sha256 as in the last load (etl.source_files of the run that loaded
the bronze tables there are now). sql/sources.yml declares, per source, dbt's
freshness: {warn_after: {count: 24, period: hour}, error_after: {count: 48, period: hour}} and
meta: {warn_if_unchanged: true} (the default). Prints a table; --log-format json prints one
source_freshness event per file. Exit 1 when a file is missing or older than its error_after,
else 0 (warnings included). Without the database, the ages are checked and "same as last load" is
unknown. build and load run the same check before loading: warnings are logged, an error fails
the run (SOURCE_STALE) before anything is loaded.`,
  async run({ options, positionals }, io) {
    const { UsageError, DependencyError } = await import('../errors.ts');
    if (positionals[0] !== 'freshness') {
      throw new UsageError('CONFIG_INVALID', [positionals[0] === undefined ? 'missing the subcommand: medallion source freshness' : `unknown subcommand '${positionals[0]}'; expected: freshness`], {
        hint: 'Run `medallion source freshness`.',
      });
    }
    const { resolvePipelineConfig } = await import('../config.ts');
    const { connect } = await import('../db/index.ts');
    const { checkFreshness, formatAge, freshnessFields, worstFreshness } = await import('../bronze/index.ts');
    const { readSourcesYml } = await import('../transform/index.ts');
    const { createLogger, formatTable, loadedInputFiles } = await import('../runs/index.ts');
    const config = resolvePipelineConfig(options, io.env, io.cwd, io.stdout.isTTY === true);
    const logger = createLogger({ format: config.logFormat, quiet: false, out: io.stdout, err: io.stderr, env: io.env });
    const configs = await readSourcesYml(config.sqlDir);
    let lastLoad: Awaited<ReturnType<typeof loadedInputFiles>> = null;
    let lastLoadUnknown: string | undefined;
    try {
      const client = await connect(config.connection, 'medallion-source');
      try {
        lastLoad = await loadedInputFiles(client, config.schemas);
      } finally {
        await client.end().catch(() => {});
      }
    } catch (err) {
      if (!(err instanceof DependencyError)) throw err;
      lastLoadUnknown = err.message;
      logger.event('source_freshness_no_database', { level: 'warn', message: err.message }, `medallion: the database is unreachable, so "same as last load" is unknown: ${err.message}`);
    }
    const results = await checkFreshness({ seedsDir: config.seedsDir, configs, lastLoad });
    for (const r of results) logger.event('source_freshness', freshnessFields(r));
    const same = (v: boolean | null) => (v === null ? (lastLoadUnknown ? 'unknown' : lastLoad ? 'not loaded' : 'no load yet') : v ? 'yes' : 'no');
    const paint = (s: string) => (s === 'error' ? logger.style.red(s) : s === 'warn' ? logger.style.yellow(s) : logger.style.green(s));
    const table = formatTable(
      ['source', 'file', 'modified', 'age', 'same as last load', 'status'],
      results.map((r) => [r.source, r.file, r.modified ? r.modified.replace('T', ' ').slice(0, 19) : 'missing', r.ageSeconds === null ? '' : formatAge(r.ageSeconds), same(r.sameAsLast), paint(r.status)]),
      ['left', 'left', 'left', 'right', 'left', 'left'],
    );
    const reasons = results.flatMap((r) => r.reasons.map((reason) => `  ${r.status}: ${reason}`));
    if (config.logFormat === 'pretty') io.stdout.write(`${table}\n${reasons.length ? `${reasons.join('\n')}\n` : ''}`);
    const worst = worstFreshness(results);
    const count = (s: string) => results.filter((r) => r.status === s).length;
    const text = `medallion: source freshness: ${count('pass')} pass, ${count('warn')} warn, ${count('error')} error`;
    const exitCode = worst === 'error' ? 1 : 0;
    logger.final(text, { status: worst, exit_code: exitCode }, exitCode !== 0);
    return exitCode;
  },
};
