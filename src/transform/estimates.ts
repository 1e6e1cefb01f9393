/**
 * Expected seconds of the models that no run has timed yet (the data tests' guess is in
 * src/quality/estimates.ts, from the same megabytes): the first build of a
 * target, or a model or test that is new since the last run. criticalPathFirst (src/schedule/schedule.ts)
 * ranks tasks by these; without them every task costs the same and the longest chain (bronze sales
 * lines → int_sales_lines → fact_sales) may start after the short customer branch, which makes the
 * first transform of a fresh target longer by that delay (`bash bench/timeline.sh` shows when each
 * task starts). The last run's timings (src/runs/ledger.ts, lastTimings) win wherever they exist.
 *
 * The guess follows the data: a model's input is the bronze megabytes that reach it (a model is
 * taken to be as large as its largest input: a fact keeps its grain through the joins to its
 * dimensions). Only the ranking matters, so the rates are rough, read from a scale-100 transform
 * (per-model seconds in etl.runs.summary and etl.test_results of `medallion transform --target
 * bench` after `npm run bench -- --scale 100`): int_sales_lines about 0.10 s per MB read,
 * int_customer_records and fact_sales about 0.075, fact_sales' unique test about 0.01 s per MB
 * scanned.
 */
import type { SchemaNames } from '../config.ts';
import type { Client } from '../db/index.ts';
import { fromDatabaseError } from '../errors.ts';
import { bronzeTablesRead } from './dependencies.ts';
import type { Project, RelationName } from './types.ts';

/** Seconds a table model takes per megabyte of its inputs. Views cost nothing to create. */
export const MODEL_SECONDS_PER_MB = 0.1;

export interface SizeEstimates {
  /** Megabytes of each bronze table, and the guess for each model (its largest input). */
  megabytes: Map<RelationName, number>;
  /** Expected seconds of each model. */
  models: Map<RelationName, number>;
}

/** Megabytes on disk of the bronze tables the project's models read (`bronze.sales_details` → 783). */
export async function bronzeMegabytes(client: Client, schemas: SchemaNames, project: Project): Promise<Map<RelationName, number>> {
  try {
    const { rows } = await client.query<{ relname: string; megabytes: number }>(
      `select c.relname, pg_relation_size(c.oid) / 1048576.0 as megabytes
         from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = $1 and c.relname = any($2)`,
      [schemas.bronze, bronzeTablesRead(project)],
    );
    return new Map(rows.map((r) => [`bronze.${r.relname}` as RelationName, Number(r.megabytes)]));
  } catch (err) {
    throw fromDatabaseError(err, `reading the sizes of the bronze tables in ${schemas.bronze}`);
  }
}

/** The guesses for every model of `project`, from the sizes of its bronze tables. */
export function estimateFromSizes(project: Project, bronze: ReadonlyMap<RelationName, number>): SizeEstimates {
  const megabytes = new Map(bronze);
  const sizeOf = (relation: RelationName) => megabytes.get(relation) ?? 0;
  const models = new Map<RelationName, number>();
  // project.models is in dependency order: every input is sized before the models that read it
  for (const model of project.models) {
    const inputs = model.dependencies.map(sizeOf);
    megabytes.set(model.name, Math.max(0, ...inputs));
    models.set(model.name, model.materialized === 'view' ? 0 : MODEL_SECONDS_PER_MB * inputs.reduce((a, b) => a + b, 0));
  }
  return { megabytes, models };
}

/** `measured` where it has a value, else `guessed`. */
export function measuredElseGuessed<K>(measured: ReadonlyMap<K, number>, guessed: ReadonlyMap<K, number>): Map<K, number> {
  return new Map([...guessed, ...measured]);
}
