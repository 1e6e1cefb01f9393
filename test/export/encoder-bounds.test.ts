/**
 * The settings that keep the export's memory flat in the table size: every DuckDB the export opens
 * has one thread, the memory limit, and a month split that buffers a small part of a row group
 * before the rows reach the months' writers (not a row group: that doubled the rows held). A change of any
 * of them makes the export's peak grow with the data, which a test of a small table would not see
 * in its memory; so the settings themselves are checked, after a month split as well.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MEMORY_LIMIT, PARTITION_FLUSH_ROWS, ParquetEncoder } from '../../src/export/parquet-encoder.ts';

/** DuckDB's text of a byte size (`286.1 MiB`) in bytes. */
function bytesOf(text: string): number {
  const m = /^([\d.]+)\s*(bytes|KiB|MiB|GiB|KB|MB|GB)$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  const unit: Record<string, number> = { bytes: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, kb: 1e3, mb: 1e6, gb: 1e9 };
  return Number(m[1]) * unit[m[2]!.toLowerCase()]!;
}

async function expectBounded(encoder: ParquetEncoder): Promise<void> {
  expect(await encoder.setting('threads')).toBe('1');
  expect(bytesOf(await encoder.setting('memory_limit'))).toBeCloseTo(bytesOf(MEMORY_LIMIT), -6);
  expect(Number(await encoder.setting('partitioned_write_flush_threshold'))).toBe(PARTITION_FLUSH_ROWS);
}

describe('the Parquet encoder bounds its memory', () => {
  it('opens DuckDB with one thread, the memory limit and a month-split buffer well under a row group, and keeps them through a month split', async () => {
    expect(bytesOf(MEMORY_LIMIT)).toBeLessThanOrEqual(300e6);
    // Well under a row group (the default --row-group-size is 131,072 rows).
    expect(PARTITION_FLUSH_ROWS).toBeLessThanOrEqual(131072 / 4);
    const dir = await mkdtemp(path.join(tmpdir(), 'encoder-bounds-'));
    const encoder = await ParquetEncoder.open();
    try {
      await expectBounded(encoder);
      const csv = path.join(dir, 'rows.csv');
      await writeFile(csv, '2013-07-01,1\n2013-08-02,2\n2013-07-03,3\n');
      const rows = await encoder.csvToParquet({
        source: csv,
        columns: [
          { name: 'order_date', pgType: 'date', notNull: true, kind: 'date' },
          { name: 'n', pgType: 'bigint', notNull: true, kind: 'int64' },
        ],
        outFile: path.join(dir, 'months'),
        rowGroupSize: 131072,
        compression: 'zstd',
        metadata: new Map(),
        monthsOf: 'order_date',
      });
      expect(rows).toBe(3);
      expect((await readdir(path.join(dir, 'months'))).sort()).toEqual(['medallion_month=2013-07', 'medallion_month=2013-08']);
      await expectBounded(encoder);
    } finally {
      encoder.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
