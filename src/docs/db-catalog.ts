/**
 * Column types from the database catalog (information_schema.columns) of the published schemas of a
 * target, keyed by logical relation name (`silver.customers`, whatever the target prefix).
 */
import type { SchemaNames } from '../config.ts';
import type { Client } from '../db/index.ts';

export interface CatalogColumn {
  name: string;
  type: string;
  nullable: boolean;
}

export type Catalog = Map<string, CatalogColumn[]>;

export async function readCatalog(client: Client, schemas: SchemaNames): Promise<Catalog> {
  const layers: [string, string][] = [
    ['bronze', schemas.bronze],
    ['silver', schemas.silver],
    ['gold', schemas.gold],
  ];
  const { rows } = await client.query<{ table_schema: string; table_name: string; column_name: string; data_type: string; is_nullable: string }>(
    `select table_schema, table_name, column_name, data_type, is_nullable
       from information_schema.columns
      where table_schema = any($1::text[])
      order by table_schema, table_name, ordinal_position`,
    [layers.map(([, s]) => s)],
  );
  const catalog: Catalog = new Map();
  for (const r of rows) {
    const layer = layers.find(([, s]) => s === r.table_schema)![0];
    const key = `${layer}.${r.table_name}`;
    const list = catalog.get(key) ?? [];
    list.push({ name: r.column_name, type: r.data_type, nullable: r.is_nullable === 'YES' });
    catalog.set(key, list);
  }
  return catalog;
}
