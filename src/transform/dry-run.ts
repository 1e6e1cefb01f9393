/**
 * `medallion compile`: every model checked against the database without writing anything. One
 * transaction, rolled back at the end: the functions of sql/functions are created, then each model,
 * in build order, as a view in throw-away staging schemas, so PostgreSQL parses, resolves and
 * type-checks it against the bronze tables and the models before it. A model that fails is a
 * MODEL_SQL_FAILED with its file, line and column, as in a build.
 */
import type { SchemaNames } from '../config.ts';
import { type Client, ident } from '../db/index.ts';
import { modelSqlError, setRunSettings } from '../sql-runtime/index.ts';
import { compileSql, errorLocator } from './compile.ts';
import { createFunctions } from './build-models.ts';
import type { Model, Project } from './types.ts';

export interface CheckedModel {
  model: Model;
  /** The compiled select (schemas of this target; staging for the models checked). */
  sql: string;
  columns: { name: string; type: string }[];
}

/** Checks every model of `project` (in build order); writes nothing (the transaction is rolled back). */
export async function checkModels(client: Client, schemas: SchemaNames, project: Project, asOf: string): Promise<CheckedModel[]> {
  const pid = process.pid;
  const staging = {
    silver: `${schemas.silver}__check_${pid}`,
    gold: `${schemas.gold}__check_${pid}`,
  };
  const checking: SchemaNames = Object.freeze({
    ...schemas,
    staging: Object.freeze(staging),
  });
  const out: CheckedModel[] = [];
  await client.query('begin');
  try {
    await setRunSettings(client, { asOf });
    for (const s of Object.values(staging)) await client.query(`create schema ${ident(s)}`);
    await createFunctions(client, checking, project);
    for (const model of project.models) {
      const compiled = compileSql(model.sql, checking);
      const target = `${ident(staging[model.layer])}.${ident(model.relation)}`;
      const prefix = `create view ${target} as\n`;
      try {
        await client.query(prefix + compiled.sql);
      } catch (err) {
        throw modelSqlError(err, {
          model: model.name,
          file: model.sqlFile,
          doing: `checking ${model.name}`,
          locate: errorLocator(model.sql, compiled, prefix.length),
        });
      }
      const { rows } = await client.query<{ name: string; type: string }>(
        `select attname as name, format_type(atttypid, atttypmod) as type from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped order by attnum`,
        [target],
      );
      out.push({ model, sql: compiled.sql, columns: rows });
    }
  } finally {
    await client.query('rollback').catch(() => {});
  }
  return out;
}
