/**
 * The bronze record scanner alone, without PostgreSQL: how fast our side of the load is.
 *   node --import tsx bench/scan-only.ts FILE.csv [FIELDS]
 * Prints seconds, MB/s and records; the bytes go nowhere (the COPY stream is replaced by a sink).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ScanStream } from '../src/bronze/scan-stream.ts';

const [file, fields = '9'] = process.argv.slice(2);
if (!file) throw new Error('usage: node --import tsx bench/scan-only.ts FILE.csv [FIELDS]');
const bytes = (await stat(file)).size;
const scan = new ScanStream({ fieldCount: Number(fields), columns: [], maxFieldBytes: 65536, firstLine: 1, sink: async () => {} });
const started = performance.now();
await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), scan, new Writable({ write: (_chunk, _encoding, done) => done() }));
const seconds = (performance.now() - started) / 1000;
console.log(`${seconds.toFixed(2)} s, ${(bytes / 1e6 / seconds).toFixed(0)} MB/s, ${scan.scanner.records} records (${scan.scanner.rejected} rejected)`);
