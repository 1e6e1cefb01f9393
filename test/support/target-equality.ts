/**
 * Whether two targets hold the same build: every silver and gold relation (tables and views, listed
 * from the catalog of the published schemas, so a new model is covered without a change here) has
 * the same rows, and the exports have the same manifest (rows, columns, files, fingerprints) and
 * every exported file the same rows read back. The failures are soft (expect.soft) and name the
 * relation or file with a few rows found only on each side, so every difference shows at once.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { ident } from '../../src/db/client.ts';
import type { Manifest } from '../../src/export/index.ts';
import { readParquet } from '../export/helpers.ts';
import type { Db } from './child-run.ts';
import { query, schemaNames } from './database.ts';

export interface BuiltTarget {
  target: string;
  /** The target's --out folder. */
  exportsDir: string;
}

/**
 * `a` holds what `b` holds (b: the truth, e.g. a fresh full build); `label` prefixes each failure;
 * `db` reads the database both targets are in (default: the test database).
 */
export async function expectSameTargets(a: BuiltTarget, b: BuiltTarget, label: string, db: Db = query): Promise<void> {
  const names = await relations(a.target, db);
  expect(names.length, `${label}: relations of ${a.target}`).toBeGreaterThan(0);
  expect(await relations(b.target, db), `${label}: the relations`).toEqual(names);
  const [digestsA, digestsB] = [await digests(a.target, names, db), await digests(b.target, names, db)];
  for (const relation of names) {
    const [x, y] = [digestsA.get(relation)!, digestsB.get(relation)!];
    if (x.md5 !== y.md5 || x.rows !== y.rows) expect.soft(x, `${label}: ${relation}: ${await rowDiff(a.target, b.target, relation, db)}`).toEqual(y);
  }
  const [ma, mb] = [await exportManifest(a.exportsDir), await exportManifest(b.exportsDir)];
  expect.soft(comparable(ma), `${label}: the exports' manifests`).toEqual(comparable(mb));
  const inTruth = new Set(Object.values(mb.tables).flatMap((t) => t.files.map((f) => f.path)));
  for (const file of Object.values(ma.tables).flatMap((t) => t.files).filter((f) => inTruth.has(f.path))) {
    const [ra, rb] = [await parquetRows(path.join(a.exportsDir, file.path)), await parquetRows(path.join(b.exportsDir, file.path))];
    expect.soft(ra.length, `${label}: ${file.path}: rows read back`).toBe(file.rows);
    if (md5(ra) !== md5(rb)) {
      const [sa, sb] = [new Set(ra), new Set(rb)];
      expect.soft(
        { rows: ra.length, md5: md5(ra) },
        `${label}: ${file.path}: only in ${a.target}'s export: ${JSON.stringify(ra.filter((r) => !sb.has(r)).slice(0, 5))}; only in ${b.target}'s: ${JSON.stringify(rb.filter((r) => !sa.has(r)).slice(0, 5))}`,
      ).toEqual({ rows: rb.length, md5: md5(rb) });
    }
  }
}

/** Every table and view of a target's published silver and gold schemas, as `layer.name`. */
async function relations(target: string, db: Db): Promise<string[]> {
  const s = schemaNames(target);
  const rows = await db<{ name: string }>(
    `select case n.nspname when $1 then 'silver' else 'gold' end || '.' || c.relname as name
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname in ($1, $2) and c.relkind in ('r', 'p', 'v', 'm') order by 1`,
    [s.silver, s.gold],
  );
  return rows.map((r) => r.name);
}

function qualified(target: string, relation: string): string {
  const [layer, name] = relation.split('.') as ['silver' | 'gold', string];
  return `${ident(schemaNames(target)[layer])}.${ident(name)}`;
}

/** Per relation, its row count and the md5 of its sorted row texts (one query for them all). */
async function digests(target: string, names: string[], db: Db): Promise<Map<string, { rows: number; md5: string }>> {
  const rows = await db<{ name: string; rows: number; md5: string }>(
    names
      .map((n, i) => `select $${i + 1}::text as name, count(*)::int as rows, md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as md5 from ${qualified(target, n)} as t`)
      .join(' union all '),
    names,
  );
  return new Map(rows.map((r) => [r.name, { rows: r.rows, md5: r.md5 }]));
}

/** The rows of a relation on one side and not the other (a few of each), for a failure message. */
async function rowDiff(a: string, b: string, relation: string, db: Db): Promise<string> {
  const side = async (x: string, y: string) =>
    (await db<{ row: string }>(`(select t::text as row from ${qualified(x, relation)} as t except all select t::text from ${qualified(y, relation)} as t) order by 1 limit 5`)).map((r) => r.row);
  return `only in ${a}: ${JSON.stringify(await side(a, b))}; only in ${b}: ${JSON.stringify(await side(b, a))}`;
}

/** Each row of a Parquet file as JSON (bigints as strings), sorted. */
async function parquetRows(file: string): Promise<string[]> {
  const rows = await readParquet(file);
  return rows.map((row) => JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).sort();
}

const md5 = (lines: string[]) => createHash('md5').update(lines.join('\n')).digest('hex');

async function exportManifest(exportsDir: string): Promise<Manifest> {
  return JSON.parse(await readFile(path.join(exportsDir, '_manifest.json'), 'utf8')) as Manifest;
}

/** What of a manifest two builds of the same data into two targets must share: the inputs, and per table and file the rows and fingerprints. */
function comparable(m: Manifest) {
  return {
    as_of: m.as_of,
    inputs: m.inputs,
    tables: Object.fromEntries(
      Object.entries(m.tables).map(([name, t]) => [
        name,
        {
          rows: t.rows,
          columns: t.columns,
          left_out: t.left_out,
          // `settings` names the source schema, which is the target's own: it differs by design.
          files: t.files.map((f) => ({ path: f.path, rows: f.rows, partition: f.partition, month: f.month, fingerprint: f.fingerprint })),
        },
      ]),
    ),
  };
}
