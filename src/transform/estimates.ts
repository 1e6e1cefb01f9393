/**
 * Expected seconds of the models and data tests that no run has timed yet: the first build of a
 * target, or a model or test that is new since the last run. criticalPathFirst (src/db/schedule.ts)
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
import type { Client } from '../db/client.ts';
import { fromDatabaseError } from '../errors.ts';
import { bronzeTablesRead, relationsRead } from './dependencies.ts';
import { type Project, type RelationName, ROW_LEVEL_TEST_KINDS } from './types.ts';

/** Seconds a table model takes per megabyte of its inputs. Views cost nothing to create. */
export const MODEL_SECONDS_PER_MB = 0.1;
/**
 * Seconds a data test takes per megabyte of the relations it reads. A `query` test is free SQL
 * (the leakage proof sorts and windows: about 0.025 s per MB of fact_sales); the
 * row-level tests of a model (not_null, accepted_values, expression) share one scan (planTests),
 * so each is guessed at its share of it.
 */
export const TEST_SECONDS_PER_MB = 0.01;
export const QUERY_TEST_SECONDS_PER_MB = 0.025;

export interface SizeEstimates {
  /** Megabytes of each bronze table, and the guess for each model (its largest input). */
  megabytes: Map<RelationName, number>;
  /** Expected seconds of each model. */
  models: Map<RelationName, number>;
  /** Expected seconds of each data test, by test name. */
  tests: Map<string, number>;
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

/** The guesses for every model and test of `project`, from the sizes of its bronze tables. */
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
  const tests = new Map<string, number>();
  for (const model of project.models) {
    const rowLevel = model.tests.filter((t) => ROW_LEVEL_TEST_KINDS.has(t.kind)).length;
    for (const test of model.tests) {
      const read = relationsRead(test).reduce((sum, r) => sum + sizeOf(r), 0);
      const rate = test.kind === 'query' ? QUERY_TEST_SECONDS_PER_MB : ROW_LEVEL_TEST_KINDS.has(test.kind) ? TEST_SECONDS_PER_MB / rowLevel : TEST_SECONDS_PER_MB;
      tests.set(test.name, rate * read);
    }
  }
  return { megabytes, models, tests };
}

/** `measured` where it has a value, else `guessed`. */
export function measuredElseGuessed<K>(measured: ReadonlyMap<K, number>, guessed: ReadonlyMap<K, number>): Map<K, number> {
  return new Map([...guessed, ...measured]);
}
