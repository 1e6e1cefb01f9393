/**
 * What runs that stopped without finishing leave in the database: their staging schemas (every
 * run builds into its own `<silver>__run_<id>`, `<gold>__run_<id>`) and the bronze `__loading`
 * tables of a load that never swapped them in. Only the run that holds the target's lock removes
 * them: no other run of the target is going then, so whatever is there belongs to no live run.
 */
import type { SchemaNames } from '../config.ts';
import { type Client, ident } from '../db/index.ts';
import { isConnectionError } from '../errors.ts';
import { stagingSchemaPattern, updateSchemaPattern } from '../transform/index.ts';

/** The suffix of the table a bronze file is loaded into before the swap (src/bronze/load.ts). */
const LOADING_SUFFIX = '__loading';

/** How long a drop may wait for a lock: a backend of a killed run may still be ending. */
export const LEFTOVER_LOCK_TIMEOUT = '10s';

export interface Leftover {
  kind: 'schema' | 'table';
  /** `schema` or `schema.table`, unquoted. */
  name: string;
}

export interface LeftoverCleanup {
  dropped: Leftover[];
  /** Could not be dropped now (a lock held past the timeout, a permission); tried again next run. */
  kept: (Leftover & { reason: string })[];
}

/** The staging schemas of other runs of this target and the bronze `__loading` tables. */
export async function findLeftovers(client: Client, schemas: SchemaNames): Promise<Leftover[]> {
  const { rows } = await client.query<{ kind: 'schema' | 'table'; name: string }>(
    `select 'schema' as kind, nspname as name
       from pg_namespace
      where nspname ~ $1 and nspname <> all($2)
     union all
     select 'table', schemaname || '.' || tablename
       from pg_tables
      where schemaname = $3 and right(tablename, length($4)) = $4
      order by kind, name`,
    [stagingSchemaPattern(schemas), [schemas.staging.silver, schemas.staging.gold], schemas.bronze, LOADING_SUFFIX],
  );
  return rows;
}

/**
 * Drops every leftover, each in its own short transaction under lock_timeout. A leftover that
 * cannot be dropped is reported and kept; a lost connection is thrown.
 */
export async function dropLeftovers(client: Client, schemas: SchemaNames): Promise<LeftoverCleanup> {
  return dropEach(client, schemas, await findLeftovers(client, schemas));
}

/**
 * A failed run's own staging schemas (`schemas.staging`, the run's) and its incremental models'
 * update schemas beside them (`<staging>_u<n>`), dropped on its way out like a stopped run's
 * leftovers, the update schemas first. Schemas that do not exist are skipped.
 */
export async function dropRunStaging(client: Client, schemas: SchemaNames): Promise<LeftoverCleanup> {
  const own = [schemas.staging.silver, schemas.staging.gold];
  const { rows } = await client.query<{ name: string }>(
    'select nspname as name from pg_namespace where nspname = any($1) or nspname ~ $2 order by nspname = any($1), 1',
    [own, updateSchemaPattern(own)],
  );
  return dropEach(client, schemas, rows.map((r) => ({ kind: 'schema' as const, name: r.name })));
}

async function dropEach(client: Client, schemas: SchemaNames, leftovers: readonly Leftover[]): Promise<LeftoverCleanup> {
  const result: LeftoverCleanup = { dropped: [], kept: [] };
  for (const leftover of leftovers) {
    const statement = leftover.kind === 'schema'
      ? `drop schema if exists ${ident(leftover.name)} cascade`
      : `drop table if exists ${ident(schemas.bronze)}.${ident(leftover.name.slice(schemas.bronze.length + 1))}`;
    try {
      await client.query('begin');
      await client.query("select set_config('lock_timeout', $1, true)", [LEFTOVER_LOCK_TIMEOUT]);
      await client.query(statement);
      await client.query('commit');
      result.dropped.push(leftover);
    } catch (err) {
      await client.query('rollback').catch(() => {});
      if (isConnectionError(err)) throw err;
      result.kept.push({ ...leftover, reason: (err as Error).message });
    }
  }
  return result;
}
