/**
 * Small tables written by hand for the tests of data tests on an update: a published model, its
 * delta and its parents, each from literal rows.
 */
import { type Client, ident, literal } from '../../src/db/client.ts';

export type Row = readonly (string | number | null)[];

/** `select * from (values …) as v` of literal rows (NULL, numbers as they are, text quoted). */
export function valuesSql(rows: readonly Row[]): string {
  return `select * from (values ${rows.map((r) => `(${r.map((v) => (v === null ? 'null' : typeof v === 'number' ? String(v) : literal(v))).join(', ')})`).join(', ')}) as v`;
}

/** Creates `schema.name (columns)` holding the rows. */
export async function createTable(client: Client, schema: string, name: string, columns: string, rows: readonly Row[]): Promise<void> {
  await client.query(`create table ${ident(schema)}.${ident(name)} (${columns})`);
  if (rows.length) await client.query(`insert into ${ident(schema)}.${ident(name)} ${valuesSql(rows)}`);
}
