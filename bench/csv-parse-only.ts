/**
 * csv-parse alone on a bronze file, without PostgreSQL: the parser the bronze load would use
 * without its own record scanner (docs/decisions/0001). Compare with bench/scan-only.ts on the
 * same file.
 *   node --import tsx bench/csv-parse-only.ts FILE.csv
 * Prints seconds, MB/s and records; the records go nowhere.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parse } from 'csv-parse';

const [file] = process.argv.slice(2);
if (!file) throw new Error('usage: node --import tsx bench/csv-parse-only.ts FILE.csv');
const bytes = (await stat(file)).size;
let records = 0;
const started = performance.now();
await pipeline(
  createReadStream(file, { highWaterMark: 1 << 20 }),
  parse({ bom: true, from_line: 2, relax_quotes: true, info: true }),
  new Writable({ objectMode: true, write: (_record, _encoding, done) => { records++; done(); } }),
);
const seconds = (performance.now() - started) / 1000;
console.log(`${seconds.toFixed(2)} s, ${(bytes / 1e6 / seconds).toFixed(0)} MB/s, ${records} records`);
