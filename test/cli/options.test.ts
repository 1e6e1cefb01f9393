/**
 * The command line a dbt user expects: every command's --help from the option table without
 * running anything, --version, near-miss suggestions, options a command does not take and stray
 * arguments refused before anything runs, the README's option tables up to date, and the error
 * texts (full stop before the advice, a missing seeds folder, a missing database, a future
 * --as-of, an exit-75 run ending as skipped).
 */
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOptionTables } from '../../src/cli/help.ts';
import { COMMAND_NAMES, OPTIONS, optionsOf } from '../../src/config.ts';
import { DataError, UsageError } from '../../src/errors.ts';
import { runLockKey } from '../../src/runs/lock.ts';
import { runCli, runCliUnprivileged } from '../support/cli.ts';
import { dropTarget, TEST_DATABASE_URL, uniqueTarget } from '../support/database.ts';
import { type FixtureDir, writeSources } from '../support/source-fixtures.ts';

// Nothing listens on port 1: a command that tried to connect would fail with exit 3.
const DEAD = { DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/nothing', ETL_LOG_FORMAT: 'json' };
const target = uniqueTarget('cli_opts');
let sources: FixtureDir;
let work: string;

beforeAll(async () => {
  sources = await writeSources();
  work = await mkdtemp(path.join(tmpdir(), 'medallion-cli-opts-'));
});
afterAll(async () => {
  await dropTarget(target);
  await sources.cleanup();
  await rm(work, { recursive: true, force: true });
});

describe('help runs nothing', () => {
  it.each(COMMAND_NAMES.map((c) => [c]))('medallion %s -h and --help: exit 0, every option described, no connection, no file written', async (name) => {
    for (const flag of ['-h', '--help']) {
      const r = await runCli([name, flag, '--out', 'should-not-be-created'].filter((_a, i) => i < 2 || optionsOf(name).includes('out')), { env: DEAD, cwd: work });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(new RegExp(`^usage: medallion ${name} `));
      for (const option of optionsOf(name)) expect(r.stdout).toContain(`--${option}`);
      expect(r.stdout).toContain('-h, --help');
    }
    expect(await readdir(work)).toEqual([]);
  });

  it('help COMMAND prints the same text as COMMAND --help, with descriptions and defaults', async () => {
    const viaHelp = await runCli(['help', 'build'], { env: DEAD });
    const viaFlag = await runCli(['build', '--help'], { env: DEAD });
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
    expect(viaHelp.stdout).toMatch(/--max-reject-rate F\s+fail a file whose rejected records exceed[\s\S]*?\(default: 0\.01\)/);
    expect(viaHelp.stdout).toMatch(/--seeds DIR\s+folder with the six source CSV files \(default: seeds\/bronze; env\s+ETL_SEEDS\)/);
  });

  it('--help wins over bad options and stray arguments', async () => {
    const r = await runCli(['build', 'stray', '--bogus', '--help'], { env: DEAD, cwd: work });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: medallion build/);
  });

  it('medallion --version and -V print the package version', async () => {
    const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag], { env: DEAD });
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`medallion ${version}\n`);
    }
  });
});

describe('refused before anything runs (exit 2, every problem in one message)', () => {
  it('suggests the nearest command', async () => {
    const r = await runCli(['biuld'], { env: DEAD });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'biuld' (did you mean 'build'?)");
  });

  it('suggests the nearest option, and names the commands that take an option', async () => {
    const r = await runCli(['build', '--as_of', '2020-01-01', '--seed', '3', '--frobnicate'], { env: DEAD, cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown option --as_of (did you mean --as-of?)');
    expect(r.stderr).toContain('build does not take --seed (only generate does); did you mean --seeds?');
    expect(r.stderr).toContain('unknown option --frobnicate');
    expect(r.stderr).toContain('3 problems');
  });

  it.each([['build'], ['load'], ['transform'], ['export'], ['generate'], ['docs']])('%s refuses an argument without --', async (name) => {
    const r = await runCli([name, 'seeds/bronze'], { env: DEAD, cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unexpected argument 'seeds/bronze'");
    expect(await readdir(work)).toEqual([]);
  });

  it('load refuses the options of the models and the exports instead of ignoring them', async () => {
    const r = await runCli(['load', '--sql', 'x', '--as-of', '2020-01-01', '--out', 'y', '--seeds', sources.dir], { env: DEAD, cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('load does not take --sql');
    expect(r.stderr).toContain('load does not take --as-of');
    expect(r.stderr).toContain('load does not take --out');
  });

  it('refuses a --target PostgreSQL would refuse as a schema prefix (pg_), from the option or ETL_TARGET', async () => {
    const r = await runCli(['load', '--target', 'pg_nightly', '--seeds', sources.dir], { env: DEAD, cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--target: 'pg_nightly' begins with pg_, which PostgreSQL reserves");
    const fromEnv = await runCli(['build'], { env: { ...DEAD, ETL_TARGET: 'pg_nightly' }, cwd: work });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain('--target (from ETL_TARGET)');
  });

  it('report takes --log-format and prints its result as one JSON line', async () => {
    const r = await runCli(['report', '--log-format', 'json', '--target', target], { env: { DATABASE_URL: TEST_DATABASE_URL }, cwd: work });
    expect(r.stderr).not.toContain('--log-format');
    const bad = await runCli(['report', '--log-format', 'xml'], { env: DEAD, cwd: work });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--log-format: expected one of pretty, json');
  });

  it('refuses an --as-of after today (and from ETL_AS_OF)', async () => {
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const r = await runCli(['transform', '--as-of', tomorrow], { env: DEAD, cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--as-of: ${tomorrow} is after today`);
    const fromEnv = await runCli(['build'], { env: { ...DEAD, ETL_AS_OF: tomorrow }, cwd: work });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain('--as-of (from ETL_AS_OF)');
  });
});

describe('the option table', () => {
  it.each([['README.md', 'build,load,transform'], ['docs/cli.md', 'export']])('%s holds the option tables written from it (npm run docs:cli)', async (name, first) => {
    const readme = await readFile(new URL(`../../${name}`, import.meta.url), 'utf8');
    expect(readme).toContain(`<!-- options:${first} -->`);
    expect(withOptionTables(readme), `${name} is out of date: run \`npm run docs:cli\``).toBe(readme);
  });

  it('every option is taken by some command', () => {
    for (const [name, spec] of Object.entries(OPTIONS)) expect(spec.commands.length, name).toBeGreaterThan(0);
  });
});

describe('error texts', () => {
  it('a full stop between the message and the advice; a list of problems has the advice on its own line', () => {
    expect(new DataError('BRONZE_FILE_MISSING', 'gone', { hint: 'Put it back.' }).describe()).toBe('gone. Put it back.');
    expect(new DataError('BRONZE_FILE_MISSING', 'gone.', { hint: 'Put it back.' }).describe()).toBe('gone. Put it back.');
    expect(new UsageError('CONFIG_INVALID', ['a', 'b'], { hint: 'Fix them.' }).describe()).toBe('2 problems:\n  - a\n  - b\nFix them.');
  });

  it('a missing --seeds folder is one line, before connecting and before a run is recorded', async () => {
    const r = await runCli(['load', '--seeds', path.join(work, 'no-such-folder'), '--target', target], { env: DEAD, cwd: work });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    const last = JSON.parse(lines[0]!);
    expect(last).toMatchObject({ event: 'run_finished', status: 'failed', error_code: 'BRONZE_FILE_MISSING' });
    expect(last.message).toContain(`the seeds folder ${path.join(work, 'no-such-folder')} does not exist. Pass --seeds`);
    expect(last.run_id).toBeUndefined();
  });

  it('a --sql folder that is not there, or a project without run/default_as_of.sql, fails naming it before anything is loaded (exit 1)', async () => {
    const missing = await runCli(['build', '--seeds', sources.dir, '--target', target, '--sql', path.join(work, 'no-such-sql'), '--skip-export'], { env: { DATABASE_URL: TEST_DATABASE_URL, ETL_LOG_FORMAT: 'json' }, cwd: work });
    expect(missing.code, missing.stderr).toBe(1);
    expect(JSON.parse(missing.stderr.trim().split('\n').at(-1)!)).toMatchObject({ error_code: 'MODEL_FILE_INVALID', message: expect.stringContaining(`the sql folder ${path.join(work, 'no-such-sql')} does not exist. Run the command in the project folder`) });

    const sql = path.join(work, 'sql-without-run');
    await cp(path.resolve(import.meta.dirname, '../../sql'), sql, { recursive: true });
    await rm(path.join(sql, 'run'), { recursive: true });
    try {
      const r = await runCli(['build', '--seeds', sources.dir, '--target', target, '--sql', sql, '--skip-export'], { env: { DATABASE_URL: TEST_DATABASE_URL, ETL_LOG_FORMAT: 'json' }, cwd: work });
      expect(r.code, r.stderr).toBe(1);
      const last = JSON.parse(r.stderr.trim().split('\n').at(-1)!);
      expect(last).toMatchObject({ error_code: 'MODEL_FILE_INVALID', message: expect.stringContaining(`${path.join(sql, 'run', 'default_as_of.sql')} is missing`) });
      expect(last.message).not.toContain('    at ');
      expect(r.stdout).not.toContain('bronze_file_loaded');
    } finally {
      await rm(sql, { recursive: true, force: true });
    }
  });

  it('a seeds folder behind a folder this user may not enter is one line, exit 1, not a stack trace', async () => {
    const parent = await mkdtemp(path.join(tmpdir(), 'medallion-cli-opts-closed-'));
    try {
      await mkdir(path.join(parent, 'seeds'));
      await chmod(parent, 0o000);
      const r = await runCliUnprivileged(['load', '--seeds', path.join(parent, 'seeds'), '--target', target]);
      expect(r.code, r.stderr).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ event: 'run_finished', error_code: 'BRONZE_FILE_UNREADABLE', message: expect.stringContaining(`the seeds folder ${path.join(parent, 'seeds')} cannot be read: EACCES`) });
    } finally {
      await chmod(parent, 0o700);
      await rm(parent, { recursive: true, force: true });
    }
  });

  it('a missing database says so (SQLSTATE 3D000), not "start the server"', async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = '/medallion_no_such_database';
    const r = await runCli(['load', '--seeds', sources.dir, '--target', target, '--database-url', url.toString()], { env: { ETL_LOG_FORMAT: 'json' }, cwd: work });
    expect(r.code).toBe(3);
    const last = JSON.parse(r.stderr.trim().split('\n').at(-1)!);
    expect(last.error_code).toBe('DB_NOT_FOUND');
    expect(last.message).toContain('the database medallion_no_such_database does not exist');
    expect(last.message).not.toMatch(/start the server/i);
  });

  it('a run that finds the target locked ends as skipped (exit 75, level warn, on stdout)', async () => {
    const holder = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await holder.connect();
    try {
      await holder.query('select pg_advisory_lock(hashtext($1))', [runLockKey(target)]);
      const r = await runCli(['load', '--seeds', sources.dir, '--target', target], { env: { DATABASE_URL: TEST_DATABASE_URL }, cwd: work });
      expect(r.code, r.stderr).toBe(75);
      const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
      expect(last).toMatchObject({ event: 'run_finished', level: 'warn', status: 'skipped', exit_code: 75, error_code: 'RUN_LOCKED' });
      expect(r.stderr).not.toContain('run_finished');
    } finally {
      await holder.end();
    }
  });
});
