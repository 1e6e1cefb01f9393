/**
 * The three JavaScript writers on the same streaming path: COPY TO STDOUT → CopyTextParser → one
 * row group at a time → writer. parquet-wasm is the production path (exportTable); the other two
 * get the row group converted to what their APIs take (JS arrays with null / row objects).
 * Usage: npx tsx bench/export/writers.ts WRITER SCHEMA TABLE OUT [rowGroupSize] [limit]
 *   WRITER: parquet-wasm | hyparquet-writer | parquetjs-lite (both of those: snappy only here)
 * Run under /usr/bin/time -v for peak RSS.
 */
import { to as copyTo } from 'pg-copy-streams';
import { resolveConnection } from '../../src/config.ts';
import { withClient } from '../../src/db/client.ts';
import { type ColumnBuffers, CopyTextParser } from '../../src/export/copy-text.ts';
import { exportTable } from '../../src/export/export-table.ts';
import { type ExportColumn, readColumns } from '../../src/export/types.ts';

const [writerName = 'hyparquet-writer', schema = 'bench_export', table = 'fact_sales_synth', out = '/tmp/writers.parquet', rg = '131072', limit = ''] = process.argv.slice(2);
const rowGroupSize = Number(rg);
const started = performance.now();
const utf8 = new TextDecoder();

/** Row group buffers → one JS array per column (null for NULL), the form both JS writers take. */
function toArrays(columns: readonly ExportColumn[], buffers: readonly ColumnBuffers[], rows: number): unknown[][] {
  return buffers.map((b, c) => {
    const out = new Array(rows);
    const kind = columns[c]!.kind;
    for (let r = 0; r < rows; r++) {
      if (!(b.validity[r >> 3]! & (1 << (r & 7)))) { out[r] = null; continue; }
      if (kind === 'string') out[r] = utf8.decode(b.data!.subarray(b.offsets![r], b.offsets![r + 1]));
      else if (kind === 'bool') out[r] = (b.bits![r >> 3]! & (1 << (r & 7))) !== 0;
      else if (kind === 'float64') out[r] = b.f64![r];
      else if (kind === 'date') out[r] = new Date(Number(b.i64![r]));
      else if (kind === 'timestamp' || kind === 'timestamptz') out[r] = new Date(Number(b.i64![r]! / 1000n));
      else out[r] = b.i64![r];
    }
    return out;
  });
}

let rows = 0;
if (writerName === 'parquet-wasm') {
  const r = await withClient(resolveConnection({ 'database-url': process.env.DATABASE_URL }), 'bench', (client) => exportTable({ client, schema, table, outFile: out, rowGroupSize, compression: 'snappy' }));
  rows = r.rows;
} else {
  await withClient(resolveConnection({ 'database-url': process.env.DATABASE_URL }), 'bench', async (client) => {
    await client.query("set datestyle = 'ISO, YMD'; set timezone = 'UTC'");
    const columns = await readColumns(client, schema, table);
    let write: (arrays: unknown[][], n: number) => Promise<void>;
    let finish: () => Promise<void>;
    if (writerName === 'hyparquet-writer') {
      const { ParquetWriter, fileWriter } = (await import('hyparquet-writer')) as unknown as Record<string, any>;
      const TYPE: Record<string, object> = {
        int64: { type: 'INT64' }, float64: { type: 'DOUBLE' }, bool: { type: 'BOOLEAN' }, string: { type: 'BYTE_ARRAY', converted_type: 'UTF8' },
        date: { type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' }, timestamp: { type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' }, timestamptz: { type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' },
      };
      const parquetSchema = [{ name: 'root', num_children: columns.length }, ...columns.map((c) => ({ name: c.name, repetition_type: 'OPTIONAL', ...TYPE[c.kind] }))];
      const writer = new ParquetWriter({ writer: fileWriter(out), schema: parquetSchema, codec: 'SNAPPY' });
      write = async (arrays, n) => { await writer.write({ columnData: columns.map((c, i) => ({ name: c.name, data: arrays[i] })), rowGroupSize: n }); };
      finish = async () => { await writer.finish(); };
    } else {
      // @ts-expect-error parquetjs-lite ships no types
      const parquet = (await import('parquetjs-lite')).default as any;
      const TYPE: Record<string, string> = { int64: 'INT64', float64: 'DOUBLE', bool: 'BOOLEAN', string: 'UTF8', date: 'TIMESTAMP_MILLIS', timestamp: 'TIMESTAMP_MILLIS', timestamptz: 'TIMESTAMP_MILLIS' };
      const s = new parquet.ParquetSchema(Object.fromEntries(columns.map((c) => [c.name, { type: TYPE[c.kind], optional: true, compression: 'SNAPPY' }])));
      const writer = await parquet.ParquetWriter.openFile(s, out, { rowGroupSize });
      write = async (arrays, n) => {
        for (let r = 0; r < n; r++) {
          const row: Record<string, unknown> = {};
          for (let c = 0; c < columns.length; c++) { const v = arrays[c]![r]; if (v !== null) row[columns[c]!.name] = typeof v === 'bigint' ? Number(v) : v; }
          await writer.appendRow(row);
        }
      };
      finish = async () => { await writer.close(); };
    }
    const pending: { arrays: unknown[][]; n: number }[] = [];
    const parser = new CopyTextParser(columns, rowGroupSize, (buffers, n) => { pending.push({ arrays: toArrays(columns, buffers, n), n }); });
    const stream = client.query(copyTo(`copy (select * from ${schema}.${table}${limit ? ` limit ${Number(limit)}` : ''}) to stdout`));
    for await (const chunk of stream) {
      parser.push(chunk);
      while (pending.length) { const p = pending.shift()!; await write(p.arrays, p.n); }
    }
    parser.finish();
    while (pending.length) { const p = pending.shift()!; await write(p.arrays, p.n); }
    await finish();
    rows = parser.totalRows;
  });
}
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({ writer: writerName, rows, rowGroupSize, seconds: Number(seconds.toFixed(2)), maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024) }));
