/**
 * What readers of a target see, as one comparable value: a checksum of every published gold
 * table, the exports' `_manifest.json` read through the output folder's link, the files a reader
 * finds there, and whether each of them still has the sha256 the manifest records. A fault must
 * leave it unchanged or wholly new (never the tables of one run with the files of another); and
 * what the runs left behind (staging schemas and folders, `__prev` schemas, `__loading` tables,
 * old versions, `running` rows), which the next clean run must have removed.
 */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { type Db, dbAt } from './child-run.ts';

export const GOLD_TABLES = ['fact_sales', 'customer_features', 'sales_daily', 'customer_training_set'] as const;

export interface PublishedState {
  /** `rows:md5` of each published gold table, rows in text order. */
  gold: Record<string, string>;
  /** The manifest's run, as_of, and sha256 per file path; null before the first export. */
  manifest: { run_id: number; as_of: string; rows: Record<string, number>; files: Record<string, string> } | null;
  /** The files a reader finds below the output folder through its links, sorted. */
  files: string[];
  /** The manifest's files whose bytes read through the links no longer have their sha256. */
  unreadable: string[];
  /** The run the ledger says readers see (the last `published_at`), and its as_of. */
  ledger: { run_id: number; as_of: string } | null;
}

/** Files below `dir` (following links), relative to `root`, without the state folder. */
async function readerFiles(root: string, dir = root): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (dir === root && name === '.medallion') continue;
    const p = path.join(dir, name);
    const s = await stat(p).catch(() => null);
    if (s?.isDirectory()) out.push(...(await readerFiles(root, p)));
    else if (s) out.push(path.relative(root, p));
  }
  return out.sort();
}

export async function publishedState(target: string, outDir: string, db: Db = dbAt()): Promise<PublishedState> {
  const gold: Record<string, string> = {};
  const gs = `"${target}_gold"`;
  const exists = await db(`select 1 from pg_namespace where nspname = $1`, [`${target}_gold`]);
  for (const table of GOLD_TABLES) {
    if (!exists.length) break;
    const [r] = await db<{ n: number; sum: string }>(`select count(*)::int as n, md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as sum from ${gs}.${table} as t`);
    gold[table] = `${r!.n}:${r!.sum}`;
  }
  const [ledger] = await db<{ run_id: number; as_of: string }>(
    `select run_id::int, as_of::text from "${target}_etl".runs where published_at is not null order by published_at desc, run_id desc limit 1`,
  ).catch(() => []);
  const text = await readFile(path.join(outDir, '_manifest.json'), 'utf8').catch(() => null);
  let manifest: PublishedState['manifest'] = null;
  const unreadable: string[] = [];
  if (text !== null) {
    const m = JSON.parse(text) as { run_id: number; as_of: string; tables: Record<string, { rows: number; files: { path: string; sha256: string }[] }> };
    const files: Record<string, string> = {};
    const rows: Record<string, number> = {};
    for (const [table, t] of Object.entries(m.tables)) {
      rows[table] = t.rows;
      for (const f of t.files) {
        files[f.path] = f.sha256;
        const bytes = await readFile(path.join(outDir, f.path)).catch(() => null);
        if (!bytes || createHash('sha256').update(bytes).digest('hex') !== f.sha256) unreadable.push(f.path);
      }
    }
    manifest = { run_id: Number(m.run_id), as_of: m.as_of, rows, files };
  }
  return { gold, manifest, files: await readerFiles(outDir), unreadable, ledger: ledger ?? null };
}

/**
 * The promise every fault keeps: the gold tables and the exports are both as they were, or both
 * the new run's. Returns which; throws (describing the mix) otherwise. A state is whole when its
 * manifest is the run the ledger names, its row counts are the tables', and every file reads back.
 */
export function compareStates(before: PublishedState, after: PublishedState): 'unchanged' | 'new' {
  const goldSame = JSON.stringify(before.gold) === JSON.stringify(after.gold);
  const exportsSame = JSON.stringify(before.manifest) === JSON.stringify(after.manifest) && JSON.stringify(before.files) === JSON.stringify(after.files);
  const problems = wholeProblems(after);
  if (goldSame !== exportsSame) problems.push(goldSame ? 'the exports changed but the gold tables did not' : 'the gold tables changed but the exports did not');
  if (problems.length) throw new Error(`readers see a mix: ${problems.join('; ')}\nbefore: ${JSON.stringify(before)}\nafter: ${JSON.stringify(after)}`);
  return goldSame ? 'unchanged' : 'new';
}

/** Why `s` is not one run's whole publication (empty when it is). */
export function wholeProblems(s: PublishedState): string[] {
  const problems: string[] = [];
  if (s.unreadable.length) problems.push(`files that do not read back with their manifest sha256: ${s.unreadable.join(', ')}`);
  if (!s.manifest || !s.ledger) return s.manifest || s.ledger ? [...problems, 'one of the ledger and the manifest is missing'] : problems;
  if (s.manifest.run_id !== s.ledger.run_id) problems.push(`the manifest is run ${s.manifest.run_id}'s but the ledger publishes run ${s.ledger.run_id}`);
  if (s.manifest.as_of !== s.ledger.as_of) problems.push(`the manifest's as_of ${s.manifest.as_of} is not the published run's ${s.ledger.as_of}`);
  for (const [table, rows] of Object.entries(s.manifest.rows)) {
    if (s.gold[table] && Number(s.gold[table]!.split(':')[0]) !== rows) problems.push(`${table}: ${rows} rows in the manifest, ${s.gold[table]} in gold`);
  }
  return problems;
}

export interface Leftovers {
  /** Staging (`__run_<id>`, `_next`) and `__prev` schemas of the target. */
  schemas: string[];
  /** bronze `__loading` tables. */
  loadingTables: string[];
  /** Entries of `<out>/.medallion/staging`. */
  stagingFolders: string[];
  /** Entries of `<out>/.medallion/versions`. */
  versions: string[];
  /** Entries of `<out>` and `<out>/.medallion` that are neither ours by design nor listed in `userFiles`. */
  strayEntries: string[];
  /** Runs of the target's ledger by status. */
  runs: Record<string, number>;
}

const STATE_ENTRIES = new Set(['current', 'exports.json', 'staging', 'versions']);

export async function leftovers(target: string, outDir: string, options: { db?: Db; userFiles?: string[] } = {}): Promise<Leftovers> {
  const db = options.db ?? dbAt();
  const schemas = await db<{ nspname: string }>(
    `select nspname from pg_namespace where nspname ~ $1 order by 1`,
    [`^${target}_(silver|gold)((__run_[0-9]+|_next)(_u[0-9]+)?|__prev_.*|_prev)$`],
  );
  const loading = await db<{ name: string }>(`select tablename as name from pg_tables where schemaname = $1 and tablename like '%\\_\\_loading' order by 1`, [`${target}_bronze`]);
  const runs = await db<{ status: string; n: number }>(`select status, count(*)::int as n from "${target}_etl".runs group by status`);
  const state = path.join(outDir, '.medallion');
  const stray: string[] = [];
  for (const name of await readdir(outDir).catch(() => [] as string[])) {
    if (name === '.medallion' || options.userFiles?.includes(name)) continue;
    const s = await lstat(path.join(outDir, name));
    if (!s.isSymbolicLink()) stray.push(name);
  }
  for (const name of await readdir(state).catch(() => [] as string[])) if (!STATE_ENTRIES.has(name)) stray.push(`.medallion/${name}`);
  return {
    schemas: schemas.map((r) => r.nspname),
    loadingTables: loading.map((r) => r.name),
    stagingFolders: await readdir(path.join(state, 'staging')).catch(() => []),
    versions: await readdir(path.join(state, 'versions')).catch(() => []),
    strayEntries: stray,
    runs: Object.fromEntries(runs.map((r) => [r.status, r.n])),
  };
}
