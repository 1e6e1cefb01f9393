// The Parquet encoder thread (plain JavaScript so that it loads the same way under node, tsx and
// vitest). It receives row groups as Arrow IPC buffers (transferred, not copied), feeds them to
// parquet-wasm's streaming writer and writes the output to the file, hashing it on the way. Running
// the encoder here lets the main thread keep reading and parsing COPY while a row group is encoded,
// and lets Postgres keep producing: the three stages overlap on two cores.
//
// One thread writes one file after another (parquet-writer.ts keeps it for the next file): loading
// parquet-wasm and letting V8 optimise its 5 MB of WebAssembly costs CPU that every new thread
// would pay again.
//
// Protocol (main → worker): {type:'open', path, compression, rowGroupSize, keyValue, createdBy},
// then {type:'batch', ipc:Uint8Array}…, then {type:'close'} or {type:'abort'}.
// (worker → main): {type:'taken'} after each batch entered the writer, then {type:'done', bytes,
// sha256, rows, rowGroups, rowGroupRows} or {type:'error', message, code}; then the next 'open'.
import { createHash } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { open } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import * as wasm from 'parquet-wasm/node';

/** The file being written: its queue of IPC batches and whether it was closed or aborted. */
let current = null;

parentPort.on('message', (msg) => {
  if (msg.type === 'open') {
    const file = { queue: [], closed: false, aborted: false, wake: null };
    current = file;
    writeFile(file, msg).then(
      (result) => parentPort.postMessage({ type: 'done', ...result }),
      (err) => parentPort.postMessage({ type: 'error', message: String(err?.message ?? err), code: err?.code }),
    );
    return;
  }
  const file = current;
  if (!file) return;
  if (msg.type === 'batch') file.queue.push(msg.ipc);
  else if (msg.type === 'close') file.closed = true;
  else if (msg.type === 'abort') file.aborted = true;
  const w = file.wake;
  file.wake = null;
  w?.();
});

function batches(file) {
  return new ReadableStream(
    {
      async pull(controller) {
        while (file.queue.length === 0 && !file.closed && !file.aborted) await new Promise((r) => { file.wake = r; });
        if (file.aborted) {
          controller.error(new Error('export aborted'));
          return;
        }
        const ipc = file.queue.shift();
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
}

async function writeFile(file, { path, compression, rowGroupSize, keyValue, createdBy }) {
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
    const output = await wasm.transformParquetStream(batches(file), props);
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
  const parquet = await wasm.ParquetFile.fromFile(await openAsBlob(path));
  const meta = parquet.metadata();
  const rowGroupRows = [];
  for (let i = 0; i < meta.numRowGroups(); i++) rowGroupRows.push(meta.rowGroup(i).numRows());
  const rows = meta.fileMetadata().numRows();
  parquet.free();
  return { bytes, sha256: hash.digest('hex'), rows, rowGroups: rowGroupRows.length, rowGroupRows };
}
