import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliUnprivileged } from '../support/cli.ts';
import { dropTarget, TEST_DATABASE_URL, uniqueTarget } from '../support/database.ts';
import { type FixtureDir, writeSources } from '../support/source-fixtures.ts';

// What cron and CI see: not a terminal, so JSON lines, no colour, no progress redraws.
const target = uniqueTarget('cli_out');
let sources: FixtureDir;
const env = { DATABASE_URL: TEST_DATABASE_URL };

beforeAll(async () => {
  sources = await writeSources();
});
afterAll(async () => {
  await dropTarget(target);
  await sources.cleanup();
});

describe('output when not on a terminal', () => {
  it('is one JSON object per line with run id and target, and no ANSI escapes', async () => {
    const r = await runCli(['load', '--seeds', sources.dir, '--target', target], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/\x1b\[/);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThan(3);
    const last = lines.at(-1);
    expect(last).toMatchObject({ event: 'run_finished', status: 'success', exit_code: 0, target });
    expect(typeof last.run_id).toBe('number');
    expect(lines.filter((l) => l.event === 'bronze_file_loaded')).toHaveLength(6);
  });

  it('--quiet prints only the final line', async () => {
    const r = await runCli(['load', '--seeds', sources.dir, '--target', target, '--quiet'], { env });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ event: 'run_finished', status: 'success' });
  });

  it('a failed run ends with one error line on stderr saying why, with its exit code', async () => {
    const r = await runCli(['load', '--seeds', '/nonexistent/dir', '--target', target, '--quiet'], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const last = JSON.parse(r.stderr.trim().split('\n').at(-1)!);
    expect(last).toMatchObject({ event: 'run_finished', status: 'failed', exit_code: 1, error_code: 'BRONZE_FILE_MISSING' });
    expect(last.message).toContain('the seeds folder /nonexistent/dir does not exist');
  });

  it('refuses unknown options and bad values with exit 2, all problems at once', async () => {
    const r = await runCli(['build', '--target', 'Bad-Name', '--max-reject-rate', '2', '--frobnicate'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown option --frobnicate');
    expect(r.stderr).toContain('--target: expected a lower-case name');
    expect(r.stderr).toContain('--max-reject-rate: expected a fraction between 0 and 1');
  });
});

describe('a folder this user may not write', () => {
  it('is a configuration error (exit 2) naming it in one line, not an internal error with a stack', async () => {
    const closed = await mkdtemp(path.join(tmpdir(), 'medallion-cli-out-closed-'));
    await chmod(closed, 0o555);
    try {
      const sql = path.resolve(import.meta.dirname, '../../sql');
      const r = await runCliUnprivileged(['compile', '--target', target, '--sql', sql, '--out', path.join(closed, 'target', 'manifest.json')]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([`medallion: error [CONFIG_INVALID] ${path.join(closed, 'target')}: EACCES: permission denied, mkdir '${path.join(closed, 'target')}'. Make that folder writable (a read-only mount?) or point the command at one this user can write.`]);
    } finally {
      await chmod(closed, 0o700);
      await rm(closed, { recursive: true, force: true });
    }
  });

  it('is the same for generate --out (exit 2), not a dependency failure', async () => {
    const closed = await mkdtemp(path.join(tmpdir(), 'medallion-cli-generate-closed-'));
    await chmod(closed, 0o555);
    try {
      const r = await runCliUnprivileged(['generate', '--scale', '1', '--out', path.join(closed, 'seeds')]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([`medallion: error [CONFIG_INVALID] ${path.join(closed, 'seeds')}: EACCES: permission denied, mkdir '${path.join(closed, 'seeds')}'. Make that folder writable (a read-only mount?) or point the command at one this user can write.`]);
    } finally {
      await chmod(closed, 0o700);
      await rm(closed, { recursive: true, force: true });
    }
  });
});
