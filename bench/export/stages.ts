/**
 * CPU cost (process CPU time, so that other load on the machine matters less) of each export stage on one saved COPY text dump, in one thread (no overlap), batch by
 * batch as in production: parse → Arrow IPC → wasm import → Parquet encode. Usage:
 *   psql -c "copy (select * from S.T) to stdout" > /tmp/t.txt
 *   npx tsx bench/export/stages.ts SCHEMA TABLE /tmp/t.txt [zstd|snappy] [dict:on|off] [batchRows]
 */
import { readFileSync } from 'node:fs';
import * as wasm from 'parquet-wasm/node';
import { resolveConnection } from '../../src/config.ts';
import { withClient } from '../../src/db/client.ts';
import { CopyTextParser } from '../../src/export/copy-text.ts';
import { ParquetFileWriter } from '../../src/export/parquet-writer.ts';
import { readColumns } from '../../src/export/types.ts';

const [schema = 'xp10_gold', table = 'fact_sales', dump = '/tmp/xp10.txt', compression = 'zstd', dict = 'on', batch = '8192'] = process.argv.slice(2);
const columns = await withClient(resolveConnection({ 'database-url': process.env.DATABASE_URL }), 'stages', (c) => readColumns(c, schema, table));
const bytes = readFileSync(dump);
const CHUNK = 65536;
const now = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const w = new ParquetFileWriter({ path: '/dev/null', columns, rowGroupSize: 131072, compression: compression as 'zstd', metadata: new Map() });
let parseMs = 0, ipcMs = 0, importMs = 0, rows = 0;
const pending: Uint8Array[] = [];
const parser = new CopyTextParser(columns, Number(batch), (b, n) => {
  parseMs += now() - t0;
  const t1 = now();
  pending.push(w.prepare(b, n).ipc);
  ipcMs += now() - t1;
  rows += n;
  t0 = now();
}, 'x');
let t0 = 0;
let offset = 0;
const started = now();
const input = new ReadableStream({
  pull(c) {
    t0 = now();
    while (pending.length === 0 && offset < bytes.length) {
      parser.push(bytes.subarray(offset, offset + CHUNK));
      offset += CHUNK;
      if (offset >= bytes.length) parser.finish();
    }
    parseMs += now() - t0;
    const ipc = pending.shift();
    if (!ipc) return c.close();
    const t1 = now();
    const tb = wasm.Table.fromIPCStream(ipc);
    const rb = tb.recordBatch(0)!;
    tb.free();
    importMs += now() - t1;
    c.enqueue(rb);
  },
}, { highWaterMark: 0 });
let props = new wasm.WriterPropertiesBuilder().setCompression(compression === 'zstd' ? wasm.Compression.ZSTD : compression === 'none' ? wasm.Compression.UNCOMPRESSED : wasm.Compression.SNAPPY)
  .setMaxRowGroupSize(131072).setDictionaryEnabled(dict === 'on').setStatisticsEnabled(Number(process.env.STATS ?? 2));
if (process.env.WBS) props = props.setWriteBatchSize(Number(process.env.WBS));
if (process.env.PAGE) props = props.setDataPageSizeLimit(Number(process.env.PAGE));
for (const c of (process.env.NODICT ?? '').split(',').filter(Boolean)) props = props.setColumnDictionaryEnabled(c, false);
if (process.env.NOSTATS_KIND) for (const c of columns.filter((x) => process.env.NOSTATS_KIND!.split(',').includes(x.kind))) props = props.setColumnStatisticsEnabled(c.name, 0);
const out = await wasm.transformParquetStream(input, props.build());
let size = 0;
for await (const chunk of out as AsyncIterable<Uint8Array>) size += chunk.length;
const total = now() - started;
await w.abort();
const r = (x: number) => Math.round(x);
console.log(JSON.stringify({ rows, totalMs: r(total), parseMs: r(parseMs), ipcMs: r(ipcMs), wasmImportMs: r(importMs), encodeMs: r(total - parseMs - ipcMs - importMs), bytes: size, compression, dict, batch: Number(batch) }));
