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
 *    of its own partitions; an input kept as published did not change. An input declared under
 *    `related_inputs` with a column R (types.ts, Incremental.relatedInputs): the values of R whose
 *    rows differ (the same difference, grouped by R), and then the values of P of the rows holding
 *    one of them, in M as published and in this run's inputs that have both P and R. An input
 *    without P that changed (its whole fingerprint differs), an incremental table that this run
 *    built whole, or a view built whole because it reads one (UpdateContext.builtWhole: its change
 *    is not by partition, and a difference over all its rows would cost what a whole build of M
 *    does), or any input that cannot be compared, makes M a whole build, with that reason. NULL is
 *    one partition.
 * 2. one view per input that has P, of the same name: the input's rows of those partitions. An
 *    input declared under `partition_inputs` (a bronze table, or a model without P) has P as an
 *    expression over its rows instead: its changed partitions and its filtered rows are those of
 *    the expression's values; a bronze table under `bronze_lines` is read by line (bronze-lines.ts).
 *    A related input: its rows of the values of R that the filtered inputs with both P and R hold.
 * 3. the delta, a table named like M: M's compiled SQL, reading those views instead of the inputs
 *    (compile.ts, readFrom).
 *    A delta row outside the partitions means the declaration does not hold for this SQL (an input
 *    read unfiltered): M is then built whole.
 * 4. M in staging is a view: the published rows of the other partitions, `union all` the delta.
 *    Downstream models, data tests, rule counts and the export read it as they read a table.
 *
 * Publishing applies the delta in place (applyUpdates, in the publishing transaction: delete the
 * partitions, insert the delta), so readers see the old rows until the commit and a failed run
 * changes nothing. Every incremental table has a btree index on its partition column
 * (partitionIndexName), created after each whole build and kept by the in-place updates, and every
 * read of a table's rows of some partitions is written by partitionRows, which the planner can
 * answer from that index. The views of the run are created afresh in the published schemas
 * (publish.ts, viewSql), reading the published tables, not the overlays.
 */
import { changesTable, currentBronzeChanges } from '../bronze/index.ts';
import type { SchemaNames } from '../config.ts';
import { type Client, ident, literal } from '../db/index.ts';
import { fromDatabaseError } from '../errors.ts';
import { readBronzeByLines } from './bronze-lines.ts';
import { inPartitions, notInPartitions } from './partition-predicates.ts';
import { compileSql, type SelectionSchemas, stagingSchemas, updateSchemaName } from './compile.ts';
import type { DateWindow, Materialization, Model, Project, RelationName } from './types.ts';

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
  /**
   * `view` for a view that declares partition_by: its delta is computed for its readers, and
   * nothing is applied at the publish (the published view reads the published tables).
   */
  materialized: Materialization;
}

/** The result of trying to update a model: the update, or why it is built whole instead. */
export type UpdateAttempt = { update: ModelUpdate } | { whole: string; afterWholeInput?: true };

export interface UpdateContext {
  schemas: SchemaNames;
  project: Project;
  /** Models updated so far in this run (their inputs' updates are read by their readers). */
  updates: ReadonlyMap<RelationName, ModelUpdate>;
  /**
   * The bronze tables that hold another load than the published run's, each with its
   * `<source>__changes` (quoted), which holds the step from the published load (model-plan.ts,
   * steppedBronze).
   */
  bronzeChanges?: ReadonlyMap<RelationName, string>;
  /**
   * The incremental models this run built whole for a change that is not by partition: a table
   * built whole, and a view built whole because it reads one (afterWholeInput). A reader with the
   * partition column is built whole too (see updateModel).
   */
  builtWhole?: ReadonlySet<RelationName>;
}

/** Columns of a relation in catalog order, name → type (format_type); empty when it does not exist. */
export async function columnsOf(client: Client, schema: string, name: string): Promise<Map<string, string>> {
  const { rows } = await client.query<{ name: string; type: string }>(
    `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type
       from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relname = $2 and a.attnum > 0 and not a.attisdropped
      order by a.attnum`,
    [schema, name],
  );
  return new Map(rows.map((r) => [r.name, r.type]));
}

/**
 * The name of a btree index on a table's columns: PostgreSQL's own `<table>_<column>_…_idx`, cut
 * to the 63 bytes of a name. The partition index of an incremental table is that of its partition
 * column.
 */
export function indexName(relation: string, columns: readonly string[]): string {
  return Buffer.from(`${relation}_${columns.join('_')}_idx`).subarray(0, 63).toString();
}

export function partitionIndexName(relation: string, column: string): string {
  return indexName(relation, [column]);
}

/**
 * The expression of an incremental table's dates index: `greatest(<dates>)` of its date window
 * over its own published rows (DateWindow.over), when each date is a column of the model; else
 * undefined. An update finds the rows in a window through it (updateModel) instead of scanning
 * the published table, and it is built with the table like the partition index.
 */
export function datesIndexExpression(model: Pick<Model, 'name' | 'incremental'>): string | undefined {
  const dates = datesIndexColumns(model);
  return dates && `greatest(${dates.map(ident).join(', ')})`;
}

/** The columns of datesIndexExpression, each once. */
function datesIndexColumns(model: Pick<Model, 'name' | 'incremental'>): string[] | undefined {
  const windows = Object.values(model.incremental?.dateWindows ?? {}).filter((w) => w.over === model.name);
  const dates = [...new Set(windows.flatMap((w) => w.dates.map((d) => d.trim())))];
  return windows.length && dates.every((d) => /^[a-z_][a-z0-9_$]*$/.test(d)) ? dates : undefined;
}

/** The name of the dates index of a table (datesIndexExpression). */
export function datesIndexName(relation: string): string {
  return Buffer.from(`${relation}_dates_idx`).subarray(0, 63).toString();
}

/**
 * Creates a btree index on a built table (`schema`.`relation`), once its rows are in: one sort,
 * cheaper than keeping an index through the insert of every row.
 */
export async function createIndex(client: Client, schema: string, relation: string, columns: readonly string[]): Promise<void> {
  await client.query(`create index ${ident(indexName(relation, columns))} on ${ident(schema)}.${ident(relation)} (${columns.map(ident).join(', ')})`);
}

/**
 * The rows of a relation in the partitions (`partitions`, column `key`; NULL is a partition of its
 * own) as a subquery to select from: a semi-join on the values and `is null` for the NULL
 * partition, each a condition of its own, which the planner answers through the partition index
 * (a nested loop over the partitions), or by a hash join when they are many. The conditions are
 * partitionConditions (a delete runs one per condition).
 */
export function partitionRows(relation: string, column: string, partitions: string): string {
  return `(${partitionConditions(column, partitions)
    .map((condition) => `select * from ${relation} where ${condition}`)
    .join(' union all ')})`;
}

/** The two conditions of partitionRows: the rows of a non-NULL partition, and those of the NULL one. */
export function partitionConditions(column: string, partitions: string): readonly [string, string] {
  return [`${column} in (select key from ${partitions} where key is not null)`, `${column} is null and exists (select from ${partitions} where key is null)`];
}

/**
 * An updated model's rows in this run, as the select of its overlay view in staging: its published
 * rows outside its partitions (`published` is the quoted published table), union all its delta.
 * With `within`, only the rows of those partitions of another column: each part is read through
 * partitionRows, so that an index of the published table on that column serves the read, where the
 * same filter over the overlay view scans every published row.
 */
export function overlaySql(update: Pick<ModelUpdate, 'model' | 'schema' | 'column'>, published: string, within?: { column: string; partitions: string }): string {
  const { now } = updateVersions(update, published);
  const rows = (relation: string) => (within ? `${partitionRows(relation, within.column, within.partitions)} as t` : `${relation} as t`);
  return `select * from ${rows(published)} where ${notInPartitions(`t.${ident(update.column)}`, `${ident(update.schema)}.partitions`)}
union all
select * from ${rows(now)}`;
}

/**
 * The two versions of an update's rows, as relations to select from: its delta (`now`), and the
 * published rows of its partitions that the delta replaces (`before`; `published` is the quoted
 * published table). Every other row is the same in both.
 */
export function updateVersions(update: Pick<ModelUpdate, 'model' | 'schema' | 'column'>, published: string): { now: string; before: string } {
  return {
    now: `${ident(update.schema)}.${ident(update.model.slice(update.model.indexOf('.') + 1))}`,
    before: partitionRows(published, ident(update.column), `${ident(update.schema)}.partitions`),
  };
}

/**
 * A relation's rows as a multiset fingerprint, one row (n, s): the count and the exact sum of the
 * rows' 64-bit hashes (two different multisets agree only by a hash collision).
 */
export function rowsFingerprintSql(relation: string): string {
  return `select count(*) as n, coalesce(sum(hash_record_extended(t.*, 0)::numeric), 0) as s from ${relation} as t`;
}

/**
 * The rows of a relation as a multiset of (partition value, 64-bit row hash), +1 per row, for a
 * difference against another version (a collision of two different rows of the same partition is
 * the only way a change goes unseen: about 2^-64 per pair). `value` is SQL over the row: a column,
 * or a partition_inputs expression.
 */
function hashedRows(relation: string, value: string, side: 1 | -1): string {
  return `select ${value} as key, hash_record_extended(r.*, 0) as h, ${side} as side from ${relation} as r`;
}

/**
 * Computes the delta of `model` in its update schema and puts its overlay view in staging; or says
 * why it is built whole (the update schema is then dropped).
 */
export async function updateModel(client: Client, model: Model, context: UpdateContext): Promise<UpdateAttempt> {
  const { schemas, project } = context;
  const { partitionBy: column, partitionInputs = {}, bronzeLines = {}, dateWindows = {}, relatedInputs = {} } = model.incremental!;
  const staging = stagingSchemas(schemas);
  const selection = schemas as SelectionSchemas;
  const published = schemas[model.layer];
  const schema = updateSchemaName(staging[model.layer], project.models.indexOf(model));
  const col = ident(column);
  const partitions = `${ident(schema)}.partitions`;
  const publishedColumns = await columnsOf(client, published, model.relation);
  if (!publishedColumns.has(column)) return { whole: `the published ${model.name} has no column ${column}` };
  /** Where this run's version of an input is. */
  const currentSchema = (input: RelationName): string => {
    const layer = input.slice(0, input.indexOf('.')) as 'bronze' | 'silver' | 'gold';
    return layer === 'bronze' ? schemas.bronze : selection.readPublished?.has(input) ? schemas[layer] : staging[layer];
  };
  /** The published version of an input model, quoted. */
  const publishedRelation = (input: RelationName): string => `${ident(schemas[input.slice(0, input.indexOf('.')) as 'silver' | 'gold'])}.${ident(input.slice(input.indexOf('.') + 1))}`;
  /** SQL of the project's (a .yml's expression) with its references compiled for this run. */
  const compiledExpression = (expression: string): string => compileSql(`select ${expression}`, schemas).sql.slice('select '.length);
  /** The partition value of a row of an input: its column, or its partition_inputs expression. */
  const partitionOf = (input: RelationName): string => {
    const expression = partitionInputs[input];
    return expression === undefined ? col : `(${compiledExpression(expression)})`;
  };

  /** Input → the partition value of its rows (the column, or the compiled expression), for its filtered view. */
  const redirected = new Map<RelationName, string>();
  const windows: { input: RelationName; window: DateWindow; moved: { column: string; type: string; from: string; to: string }[] }[] = [];
  /** Per related input that changed: its column, and the table (column `key`) of its changed values. */
  const relatedChanges: { input: RelationName; column: string; keys: string }[] = [];
  const whole = async (reason: string): Promise<{ whole: string }> => {
    await client.query(`drop schema if exists ${ident(schema)} cascade`);
    return { whole: reason };
  };
  try {
    await client.query(`drop schema if exists ${ident(schema)} cascade`);
    await client.query(`create schema ${ident(schema)}`);
    await client.query(`create table ${ident(schema)}.changed (key ${publishedColumns.get(column)})`);
    // the inputs without the column first: a change there makes the model whole, and their
    // fingerprints (small tables: the catalogue, a one-row range) cost less than a diff by partition
    const currentColumnsOf = new Map<RelationName, Map<string, string>>();
    for (const input of model.dependencies) currentColumnsOf.set(input, await columnsOf(client, currentSchema(input), input.slice(input.indexOf('.') + 1)));
    const hasPartition = (input: RelationName) => partitionInputs[input] !== undefined || currentColumnsOf.get(input)!.has(column);
    /** The column of an input that holds its rows' partition value: the model's, or a partition_inputs expression that names one. */
    const partitionColumnOf = (input: RelationName): string | undefined => {
      const expression = partitionInputs[input]?.trim();
      if (expression === undefined) return column;
      return currentColumnsOf.get(input)!.has(expression) ? expression : undefined;
    };
    /**
     * The query of the lines (column `line`) that hold a bronze input's rows of the partitions when
     * its key is the same in both loads: the partitions themselves for an expression
     * `_line_number`, the published rows' lines of the partitions for one under bronze_lines.
     */
    const linesOf = (input: RelationName): string | undefined => {
      if (!input.startsWith('bronze.') || partitionInputs[input] === undefined) return undefined;
      if (partitionInputs[input]!.trim() === '_line_number') return `select key as line from ${partitions}`;
      const lineColumn = bronzeLines[input];
      if (lineColumn === undefined || !publishedColumns.has(lineColumn)) return undefined;
      return `select t.${ident(lineColumn)} as line from ${partitionRows(`${ident(published)}.${ident(model.relation)}`, col, partitions)} as t`;
    };
    const inputs = [...model.dependencies].sort((a, b) => Number(hasPartition(a)) - Number(hasPartition(b)));
    for (const input of inputs) {
      const dot = input.indexOf('.');
      const layer = input.slice(0, dot);
      const name = input.slice(dot + 1);
      if (layer === 'bronze') {
        // the plan updates a model only when each bronze table it reads holds the published run's
        // load, or one whose `__changes` holds the step from it (context.bronzeChanges)
        const changes = context.bronzeChanges?.get(input);
        if (partitionInputs[input] !== undefined) {
          redirected.set(input, partitionOf(input));
          // both sides of every changed key: the partitions its old rows left and its new rows reach
          if (changes) await client.query(`insert into ${ident(schema)}.changed (key) select distinct ${partitionOf(input)} from ${changes}`);
        } else if (changes) {
          return await whole(`${input} holds another load, and partition_inputs gives no ${column} for its rows`);
        } else if (hasPartition(input)) {
          redirected.set(input, col);
        }
        continue;
      }
      const inputLayer = layer as 'silver' | 'gold';
      const keptAsPublished = selection.readPublished?.has(input) === true;
      const current = currentSchema(input);
      const currentColumns = currentColumnsOf.get(input)!;
      if (currentColumns.size === 0) return await whole(`${input} is not built`);
      const related = relatedInputs[input];
      if (related !== undefined && !currentColumns.has(related)) return await whole(`${input} has no column ${related} (related_inputs)`);
      if (related === undefined && hasPartition(input)) redirected.set(input, partitionOf(input));
      if (keptAsPublished) continue;
      const before = `${ident(schemas[inputLayer])}.${ident(name)}`;
      const after = `${ident(current)}.${ident(name)}`;
      const beforeColumns = await columnsOf(client, schemas[inputLayer], name);
      if (!sameColumns(beforeColumns, currentColumns)) return await whole(`${input} has other columns than the published one it was built from`);
      const inputUpdate = context.updates.get(input);
      /** This run's rows of the input that may differ from the published ones, and those published ones. */
      const { now: newRows, before: oldRows } = inputUpdate ? updateVersions(inputUpdate, before) : { now: after, before };
      if (related !== undefined) {
        // the values of the related column whose rows differ (the same difference, grouped by it)
        const keys = `${ident(schema)}.${ident(`related_${relatedChanges.length}`)}`;
        await client.query(
          `create table ${keys} as
           select distinct key from (${hashedRows(newRows, ident(related), 1)} union all ${hashedRows(oldRows, ident(related), -1)}) as versions
            group by key, h having sum(side) <> 0`,
        );
        // its size decides between the related column's index and a scan in the lookup below
        await client.query(`analyze ${keys}`);
        relatedChanges.push({ input, column: related, keys });
        continue;
      }
      if (!hasPartition(input)) {
        if (await sameRows(client, before, after)) continue;
        const window = dateWindows[input];
        if (!window) return await whole(`${input} changed and has no column ${column}`);
        const moved = await movedDates(client, before, after, currentColumns, window);
        if (typeof moved === 'string') return await whole(`${input} ${moved}`);
        windows.push({ input, window, moved });
        continue;
      }
      // an incremental input built whole in this run for a change that is not by partition (a new
      // schedule of cutoffs, a changed model): nearly every partition may differ, and a difference
      // over all its rows costs what a whole build of this model does
      if (context.builtWhole?.has(input)) return { ...(await whole(`${input} was built whole in this run`)), afterWholeInput: true };
      await client.query(
        `insert into ${ident(schema)}.changed (key)
         select key from (${hashedRows(newRows, partitionOf(input), 1)} union all ${hashedRows(oldRows, partitionOf(input), -1)}) as versions
          group by key, h having sum(side) <> 0`,
      );
    }
    // the partitions with a row dated between the old and the new value of a moved date column
    for (const { input, window, moved } of windows) {
      // over the model itself: its published rows, whose dates are those of every input row that
      // is not in a partition found changed above (the declaration's claim, DateWindow.over)
      const overSelf = window.over === model.name;
      if (!overSelf && !redirected.has(window.over)) return await whole(`the date window of ${input} is over ${window.over}, which has no ${column} to give`);
      /** The dates a moved column is compared with (DateWindow.datesOf), each as its index in `dates`. */
      const datesOf = (m: { column: string }): number[] => window.dates.flatMap((d, i) => (window.datesOf?.[m.column]?.includes(d) ?? true ? [i] : []));
      const between = moved.flatMap((m) => datesOf(m).map((i) => `${ident(`medallion date ${i}`)} between ${literal(m.from)}::${m.type} and ${literal(m.to)}::${m.type}`));
      const over = overSelf
        ? `${ident(published)}.${ident(model.relation)}`
        : `${ident(currentSchema(window.over))}.${ident(window.over.slice(window.over.indexOf('.') + 1))}`;
      const greatest = overSelf ? datesIndexExpression(model) : undefined;
      const oneDate = datesIndexColumns(model)?.length === 1;
      if (greatest !== undefined && window.dates.every((d) => publishedColumns.has(d.trim()))) {
        // the model's dates index (datesIndexExpression): a row with a date in [from, to] has its
        // greatest date at or after from (and, with one date, at or before to), so each window is
        // a range of the index, each row of it checked against every date
        const arms = moved.map((m) => {
          const [from, to] = [`${literal(m.from)}::${m.type}`, `${literal(m.to)}::${m.type}`];
          const dates = datesOf(m).map((i) => `${ident(window.dates[i]!.trim())} between ${from} and ${to}`).join(' or ');
          return `select ${col} from ${over} where ${greatest} >= ${from}${oneDate ? ` and ${greatest} <= ${to}` : ''} and (${dates})`;
        });
        await client.query(`insert into ${ident(schema)}.changed (key) select distinct ${col} from (${arms.join('\n union all\n')}) as dated`);
        continue;
      }
      // each date once per row (the fence), compared with every moved column's window; the
      // partition value of the rows in a window alone
      await client.query(
        `insert into ${ident(schema)}.changed (key)
         select distinct ${partitionOf(window.over)} from (
           select *, ${window.dates.map((date, i) => `(${compiledExpression(date)}) as ${ident(`medallion date ${i}`)}`).join(', ')} from ${over} offset 0
         ) as dated
         where ${between.join('\n or ')}`,
      );
    }
    // the partitions of the rows holding a changed value of a related input's column: the model's
    // published rows, and this run's rows of each input with both columns (NULL holds NULL)
    for (const { input, column: related, keys } of relatedChanges) {
      const holders = [...redirected.keys()].filter((r) => !r.startsWith('bronze.') && currentColumnsOf.get(r)!.has(related));
      if (!holders.length) return await whole(`no input with ${column} has the column ${related} that relates ${input} to its partitions`);
      // no value changed (an input built again to the same rows): nothing to look up
      if (!(await client.query<{ any: boolean }>(`select exists (select from ${keys}) as any`)).rows[0]!.any) continue;
      // each read through partitionRows by the related column, so that an index on it (declared
      // under `indexes`) serves the lookup of the few changed values; an updated holder through its
      // overlay's parts (overlaySql), whose filter would otherwise scan every published row
      const heldBy = (r: RelationName): string => {
        const relation = `${ident(currentSchema(r))}.${ident(r.slice(r.indexOf('.') + 1))}`;
        const holderUpdate = context.updates.get(r);
        return holderUpdate
          ? `(${overlaySql(holderUpdate, publishedRelation(r), { column: ident(related), partitions: keys })})`
          : partitionRows(relation, ident(related), keys);
      };
      const sources = holders.map((r) => ({ value: partitionOf(r), rows: heldBy(r) }));
      if (publishedColumns.has(related)) sources.push({ value: col, rows: partitionRows(`${ident(published)}.${ident(model.relation)}`, ident(related), keys) });
      await client.query(
        `insert into ${ident(schema)}.changed (key)
         ${sources.map((s) => `select ${s.value} from ${s.rows} as t`).join('\n union\n')}`,
      );
    }
    await client.query(`create table ${partitions} as select distinct key from ${ident(schema)}.changed`);
    // its size decides between the partition index and a hash join in every read of partitionRows
    await client.query(`analyze ${partitions}`);
    const count = Number((await client.query<{ n: string }>(`select count(*) as n from ${partitions}`)).rows[0]!.n);

    // the inputs that have the column, filtered to the partitions, under their own names
    for (const [input, value] of redirected) {
      const name = input.slice(input.indexOf('.') + 1);
      if ([...redirected.keys()].some((other) => other !== input && other.slice(other.indexOf('.') + 1) === name)) return await whole(`two of its inputs are named ${name}`);
      const relation = `${ident(currentSchema(input))}.${ident(name)}`;
      // a bronze table whose lines of the partitions are known: read by line (bronze-lines.ts)
      const lines = linesOf(input);
      if (lines !== undefined) {
        const byLines = await readBronzeByLines(client, {
          table: relation,
          ...(context.bronzeChanges?.has(input) ? { changes: context.bronzeChanges.get(input)! } : {}),
          columns: [...currentColumnsOf.get(input)!.keys()],
          lines,
          value,
          partitions,
          into: `${ident(schema)}.${ident(name)}`,
          work: { lines: `${ident(schema)}.${ident(`lines_${name}`)}`, found: `${ident(schema)}.${ident(`found_${name}`)}` },
        });
        if (byLines) continue;
      }
      // a column: the predicate goes down into a view's inputs (a fence would compute all its rows)
      const partitionColumn = partitionColumnOf(input);
      const inputUpdate = context.updates.get(input);
      if (partitionColumn !== undefined && inputUpdate) {
        // an input updated in this run: its overlay's parts, each filtered on its own (overlaySql)
        await client.query(`create view ${ident(schema)}.${ident(name)} as\n${overlaySql(inputUpdate, publishedRelation(input), { column: ident(partitionColumn), partitions })}`);
        continue;
      }
      if (partitionColumn !== undefined) {
        await client.query(`create view ${ident(schema)}.${ident(name)} as select * from ${partitionRows(relation, ident(partitionColumn), partitions)} as t`);
        continue;
      }
      // an expression: computed once per row (the fence), not once per use in the predicate
      const partitionValue = ident('medallion partition');
      await client.query(
        `create view ${ident(schema)}.${ident(name)} as
         select ${[...currentColumnsOf.get(input)!.keys()].map(ident).join(', ')}
           from (select t.*, ${value} as ${partitionValue} from ${relation} as t offset 0) as t
          where ${inPartitions(partitionValue, partitions)}`,
      );
    }
    // each related input, as its rows whose value of the related column is held by the filtered
    // rows of an input with both columns (the claim of related_inputs: the partitions' rows read
    // no other), through the column's index (the input's own partition index when it is
    // partitioned by that column); NULL holds NULL
    const readFrom = new Map([...redirected.keys()].map((r) => [r, schema]));
    for (const [index, [input, related]] of Object.entries(relatedInputs).entries()) {
      const name = input.slice(input.indexOf('.') + 1);
      const holders = [...redirected.keys()].filter((r) => !r.startsWith('bronze.') && currentColumnsOf.get(r)!.has(related));
      if (!model.dependencies.includes(input) || !holders.length) continue;
      if ([...readFrom.keys()].some((other) => other.slice(other.indexOf('.') + 1) === name)) return await whole(`two of its inputs are named ${name}`);
      const held = `${ident(schema)}.${ident(`held_${index}`)}`;
      await client.query(
        `create table ${held} as ${holders.map((r) => `select ${ident(related)} as key from ${ident(schema)}.${ident(r.slice(r.indexOf('.') + 1))}`).join(' union ')}`,
      );
      await client.query(`analyze ${held}`);
      const inputUpdate = context.updates.get(input);
      await client.query(
        `create view ${ident(schema)}.${ident(name)} as\n${
          inputUpdate
            ? overlaySql(inputUpdate, publishedRelation(input), { column: ident(related), partitions: held })
            : `select * from ${partitionRows(`${ident(currentSchema(input))}.${ident(name)}`, ident(related), held)} as t`
        }`,
      );
      readFrom.set(input, schema);
    }
    const compiled = compileSql(model.sql, Object.freeze({ ...schemas, readFrom }) as SchemaNames);
    const delta = `${ident(schema)}.${ident(model.relation)}`;
    const created = await client.query(`create table ${delta} as\n${compiled.sql}`);
    const rows = created.rowCount ?? 0;
    if (!sameColumns(publishedColumns, await columnsOf(client, schema, model.relation))) return await whole(`its columns differ from the published ${model.name}`);
    const outside = await client.query(`select from ${delta} where not ${inPartitions(col, partitions)} limit 1`);
    if (outside.rowCount) return await whole(`its SQL returns rows of other ${column} values than those of the filtered inputs (partition_by does not hold)`);
    await client.query(`analyze ${delta}`);
    const target = `${ident(staging[model.layer])}.${ident(model.relation)}`;
    await client.query(`create view ${target} as\n${overlaySql({ model: model.name, schema, column }, `${ident(published)}.${ident(model.relation)}`)}`);
    return { update: { model: model.name, column, schema, partitions: count, rows, materialized: model.materialized } };
  } catch (err) {
    throw fromDatabaseError(err, `updating ${model.name} by ${column}`);
  }
}

function sameColumns(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  return a.size === b.size && [...a].every(([name, type], i) => [...b][i]?.[0] === name && b.get(name) === type);
}

/**
 * The declared date columns of a one-row input that moved between its published version `before`
 * and this run's `after`, each with its two values in order (the window, both ends included); or
 * why the change is not one the window covers (another column changed, not one row, a NULL end).
 */
async function movedDates(
  client: Client,
  before: string,
  after: string,
  columns: ReadonlyMap<string, string>,
  window: DateWindow,
): Promise<{ column: string; type: string; from: string; to: string }[] | string> {
  const undeclared = window.columns.filter((c) => !columns.has(c));
  if (undeclared.length) return `has no column ${undeclared.join(', ')} (date_windows)`;
  const names = [...columns.keys()];
  const { rows } = await client.query<{ rows_before: string | number; rows_after: string | number; moved: (string | null)[]; ends: (string | null)[] }>(
    `select (select count(*) from ${before}) as rows_before, (select count(*) from ${after}) as rows_after,
            array[${names.map((c) => `case when b.${ident(c)} is distinct from a.${ident(c)} then ${literal(c)} end`).join(', ')}] as moved,
            array[${window.columns
              .flatMap((c) => ['least', 'greatest'].map((end) => `case when b.${ident(c)} is not null and a.${ident(c)} is not null then ${end}(b.${ident(c)}, a.${ident(c)})::text end`))
              .join(', ')}] as ends
       from ${before} as b full join ${after} as a on true`,
  );
  const first = rows[0];
  if (!first || rows.length !== 1 || Number(first.rows_before) !== 1 || Number(first.rows_after) !== 1) return 'changed and is not one row';
  const moved = first.moved.filter((c): c is string => c !== null);
  const others = moved.filter((c) => !window.columns.includes(c));
  if (others.length) return `changed in ${others.join(', ')}, which date_windows does not name`;
  const result: { column: string; type: string; from: string; to: string }[] = [];
  window.columns.forEach((c, i) => {
    if (!moved.includes(c)) return;
    const [from, to] = [first.ends[2 * i], first.ends[2 * i + 1]];
    if (from != null && to != null) result.push({ column: c, type: columns.get(c)!, from, to });
  });
  if (result.length < moved.length) return `changed to or from NULL in ${moved.join(', ')}`;
  return result;
}

/** Whether two relations hold the same multiset of rows (count and sum of 64-bit row hashes). */
async function sameRows(client: Client, a: string, b: string): Promise<boolean> {
  const { rows } = await client.query<{ same: boolean }>(`select a.n = b.n and a.s = b.s as same from (${rowsFingerprintSql(a)}) as a, (${rowsFingerprintSql(b)}) as b`);
  return rows[0]!.same;
}

/**
 * Per bronze table whose `<source>__changes` holds the step into the load it holds now (the run
 * that loaded it recorded a `changed` file and kept the table of changes): the load that step starts
 * from, which is the load of the source committed before it (the table the load replaced), and the
 * table of changes, quoted. A source loaded as `new` (no table before it) has no step.
 */
export async function bronzeSteps(client: Client, schemas: SchemaNames): Promise<Map<string, { from: number; changes: string }>> {
  const steps = new Map<string, { from: number; changes: string }>();
  for (const [source, change] of await currentBronzeChanges(client, schemas)) {
    if (change.status !== 'changed' || change.changesTable === null) continue;
    const e = ident(schemas.etl);
    const { rows } = await client.query<{ run_id: string | null }>(
      `select max(c.run_id) as run_id
         from ${e}.source_changes c join ${e}.source_files f on f.run_id = c.run_id and f.source = c.source and f.kept_from_run is null
        where c.source = $1 and c.run_id < $2`,
      [source, change.runId],
    );
    if (rows[0]?.run_id != null) steps.set(source, { from: Number(rows[0].run_id), changes: changesTable(schemas, source) });
  }
  return steps;
}

/**
 * Applies each update to its published table, inside the publishing transaction: the rows of its
 * partitions are deleted (through its partition index) and the delta inserted (the index follows).
 * The overlay view in staging is left to the staging clean-up.
 */
export async function applyUpdates(client: Client, schemas: SchemaNames, updates: readonly ModelUpdate[]): Promise<void> {
  for (const u of updates.filter((x) => x.materialized === 'table')) {
    const dot = u.model.indexOf('.');
    const name = u.model.slice(dot + 1);
    const table = `${ident(schemas[u.model.slice(0, dot) as 'silver' | 'gold'])}.${ident(name)}`;
    const partitions = `${ident(u.schema)}.partitions`;
    for (const condition of partitionConditions(ident(u.column), partitions)) await client.query(`delete from ${table} where ${condition}`);
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
