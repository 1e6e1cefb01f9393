/** The Parquet export stage: gold → Parquet files, partitioning, manifest, atomic publish. */
export { exportGold, GOLD_BUCKETS, GOLD_EXPORTS, GOLD_FOLDERS, TRAINING_SET_BUCKETS, type ExportGoldOptions, type ExportGoldResult, type ExportProgress, type InputFile, type Manifest, type ManifestFile } from './export-gold.ts';
export { exportTable, describeColumns, type BucketSplit, type ExportTableOptions, type ExportTableResult, type ColumnDescription } from './export-table.ts';
export type { ExportedFile } from './parquet-copy.ts';
export type { FingerprintSource, TableChange } from './reuse.ts';
export { KINDS, kindOf, LIFETIME_ROLE, pandasDtype, readColumns, type ColumnDoc, type ColumnKind, type ExportColumn } from './types.ts';
export type { Compression } from './parquet-encoder.ts';
export { currentVersion, exportEntryNames, type ExportsDir, finishCommittedExport, MANIFEST_FILE, openExportsDir, reconcileExports, STATE_DIR } from './exports-dir.ts';
