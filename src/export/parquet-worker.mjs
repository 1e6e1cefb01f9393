// The Parquet encoder thread (plain JavaScript so that it loads the same way under node, tsx and
// vitest). It receives row groups as Arrow IPC buffers (transferred, not copied), feeds them to
// parquet-wasm's streaming writer and writes the output to the file, hashing it on the way. Running
// the encoder here lets the main thread keep reading and parsing COPY while a row group is encoded,
// and lets Postgres keep producing: the three stages overlap on two cores.
//
// Protocol (main → worker): {type:'batch', ipc:Uint8Array}, {type:'close'}, {type:'abort'}.
// (worker → main): {type:'taken'} after each batch entered the writer, {type:'done', bytes, sha256,
// rows, rowGroups, rowGroupRows}, {type:'error', message, code}.
import { createHash } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { open } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import * as wasm from 'parquet-wasm/node';

const { path, compression, rowGroupSize, keyValue, createdBy } = workerData;

/** @type {Uint8Array[]} */
const queue = [];
let closed = false;
let aborted = false;
/** @type {(() => void) | null} */
let wake = null;
const notify = () => {
  const w = wake;
  wake = null;
  w?.();
};

parentPort.on('message', (msg) => {
  if (msg.type === 'batch') queue.push(msg.ipc);
  else if (msg.type === 'close') closed = true;
  else if (msg.type === 'abort') aborted = true;
  notify();
});

const input = new ReadableStream(
  {
    async pull(controller) {
      while (queue.length === 0 && !closed && !aborted) await new Promise((r) => { wake = r; });
      if (aborted) {
        controller.error(new Error('export aborted'));
        return;
      }
      const ipc = queue.shift();
      if (ipc === undefined) {
        controller.close();
        return;
      }
      const table = wasm.Table.fromIPCStream(ipc);
      const batch = table.recordBatch(0);
      table.free();
      controller.enqueue(batch);
      parentPort.postMessage({ type: 'taken' });
    },
  },
  { highWaterMark: 0 },
);

async function run() {
  const props = new wasm.WriterPropertiesBuilder()
    .setCompression(compression === 'zstd' ? wasm.Compression.ZSTD : wasm.Compression.SNAPPY)
    .setMaxRowGroupSize(rowGroupSize)
    .setWriterVersion(wasm.WriterVersion.V1)
    .setCreatedBy(createdBy)
    .setKeyValueMetadata(new Map(keyValue))
    .build();
  const hash = createHash('sha256');
  let bytes = 0;
  const handle = await open(path, 'w');
  try {
    // Not awaited before input is available: its promise settles only once the input is pulled.
    const output = await wasm.transformParquetStream(input, props);
    for await (const chunk of output) {
      hash.update(chunk);
      bytes += chunk.length;
      let off = 0;
      while (off < chunk.length) off += (await handle.write(chunk, off, chunk.length - off)).bytesWritten;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  // Read the footer back from disk: the row count the caller checks against Postgres.
  const file = await wasm.ParquetFile.fromFile(await openAsBlob(path));
  const meta = file.metadata();
  const rowGroupRows = [];
  for (let i = 0; i < meta.numRowGroups(); i++) rowGroupRows.push(meta.rowGroup(i).numRows());
  const rows = meta.fileMetadata().numRows();
  file.free();
  return { bytes, sha256: hash.digest('hex'), rows, rowGroups: rowGroupRows.length, rowGroupRows };
}

run().then(
  (result) => parentPort.postMessage({ type: 'done', ...result }),
  (err) => parentPort.postMessage({ type: 'error', message: String(err?.message ?? err), code: err?.code }),
);
