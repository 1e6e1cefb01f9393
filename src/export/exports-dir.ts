/**
 * The output folder (`exports/` or `--out DIR`) and how a new export becomes the published one.
 *
 *   DIR/_manifest.json            -> .medallion/current/_manifest.json      (links, created once)
 *   DIR/fact_sales                -> .medallion/current/fact_sales
 *   DIR/customer_features.parquet -> .medallion/current/customer_features.parquet
 *   DIR/.medallion/exports.json   the marker that says the folder is ours
 *   DIR/.medallion/current        -> versions/20261206T020000123Z-run-12   (THE pointer)
 *   DIR/.medallion/versions/20261206T020000123Z-run-12/...  a complete, fsynced, never modified export
 *   DIR/.medallion/versions/20261205T020000456Z-run-11/...  the previous one, kept for readers on it
 *   DIR/.medallion/staging/20261207T020000789Z-run-13-PID/   an export being written
 *
 * Version names start with the UTC time they were started, so they sort in time order even when
 * several targets share one folder (the last commit wins there).
 *
 * DIR itself is never renamed or replaced, so it may be a mount point (a Docker volume, a bind
 * mount) or hold files of the user's: everything moves by rename inside DIR, on one file system.
 * Publishing an export is one atomic rename of the `current` link: readers that open a path through
 * DIR see the whole previous export or the whole new one. The run's commit point is not that rename
 * but the database commit that records the version (see `exportGold`'s `commit`); after a crash
 * between the two, `reconcileExports` finishes the switch from the ledger's record.
 *
 * Nothing in DIR that this project did not write is removed or overwritten: a non-empty folder
 * without our marker (or a manifest of ours, the older layout) is refused before any work, and a
 * name we would link that already holds something else is refused too. Folders inside DIR that
 * hold our marker themselves (named targets' `exports/<target>/`) count as ours and are never
 * touched.
 */
import { constants } from 'node:fs';
import { access, lstat, mkdir, open, readdir, readFile, readlink, realpath, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DependencyError, type MedallionError, UsageError } from '../errors.ts';

export const STATE_DIR = '.medallion';
const MARKER = 'exports.json';
const MARKER_CONTENT = `${JSON.stringify({ tool: 'medallion-etl', layout: 'versions+current-link', note: 'This folder is written by medallion-etl. Read the files through the links beside .medallion/.' }, null, 2)}\n`;
/** Files a user may have in a new output folder that do not make it "someone else's". */
const IGNORABLE = new Set(['.gitkeep', '.gitignore', 'lost+found']);
export const MANIFEST_FILE = '_manifest.json';

export interface ExportsDir {
  /** The output folder, as given (resolved, symlinks in its path followed). */
  readonly root: string;
  readonly state: string;
  readonly versions: string;
  readonly staging: string;
  readonly current: string;
}

function layout(root: string): ExportsDir {
  const state = path.join(root, STATE_DIR);
  return { root, state, versions: path.join(state, 'versions'), staging: path.join(state, 'staging'), current: path.join(state, 'current') };
}

function usage(problem: string, root: string): UsageError {
  return new UsageError('CONFIG_INVALID', [problem], { file: root });
}

/**
 * A failed file operation as ours (exit 3): `doing` says what was being done, `file` where; the
 * message names the file once, since the error's context puts `file` before it.
 */
export function ioError(err: unknown, doing: string, file?: string): MedallionError {
  if (err instanceof Error && 'category' in err) return err as MedallionError;
  const e = err as Error & { code?: string };
  const full = e?.code === 'ENOSPC' || e?.code === 'EDQUOT' || /no space left on device|disk quota exceeded/i.test(e?.message ?? '');
  return new DependencyError(
    'IO_ERROR',
    `${doing}: ${e?.message ?? String(err)}`,
    { file, hint: full ? 'The disk is full: free space (or point --out elsewhere) and run again; nothing was published.' : 'Check that the output folder exists, is writable and has space; nothing was published.' },
    { cause: err },
  );
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(() => true, () => false);
}

/**
 * Checks the output folder before any work and makes it ours: it must be a directory (or not
 * exist yet, with a parent that can hold it), writable, and either empty or already ours. Throws
 * a UsageError (exit 2) naming what is wrong; creates `.medallion/` when all is well. `names` are
 * the top-level entries the export will link (tables, the manifest): one of them holding a file
 * of the user's is refused too.
 */
export async function openExportsDir(dir: string, names: readonly string[] = []): Promise<ExportsDir> {
  let root = path.resolve(dir);
  const link = await readlink(root).catch(() => null);
  if (link === linkTarget(path.basename(root))) {
    throw usage(`refusing to write into ${root}: it is the ${path.basename(root)} export of ${path.dirname(root)}. Give --out another folder (or the target another name); nothing was changed`, root);
  }
  const st = await stat(root).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw usage(`the output folder ${root} cannot be read (${err.code}): ${err.message}`, root);
  });
  if (st && !st.isDirectory()) throw usage(`the output folder ${root} is not a folder but a file: give --out a folder (it is created if missing)`, root);
  if (!st) {
    try {
      await mkdir(root, { recursive: true });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw usage(`the output folder ${root} does not exist and cannot be created (${e.code}): ${e.message}. Create it, or give --out a folder you can write`, root);
    }
  }
  root = await realpath(root);
  const dirs = layout(root);
  const entries = await readdir(root);
  const ours = (await exists(path.join(dirs.state, MARKER))) || (await legacyManifest(root)) !== null;
  // The exports folders of named targets (`exports/<target>/`) sit inside the default target's.
  const foreign: string[] = [];
  for (const e of entries) if (!IGNORABLE.has(e) && !(await isExportsFolder(path.join(root, e)))) foreign.push(e);
  if (!ours && foreign.length > 0) {
    const shown = foreign.slice(0, 5).join(', ') + (foreign.length > 5 ? `, and ${foreign.length - 5} more` : '');
    throw usage(
      `refusing to write into ${root}: it holds files that medallion did not write (${shown}) and no medallion export. Give --out an empty or new folder; nothing in this one was changed`,
      root,
    );
  }
  try {
    await access(root, constants.W_OK);
    await mkdir(dirs.versions, { recursive: true });
    await mkdir(dirs.staging, { recursive: true });
    if (!(await exists(path.join(dirs.state, MARKER)))) await writeFile(path.join(dirs.state, MARKER), MARKER_CONTENT);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw usage(`the output folder ${root} is not writable (${e.code}): ${e.message}. Make it writable (a read-only mount?) or give --out another folder`, root);
  }
  const legacy = new Set((await legacyManifest(root))?.entries ?? []);
  for (const name of names) {
    const p = path.join(root, name);
    const s = await lstat(p).catch(() => null);
    if (s && !s.isSymbolicLink() && !legacy.has(name)) {
      if (await isExportsFolder(p)) {
        throw usage(`refusing to write ${p}: it is the exports folder of the target named '${name}'. Give this target's exports another place with --out, or rename that target; nothing was changed`, root);
      }
      throw usage(`refusing to write ${p}: it exists and medallion did not write it. Move it away, or give --out another folder; nothing was changed`, root);
    }
  }
  return dirs;
}

/**
 * A folder (not a link) that is itself an output folder of ours: what a named target's default
 * `exports/<target>/` is inside the default target's `exports/`. Its marker says so; it is left
 * as it is by everything here (only links of ours and the older layout's files are touched).
 */
async function isExportsFolder(p: string): Promise<boolean> {
  const s = await lstat(p).catch(() => null);
  return s?.isDirectory() === true && (await exists(path.join(p, STATE_DIR, MARKER)));
}

/** The older layout (real files directly in DIR, listed by a manifest of ours): its entries. */
async function legacyManifest(root: string): Promise<{ entries: string[] } | null> {
  const file = path.join(root, MANIFEST_FILE);
  const s = await lstat(file).catch(() => null);
  if (!s?.isFile()) return null;
  try {
    const m = JSON.parse(await readFile(file, 'utf8')) as { format?: unknown; tables?: Record<string, { files?: { path?: string }[] }> };
    if (typeof m.format !== 'string' || !m.tables) return null;
    const entries = new Set([MANIFEST_FILE]);
    for (const t of Object.values(m.tables)) for (const f of t.files ?? []) if (f.path) entries.add(f.path.split('/')[0]!);
    return { entries: [...entries] };
  } catch {
    return null;
  }
}

/** A version's name: its start time (UTC, sortable) and the run that writes it. */
export function versionName(runId: number | string | null, at = new Date()): string {
  return `${at.toISOString().replace(/[-:.]/g, '')}-run-${runId ?? 'adhoc'}`;
}

/** A new staging folder for a version; the pid in its name keeps a live writer's folder from clean-up. */
export async function createStaging(dirs: ExportsDir, version: string): Promise<string> {
  const p = path.join(dirs.staging, `${version}-${process.pid}`);
  await rm(p, { recursive: true, force: true });
  await mkdir(p, { recursive: true }).catch((err) => { throw ioError(err, 'creating the folder', p); });
  return p;
}

/** fsyncs every file and folder below `dir` (and `dir`), so a rename of it publishes durable bytes. */
async function syncTree(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await syncTree(p);
    else if (e.isFile()) await syncPath(p);
  }
  await syncPath(dir);
}

async function syncPath(p: string): Promise<void> {
  const h = await open(p, 'r');
  try {
    await h.sync();
  } catch {
    // A few file systems cannot fsync a directory; the renames stay atomic there.
  } finally {
    await h.close();
  }
}

/**
 * Makes a finished staging folder an immutable version: everything fsynced, then renamed to
 * `versions/<version>`. Returns the version's absolute path (what the ledger records).
 */
export async function sealVersion(dirs: ExportsDir, stagingDir: string, version: string): Promise<string> {
  const target = path.join(dirs.versions, version);
  try {
    await syncTree(stagingDir);
    await rm(target, { recursive: true, force: true });
    await rename(stagingDir, target);
    await syncPath(dirs.versions);
  } catch (err) {
    throw ioError(err, 'sealing the export', target);
  }
  return target;
}

/** The version `current` points to (its absolute path), or null. */
export async function currentVersion(dirs: ExportsDir): Promise<string | null> {
  const link = await readlink(dirs.current).catch(() => null);
  return link === null ? null : path.resolve(dirs.state, link);
}

/**
 * Points `current` at a sealed version (one atomic rename of a new link over the old one), then
 * makes the top-level links match the version's entries. Idempotent: the recovery calls it again.
 */
export async function switchTo(dirs: ExportsDir, versionPath: string): Promise<void> {
  try {
    const tmp = path.join(dirs.state, `.current-${process.pid}`);
    await unlink(tmp).catch(() => {});
    await symlink(path.relative(dirs.state, versionPath), tmp);
    await rename(tmp, dirs.current);
    await syncPath(dirs.state);
    await linkEntries(dirs, new Set(await readdir(versionPath)));
  } catch (err) {
    throw ioError(err, `switching to ${path.basename(versionPath)}`, dirs.root);
  }
}

/** Top-level links for the entries of the current version; links of ours to entries it lacks go. */
async function linkEntries(dirs: ExportsDir, wanted: Set<string>): Promise<void> {
  const legacy = new Set((await legacyManifest(dirs.root))?.entries ?? []);
  for (const name of await readdir(dirs.root)) {
    if (name === STATE_DIR) continue;
    const p = path.join(dirs.root, name);
    const s = await lstat(p);
    if (s.isSymbolicLink()) {
      const target = await readlink(p);
      if (target === linkTarget(name) && !wanted.has(name)) await unlink(p);
    } else if (legacy.has(name)) {
      // The older layout's own files: replaced by links to the version (they are listed in its manifest).
      await rm(p, { recursive: true, force: true });
    }
  }
  for (const name of wanted) {
    const p = path.join(dirs.root, name);
    const s = await lstat(p).catch(() => null);
    if (s?.isSymbolicLink() && (await readlink(p)) === linkTarget(name)) continue;
    if (s && !s.isSymbolicLink()) continue; // not ours; openExportsDir refused it before any work
    const tmp = path.join(dirs.root, `.${name}.link-${process.pid}`);
    await unlink(tmp).catch(() => {});
    await symlink(linkTarget(name), tmp);
    await rename(tmp, p);
  }
  await syncPath(dirs.root);
}

function linkTarget(name: string): string {
  return `${STATE_DIR}/current/${name}`;
}

/**
 * Brings the folder to the state the ledger says is published, and removes what no reader needs:
 * - `committed` (the version path the last committed run recorded): if it exists and `current`
 *   points elsewhere, that run crashed between its commit and its switch; the switch is finished
 *   here. Returns true when it did that.
 * - staging folders of processes that no longer run, and versions other than the current one and
 *   the one before it (`keep`), are removed.
 */
export async function reconcileExports(dirs: ExportsDir, committed: string | null, keep: readonly string[] = []): Promise<{ finished: boolean; removed: string[] }> {
  let finished = false;
  const current = await currentVersion(dirs);
  const newer = (a: string, b: string | null) => b === null || path.basename(a) > path.basename(b);
  if (committed && path.dirname(committed) === dirs.versions && committed !== current && newer(committed, current) && (await exists(committed))) {
    await switchTo(dirs, committed);
    finished = true;
  }
  const removed: string[] = [];
  try {
    for (const e of await readdir(dirs.staging).catch(() => [] as string[])) {
      if (!ownedByLiveProcess(e)) {
        await rm(path.join(dirs.staging, e), { recursive: true, force: true });
        removed.push(path.join(dirs.staging, e));
      }
    }
    const keepSet = new Set([await currentVersion(dirs), committed, ...keep].filter(Boolean).map((p) => path.basename(p!)));
    for (const e of await readdir(dirs.versions).catch(() => [] as string[])) {
      if (keepSet.has(e)) continue;
      await rm(path.join(dirs.versions, e), { recursive: true, force: true });
      removed.push(path.join(dirs.versions, e));
    }
  } catch (err) {
    throw ioError(err, 'cleaning', dirs.state);
  }
  return { finished, removed };
}

/** Staging folders are named `<version>-<pid>`; one whose process still runs is left alone. */
function ownedByLiveProcess(name: string): boolean {
  const pid = Number(/-(\d+)$/.exec(name)?.[1]);
  if (!pid || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * After a crash between a run's commit and its switch: makes the version the ledger says was
 * committed the current one (when its folder still exists and nothing newer is current) and
 * removes dead staging folders and old versions. True when it finished a switch.
 */
export async function finishCommittedExport(versionPath: string): Promise<boolean> {
  const versions = path.dirname(versionPath);
  const root = path.dirname(path.dirname(versions));
  if (path.basename(versions) !== 'versions' || !(await exists(path.join(root, STATE_DIR, MARKER)))) return false;
  const { finished } = await reconcileExports(layout(root), versionPath);
  return finished;
}

/** The top-level names an export of these tables links (checked for the user's files up front). */
export function exportEntryNames(tables: readonly string[], folderTables: readonly string[]): string[] {
  return [MANIFEST_FILE, ...tables.map((t) => (folderTables.includes(t) ? t : `${t}.parquet`))];
}
