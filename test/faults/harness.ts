/**
 * The frame of every fault-injection test: a target of its own with a work folder (the models and
 * small clean generated sources), builds that each get a new as_of (so every run publishes gold
 * that differs from the last one's, and "unchanged" and "new" can be told apart), and the checks
 * made after each fault and after the clean run that follows it.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { embeddedUrl, openEmbedded, stopEmbedded } from '../../src/db/embedded/index.ts';
import { runCli } from '../support/cli.ts';
import { type ChildOutcome, type Db, dbAt, killLiveChildren, type LogEvent, type MedallionChild, openGate, type Row, spawnMedallion, until } from '../support/child-run.ts';
import { dropTarget, TEST_DATABASE_URL, uniqueTarget } from '../support/database.ts';
import { compareStates, leftovers, type PublishedState, publishedState } from '../support/published-state.ts';
import { workFolder } from '../runs/helpers.ts';

export interface FaultTarget {
  target: string;
  work: string;
  seeds: string;
  /** The output folder the builds are given (`--out`). */
  out: string;
  /** The database the runs use (the test database unless given). */
  url: string;
  db: Db;
  /** `build` options for this target, with a new as_of each call unless `asOf` is given. */
  buildArgs(extra?: string[]): string[];
  /** A build as a child process, steered by its events. */
  start(options?: { extra?: string[]; env?: NodeJS.ProcessEnv }): MedallionChild;
  /** A build in this process that must succeed; returns its events. */
  cleanBuild(extra?: string[]): Promise<LogEvent[]>;
  state(): Promise<PublishedState>;
  dispose(): Promise<void>;
}

export interface FaultTargetOptions {
  /** The database (default: the test database). */
  url?: string;
  /** The output folder (default: `exports` in the work folder). */
  out?: string;
}

export async function faultTarget(prefix: string, options: FaultTargetOptions = {}): Promise<FaultTarget> {
  const target = uniqueTarget(prefix);
  const { work, seeds } = await workFolder(prefix);
  const out = options.out ?? path.join(work, 'exports');
  const url = options.url ?? TEST_DATABASE_URL;
  let day = 0;
  // Every build loads and builds everything (--full-refresh: unchanged files would be kept, and a
  // fault meant for a file's load would never fire) on a new as_of, so each run publishes anew.
  const buildArgs = (extra: string[] = []) => {
    const asOf = new Date(Date.UTC(2014, 0, 29 + day++)).toISOString().slice(0, 10);
    return ['build', '--seeds', seeds, '--target', target, '--out', t.out, '--as-of', asOf, '--full-refresh', ...extra];
  };
  const t: FaultTarget = {
    target,
    work,
    seeds,
    out,
    url,
    // The url may change (a restarted server on another port): every query reads it anew.
    db: <T extends Row>(sql: string, params?: unknown[]) => dbAt(t.url)<T>(sql, params),
    buildArgs,
    start: ({ extra, env } = {}) => spawnMedallion(buildArgs(extra), { cwd: work, env: { DATABASE_URL: t.url, ...env } }),
    async cleanBuild(extra) {
      const r = await runCli(buildArgs(extra), { cwd: work, env: { DATABASE_URL: t.url, ETL_LOG_FORMAT: 'json' } });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      return (r.stdout + r.stderr).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogEvent);
    },
    state: () => publishedState(target, t.out, t.db),
    async dispose() {
      if (t.url === TEST_DATABASE_URL) await dropTarget(target);
      await rm(work, { recursive: true, force: true });
    },
  };
  return t;
}

/**
 * The fault target of a test file (or describe block): created and built once in its beforeAll,
 * dropped in its afterAll. `options` is read in the beforeAll, after the hooks registered before
 * it (a mount, a server) have run.
 */
export function useFaultTarget(prefix: string, options: () => FaultTargetOptions | Promise<FaultTargetOptions> = () => ({})): FaultTarget {
  let inner: FaultTarget | undefined;
  beforeAll(async () => {
    inner = await faultTarget(prefix, await options());
    await inner.cleanBuild();
  });
  afterAll(async () => {
    // a run a failed test left going must not write into the target while it is dropped
    await killLiveChildren();
    await inner?.dispose();
  });
  const created = (): FaultTarget => {
    if (!inner) throw new Error(`the fault target ${prefix} is used before its beforeAll`);
    return inner;
  };
  return new Proxy({} as FaultTarget, {
    get: (_, key) => Reflect.get(created(), key),
    set: (_, key, value) => Reflect.set(created(), key, value),
  });
}

export interface FaultResult {
  outcome: ChildOutcome;
  /** The faulted run's id (from its run_started event). */
  runId: number;
  before: PublishedState;
  after: PublishedState;
  /** 'unchanged' or 'new' (compareStates throws on a mix). */
  change: 'unchanged' | 'new';
}

/**
 * Starts a build, waits for `trigger` (its first event of that name), does `act` to it, and waits
 * for it to end. With `gate` (the default), the run's ledger row is locked from its as_of event
 * on, so its publish cannot commit before the fault has landed: the gate opens once one of the
 * run's sessions waits on it (the fault was taken: the run is failing, or reached its commit
 * after the signal) or the run has ended.
 */
export async function injectFault(
  t: FaultTarget,
  options: {
    trigger: string;
    where?: (e: LogEvent) => boolean;
    act: (child: MedallionChild, event: LogEvent) => Promise<void> | void;
    /** Called as soon as the run is started (to wait for earlier events of its own). */
    started?: (child: MedallionChild) => void;
    gate?: boolean;
    env?: NodeJS.ProcessEnv;
    extra?: string[];
  },
): Promise<FaultResult> {
  const before = await t.state();
  const gate = options.gate === false ? null : await openGate(t.url);
  const child = t.start({ env: options.env, extra: options.extra });
  let runId = 0;
  try {
    options.started?.(child);
    void child.waitFor('run_started').then((e) => (runId = Number(e.run_id)), () => {});
    const closed = gate
      ? child.waitFor('as_of').then((e) => gate.close(`select 1 from "${t.target}_etl".runs where run_id = $1 for no key update`, [e.run_id]), () => {})
      : Promise.resolve();
    const event = await child.waitFor(options.trigger, options.where);
    await options.act(child, event);
    if (gate) {
      await until('the run waits on the gate or has ended', async () => child.exited || (await gate.waitedOn()));
      await closed;
    }
  } finally {
    await gate?.release();
  }
  const outcome = await child.done;
  const after = await t.state();
  return { outcome, runId, before, after, change: compareStates(before, after) };
}

/**
 * After a clean run that follows a fault: it published (a whole, new state), and nothing any run
 * left is still there: no staging or `__prev` schemas, no `__loading` tables, no staging export
 * folders, at most two versions, no stray entries, no `running` rows.
 */
export async function expectCleanAfterRerun(t: FaultTarget, before: PublishedState, userFiles: string[] = []): Promise<PublishedState> {
  const after = await t.state();
  expect(compareStates(before, after)).toBe('new');
  const left = await leftovers(t.target, t.out, { db: t.db, userFiles });
  expect({ ...left, versions: left.versions.length <= 2 }).toEqual({
    schemas: [],
    loadingTables: [],
    stagingFolders: [],
    versions: true,
    strayEntries: [],
    runs: expect.not.objectContaining({ running: expect.anything() }),
  });
  return after;
}

/** The ledger row of run `runId`. */
export async function runRow(t: FaultTarget, runId: number): Promise<{ status: string; exit_code: number | null; error_code: string | null }> {
  const [row] = await t.db<{ status: string; exit_code: number | null; error_code: string | null }>(
    `select status, exit_code, error_code from "${t.target}_etl".runs where run_id = $1`,
    [runId],
  );
  return row!;
}

/** A test file's own embedded PostgreSQL: the faults that stop or crash a server never touch the machine's shared one. */
export interface OwnServer {
  /** The embedded server's project folder (made before the file's tests, removed after them). */
  readonly projectDir: string;
  /** Starts the server (kept running until stopped) and returns its URL. */
  start(): Promise<string>;
  /** Stops it: `fast` as a clean shutdown, `immediate` as a crash (its next start runs crash recovery). */
  stop(mode?: 'fast' | 'immediate'): Promise<{ stopped: boolean }>;
}

/**
 * The file's own server, its folder made in a `beforeAll` and the server stopped and the folder
 * removed in an `afterAll` (registered where this is called, so before the hooks registered after it).
 */
export function useOwnServer(folderPrefix: string): OwnServer {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), folderPrefix));
    // as root the server runs as the postgres user, which must be able to enter the folder
    await chmod(dir, 0o755);
  });
  afterAll(async () => {
    if (!dir) return;
    await stopEmbedded({ projectDir: dir }).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });
  return {
    get projectDir() {
      return dir;
    },
    async start() {
      await openEmbedded({ projectDir: dir, keep: true });
      const url = await embeddedUrl(dir);
      if (!url) throw new Error(`the embedded PostgreSQL in ${dir} is not running after its start`);
      return url;
    },
    stop: (mode = 'fast') => stopEmbedded({ projectDir: dir, mode }),
  };
}
