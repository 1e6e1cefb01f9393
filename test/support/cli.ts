/** Runs the real CLI in-process and captures what it prints. */
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.ts';
import { TEST_DATABASE_URL } from './database.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(argv: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; signal?: AbortSignal } = {}): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const controller = new AbortController();
  const code = await main(argv, {
    stdout,
    stderr,
    env: options.env ?? { DATABASE_URL: TEST_DATABASE_URL, ETL_LOG_FORMAT: 'json' },
    cwd: options.cwd ?? process.cwd(),
    signal: options.signal ?? controller.signal,
  });
  return { code, stdout: out, stderr: err };
}
