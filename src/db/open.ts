/**
 * Turns the configured connection into one that can be used. For `--database-url`, DATABASE_URL
 * and the PG* variables that is the connection itself; for 'embedded' (none of them set) it starts
 * the project's embedded PostgreSQL in `.medallion/pg/` (or uses the one already running there,
 * e.g. after `medallion db start`) and returns its address.
 *
 * Call close() in a finally block: it stops the embedded server when this process started it and
 * no other process is using it (a server kept by `medallion db start` keeps running). It is a
 * no-op for the other sources.
 */
import type { ConnectionConfig } from '../config.ts';
import { openEmbedded } from './embedded/index.ts';

export interface OpenDatabaseOptions {
  /** The project folder; the embedded cluster lives in its `.medallion/pg/`. */
  projectDir: string;
  /** Aborted on SIGINT/SIGTERM: a start in progress is undone and the abort reason thrown. */
  signal?: AbortSignal;
  /** Progress lines (initialising, started, stopped). */
  log?: (line: string) => void;
}

export interface OpenDatabase {
  connection: ConnectionConfig;
  close(): Promise<void>;
}

export async function openDatabase(connection: ConnectionConfig, options: OpenDatabaseOptions): Promise<OpenDatabase> {
  if (connection.source !== 'embedded' || connection.embedded?.port !== undefined) {
    return { connection, close: async () => {} };
  }
  const handle = await openEmbedded({ projectDir: options.projectDir, signal: options.signal, log: options.log });
  return {
    connection: handle.connection,
    // Called from finally blocks: a failure to stop is reported, never thrown over the run's outcome.
    close: () => handle.close().catch((err) => options.log?.(`could not stop the embedded PostgreSQL: ${(err as Error).message}`)),
  };
}
