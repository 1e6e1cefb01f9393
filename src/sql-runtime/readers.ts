/**
 * The views that read a set of relations, and how to carry them over when those relations are
 * replaced by new ones of the same name: the publish (src/transform/publish.ts) swaps silver and
 * gold, the bronze load (src/bronze/load.ts) swaps its tables. A view is bound to the OID of what
 * it reads, so after a swap it would still read the old relation; recreating it from its
 * definition (captured with every name schema-qualified) binds it to the new one by name.
 */
import type { Client } from '../db/index.ts';
import { isConnectionError } from '../errors.ts';

/** A view or materialized view that reads (directly or through other views) the relations asked about. */
export interface ViewReader {
  schema: string;
  name: string;
  definition: string;
  depth: number;
  relkind: string;
}

/**
 * SQL listing the views and materialized views that read (directly or through other views) the
 * relations whose OIDs the `relations` query returns, shallowest first, with their definitions.
 * Run it with `search_path` set to pg_catalog so the definitions name every relation with its schema.
 */
export function readersSql(relations: string): string {
  return `with recursive published as (
       ${relations}
     ), readers (oid, depth) as (
       select distinct r.ev_class, 1 from pg_depend d join pg_rewrite r on r.oid = d.objid
        where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
          and d.refobjid in (select oid from published) and r.ev_class <> d.refobjid
       union
       select r.ev_class, readers.depth + 1 from readers
         join pg_depend d on d.refobjid = readers.oid and d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
         join pg_rewrite r on r.oid = d.objid
        where r.ev_class <> readers.oid and readers.depth < 50
     )
     select n.nspname as schema, c.relname as name, c.relkind as relkind, pg_get_viewdef(c.oid) as definition, max(readers.depth) as depth
       from readers join pg_class c on c.oid = readers.oid join pg_namespace n on n.oid = c.relnamespace
      group by n.nspname, c.relname, c.relkind, c.oid
      order by max(readers.depth), n.nspname, c.relname`;
}

const LOCK_NOT_AVAILABLE = '55P03';

/** Runs one statement in a savepoint: true, or the error's message (the transaction goes on). */
export async function attempt(client: Client, sql: string): Promise<true | string> {
  await client.query('savepoint carry');
  try {
    await client.query(sql);
    await client.query('release savepoint carry');
    return true;
  } catch (err) {
    if (isConnectionError(err) || (err as { code?: string })?.code === LOCK_NOT_AVAILABLE) throw err;
    await client.query('rollback to savepoint carry');
    return (err as Error).message;
  }
}

/** Recreates a view from its captured definition, on whatever its names now resolve to. */
export function recreateViewSql(view: Pick<ViewReader, 'schema' | 'name' | 'definition'>): string {
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  return `create or replace view ${quote(view.schema)}.${quote(view.name)} as ${view.definition.replace(/;\s*$/, '')}`;
}
