/** The bronze stage: the source contracts and loading the CSV files into bronze. */
export * from './contracts.ts';
export * from './load.ts';
export * from './changes.ts';
export * from './freshness.ts';
export { type PageMap, pageLines } from './block-hashes.ts';
