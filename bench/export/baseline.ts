/**
 * The export's baseline for fact_sales, timed exactly as bench/run.ts does it (psql \copy of the
 * exported columns to CSV, then DuckDB CSV → Parquet zstd in-process with default settings); prints
 * the seconds, and the two halves on stderr. The exported columns are the manifest's (as bench/run.ts
 * takes them); without a manifest, every column of the table.
 * Usage: DATABASE_URL=... npx tsx bench/export/baseline.ts GOLD_SCHEMA [CSV] [PARQUET] [MANIFEST]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';

const [gold = 'xp10_gold', csv = '/tmp/baseline-fact.csv', parquet = '/tmp/baseline-fact.parquet', manifest] = process.argv.slice(2);
const columns = manifest && existsSync(manifest)
  ? (JSON.parse(readFileSync(manifest, 'utf8')) as { tables: Record<string, { columns: { name: string }[] }> }).tables.fact_sales!.columns.map((c) => `"${c.name.replaceAll('"', '""')}"`).join(', ')
  : '*';
const started = performance.now();
execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', process.env.DATABASE_URL ?? '', '-c',
  `\\copy (select ${columns} from ${gold}.fact_sales) to '${csv}' with (format csv, header true)`], { stdio: 'inherit' });
const copied = (performance.now() - started) / 1000;
const duckStarted = performance.now();
const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
await conn.run(`copy (select * from read_csv('${csv}', header = true)) to '${parquet}' (format parquet, compression zstd)`);
conn.closeSync();
const converted = (performance.now() - duckStarted) / 1000;
rmSync(csv, { force: true });
rmSync(parquet, { force: true });
console.error(`psql \\copy ${copied.toFixed(2)} s, DuckDB ${converted.toFixed(2)} s`);
console.log((copied + converted).toFixed(2));
