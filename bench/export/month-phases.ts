/**
 * DuckDB's share of a month-split export, phase by phase, from a CSV of the exported columns with
 * the month column first (psql `\copy (select order_date, <the others> …) to CSV (format csv)`), one
 * thread, the export's types and checks. Prints seconds and the process' peak RSS per mode.
 *   one    CSV → one Parquet file (zstd): what the one-file export asks of DuckDB
 *   split  CSV → one uncompressed Parquet file per month (DuckDB's partitioned write)
 *   final  those month files → one zstd file each (run after split)
 * Usage: DATABASE_URL=... npx tsx bench/export/month-phases.ts SCHEMA TABLE CSV OUTDIR MANIFEST one|split|final [threads]
 */
import { readFileSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { resolveConnection } from '../../src/config.ts';
import { withClient } from '../../src/db/client.ts';
import { readColumns } from '../../src/export/types.ts';
import '../../src/export/duckdb-allocator.ts';

const [schema = 'h1_gold', table = 'fact_sales', csv = '', outDir = '', manifest = '', mode = 'one', threads = '1'] = process.argv.slice(2);
const exported = new Set((JSON.parse(readFileSync(manifest, 'utf8')) as { tables: Record<string, { columns: { name: string }[] }> }).tables[table]!.columns.map((c) => c.name));
const all = await withClient(resolveConnection({ 'database-url': process.env.DATABASE_URL }), 'phases', (client) => readColumns(client, schema, table));
const cols = all.filter((c) => exported.has(c.name));
const first = cols.find((c) => c.name === 'order_date')!;
const csvCols = [first, ...cols.filter((c) => c !== first)];
const T: Record<string, string> = { int64: 'BIGINT', float64: 'DOUBLE', bool: 'BOOLEAN', date: 'VARCHAR', timestamp: 'VARCHAR', timestamptz: 'VARCHAR', string: 'VARCHAR' };
const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
const value = (c: (typeof cols)[number]) =>
  c.kind === 'date' ? `case when strlen(${q(c.name)}) = 10 then cast(cast(${q(c.name)} as date) as timestamp_ms) when ${q(c.name)} is null then null else error('x') end as ${q(c.name)}`
    : c.kind === 'timestamp' ? `cast(${q(c.name)} as timestamp) as ${q(c.name)}` : c.kind === 'timestamptz' ? `cast(${q(c.name)} as timestamptz) as ${q(c.name)}` : q(c.name);
const read = `read_csv('${csv}', columns = {${csvCols.map((c) => `'${c.name}': '${T[c.kind]}'`).join(', ')}}, header = false, auto_detect = false,
  delim = ',', quote = '"', escape = '"', allow_quoted_nulls = false, buffer_size = ${4 << 20}, max_line_size = ${4 << 20})`;
const db = await DuckDBInstance.create(':memory:', { threads, memory_limit: '300MB' });
const conn = await db.connect();
const started = performance.now();
await mkdir(outDir, { recursive: true });
if (mode === 'one') {
  await conn.run(`copy (select ${cols.map(value).join(', ')} from ${read}) to '${outDir}/one.parquet' (format parquet, compression zstd, row_group_size 131072)`);
} else if (mode === 'split') {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await conn.run(`set partitioned_write_flush_threshold = ${Number(process.env.FLUSH ?? 16384)}`);
  await conn.run(`copy (select ${cols.map(value).join(', ')}, coalesce(substr(order_date, 1, 7), 'none') as m from ${read}) to '${outDir}/split'
    (format parquet, compression ${process.env.SPLIT_COMPRESSION ?? 'uncompressed'}, row_group_size ${Number(process.env.SPLIT_RG ?? 16384)}, partition_by (m))`);
} else {
  const months = (await readdir(path.join(outDir, 'split'))).sort();
  for (const m of months) {
    await conn.run(`copy (select * exclude (m) from read_parquet('${outDir}/split/${m}/*.parquet', hive_partitioning = true)) to '${outDir}/${m}.parquet' (format parquet, compression zstd, row_group_size 131072)`);
  }
}
const seconds = (performance.now() - started) / 1000;
const ru = process.resourceUsage();
console.log(JSON.stringify({ mode, threads, seconds: Number(seconds.toFixed(2)), userS: ru.userCPUTime / 1e6, sysS: ru.systemCPUTime / 1e6, maxRssMB: Math.round(ru.maxRSS / 1024) }));
