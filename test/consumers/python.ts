/** The project's Python venv (.venv, test/consumers/requirements.txt) as the consumer tests use it. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

export const run = promisify(execFile);
export const PYTHON = path.join(path.resolve(import.meta.dirname, '../..'), '.venv/bin/python');

/** Why the venv cannot run these tests (no python, or a module it cannot import); null when it can. */
export async function venvMissing(modules: readonly string[]): Promise<string | null> {
  if (!existsSync(PYTHON)) return `${PYTHON} does not exist`;
  try {
    await run(PYTHON, ['-c', `import ${modules.join(', ')}`]);
    return null;
  } catch (err) {
    return `${PYTHON} cannot import ${modules.join(', ')}: ${(err as Error).message}`;
  }
}
