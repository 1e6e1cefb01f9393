/**
 * Opening connections. Every connection the pipeline makes goes through `connect`, so that an
 * unreachable server always becomes the same DependencyError (exit 3) naming what was tried.
 */
import pg from 'pg';
import type { ConnectionConfig } from '../config.ts';
import { DependencyError } from '../errors.ts';

export type Client = pg.Client;

// bigint (int8) and numeric come back as strings by default; counts we read are small enough for
// Number, and keeping them strings everywhere would spread parsing across the code.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export async function connect(connection: ConnectionConfig, purpose = 'medallion'): Promise<Client> {
  const client = new pg.Client({ ...connection.client, connectionString: connection.client.connectionString, password: connection.client.password, application_name: purpose, connectionTimeoutMillis: 10_000 });
  // A server that goes away while the client is idle emits 'error' on the client; without a
  // listener that would crash the process instead of failing the pending query.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    const e = err as Error & { code?: string };
    throw new DependencyError('DB_UNREACHABLE', `cannot connect to PostgreSQL at ${connection.display} (from ${connection.source}): ${e.code ?? ''} ${e.message}`.replace(/\s+/g, ' ').trim(), {
      hint: 'Start the server or point DATABASE_URL (or PGHOST/PGPORT/PGUSER/PGDATABASE) at a reachable one.',
    }, { cause: err });
  }
  return client;
}

/** Runs `fn` with a connection that is always closed afterwards. */
export async function withClient<T>(connection: ConnectionConfig, purpose: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connect(connection, purpose);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Quotes an identifier for SQL text (schema, table and column names come from our own config). */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Quotes a literal for the few statements that cannot take parameters (COPY, DDL defaults). */
export function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
