/** The run report: collected from the ledger, written as JSON and HTML. */
export * from './collect.ts';
export * from './types.ts';
export * from './write.ts';
