/** The docs site: generated from the project, the database catalog and the last run; served locally. */
export * from './generate.ts';
export * from './serve.ts';
export * from './manifest.ts';
