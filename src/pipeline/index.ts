/** The whole run, stage after stage (`medallion build`, `load`, `transform`). */
export * from './run-pipeline.ts';
export * from './test-published.ts';
