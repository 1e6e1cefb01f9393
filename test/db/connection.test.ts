/** Where the pipeline connects: --database-url > DATABASE_URL > PG* variables > embedded. */
import { describe, expect, it } from 'vitest';
import { resolveConnection } from '../../src/config.ts';
import { connect } from '../../src/db/client.ts';
import { openDatabase } from '../../src/db/open.ts';
import { DependencyError, UsageError } from '../../src/errors.ts';
import { TEST_DATABASE_URL } from '../support/database.ts';

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
