/** Where the pipeline connects: --database-url > DATABASE_URL > PG* variables > embedded. */
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { PIPELINE_OPTIONS, parseArgs, resolveConnection, resolvePipelineConfig } from '../../src/config.ts';
import { connect, withClient } from '../../src/db/client.ts';
import { openDatabase } from '../../src/db/open.ts';
import { DependencyError, UsageError } from '../../src/errors.ts';
import { runCli } from '../support/cli.ts';
import { TEST_DATABASE_URL, uniqueTarget } from '../support/database.ts';

const URL_A = 'postgresql://alice:secret-a@db-a.example:5433/a';
const URL_B = 'postgresql://bob:secret-b@db-b.example:5434/b';
const PG = { PGHOST: 'pg.example', PGPORT: '6543', PGUSER: 'carol', PGDATABASE: 'c', PGPASSWORD: 'secret-c' };

describe('resolveConnection precedence', () => {
  it('takes --database-url over DATABASE_URL and PG*', () => {
    const c = resolveConnection({ 'database-url': URL_A }, { DATABASE_URL: URL_B, ...PG });
    expect(c.source).toBe('option');
    expect(c.display).toBe('alice@db-a.example:5433/a');
  });

  it('takes DATABASE_URL over PG* (parseArgs puts DATABASE_URL into the database-url option)', () => {
    const c = resolveConnection({ 'database-url': URL_B }, { DATABASE_URL: URL_B, ...PG });
    expect(c.source).toBe('DATABASE_URL');
    expect(c.display).toBe('bob@db-b.example:5434/b');
  });

  it('takes the PG* variables over the embedded server', () => {
    const c = resolveConnection({}, { ...PG, USER: 'root' });
    expect(c.source).toBe('PG* variables');
    expect(c.display).toBe('carol@pg.example:6543/c');
    expect(c.client).toMatchObject({ host: 'pg.example', port: 6543, user: 'carol', database: 'c' });
    expect(c.client.password).toBe('secret-c');
  });

  it.each(['PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE', 'PGPASSWORD', 'PGHOSTADDR'])('counts %s alone as configuring a server', (name) => {
    const c = resolveConnection({}, { [name]: name === 'PGPORT' ? '5432' : 'x', USER: 'dave' });
    expect(c.source).toBe('PG* variables');
    expect(c.embedded).toBeUndefined();
  });

  it('falls back to the embedded server when nothing is set (empty variables count as unset)', () => {
    const c = resolveConnection({}, { USER: 'root', PGHOST: '', DATABASE_URL: '' });
    expect(c.source).toBe('embedded');
    expect(c.embedded).toEqual({ dir: '.medallion/pg' });
    expect(c.display).toContain('embedded PostgreSQL');
  });

  it('never shows a password', () => {
    for (const c of [resolveConnection({ 'database-url': URL_A }, {}), resolveConnection({}, PG), resolveConnection({}, {})]) {
      const printed = `${c.display} ${JSON.stringify(c)}`;
      expect(printed).not.toMatch(/secret/);
    }
  });

  it('rejects a URL that is not postgresql:// (usage error)', () => {
    expect(() => resolveConnection({ 'database-url': 'mysql://x@y/z' }, {})).toThrow(UsageError);
  });

  it('an embedded connection that was not opened reaches no server', async () => {
    const err = await connect(resolveConnection({}, {})).catch((e) => e);
    expect(err).toBeInstanceOf(DependencyError);
    expect(err.code).toBe('DB_UNREACHABLE');
  });
});

describe('a login the server refuses', () => {
  it('says the server refused the user (SQLSTATE class 28), not "start the server"', async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.username = 'medallion_no_such_role';
    url.password = 'secret-x';
    const err = await connect(resolveConnection({ 'database-url': url.toString() }, {})).catch((e) => e);
    expect(err).toBeInstanceOf(DependencyError);
    expect(err.code).toBe('DB_LOGIN_REFUSED');
    expect(err.describe()).toContain('refused the login: 28');
    expect(err.describe()).toContain('medallion_no_such_role');
    expect(err.describe()).toContain('Check the user and password');
    expect(err.describe()).not.toMatch(/start the server|secret/i);
  });
});

describe('a server with no connection to spare', () => {
  it('says so and what to lower (SQLSTATE 53300), not "start the server"', async () => {
    const role = uniqueTarget('full');
    const url = new URL(TEST_DATABASE_URL);
    url.username = role;
    await withClient(resolveConnection({ 'database-url': TEST_DATABASE_URL }, {}), 'test', (c) => c.query(`create role ${role} login connection limit 0`));
    try {
      const err = await connect(resolveConnection({ 'database-url': url.toString() }, {})).catch((e) => e);
      expect(err).toBeInstanceOf(DependencyError);
      expect(err.code).toBe('DB_UNREACHABLE');
      expect(err.describe()).toContain('has no connection to spare: 53300');
      expect(err.describe()).toContain('lower --jobs');
      expect(err.describe()).not.toMatch(/start the server/i);
    } finally {
      await withClient(resolveConnection({ 'database-url': TEST_DATABASE_URL }, {}), 'test', (c) => c.query(`drop role ${role}`));
    }
  });
});

describe('precedence through the command line (parseArgs + resolvePipelineConfig, as build and load read them)', () => {
  const resolved = (argv: string[], env: NodeJS.ProcessEnv) => {
    const { options } = parseArgs(argv, PIPELINE_OPTIONS, env);
    const { connection } = resolvePipelineConfig(options, env, '/work', false);
    return { source: connection.source, display: connection.display };
  };

  it('--database-url, then DATABASE_URL, then PG*, then the embedded server', () => {
    const both = { DATABASE_URL: URL_B, ...PG, USER: 'root' };
    expect(resolved(['--database-url', URL_A], both)).toEqual({ source: 'option', display: 'alice@db-a.example:5433/a' });
    expect(resolved([`--database-url=${URL_A}`], both)).toEqual({ source: 'option', display: 'alice@db-a.example:5433/a' });
    expect(resolved([], both)).toEqual({ source: 'DATABASE_URL', display: 'bob@db-b.example:5434/b' });
    expect(resolved(['--database-url', URL_A], PG)).toEqual({ source: 'option', display: 'alice@db-a.example:5433/a' });
    expect(resolved([], { ...PG, USER: 'root' })).toEqual({ source: 'PG* variables', display: 'carol@pg.example:6543/c' });
    expect(resolved([], { ...PG, DATABASE_URL: '' })).toEqual({ source: 'PG* variables', display: 'carol@pg.example:6543/c' });
    expect(resolved([], { USER: 'root' })).toMatchObject({ source: 'embedded' });
  });

  it('a bad DATABASE_URL is refused even when PG* is set, naming DATABASE_URL', () => {
    expect(() => resolved([], { DATABASE_URL: 'mysql://x@y/z', ...PG })).toThrow(/DATABASE_URL: expected a postgresql:\/\/ URL/);
  });

  // The real CLI in-process: each candidate is a different unreachable server (nothing listens on
  // ports 1-3 of 127.0.0.1), so the run's `connecting` event and its DB_UNREACHABLE error name the
  // one that won. The seeds folder exists (a missing one is refused before connecting) but holds no
  // source file: the run fails at the connection, before reading it.
  const DEAD_OPTION = 'postgresql://opt_user@127.0.0.1:1/opt_db';
  const DEAD_URL = 'postgresql://url_user@127.0.0.1:2/url_db';
  const DEAD_PG = { PGHOST: '127.0.0.1', PGPORT: '3', PGUSER: 'pg_user', PGDATABASE: 'pg_db' };
  const connectingTo = async (argv: string[], env: NodeJS.ProcessEnv) => {
    const result = await runCli(['load', '--target', uniqueTarget('conn'), '--seeds', tmpdir(), ...argv], { env: { ETL_LOG_FORMAT: 'json', ...env }, cwd: '/nonexistent' });
    const events = `${result.stdout}\n${result.stderr}`.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const connecting = events.find((e) => e.event === 'connecting');
    return { code: result.code, connecting: connecting && { database: connecting.database, source: connecting.source }, final: events.find((e) => e.event === 'run_finished') };
  };

  it('medallion load connects where the README says: --database-url, then DATABASE_URL, then PG*', async () => {
    const option = await connectingTo(['--database-url', DEAD_OPTION], { DATABASE_URL: DEAD_URL, ...DEAD_PG });
    expect(option.connecting).toEqual({ database: 'opt_user@127.0.0.1:1/opt_db', source: 'option' });
    expect(option.code).toBe(3);
    expect(option.final).toMatchObject({ error_code: 'DB_UNREACHABLE', message: expect.stringContaining('127.0.0.1:1/opt_db (from option)') });

    const url = await connectingTo([], { DATABASE_URL: DEAD_URL, ...DEAD_PG });
    expect(url.connecting).toEqual({ database: 'url_user@127.0.0.1:2/url_db', source: 'DATABASE_URL' });
    expect(url.final).toMatchObject({ error_code: 'DB_UNREACHABLE', message: expect.stringContaining('127.0.0.1:2/url_db (from DATABASE_URL)') });

    const pgVars = await connectingTo([], DEAD_PG);
    expect(pgVars.connecting).toEqual({ database: 'pg_user@127.0.0.1:3/pg_db', source: 'PG* variables' });
    expect(pgVars.final).toMatchObject({ error_code: 'DB_UNREACHABLE', message: expect.stringContaining('127.0.0.1:3/pg_db (from PG* variables)') });
  });
});

describe('openDatabase for a configured server', () => {
  it('returns the connection as is, with a no-op close (the machine server, PostgreSQL >= 15)', async () => {
    const configured = resolveConnection({ 'database-url': TEST_DATABASE_URL }, { DATABASE_URL: TEST_DATABASE_URL });
    const db = await openDatabase(configured, { projectDir: '/nonexistent' });
    expect(db.connection).toBe(configured);
    const client = await connect(db.connection);
    try {
      const { rows } = await client.query<{ v: string }>("select current_setting('server_version_num') as v");
      expect(Number(rows[0]!.v)).toBeGreaterThanOrEqual(150000);
    } finally {
      await client.end();
    }
    await db.close();
  });
});
