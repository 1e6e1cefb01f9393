/**
 * What checking dates costs DuckDB (parquet-encoder.ts reads them as text and checks their length
 * before the cast, so that BC, infinity and 5-digit years fail instead of coming out wrong).
 * Converts a CSV dump of a table to Parquet three ways, one DuckDB thread each, and prints seconds:
 *   production   ParquetEncoder.csvToParquet, as the export runs it (length check)
 *   unchecked    dates read as DATE and cast straight (wrong for BC dates, see parquet-encoder.ts)
 *   functions    dates as text, checked with substr/ends_with
 * Usage:
 *   psql -c "copy bench_gold.fact_sales to stdout (format csv)" > /tmp/fact.csv
 *   DATABASE_URL=... npx tsx bench/export/date-checks.ts bench_gold fact_sales /tmp/fact.csv
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { resolveConnection } from '../../src/config.ts';
import { ident, literal, withClient } from '../../src/db/client.ts';
import { ParquetEncoder } from '../../src/export/parquet-encoder.ts';
import { readColumns } from '../../src/export/types.ts';

const [schema = 'bench_gold', table = 'fact_sales', dump = '/tmp/fact.csv', out = '/tmp/date-checks.parquet'] = process.argv.slice(2);
const columns = await withClient(resolveConnection({ 'database-url': process.env.DATABASE_URL }), 'bench-date-checks', (client) => readColumns(client, schema, table));
const TYPE = { int64: 'BIGINT', float64: 'DOUBLE', bool: 'BOOLEAN', date: 'DATE', timestamp: 'TIMESTAMP', timestamptz: 'TIMESTAMPTZ', string: 'VARCHAR' } as const;

async function variant(name: 'unchecked' | 'functions'): Promise<void> {
  const types = columns.map((c) => `${literal(c.name)}: ${literal(c.kind === 'date' && name === 'functions' ? 'VARCHAR' : TYPE[c.kind])}`).join(', ');
  const select = columns.map((c) => {
    const n = ident(c.name);
    if (c.kind !== 'date') return n;
    if (name === 'unchecked') return `cast(${n} as timestamp_ms) as ${n}`;
    return `case when ${n} is null then null when substr(${n}, 5, 1) = '-' and not ends_with(${n}, ' BC') then cast(cast(${n} as date) as timestamp_ms) else error('out of range') end as ${n}`;
  }).join(', ');
  const db = await DuckDBInstance.create(':memory:', { threads: '1', memory_limit: '300MB' });
  const conn = await db.connect();
  const started = performance.now();
  await conn.run(`copy (select ${select} from read_csv(${literal(dump)}, columns = {${types}}, header = false, auto_detect = false,
    delim = ',', quote = '"', escape = '"', allow_quoted_nulls = false, buffer_size = 4194304, max_line_size = 4194304))
    to ${literal(out)} (format parquet, compression zstd, row_group_size 131072)`);
  console.log(`${name.padEnd(10)} ${((performance.now() - started) / 1000).toFixed(2)} s`);
  conn.closeSync();
  db.closeSync();
}

const encoder = await ParquetEncoder.open();
const started = performance.now();
await encoder.csvToParquet({ source: dump, columns, outFile: out, rowGroupSize: 131072, compression: 'zstd', metadata: new Map() });
console.log(`production ${((performance.now() - started) / 1000).toFixed(2)} s`);
encoder.close();
await variant('unchecked');
await variant('functions');
