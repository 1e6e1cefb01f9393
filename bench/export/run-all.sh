#!/usr/bin/env bash
# Measures the production export and the DuckDB baseline on the same table, one after the other, with /usr/bin/time -v.
# Usage: bash bench/export/run-all.sh SCHEMA [TABLE]   (PG* variables select the database)
# Make the table first: psql -v rows=1000000 -v schema=SCHEMA -f bench/export/make-table.sql
set -u
schema=${1:-bench_export}; table=${2:-fact_sales_synth}
out=${TMPDIR:-/tmp}/medallion-bench; mkdir -p "$out"
run() { # name, command...
  local name=$1; shift
  /usr/bin/time -v "$@" > "$out/$name.out" 2> "$out/$name.time"
  printf '%-28s %8s s wall  %6s MB peak RSS  %s\n' "$name" \
    "$(grep 'Elapsed' "$out/$name.time" | awk '{print $NF}')" \
    "$(( $(grep 'Maximum resident' "$out/$name.time" | awk '{print $NF}') / 1024 ))" "$(tail -1 "$out/$name.out")"
}
run medallion-zstd       npx tsx bench/export/export-one.ts "$schema" "$table" "$out/m-zstd.parquet" zstd 131072
run medallion-snappy     npx tsx bench/export/export-one.ts "$schema" "$table" "$out/m-snappy.parquet" snappy 131072
run psql-copy-csv         psql -X -q -c "\\copy $schema.$table to '$out/table.csv' csv header"
run duckdb-csv-to-parquet npx tsx bench/export/duckdb-convert.ts "$out/table.csv" "$out/duck.parquet" zstd 131072 2
