// Where a medallion process's memory is: preload it and it prints, each time the resident set
// reaches a new peak, process.memoryUsage() (V8's heap, Node's buffers) next to the RSS; what the
// RSS has beyond those is native (DuckDB, Postgres' client, Node itself).
//   NODE_OPTIONS="--import ./bench/memory-usage.mjs" node bin/medallion.js export --target bench 2>&1 >/dev/null | grep MEM | tail -1
import { writeSync } from 'node:fs';

let peak = 0;
const mb = (bytes) => (bytes / 2 ** 20).toFixed(0);
setInterval(() => {
  const m = process.memoryUsage();
  if (m.rss <= peak) return;
  peak = m.rss;
  writeSync(2, `MEM rss=${mb(m.rss)} heapTotal=${mb(m.heapTotal)} heapUsed=${mb(m.heapUsed)} external=${mb(m.external)} arrayBuffers=${mb(m.arrayBuffers)} (MB)\n`);
}, 200).unref();
