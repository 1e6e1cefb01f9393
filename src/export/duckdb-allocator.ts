/**
 * DuckDB's allocator on Linux is jemalloc (linked into its library), which by default keeps freed
 * pages for up to 10 s before giving them back to the system. The Parquet encoder churns through
 * such pages, so with the default they add tens of MB to the export's peak, which the 400 MB limit
 * of `medallion build` cannot spare. Returning them at once costs about a tenth of the export's
 * time (docs/decisions/0002-duckdb-parquet-writer.md, figures in src/export/README.md).
 *
 * jemalloc reads this variable when DuckDB's library starts, so this module must be evaluated
 * before `@duckdb/node-api` is: parquet-encoder.ts imports it first. A value already set is kept.
 */
process.env.DUCKDB_JE_MALLOC_CONF ??= 'dirty_decay_ms:0,muzzy_decay_ms:0';
