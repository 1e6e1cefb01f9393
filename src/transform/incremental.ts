/**
 * Incremental models: a model declared `materialized: incremental` with `partition_by: <column>`
 * (model-spec.ts) is updated, not rebuilt, when the model plan says so (model-plan.ts, action
 * `update`): only its partitions whose input rows changed are computed again, with the model's own
 * SQL, and the run's staging shows the published rows of the other partitions beside them.
 *
 * The declaration claims: the model's rows of one value of the column are a function of the rows
 * with that value in the inputs that have a column of that name, and of the whole of the inputs
 * that do not (products, a one-row date range). So, for a model M partitioned by P, in its own
 * update schema `<staging>_u<n>` (compile.ts, updateSchemaName):
 *
 * 1. `partitions`: the values of P whose rows differ in some input that has P, between what the
 *    published M was built from and what this run built: for an input rebuilt whole, the values of
 *    the rows that are not in both versions (a multiset difference of 64-bit row hashes, grouped by
 *    P); for an input that was itself updated, the same over its delta against its published rows
 *    of its own partitions; an input kept as published did not change. An input without P that
 *    changed (its whole fingerprint differs), or any input that cannot be compared, makes M a whole
 *    build, with that reason. NULL is one partition.
 * 2. one view per input that has P, of the same name: the input's rows of those partitions.
 * 3. the delta, a table named like M: M's compiled SQL, reading those views instead of the inputs
 *    (compile.ts, readFrom).
 *    A delta row outside the partitions means the declaration does not hold for this SQL (an input
 *    read unfiltered): M is then built whole.
 * 4. M in staging is a view: the published rows of the other partitions, `union all` the delta.
 *    Downstream models, data tests, rule counts and the export read it as they read a table.
 *
 * Publishing applies the delta in place (applyUpdates, in the publishing transaction: delete the
 * partitions, insert the delta), so readers see the old rows until the commit and a failed run
 * changes nothing. The views of the run are created afresh in the published schemas
 * (publish.ts, viewSql), reading the published tables, not the overlays.
 */
import type { SchemaNames } from '../config.ts';
import { type Client, ident } from '../db/index.ts';
import { fromDatabaseError } from '../errors.ts';
import { compileSql, type SelectionSchemas, stagingSchemas, updateSchemaName } from './compile.ts';
import type { Model, Project, RelationName } from './types.ts';

/** An incremental model updated in this run: where its partitions and delta are. */
export interface ModelUpdate {
  model: RelationName;
  /** The partition column. */
  column: string;
  /**
   * The update schema: `partitions` (column `key`), and the delta as a table named like the model
   * (so that a row-level data test of the model reads it by compiling the model's name to this
   * schema: deltaSchemas).
   */
  schema: string;
  /** Partitions recomputed (NULL counts as one). */
  partitions: number;
  /** Rows of the delta. */
  rows: number;
}

/** The result of trying to update a model: the update, or why it is built whole instead. */
export type UpdateAttempt = { update: ModelUpdate } | { whole: string };

export interface UpdateContext {
  schemas: SchemaNames;
  project: Project;
  /** Models updated so far in this run (their inputs' updates are read by their readers). */
  updates: ReadonlyMap<RelationName, ModelUpdate>;
}

/** Columns of a relation, name → type; empty when it does not exist. */
async function columnsOf(client: Client, schema: string, name: string): Promise<Map<string, string>> {
  const { rows } = await client.query<{ name: string; type: string }>(
    `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type
       from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relname = $2 and a.attnum > 0 and not a.attisdropped
      order by a.attnum`,
    [schema, name],
  );
  return new Map(rows.map((r) => [r.name, r.type]));
}

/** `relation in partitions` for a column (NULL is a partition of its own). */
export function inPartitions(column: string, partitions: string): string {
  return `(${column} in (select key from ${partitions} where key is not null) or (${column} is null and exists (select from ${partitions} where key is null)))`;
}

/** The negation of inPartitions, NULL-safe. */
export function notInPartitions(column: string, partitions: string): string {
  return `(not coalesce(${column} in (select key from ${partitions} where key is not null), false) and not (${column} is null and exists (select from ${partitions} where key is null)))`;
}

/**
 * The rows of a relation as a multiset of (partition value, 64-bit row hash), +1 per row, for a
 * difference against another version (a collision of two different rows of the same partition is
 * the only way a change goes unseen: about 2^-64 per pair).
 */
function hashedRows(relation: string, column: string, side: 1 | -1): string {
  return `select r.${column} as key, hash_record_extended(r.*, 0) as h, ${side} as side from ${relation} as r`;
}

/**
 * Computes the delta of `model` in its update schema and puts its overlay view in staging; or says
 * why it is built whole (the update schema is then dropped).
 */
export async function updateModel(client: Client, model: Model, context: UpdateContext): Promise<UpdateAttempt> {
  const { schemas, project } = context;
  const column = model.incremental!.partitionBy;
  const staging = stagingSchemas(schemas);
  const selection = schemas as SelectionSchemas;
  const published = schemas[model.layer];
  const schema = updateSchemaName(staging[model.layer], project.models.indexOf(model));
  const col = ident(column);
  const partitions = `${ident(schema)}.partitions`;
  const publishedColumns = await columnsOf(client, published, model.relation);
  if (!publishedColumns.has(column)) return { whole: `the published ${model.name} has no column ${column}` };

  const redirected = new Map<RelationName, string>();
  const whole = async (reason: string): Promise<UpdateAttempt> => {
    await client.query(`drop schema if exists ${ident(schema)} cascade`);
    return { whole: reason };
  };
  try {
    await client.query(`drop schema if exists ${ident(schema)} cascade`);
    await client.query(`create schema ${ident(schema)}`);
    await client.query(`create table ${ident(schema)}.changed (key ${publishedColumns.get(column)})`);
    // the inputs without the column first: a change there makes the model whole, and their
    // fingerprints (small tables: the catalogue, a one-row range) cost less than a diff by partition
    const columnsOfInput = new Map<RelationName, boolean>();
    for (const input of model.dependencies) {
      const [layer, name] = [input.slice(0, input.indexOf('.')), input.slice(input.indexOf('.') + 1)];
      const where = layer === 'bronze' ? schemas.bronze : selection.readPublished?.has(input) ? schemas[layer as 'silver' | 'gold'] : staging[layer as 'silver' | 'gold'];
      columnsOfInput.set(input, (await columnsOf(client, where, name)).has(column));
    }
    const inputs = [...model.dependencies].sort((a, b) => Number(columnsOfInput.get(a)) - Number(columnsOfInput.get(b)));
    for (const input of inputs) {
      const dot = input.indexOf('.');
      const layer = input.slice(0, dot);
      const name = input.slice(dot + 1);
      if (layer === 'bronze') {
        // the plan updates a model only when the bronze it reads holds the published run's load
        if ((await columnsOf(client, schemas.bronze, name)).has(column)) redirected.set(input, name);
        continue;
      }
      const inputLayer = layer as 'silver' | 'gold';
      const keptAsPublished = selection.readPublished?.has(input) === true;
      const current = keptAsPublished ? schemas[inputLayer] : staging[inputLayer];
      const currentColumns = await columnsOf(client, current, name);
      if (currentColumns.size === 0) return await whole(`${input} is not built`);
      if (currentColumns.has(column)) redirected.set(input, name);
      if (keptAsPublished) continue;
      const before = `${ident(schemas[inputLayer])}.${ident(name)}`;
      const after = `${ident(current)}.${ident(name)}`;
      const beforeColumns = await columnsOf(client, schemas[inputLayer], name);
      if (!sameColumns(beforeColumns, currentColumns)) return await whole(`${input} has other columns than the published one it was built from`);
      if (!currentColumns.has(column)) {
        if (!(await sameRows(client, before, after))) return await whole(`${input} changed and has no column ${column}`);
        continue;
      }
      const inputUpdate = context.updates.get(input);
      const [newRows, oldRows] = inputUpdate
        ? [
            `${ident(inputUpdate.schema)}.${ident(name)}`,
            `(select * from ${before} where ${inPartitions(ident(inputUpdate.column), `${ident(inputUpdate.schema)}.partitions`)})`,
          ]
        : [after, before];
      await client.query(
        `insert into ${ident(schema)}.changed (key)
         select key from (${hashedRows(newRows, col, 1)} union all ${hashedRows(oldRows, col, -1)}) as versions
          group by key, h having sum(side) <> 0`,
      );
    }
    await client.query(`create table ${partitions} as select distinct key from ${ident(schema)}.changed`);
    const count = Number((await client.query<{ n: string }>(`select count(*) as n from ${partitions}`)).rows[0]!.n);

    // the inputs that have the column, filtered to the partitions, under their own names
    for (const [input, name] of redirected) {
      const dot = input.indexOf('.');
      const layer = input.slice(0, dot) as 'bronze' | 'silver' | 'gold';
      const source = layer === 'bronze' ? schemas.bronze : selection.readPublished?.has(input) ? schemas[layer] : staging[layer];
      if ([...redirected].some(([other, n]) => other !== input && n === name)) return await whole(`two of its inputs are named ${name}`);
      await client.query(`create view ${ident(schema)}.${ident(name)} as select * from ${ident(source)}.${ident(name)} where ${inPartitions(col, partitions)}`);
    }
    const compiled = compileSql(model.sql, Object.freeze({ ...schemas, readFrom: new Map([...redirected.keys()].map((r) => [r, schema])) }) as SchemaNames);
    const delta = `${ident(schema)}.${ident(model.relation)}`;
    const created = await client.query(`create table ${delta} as\n${compiled.sql}`);
    const rows = created.rowCount ?? 0;
    if (!sameColumns(publishedColumns, await columnsOf(client, schema, model.relation))) return await whole(`its columns differ from the published ${model.name}`);
    const outside = await client.query(`select from ${delta} where not ${inPartitions(col, partitions)} limit 1`);
    if (outside.rowCount) return await whole(`its SQL returns rows of other ${column} values than those of the filtered inputs (partition_by does not hold)`);
    await client.query(`analyze ${delta}`);
    const target = `${ident(staging[model.layer])}.${ident(model.relation)}`;
    await client.query(
      `create view ${target} as
       select * from ${ident(published)}.${ident(model.relation)} where ${notInPartitions(col, partitions)}
       union all
       select * from ${delta}`,
    );
    return { update: { model: model.name, column, schema, partitions: count, rows } };
  } catch (err) {
    throw fromDatabaseError(err, `updating ${model.name} by ${column}`);
  }
}

function sameColumns(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  return a.size === b.size && [...a].every(([name, type], i) => [...b][i]?.[0] === name && b.get(name) === type);
}

/** Whether two relations hold the same multiset of rows (count and sum of 64-bit row hashes). */
async function sameRows(client: Client, a: string, b: string): Promise<boolean> {
  const fingerprint = (r: string) => `select count(*) as n, coalesce(sum(hash_record_extended(t.*, 0)::numeric), 0) as s from ${r} as t`;
  const { rows } = await client.query<{ same: boolean }>(`select a.n = b.n and a.s = b.s as same from (${fingerprint(a)}) as a, (${fingerprint(b)}) as b`);
  return rows[0]!.same;
}

/**
 * Applies each update to its published table, inside the publishing transaction: the rows of its
 * partitions are deleted and the delta inserted. The overlay view in staging is left to the
 * staging clean-up.
 */
export async function applyUpdates(client: Client, schemas: SchemaNames, updates: readonly ModelUpdate[]): Promise<void> {
  for (const u of updates) {
    const dot = u.model.indexOf('.');
    const name = u.model.slice(dot + 1);
    const table = `${ident(schemas[u.model.slice(0, dot) as 'silver' | 'gold'])}.${ident(name)}`;
    const partitions = `${ident(u.schema)}.partitions`;
    await client.query(`delete from ${table} where ${inPartitions(ident(u.column), partitions)}`);
    await client.query(`insert into ${table} select * from ${ident(u.schema)}.${ident(name)}`);
  }
}

/**
 * `schemas` with the model of an update read from its update schema: its delta alone. A data test
 * whose verdict on a row depends only on that row (and reads no other relation) holds on the
 * published rows of the other partitions, which passed it when they were published and did not
 * change; on the update it needs to see only the delta. The same holds for a unique key that
 * includes the partition column: two rows with one key are in one partition.
 */
export function deltaSchemas(schemas: SchemaNames, update: Pick<ModelUpdate, 'model' | 'schema'>): SchemaNames {
  const readFrom = new Map((schemas as SelectionSchemas).readFrom ?? []);
  readFrom.set(update.model, update.schema);
  return Object.freeze({ ...schemas, readFrom }) as SchemaNames;
}
