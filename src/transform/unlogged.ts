/**
 * Unlogged intermediate tables (`config.unlogged: true`, dbt-postgres' config; docs/decisions/0023).
 * Such a table is written without WAL. Crash recovery resets it to empty, and a standby holds it
 * empty, while every logged table, the ledger among them, comes back as committed. So a published
 * unlogged table may be empty although the publication that made it held rows, and the model
 * plan, the no-op run and the incremental updates all trust the published tables as they are.
 *
 * The invariant: each publication records, in its ledger row of the model (logged, in the
 * publishing transaction), whether the unlogged table it publishes holds rows (`unloggedHoldings`).
 * Before the model plan, a run compares every recorded table with what it holds now
 * (`emptiedUnlogged`): one that is unlogged, empty and recorded with rows was emptied by a crash,
 * and the run builds it whole with everything that reads it, never an update or a no-op over it.
 * A table recorded empty was empty when published, and a crash leaves it as it was.
 */
import type { SchemaNames } from '../config.ts';
import { type Client, ident } from '../db/index.ts';
import type { Model, RelationName } from './types.ts';

/** The published table of a model in `schemas` (the published schemas, not a run's staging). */
function publishedTable(schemas: SchemaNames, model: RelationName): string {
  const dot = model.indexOf('.');
  return `${ident(schemas[model.slice(0, dot) as 'silver' | 'gold'])}.${ident(model.slice(dot + 1))}`;
}

/**
 * Inside the publishing transaction, after the renames and the updates: whether each unlogged
 * model's published table holds a row. One probe per table (`exists`), not a count.
 */
export async function unloggedHoldings(client: Client, schemas: SchemaNames, models: readonly Model[]): Promise<Map<RelationName, boolean>> {
  const unlogged = models.filter((m) => m.unlogged && m.materialized === 'table');
  if (!unlogged.length) return new Map();
  const { rows } = await client.query<{ model: string; has_rows: boolean }>(
    unlogged.map((m, i) => `select $${i + 1}::text as model, exists (select from ${publishedTable(schemas, m.name)}) as has_rows`).join('\nunion all\n'),
    unlogged.map((m) => m.name),
  );
  return new Map(rows.map((r) => [r.model, r.has_rows]));
}

/**
 * The published unlogged tables that a server crash emptied: recorded with rows by their
 * publication (`recorded`: model → held rows), unlogged now and holding none. A table that is
 * gone or logged now is left to the model plan.
 */
export async function emptiedUnlogged(client: Client, schemas: SchemaNames, recorded: ReadonlyMap<RelationName, boolean>): Promise<RelationName[]> {
  const filled = [...recorded].filter(([, hasRows]) => hasRows).map(([model]) => model);
  const emptied: RelationName[] = [];
  for (const model of filled) {
    const table = publishedTable(schemas, model);
    const { rows } = await client.query<{ persistence: string | null }>('select relpersistence as persistence from pg_class where oid = to_regclass($1)', [table]);
    if (rows[0]?.persistence !== 'u') continue;
    const { rows: held } = await client.query<{ has_rows: boolean }>(`select exists (select from ${table}) as has_rows`);
    if (!held[0]!.has_rows) emptied.push(model);
  }
  return emptied;
}

/** The reason a run gives for building an emptied table. */
export function emptiedReason(model: RelationName): string {
  return `${model} was emptied by a server crash (unlogged)`;
}
