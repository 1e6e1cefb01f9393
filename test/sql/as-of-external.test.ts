/**
 * The as-of oracle (test/sql/as-of-oracle.ts) on any folder of source files, for checking data
 * this repository does not ship (the original project's exports, a customer's files):
 *   MEDALLION_ORACLE_SEEDS=DIR [MEDALLION_ORACLE_DATES=2013-01-01,2013-10-01] npx vitest run test/sql/as-of-external.test.ts
 * Without MEDALLION_ORACLE_SEEDS it does not run (the suite needs no outside files); test/sql/as-of.test.ts
 * runs the same oracle on generated files every time. Each date's gold row counts and checksums
 * are printed.
 */

import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dropTarget } from '../support/database.ts';
import { buildAsOf, cutTo, goldChecksums } from './as-of-oracle.ts';

const SEEDS = process.env.MEDALLION_ORACLE_SEEDS;
const DATES = (process.env.MEDALLION_ORACLE_DATES ?? '2013-01-01,2013-06-15,2013-07-01,2013-10-01').split(',');
const targets: string[] = [];

afterAll(async () => {
  for (const target of targets) await dropTarget(target);
});

describe.runIf(SEEDS !== undefined)(`--as-of D on ${SEEDS} equals a run on day D with the files cut to that day`, () => {
  it.each(DATES)(
    'gold at %s',
    async (asOf) => {
      const dir = path.resolve(SEEDS!);
      const cutDir = await cutTo(dir, asOf);
      try {
        const cut = await buildAsOf(cutDir, asOf, targets);
        const full = await buildAsOf(dir, asOf, targets);
        const sums = await goldChecksums(full);
        console.log(`as-of oracle ${asOf}: ${JSON.stringify(sums)}`);
        expect(sums).toEqual(await goldChecksums(cut));
      } finally {
        await rm(cutDir, { recursive: true, force: true });
      }
    },
    1_800_000,
  );
});
