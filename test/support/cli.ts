/** Runs the real CLI in-process and captures what it prints. */
import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
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

/** The uid and gid of `nobody`, which a test run as root takes to meet the permissions root ignores. */
const NOBODY = 65534;

/**
 * Runs `bin/medallion.js ARGV` in a child process that a file of mode 000 denies: as `nobody` when
 * the tests run as root (root reads any file), else as this user; in a folder of its own, which it
 * may write (reports/). The files it reads must be in folders it may enter.
 */
export async function runCliUnprivileged(argv: string[]): Promise<CliResult> {
  const cwd = await mkdtemp(path.join(tmpdir(), 'medallion-unprivileged-'));
  const asRoot = process.getuid?.() === 0;
  try {
    if (asRoot) await chown(cwd, NOBODY, NOBODY);
    const bin = path.resolve(import.meta.dirname, '../../bin/medallion.js');
    return await new Promise<CliResult>((resolve) => {
      execFile(
        process.execPath,
        [bin, ...argv],
        { cwd, env: { ...process.env, DATABASE_URL: TEST_DATABASE_URL, ETL_LOG_FORMAT: 'json' }, maxBuffer: 1 << 24, ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}) },
        (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}
