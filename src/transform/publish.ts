/**
 * Publish: swap the staging schemas in for the published ones, in ONE short transaction
 * (build-then-rename, as dbt-adapters' table materialization does per table, here per schema):
 *
 *   begin; set local lock_timeout;
 *     create schema if not exists silver/gold      -- first publish
 *     alter schema silver rename to silver_prev; alter schema silver_next rename to silver;
 *     alter schema gold   rename to gold_prev;   alter schema gold_next   rename to gold;
 *   commit;
 *   drop schema silver_prev, gold_prev cascade     -- outside the transaction
 *
 * Readers see the old schemas or the new ones, never a mix. Views keep pointing at what they were
 * built on because PostgreSQL stores references by OID, not by name: a gold view built on
 * `silver_next.customers` reads `silver.customers` after the rename, i.e. the tables published
 * with it. A reader still inside a query on the old tables keeps reading them; only the final
 * drop waits for it, under lock_timeout, and when it times out the `_prev` schema is left behind
 * (reported in the result) and dropped before the next publish.
 */
import type { SchemaNames } from '../config.ts';
import { type Client, ident } from '../db/client.ts';
import { DependencyError, fromDatabaseError, isConnectionError } from '../errors.ts';
import { stagingSchemas } from './compile.ts';

export interface PublishOptions {
  /** How long any statement of the publish may wait for a lock (PostgreSQL interval). */
  lockTimeout?: string;
}

export interface PublishResult {
  /** The schemas that now hold the new build (`silver`, `gold`, with the target's prefix). */
  published: string[];
  /** `_prev` schemas that could not be dropped yet (a reader held a lock); dropped next time. */
  leftovers: string[];
  seconds: number;
}

export const DEFAULT_LOCK_TIMEOUT = '10s';
const LOCK_NOT_AVAILABLE = '55P03';

export async function publishModels(client: Client, schemas: SchemaNames, options: PublishOptions = {}): Promise<PublishResult> {
  const started = performance.now();
  const lockTimeout = options.lockTimeout ?? DEFAULT_LOCK_TIMEOUT;
  const staging = stagingSchemas(schemas);
  const pairs = [
    { published: schemas.silver, next: staging.silver, prev: `${schemas.silver}_prev` },
    { published: schemas.gold, next: staging.gold, prev: `${schemas.gold}_prev` },
  ];

  // A `_prev` left by an earlier publish whose drop timed out must go before the rename.
  for (const p of pairs) await dropSchema(client, p.prev, lockTimeout, true);

  let inTransaction = false;
  try {
    const { rows } = await client.query<{ nspname: string }>('select nspname from pg_namespace where nspname = any($1)', [pairs.map((p) => p.next)]);
    const missing = pairs.filter((p) => !rows.some((r) => r.nspname === p.next)).map((p) => p.next);
    if (missing.length) {
      throw new DependencyError('DB_ERROR', `nothing to publish: the staging schema ${missing.join(' and ')} does not exist`, {
        hint: 'Publish only after a successful build; nothing was changed.',
      });
    }
    await client.query('begin');
    inTransaction = true;
    await client.query("select set_config('lock_timeout', $1, true)", [lockTimeout]);
    for (const p of pairs) {
      await client.query(`create schema if not exists ${ident(p.published)}`);
      await client.query(`alter schema ${ident(p.published)} rename to ${ident(p.prev)}`);
      await client.query(`alter schema ${ident(p.next)} rename to ${ident(p.published)}`);
    }
    await client.query('commit');
    inTransaction = false;
  } catch (err) {
    if (inTransaction) await client.query('rollback').catch(() => {});
    throw publishError(err, lockTimeout);
  }

  const leftovers: string[] = [];
  for (const p of pairs) if (!(await dropSchema(client, p.prev, lockTimeout, false))) leftovers.push(p.prev);
  return { published: pairs.map((p) => p.published), leftovers, seconds: (performance.now() - started) / 1000 };
}

/**
 * Drops a schema under lock_timeout. Returns false when a lock could not be had in time; that
 * throws instead when `mustSucceed` (a leftover that stands in the way of the publish).
 */
async function dropSchema(client: Client, schema: string, lockTimeout: string, mustSucceed: boolean): Promise<boolean> {
  let inTransaction = false;
  try {
    await client.query('begin');
    inTransaction = true;
    await client.query("select set_config('lock_timeout', $1, true)", [lockTimeout]);
    await client.query(`drop schema if exists ${ident(schema)} cascade`);
    await client.query('commit');
    return true;
  } catch (err) {
    if (inTransaction) await client.query('rollback').catch(() => {});
    if (!mustSucceed && isLockTimeout(err)) return false;
    throw publishError(err, lockTimeout, schema);
  }
}

function isLockTimeout(err: unknown): boolean {
  return (err as { code?: string })?.code === LOCK_NOT_AVAILABLE && !isConnectionError(err);
}

function publishError(err: unknown, lockTimeout: string, dropping?: string): Error {
  if (err instanceof DependencyError) return err;
  if (isLockTimeout(err)) {
    return new DependencyError(
      'PUBLISH_BLOCKED',
      `could not publish: another session held a lock for more than lock_timeout (${lockTimeout})${dropping ? ` on ${dropping}` : ''}; nothing was published by this run`,
      { hint: 'Find it with `select pid, state, query from pg_stat_activity where wait_event_type is null and state like \'idle in transaction%\'`, end it or wait, then run again.' },
      { cause: err },
    );
  }
  return fromDatabaseError(err, dropping ? `dropping ${dropping} before publishing` : 'publishing the new silver and gold schemas');
}
