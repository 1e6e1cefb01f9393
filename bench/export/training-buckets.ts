/**
 * The training set's export on a day after, as a build runs it, outside the build: the published
 * day's table (schema BEFORE) exported, then the next day's (schema AFTER) with the change a build
 * passes (the rows of the customers whose rows differ, removed and added), against that export.
 * BUCKETS is a power of two (one file per bucket of customer_id) or `single` (one file).
 *
 *   npx tsx bench/export/training-buckets.ts BEFORE AFTER OUT_DIR BUCKETS|single [CHANGED_SQL]
 *
 * Prints one JSON line: the full export's and the day's export's seconds, files written and
 * linked, and the customers changed. OUT_DIR is emptied first. Run under /usr/bin/time for the peak.
 */
import { rm } from 'node:fs/promises';
import { resolveConnection } from '../../src/config.ts';
import { connect, ident } from '../../src/db/index.ts';
import { type BucketSplit, exportGold, type ExportGoldOptions } from '../../src/export/index.ts';

const connection = resolveConnection({ 'database-url': process.env.DATABASE_URL });

const [before, after, out, buckets] = process.argv.slice(2);
if (!before || !after || !out || !buckets) {
  console.error('usage: training-buckets.ts BEFORE AFTER OUT_DIR BUCKETS|single [CHANGED_SQL]');
  process.exit(2);
}
const TABLE = 'customer_training_set';
const bucketsOf: Record<string, BucketSplit> = buckets === 'single' ? {} : { [TABLE]: { column: 'customer_id', buckets: Number(buckets) } };
const options = (schema: string, runId: number, extra: Partial<ExportGoldOptions> = {}): ExportGoldOptions => ({
  connection, schemas: { gold: schema }, publishedGoldSchema: 'bench', exportsDir: out, runId, asOf: null, inputFiles: [],
  rowGroupSize: 131072, compression: 'zstd', tables: [TABLE], bucketsOf,
  // NOT NULL from one schema for both days, as a build's overlay takes it from the published table:
  // a copy made with create table as has none, which would change the files' settings
  columnSchemas: { [TABLE]: after }, ...extra,
});

await rm(out, { recursive: true, force: true });
const client = await connect(connection, 'bench training-buckets');
const a = `${ident(before)}.${TABLE}`;
const b = `${ident(after)}.${TABLE}`;
// the same schema twice: no change (the full export, then every file linked); CHANGED_SQL, when
// given, selects the changed customers' ids (as customer_id) instead of comparing every row
const changedSql = process.argv[6] ?? `select distinct customer_id from ((select * from ${a} except all select * from ${b}) union all (select * from ${b} except all select * from ${a})) as d`;
const { rows } = before === after ? { rows: [] } : await client.query<{ customer_id: string }>(`${changedSql} order by 1`);
const changed = rows.map((r) => r.customer_id);
await client.end();
const inChanged = `customer_id = any('{${changed.join(',')}}'::bigint[])`;

const full = await exportGold(options(before, 1));
const day = await exportGold(options(after, 2, {
  changes: { [TABLE]: { removed: `select * from ${a} where ${inChanged}`, added: `select * from ${b} where ${inChanged}` } },
  publishedVersion: full.versionPath,
}));
console.log(JSON.stringify({
  buckets, customers: changed.length, rows: day.manifest.tables[TABLE]!.rows,
  full: { seconds: Number(full.seconds.toFixed(2)), files: full.files },
  day: { seconds: Number(day.seconds.toFixed(2)), files: day.files },
}));
