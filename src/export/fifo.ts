/**
 * A named pipe from the COPY stream to DuckDB, which reads files, not Node streams. Nothing lands
 * on disk, and Postgres writing CSV overlaps with DuckDB encoding Parquet (a CSV file in between
 * would make them take turns, as the DuckDB baseline of `npm run bench` does).
 *
 * Opening a pipe blocks until both ends are open, so a reader that fails before it opens the pipe
 * would leave the writer waiting forever; `openPipeWriter` watches for that.
 */
import { execFile } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { type FileHandle, mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DependencyError } from '../errors.ts';

export interface NamedPipe {
  path: string;
  remove(): Promise<void>;
}

/** A new named pipe (mode 600) in its own folder under the system temp dir. */
export async function makeNamedPipe(): Promise<NamedPipe> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'medallion-pipe-'));
  const pipePath = path.join(dir, 'copy.csv');
  try {
    await promisify(execFile)('mkfifo', ['-m', '600', pipePath]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new DependencyError('IO_ERROR', `creating a named pipe with mkfifo in ${dir}: ${(err as Error).message}`, {
      hint: 'The export needs a POSIX system (Linux, macOS) with mkfifo on the PATH and a writable temp folder (TMPDIR).',
    }, { cause: err });
  }
  return { path: pipePath, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Opens the pipe for writing once its reader has opened it. If `reader` settles first (it failed,
 * or never needed the pipe), the pending open is released by opening and closing the read end
 * ourselves, and null is returned.
 */
export async function openPipeWriter(pipePath: string, reader: Promise<unknown>): Promise<FileHandle | null> {
  const opening = open(pipePath, 'w');
  const readerGone = Symbol('reader gone');
  const first = await Promise.race([opening, reader.then(() => readerGone, () => readerGone)]);
  if (first !== readerGone) return first as FileHandle;
  const unblock = openSync(pipePath, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    await (await opening).close();
  } finally {
    closeSync(unblock);
  }
  return null;
}
