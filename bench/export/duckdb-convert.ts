/**
 * The baseline the export must beat: convert a CSV that `psql \copy ... to FILE csv header` wrote
 * into Parquet with DuckDB (auto-detected types, same compression and row-group size).
 * Usage: npx tsx bench/export/duckdb-convert.ts IN.csv OUT.parquet [zstd|snappy] [rowGroupSize] [threads]
 */
import { DuckDBInstance } from '@duckdb/node-api';

const [csv = '/tmp/fs1.csv', out = '/tmp/duck.parquet', compression = 'zstd', rg = '131072', threads = '2'] = process.argv.slice(2);
const started = performance.now();
const db = await DuckDBInstance.create(':memory:', { threads });
const con = await db.connect();
await con.run(`copy (select * from read_csv('${csv}', header = true)) to '${out}' (format parquet, compression ${compression}, row_group_size ${Number(rg)})`);
const seconds = (performance.now() - started) / 1000;
const reader = await con.runAndReadAll(`select count(*)::bigint as n from read_parquet('${out}')`);
console.log(JSON.stringify({ writer: 'duckdb', csv, compression, rows: Number(reader.getRows()[0]![0]), seconds: Number(seconds.toFixed(2)), maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024) }));
