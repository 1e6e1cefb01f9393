/** Shared by the export tests: a throwaway schema per test file, and hyparquet reading. */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { testConnection } from '../support/database.ts';
import { type Client, connect, ident } from '../../src/db/client.ts';
import type { ExportGoldOptions } from '../../src/export/export-gold.ts';

export { testConnection } from '../support/database.ts';

export async function withSchema(prefix: string): Promise<{ client: Client; schema: string; drop: () => Promise<void> }> {
  const client = await connect(testConnection(), `test-${prefix}`);
  const schema = `${prefix}_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  await client.query(`drop schema if exists ${ident(schema)} cascade; create schema ${ident(schema)}`);
  return {
    client,
    schema,
    drop: async () => {
      await client.query(`drop schema if exists ${ident(schema)} cascade`).catch(() => {});
      await client.end();
    },
  };
}

/** Reads a Parquet file with hyparquet (an independent reader); INT64 and timestamps stay bigint. */
export async function readParquet(file: string): Promise<Record<string, unknown>[]> {
  const buf = await readFile(file);
  const arrayBuffer = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  return (await parquetReadObjects({
    file: arrayBuffer,
    compressors,
    parsers: {
      timestampFromMilliseconds: (v: bigint) => v,
      timestampFromMicroseconds: (v: bigint) => v,
      timestampFromNanoseconds: (v: bigint) => v,
      dateFromDays: (v: number) => v,
      stringFromBytes: (b: Uint8Array | undefined) => (b === undefined ? b : new TextDecoder().decode(b)),
    } as never,
  })) as Record<string, unknown>[];
}

export async function readMetadata(file: string) {
  const buf = await readFile(file);
  return parquetMetadata(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

export async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/** exportGold of a test schema's tables into `exportsDir` as run `runId`: zstd, 2,048-row groups, as_of 2014-01-29, no inputs. */
export function goldOptions(schema: string, tables: readonly string[], exportsDir: string, runId: number, extra: Partial<ExportGoldOptions> = {}): ExportGoldOptions {
  return { connection: testConnection(), schemas: { gold: schema }, exportsDir, runId, asOf: '2014-01-29', inputFiles: [], rowGroupSize: 2048, compression: 'zstd', tables, ...extra };
}
