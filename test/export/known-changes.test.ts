/**
 * A build tells the export what it knows of each table against the published one its previous
 * export was written from (exportGold's `changes`, checked against `publishedVersion`): an
 * unchanged table is linked with the previous manifest's fingerprints, without a scan; a table
 * updated by partitions gets its fingerprints from the changed rows alone, links every month
 * outside them and writes the months whose rows changed. What it writes and records is what an
 * export that scans every row writes and records. A claim against another version than the
 * current one is not taken.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '../../src/db/client.ts';
import { exportGold, type ExportGoldOptions, type ExportGoldResult } from '../../src/export/export-gold.ts';
import type { ExportTableResult } from '../../src/export/export-table.ts';
import { goldOptions, readParquet, withSchema } from './helpers.ts';

let client: Client;
/** The published tables. */
let pub: string;
let drop: () => Promise<void>;
let root: string;
/** A run's staging (overlay views) and update schema (partitions, deltas), made per test. */
let staging: string;
let update: string;

const TABLES = ['fact_sales', 'customer_training_set'] as const;
const MONTH = `coalesce(to_char(order_date, 'YYYY-MM'), 'none')`;

beforeAll(async () => {
  ({ client, schema: pub, drop } = await withSchema('export_known'));
  staging = `${pub}_next`;
  update = `${pub}_u`;
  root = await mkdtemp(path.join(tmpdir(), 'export-known-'));
  // customer k's lines lie on ten consecutive days, so each customer is in one or two months;
  // customer 99 alone holds 2014-08
  await client.query(`
    create table ${pub}.fact_sales as
      select 'SO' || g as order_number, (g / 100)::bigint as customer_id, date '2013-01-01' + (g / 10) as order_date,
             round((g * 1.37)::numeric, 2) as sales_amount, 'line ' || g as note
        from generate_series(1, 2999) g
      union all select 'SO-lone', 99, date '2014-08-15', 1.5, 'alone in its month';
    alter table ${pub}.fact_sales alter column order_number set not null;
    create table ${pub}.customer_training_set as
      select (g % 31)::bigint as customer_id, date '2013-01-01' + (g / 31) * 30 as cutoff, (g % 7)::float8 as spend
        from generate_series(1, 600) g;
  `);
});

afterAll(async () => {
  await client?.query(`drop schema if exists ${staging} cascade; drop schema if exists ${update} cascade`).catch(() => {});
  await drop?.();
  if (root) await rm(root, { recursive: true, force: true });
});

/** The published tables' export, as the build that published them wrote it. */
function published(exportsDir: string, runId: number, extra: Partial<ExportGoldOptions> = {}): ExportGoldOptions {
  return goldOptions(pub, TABLES, exportsDir, runId, extra);
}

/** This run's export from staging, as run-pipeline.ts calls it; `tables` collects each table's result. */
function fromStaging(exportsDir: string, runId: number, tables: Map<string, ExportTableResult>, extra: Partial<ExportGoldOptions> = {}): ExportGoldOptions {
  return goldOptions(staging, TABLES, exportsDir, runId, {
    publishedGoldSchema: pub,
    columnSchemas: { fact_sales: pub, customer_training_set: pub },
    onTable: (r) => void tables.set(r.table, r),
    ...extra,
  });
}

/**
 * An update by customer_id as src/transform/incremental.ts makes it: `partitions`, the delta
 * (the partitions' rows as the model now computes them) and the overlay view in staging.
 */
async function updateBy(partitions: number[], deltas: Record<(typeof TABLES)[number], string>): Promise<Record<string, { removed: string; added: string }>> {
  await client.query(`drop schema if exists ${staging} cascade; drop schema if exists ${update} cascade; create schema ${staging}; create schema ${update}`);
  await client.query(`create table ${update}.partitions as select unnest($1::bigint[]) as key`, [partitions]);
  const changes: Record<string, { removed: string; added: string }> = {};
  for (const table of TABLES) {
    await client.query(`create table ${update}.${table} as ${deltas[table]}`);
    const inPartitions = `customer_id in (select key from ${update}.partitions)`;
    await client.query(`create view ${staging}.${table} as select * from ${pub}.${table} where not ${inPartitions} union all select * from ${update}.${table}`);
    changes[table] = { removed: `select * from ${pub}.${table} where ${inPartitions}`, added: `select * from ${update}.${table}` };
  }
  return changes;
}

/** Staging that is the published tables as they are (a run that kept them). */
async function unchangedStaging(): Promise<void> {
  await updateBy([], { fact_sales: `select * from ${pub}.fact_sales where false`, customer_training_set: `select * from ${pub}.customer_training_set where false` });
}

async function inodes(result: ExportGoldResult, table: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const f of result.manifest.tables[table]!.files) out.set(f.month ?? f.path, (await stat(path.join(result.versionPath, f.path))).ino);
  return out;
}

/** Each file's part, rows and fingerprint. */
function fingerprints(result: ExportGoldResult, table: string) {
  return result.manifest.tables[table]!.files.map((f) => ({ part: f.month ?? f.path, rows: f.rows, fingerprint: f.fingerprint }));
}

/** A file's rows in a canonical order. */
async function rowsOf(result: ExportGoldResult, file: string) {
  const rows = await readParquet(path.join(result.versionPath, file));
  return rows.map((r) => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))).sort();
}

describe('known changes', () => {
  it('links an unchanged table without fingerprinting it, carrying the fingerprints over', async () => {
    const out = path.join(root, 'unchanged');
    const first = await exportGold(published(out, 1));
    await unchangedStaging();
    const tables = new Map<string, ExportTableResult>();
    const second = await exportGold(fromStaging(out, 2, tables, { changes: { fact_sales: { unchanged: true }, customer_training_set: { unchanged: true } }, publishedVersion: first.versionPath }));
    expect(tables.get('fact_sales')!.fingerprints).toBe('carried');
    expect(tables.get('customer_training_set')!.fingerprints).toBe('carried');
    expect(second.files).toEqual({ written: 0, reused: first.manifest.tables.fact_sales!.files.length + first.manifest.tables.customer_training_set!.files.length });
    for (const table of TABLES) {
      expect(await inodes(second, table)).toEqual(await inodes(first, table));
      expect(second.manifest.tables[table]!.files.map(({ reused_from: _from, ...f }) => f)).toEqual(first.manifest.tables[table]!.files);
      expect(second.manifest.tables[table]!.source).toBe(`${pub}.${table}`);
    }
    // without the claim, the same export scans
    tables.clear();
    await exportGold(fromStaging(out, 3, tables));
    expect(tables.get('fact_sales')!.fingerprints).toBe('scanned');
  });

  it('takes the months of the changed rows as the candidates: links the others, writes a changed one, drops a vanished one, adds a new one', async () => {
    const out = path.join(root, 'months');
    const first = await exportGold(published(out, 1));
    const monthsOf = async (customers: number[]) => (await client.query<{ m: string }>(
      `select distinct ${MONTH} as m from ${pub}.fact_sales where customer_id = any($1) order by 1`, [customers])).rows.map((r) => r.m);
    // customer 5: a note changed in its first month only; customer 20: recomputed the same, plus
    // a line in a new month; customer 99 gone (its month with it)
    const [changedMonth, sameMonth] = await monthsOf([5]);
    expect(sameMonth).toBeDefined();
    const changes = await updateBy([5, 20, 99], {
      fact_sales: `
        select order_number, customer_id, order_date, sales_amount,
               case when customer_id = 5 and ${MONTH} = '${changedMonth}' then note || ' (corrected)' else note end as note
          from ${pub}.fact_sales where customer_id in (5, 20)
        union all select 'SO-new', 20, date '2015-03-02', 9.99, 'a new month'`,
      customer_training_set: `select customer_id, cutoff, spend + case when customer_id = 5 then 1 else 0 end as spend from ${pub}.customer_training_set where customer_id in (5, 20)`,
    });
    const candidates = new Set([...(await monthsOf([5, 20, 99])), '2015-03']);
    const tables = new Map<string, ExportTableResult>();
    const second = await exportGold(fromStaging(out, 2, tables, { changes, publishedVersion: first.versionPath }));
    expect(tables.get('fact_sales')!.fingerprints).toBe('derived');
    expect(tables.get('customer_training_set')!.fingerprints).toBe('derived');

    const before = await inodes(first, 'fact_sales');
    const after = await inodes(second, 'fact_sales');
    const written = second.manifest.tables.fact_sales!.files.filter((f) => f.reused_from === undefined).map((f) => f.month);
    expect(written.sort()).toEqual([changedMonth, '2015-03']);
    expect(after.has('2014-08')).toBe(false);
    for (const [month, ino] of after) {
      // outside the candidates, and a candidate whose rows are the same: linked
      if (month !== changedMonth && month !== '2015-03') expect(ino, month).toBe(before.get(month));
    }
    expect([...before.keys()].filter((m) => !candidates.has(m)).length).toBeGreaterThan(3);
    expect(after.get(changedMonth!)).not.toBe(before.get(changedMonth!));

    // the same files and fingerprints as an export that scans every row of staging
    const scanned = await exportGold(fromStaging(path.join(root, 'months-scanned'), 2, new Map()));
    for (const table of TABLES) {
      expect(fingerprints(second, table), table).toEqual(fingerprints(scanned, table));
      for (const f of second.manifest.tables[table]!.files) expect(await rowsOf(second, f.path), f.path).toEqual(await rowsOf(scanned, f.path));
    }
    // the training set by bucket of customer_id: customer 5's bucket is written, customer 20's
    // (recomputed the same) and every other bucket linked
    const training = second.manifest.tables.customer_training_set!.files;
    expect(training.map((f) => f.bucket)).toEqual(first.manifest.tables.customer_training_set!.files.map((f) => f.bucket));
    expect(training.length).toBe(31);
    expect(training.filter((f) => f.reused_from === undefined).map((f) => f.bucket)).toEqual(['005']);
    const trainingBefore = await inodes(first, 'customer_training_set');
    for (const [file, ino] of await inodes(second, 'customer_training_set')) if (!file.endsWith('-005.parquet')) expect(ino, file).toBe(trainingBefore.get(file));
  });

  it('does not take a claim made against another version than the current one, nor one whose rows the version does not have', async () => {
    const out = path.join(root, 'stale');
    const first = await exportGold(published(out, 1));
    // an export of other rows became current since (the folder is not the published run's)
    await client.query(`update ${pub}.fact_sales set note = 'changed by hand' where order_number = 'SO1234'`);
    let other: ExportGoldResult;
    try {
      other = await exportGold(published(out, 2));
      expect(other.files.written).toBe(1);
    } finally {
      await client.query(`update ${pub}.fact_sales set note = 'line 1234' where order_number = 'SO1234'`);
    }
    await unchangedStaging();
    const tables = new Map<string, ExportTableResult>();
    const third = await exportGold(fromStaging(out, 3, tables, { changes: { fact_sales: { unchanged: true }, customer_training_set: { unchanged: true } }, publishedVersion: first.versionPath }));
    expect(tables.get('fact_sales')!.fingerprints).toBe('scanned');
    // the month the current version holds with the other rows is written again, with the rows of now
    const month = (await client.query<{ m: string }>(`select ${MONTH} as m from ${pub}.fact_sales where order_number = 'SO1234'`)).rows[0]!.m;
    const file = third.manifest.tables.fact_sales!.files.find((f) => f.month === month)!;
    expect(file.reused_from).toBeUndefined();
    expect((await readParquet(path.join(third.versionPath, file.path))).find((r) => r.order_number === 'SO1234')!.note).toBe('line 1234');
    expect(fingerprints(third, 'fact_sales')).toEqual(fingerprints(first, 'fact_sales'));

    // a change removing rows the previous version does not hold is not of that version: scanned
    const changes = await updateBy([7], {
      fact_sales: `select * from ${pub}.fact_sales where customer_id = 7`,
      customer_training_set: `select * from ${pub}.customer_training_set where customer_id = 7`,
    });
    tables.clear();
    const fourth = await exportGold(fromStaging(out, 4, tables, {
      changes: { ...changes, customer_training_set: { removed: `select * from ${pub}.customer_training_set cross join generate_series(1, 2)`, added: changes.customer_training_set!.added } },
      publishedVersion: third.versionPath,
    }));
    expect(tables.get('fact_sales')!.fingerprints).toBe('derived');
    expect(tables.get('customer_training_set')!.fingerprints).toBe('scanned');

    // a claim for a table the current version exported from another source: scanned
    tables.clear();
    const fifth = await exportGold(fromStaging(out, 5, tables, { changes: { fact_sales: { unchanged: true } }, publishedVersion: fourth.versionPath }));
    expect(tables.get('fact_sales')!.fingerprints).toBe('carried');
    tables.clear();
    await exportGold(fromStaging(out, 6, tables, { publishedGoldSchema: 'elsewhere', changes: { fact_sales: { unchanged: true } }, publishedVersion: fifth.versionPath }));
    expect(tables.get('fact_sales')!.fingerprints).toBe('scanned');
  });
});
