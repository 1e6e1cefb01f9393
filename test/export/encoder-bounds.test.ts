/**
 * The settings that keep the export's memory flat in the table size: every DuckDB the export opens
 * has one thread and the memory limit. A change of either makes the export's peak grow with the
 * data, which a test of a small table would not see in its memory; so the settings themselves are
 * checked, after the encoding of a month's CSV (month column first) as well.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MEMORY_LIMIT, ParquetEncoder } from '../../src/export/parquet-encoder.ts';

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
}

describe('the Parquet encoder bounds its memory', () => {
  it('opens DuckDB with one thread and the memory limit, and keeps them through the encoding of a month file', async () => {
    expect(bytesOf(MEMORY_LIMIT)).toBeLessThanOrEqual(300e6);
    const dir = await mkdtemp(path.join(tmpdir(), 'encoder-bounds-'));
    const encoder = await ParquetEncoder.open();
    try {
      await expectBounded(encoder);
      const csv = path.join(dir, '2013-07.csv');
      // as month-router.ts writes it: the month column first, the file's columns in another order
      await writeFile(csv, '2013-07-01,1\n2013-07-02,2\n2013-07-03,3\n');
      const orderDate = { name: 'order_date', pgType: 'date', notNull: true, kind: 'date' } as const;
      const n = { name: 'n', pgType: 'bigint', notNull: true, kind: 'int64' } as const;
      const rows = await encoder.csvToParquet({
        source: csv, columns: [n, orderDate], csvColumns: [orderDate, n], outFile: path.join(dir, 'part-2013-07.parquet'),
        rowGroupSize: 131072, compression: 'zstd', metadata: new Map(),
      });
      expect(rows).toBe(3);
      expect((await encoder.footers([path.join(dir, 'part-2013-07.parquet')]))[0]!.rows).toBe(3);
      await expectBounded(encoder);
    } finally {
      encoder.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
