import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** What DuckDB's jemalloc sees: the variable once the encoder (and so DuckDB) is loaded, in a fresh process. */
async function allocatorConfAfterLoading(env: NodeJS.ProcessEnv): Promise<string> {
  const script = "await import('./src/export/parquet-encoder.ts'); console.log(JSON.stringify(process.env.DUCKDB_JE_MALLOC_CONF ?? null))";
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, env });
  return JSON.parse(stdout.trim());
}

describe('DuckDB allocator settings', () => {
  it('return freed pages at once unless the user configured jemalloc', async () => {
    const { DUCKDB_JE_MALLOC_CONF: _, ...clean } = process.env;
    expect(await allocatorConfAfterLoading(clean)).toBe('dirty_decay_ms:0,muzzy_decay_ms:0');
    expect(await allocatorConfAfterLoading({ ...clean, DUCKDB_JE_MALLOC_CONF: 'narenas:1' })).toBe('narenas:1');
  });
});
