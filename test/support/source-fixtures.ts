/** Small source files written by the tests themselves (no test reads ../shared). */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SOURCE_CONTRACTS, type SourceName } from '../../src/bronze/contracts.ts';

/** Data lines per source, without header; CRLF-joined unless a file's content is given whole. */
export const VALID_ROWS: Record<SourceName, string[]> = {
  cust_info: ['11000,AW00011000, Jon,Yang ,M,M,2025-10-06', '11001,AW00011001,Eugène,Huang  ,S,F,2025-10-06', '11002,AW00011002,Ruben,Torres,,,2025-10-07'],
  cust_az12: ['NASAW00011000,1971-10-06,Male', 'AW00011001,1976-05-10,F ', 'NASAW00011002,9999-11-20,'],
  loc_a101: ['AW-00011000,Australia', 'AW-00011001,US', 'AW-00011002, '],
  prd_info: ['210,CO-RF-FR-R92B-58,HL Road Frame - Black- 58,,R ,2003-07-01,', '211,BI-RB-BK-R93R-62,Road-150 Red- 62,2171,R ,2011-07-01,2007-12-28'],
  px_cat_g1v2: ['CO_RF,Components,Road Frames,Yes', 'BI_RB,Bikes,Road Bikes,Yes'],
  sales_details: ['SO43697,BK-R93R-62,11000,20101229,20110105,20110110,3578,1,3578', 'SO43698,FR-R92B-58,11001,20131345,20110105,20110110,,1,-3400', 'SO43699,BK-R93R-62,11002,0,20110105,20110110,3578,1,3578'],
};

export interface FixtureDir {
  dir: string;
  cleanup(): Promise<void>;
  /** Overwrites one file with exactly these bytes. */
  write(source: SourceName, content: string | Buffer): Promise<void>;
}

export async function writeSources(overrides: Partial<Record<SourceName, string | Buffer>> = {}): Promise<FixtureDir> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'medallion-sources-'));
  const write = (source: SourceName, content: string | Buffer) => writeFile(path.join(dir, `${source}.csv`), content);
  for (const c of SOURCE_CONTRACTS) {
    await write(c.name, overrides[c.name] ?? [c.header.join(','), ...VALID_ROWS[c.name]].join('\r\n'));
  }
  return { dir, write, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function headerOf(source: SourceName): string {
  return SOURCE_CONTRACTS.find((c) => c.name === source)!.header.join(',');
}
