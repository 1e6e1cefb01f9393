/**
 * The named pipe between the COPY stream and DuckDB: data goes through, and a reader that fails
 * before opening its end does not leave the writer blocked forever.
 */
import { readFile, stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { makeNamedPipe, openPipeWriter } from '../../src/export/fifo.ts';

describe('named pipe', () => {
  it('carries the bytes from the writer to a reader, and is removed with its folder', async () => {
    const pipe = await makeNamedPipe();
    expect((await stat(pipe.path)).isFIFO()).toBe(true);
    const reading = readFile(pipe.path, 'utf8');
    const writer = await openPipeWriter(pipe.path, reading);
    expect(writer).not.toBeNull();
    await writer!.writeFile('a,b\n1,2\n');
    await writer!.close();
    expect(await reading).toBe('a,b\n1,2\n');
    await pipe.remove();
    await expect(stat(pipe.path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('returns null instead of blocking when the reader fails before opening the pipe', async () => {
    const pipe = await makeNamedPipe();
    try {
      const failed = Promise.reject(new Error('reader failed before opening'));
      failed.catch(() => {});
      expect(await openPipeWriter(pipe.path, failed)).toBeNull();
    } finally {
      await pipe.remove();
    }
  });
});
