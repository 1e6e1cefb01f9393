/** The whole run, stage after stage (`medallion build`, `load`, `transform`). */
export * from './build.ts';
