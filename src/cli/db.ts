/** `medallion db start|stop|status|url`: the project's embedded PostgreSQL in .medallion/pg/. */
import path from 'node:path';
import { closest, type ParsedArgs, resolveConnection } from '../config.ts';
import { DependencyError, EXIT, UsageError } from '../errors.ts';
import type { Command, CommandIo } from './command.ts';

const SUBCOMMANDS = ['start', 'stop', 'status', 'url'] as const;

export const command: Command = {
  summary: 'start, stop or show the embedded PostgreSQL (.medallion/pg) used when no server is configured',
  synopsis: 'start|stop|status|url',
  positionals: 1,
  description: `When none of --database-url, DATABASE_URL or the PG* variables (PGHOST, PGPORT, PGUSER,
PGDATABASE, PGPASSWORD) is set, pipeline commands run on an embedded PostgreSQL that the project
starts itself: its data lives in .medallion/pg/ (git-ignored) and is kept between runs; it listens
on 127.0.0.1 only, on a free port, and is stopped when the command ends.

  start   start it and keep it running after this command, e.g. to look at bronze, silver, gold
          and etl with psql or pgAdmin; pipeline commands then use it and leave it running
  stop    stop it (when a command is using it, it stops when that command ends)
  status  say whether it runs, on which port, and who uses it
  url     print its connection URL, password included: psql "$(medallion db url)"`,
  async run({ positionals }: ParsedArgs, io: CommandIo): Promise<number> {
    const sub = positionals[0];
    if (!SUBCOMMANDS.includes(sub as (typeof SUBCOMMANDS)[number])) {
      const near = sub === undefined ? undefined : closest(sub, SUBCOMMANDS);
      throw new UsageError('CONFIG_INVALID', [`expected a subcommand: ${SUBCOMMANDS.join(', ')}${sub ? ` (got '${sub}'${near ? `; did you mean '${near}'?` : ''})` : ''}`], { hint: 'Run `medallion db --help`.' });
    }
    const { embeddedStatus, embeddedUrl, openEmbedded, stopEmbedded } = await import('../db/index.ts');
    const projectDir = io.cwd;
    const out = (line: string) => io.stdout.write(`${line}\n`);
    const note = (line: string) => io.stderr.write(`${line}\n`);
    // Relative inside the project, absolute elsewhere (as root, the cluster may live under /var/lib/medallion).
    const rel = (p: string) => (path.relative(projectDir, p).startsWith('..') ? p : path.relative(projectDir, p) || p);
    // The db commands manage the embedded server whatever is configured; say when pipeline
    // commands would not use it.
    const configured = resolveConnection({ 'database-url': io.env.DATABASE_URL }, io.env);
    const configuredNote = configured.source === 'embedded' ? undefined : `note: pipeline commands connect to ${configured.display} (from ${configured.source}), not to this embedded server, while that is set.`;

    switch (sub) {
      case 'start': {
        const handle = await openEmbedded({ projectDir, signal: io.signal, log: note, keep: true });
        const { embedded } = handle.connection;
        out(`embedded PostgreSQL ${embedded?.version} ${handle.started ? 'started' : 'is running'} on 127.0.0.1:${embedded?.port}: ${handle.connection.display}`);
        out(`it keeps running until \`medallion db stop\`; connect with: psql "$(medallion db url)"`);
        if (configuredNote) note(configuredNote);
        return EXIT.ok;
      }
      case 'stop': {
        const result = await stopEmbedded({ projectDir, signal: io.signal });
        if (result.stopped) out(`embedded PostgreSQL stopped (data kept in ${result.data})`);
        else if (result.usedBy.length) out(`embedded PostgreSQL is in use by running command(s) (pid ${result.usedBy.join(', ')}); it stops when they end`);
        else out('embedded PostgreSQL is not running');
        return EXIT.ok;
      }
      case 'status': {
        const status = embeddedStatus(projectDir);
        if (!status.running) {
          out(`embedded PostgreSQL: not running (${status.initialised ? `PostgreSQL ${status.dataVersion} data in ${rel(status.paths.data)}` : 'no data yet; created at first use'})`);
        } else {
          const who = status.keep ? 'kept running by `medallion db start`' : 'started by a command, stops when it ends';
          const users = status.users.length ? `; in use by pid ${status.users.join(', ')}` : '';
          out(`embedded PostgreSQL ${status.version}: running on 127.0.0.1:${status.port} (pid ${status.pid}, data in ${rel(status.paths.data)}, ${who}${users})`);
        }
        if (configuredNote) note(configuredNote);
        return EXIT.ok;
      }
      default: {
        const url = await embeddedUrl(projectDir);
        if (!url) {
          throw new DependencyError('EMBEDDED_DB_FAILED', 'the embedded PostgreSQL is not running, so it has no URL (its port is chosen when it starts)', { hint: 'Start it with `medallion db start`.' });
        }
        out(url);
        return EXIT.ok;
      }
    }
  },
};
