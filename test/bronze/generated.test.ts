import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SOURCE_CONTRACTS } from '../../src/bronze/contracts.ts';
import { generate, type Manifest } from '../../src/generate/index.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, uniqueTarget } from '../support/database.ts';

// The generator's manifest is the oracle: what it says it injected is what the loader must find.
const target = uniqueTarget('bronze_gen');
let dir: string;
let manifest: Manifest;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'medallion-bronze-gen-'));
  manifest = await generate({ scale: 0.05, seed: 11, outDir: dir, manifest: true, structuralRate: 0.004 });
  const r = await runCli(['load', '--seeds', dir, '--target', target, '--max-reject-rate', '0.05']);
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  await dropTarget(target);
  await fs.rm(dir, { recursive: true, force: true });
});

describe('bronze load of generated files', () => {
  it('accounts for every record: records = rows + rejects, as the manifest says', async () => {
    const files = await query<{ source: string; records: number; rows_loaded: number; rejects: number }>(
      `select source, records, rows_loaded, rejects from ${target}_etl.source_files order by source`,
    );
    expect(files).toHaveLength(6);
    for (const f of files) {
      const m = manifest.files[f.source as keyof Manifest['files']]!;
      expect({ source: f.source, records: f.records, rows: f.rows_loaded, rejects: f.rejects }).toEqual({ source: f.source, records: m.records, rows: m.rows, rejects: m.rejects });
      expect(f.records).toBe(f.rows_loaded + f.rejects);
      const [{ n }] = (await query<{ n: number }>(`select count(*)::int as n from ${target}_bronze.${f.source}`)) as [{ n: number }];
      expect(n).toBe(m.rows);
    }
  });

  it('rejects exactly the injected structural defects, by reason', async () => {
    const rows = await query<{ source: string; reason: string; n: number }>(
      `select source, reason, count(*)::int as n from ${target}_etl.rejects group by 1, 2 order by 1, 2`,
    );
    for (const c of SOURCE_CONTRACTS) {
      const found = Object.fromEntries(rows.filter((r) => r.source === c.name).map((r) => [r.reason, r.n]));
      const injected = Object.fromEntries(Object.entries(manifest.files[c.name]!.rejectReasons ?? {}).filter(([, n]) => (n as number) > 0));
      expect(found, c.name).toEqual(injected);
    }
    expect(rows.reduce((n, r) => n + r.n, 0)).toBeGreaterThan(0);
  });
});
