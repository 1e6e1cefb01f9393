/**
 * Opening connections. Every connection the pipeline makes goes through `connect`, so that an
 * unreachable server always becomes the same DependencyError (exit 3) naming what was tried.
 */
import pg from 'pg';
import type { ConnectionConfig } from '../config.ts';
import { DependencyError, isConnectionError } from '../errors.ts';

export type Client = pg.Client;

// bigint (int8) and numeric come back as strings by default; counts we read are small enough for
// Number, and keeping them strings everywhere would spread parsing across the code.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface ConnectOptions {
  /**
   * The connection holds the target's session lock (the ledger connection): it is also exempt from
   * `idle_in_transaction_session_timeout`, since the publishing transaction runs on it.
   */
  holdsLock?: boolean;
}

/**
 * How long the operating system waits on an idle connection before it probes the peer (TCP
 * keepalive): a connection through a NAT or firewall that drops silent flows stays open, and a
 * peer that is gone is noticed.
 */
export const KEEPALIVE_INITIAL_DELAY_MS = 10_000;

/**
 * Every connection of a run is its own session, opened for the run and ended with it; it is idle
 * by design while another connection works (the ledger during a load, a build connection waiting
 * for a model on the other one). A server-wide or per-role `idle_session_timeout` would end it and,
 * for the ledger, release the target's lock under a running run: it is off for these sessions.
 * `client_connection_check_interval` makes the server stop a statement whose client is gone (a run
 * killed with kill -9, or that ended the connection on an abort) within seconds instead of
 * finishing a long build first; a server whose platform cannot check (it needs POLLRDHUP, e.g.
 * Linux) refuses the setting, and the connection goes on without it. Both exist from PostgreSQL 14 on.
 */
const SESSION_SETTINGS_SQL = "select set_config('idle_session_timeout', '0', false)";
const LOCK_SESSION_SETTINGS_SQL = "select set_config('idle_session_timeout', '0', false), set_config('idle_in_transaction_session_timeout', '0', false)";
const CLIENT_CHECK_SQL = "select set_config('client_connection_check_interval', '2s', false)";

export async function connect(connection: ConnectionConfig, purpose = 'medallion', options: ConnectOptions = {}): Promise<Client> {
  const client = new pg.Client({
    ...connection.client,
    connectionString: connection.client.connectionString,
    password: connection.client.password,
    application_name: purpose,
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_INITIAL_DELAY_MS,
  });
  // A server that goes away while the client is idle emits 'error' on the client; without a
  // listener that would crash the process instead of failing the pending query.
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query(options.holdsLock ? LOCK_SESSION_SETTINGS_SQL : SESSION_SETTINGS_SQL);
    await client.query(CLIENT_CHECK_SQL).catch((err) => {
      if (isConnectionError(err)) throw err;
    });
  } catch (err) {
    await client.end().catch(() => {});
    const e = err as Error & { code?: string };
    // SQLSTATE 3D000 (invalid_catalog_name): the server answered; the database is what is missing.
    if (e.code === '3D000') {
      const database = connection.display.slice(connection.display.lastIndexOf('/') + 1);
      throw new DependencyError('DB_NOT_FOUND', `the database ${database} does not exist on ${connection.display.replace(/\/[^/]*$/, '')} (from ${connection.source})`, {
        hint: `Create it (createdb ${database}) or name an existing one in the connection URL (or PGDATABASE).`,
      }, { cause: err });
    }
    // SQLSTATE 53300 (too_many_connections): the server answered and has no connection to spare,
    // for anyone (max_connections) or for this role (its connection limit).
    if (e.code === '53300') {
      throw new DependencyError('DB_UNREACHABLE', `PostgreSQL at ${connection.display} (from ${connection.source}) has no connection to spare: ${e.code} ${e.message}`.replace(/\s+/g, ' ').trim(), {
        hint: 'A run opens --jobs connections and one more: lower --jobs, or wait for other sessions to end (max_connections, or the role\'s connection limit).',
      }, { cause: err });
    }
    // SQLSTATE class 28 (invalid_authorization_specification, invalid_password): the server
    // answered and refused this user; starting a server or changing the host would not help.
    if (e.code?.startsWith('28')) {
      throw new DependencyError('DB_LOGIN_REFUSED', `PostgreSQL at ${connection.display} (from ${connection.source}) refused the login: ${e.code} ${e.message}`.replace(/\s+/g, ' ').trim(), {
        hint: 'Check the user and password of the connection (the URL, or PGUSER and PGPASSWORD), and that the server lets that user in (pg_hba.conf).',
      }, { cause: err });
    }
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
