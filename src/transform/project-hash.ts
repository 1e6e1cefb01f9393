/**
 * The hash of what a build would run: per model its compiled SQL (compiled for the target's
 * published schemas, so that it does not change from run to run: a run's staging schemas carry its
 * id), its .yml file as written and its data tests; for the project those, the files of
 * sql/functions and medallion's version. Two builds of the same bronze and as_of with the same
 * project hash build the same silver and gold: a build compares it with the published run's to do
 * nothing when nothing changed. A .yml that changes only a description changes the hash too: the
 * hash errs on the side of building.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SchemaNames } from '../config.ts';
import { compileSql, publishedTarget } from './compile.ts';
import type { Project } from './types.ts';

export interface ProjectHash {
  /** sha256 over medallion's version, the functions and every model's hash. */
  sha256: string;
  /** Model (`silver.customers`) → sha256 of its compiled SQL, .yml and data tests. */
  models: Map<string, string>;
  /** medallion's version and the functions, as hashed into `sha256` (projectSha256With). */
  base: readonly string[];
}

export async function projectHash(project: Project, schemas: SchemaNames): Promise<ProjectHash> {
  const target = publishedTarget(schemas);
  const models = new Map<string, string>();
  for (const m of project.models) {
    const yml = await readFile(m.ymlFile, 'utf8');
    // The tests without where they are declared: moving the project folder changes nothing.
    const tests = m.tests.map(({ file: _file, declaredAt: _declaredAt, ...test }) => test);
    models.set(m.name, sha256([compileSql(m.sql, target).sql, yml, JSON.stringify(tests)]));
  }
  const functions = await functionFiles(project.dir);
  const base = [`medallion ${await medallionVersion()}`, ...functions.flatMap((f) => [f.name, f.text])];
  return { sha256: projectSha256With(base, models), models, base };
}

/**
 * The project hash of `base` (a version and functions) with these model hashes: with this run's
 * base and the published run's models, it equals the published project hash exactly when the
 * functions and medallion's version are the published run's.
 */
export function projectSha256With(base: readonly string[], models: ReadonlyMap<string, string>): string {
  return sha256([...base, ...[...models].sort(([a], [b]) => (a < b ? -1 : 1)).flat()]);
}

/** Each part length-prefixed, so that no two lists of parts hash alike. */
function sha256(parts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(`${Buffer.byteLength(p)}:`).update(p);
  return hash.digest('hex');
}

async function functionFiles(sqlDir: string): Promise<{ name: string; text: string }[]> {
  const dir = path.join(sqlDir, 'functions');
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return Promise.all(names.filter((f) => f.endsWith('.sql')).sort().map(async (name) => ({ name, text: await readFile(path.join(dir, name), 'utf8') })));
}

/** package.json's version (src/transform/ and dist/transform/ are both two folders below it). */
async function medallionVersion(): Promise<string> {
  return (JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
