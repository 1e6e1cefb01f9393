/**
 * Exports one table with the production path (COPY csv → named pipe → DuckDB) and prints the
 * time. Usage: npx tsx bench/export/export-one.ts SCHEMA TABLE OUT.parquet [zstd|snappy] [rowGroupSize]
 * Peak memory: run under `/usr/bin/time -v`.
 */
import { resolveConnection } from '../../src/config.ts';
import { withClient } from '../../src/db/client.ts';
import { exportTable } from '../../src/export/export-table.ts';

const [schema = 'bench_export', table = 'fact_sales_synth', out = '/tmp/bench-export.parquet', compression = 'zstd', rg = '131072'] = process.argv.slice(2);
const started = performance.now();
const result = await withClient(resolveConnection({ 'database-url': process.env.DATABASE_URL }), 'bench-export', (client) =>
  exportTable({ client, schema, table, outFile: out, rowGroupSize: Number(rg), compression: compression as 'zstd' | 'snappy' }));
const seconds = (performance.now() - started) / 1000;
const f = result.files[0]!;
console.log(JSON.stringify({ writer: 'duckdb (pipe)', schema, table, compression, rows: result.rows, columns: result.columns.length, seconds: Number(seconds.toFixed(2)), bytes: f.bytes, rowGroups: f.rowGroups, maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024) }));
