/** A run's life and its ledger: the lock, the ledger rows and their reads, the run summary, the logger and the stages' output. */
export * from './ledger.ts';
export * from './ledger-read.ts';
export * from './ledger-rows.ts';
export * from './lock.ts';
export * from './logger.ts';
export * from './run.ts';
export * from './summary.ts';
export { formatTable } from './output.ts';
