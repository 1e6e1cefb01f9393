/**
 * The export's baseline for fact_sales, timed exactly as bench/run.ts does it (psql \copy to CSV,
 * then DuckDB CSV → Parquet zstd in-process with default settings); prints the seconds.
 * Usage: DATABASE_URL=... npx tsx bench/export/baseline.ts GOLD_SCHEMA [CSV] [PARQUET]
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';

const [gold = 'xp10_gold', csv = '/tmp/baseline-fact.csv', parquet = '/tmp/baseline-fact.parquet'] = process.argv.slice(2);
const started = performance.now();
execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', process.env.DATABASE_URL ?? '', '-c',
  `\\copy (select * from ${gold}.fact_sales) to '${csv}' with (format csv, header true)`], { stdio: 'inherit' });
const copied = (performance.now() - started) / 1000;
const duckStarted = performance.now();
const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
await conn.run(`copy (select * from read_csv('${csv}', header = true)) to '${parquet}' (format parquet, compression zstd)`);
conn.closeSync();
const seconds = copied + (performance.now() - duckStarted) / 1000;
rmSync(csv, { force: true });
rmSync(parquet, { force: true });
console.log(seconds.toFixed(2));
