/**
 * DuckDB's allocator on Linux is jemalloc (linked into its library), which by default keeps freed
 * pages for up to 10 s before giving them back to the system. The Parquet encoder churns through
 * such pages, so the process carried about 45 MB that were no longer in use, and `medallion build`
 * at scale 100 peaked at 377–402 MB, at the 400 MB limit. Returned at once, the scale-100 export of
 * fact_sales peaks at 324–328 MB instead of 368–372 MB and takes 26.0–26.5 s instead of 23.6–24.1 s
 * (three alternating pairs; src/export/README.md): memory headroom bought with 10% of the export.
 *
 * jemalloc reads this variable when DuckDB's library starts, so this module must be evaluated
 * before `@duckdb/node-api` is: parquet-encoder.ts imports it first. A value already set is kept.
 */
process.env.DUCKDB_JE_MALLOC_CONF ??= 'dirty_decay_ms:0,muzzy_decay_ms:0';
