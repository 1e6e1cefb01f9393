#!/usr/bin/env bash
# `medallion export` against its baseline (baseline.ts: psql \copy fact_sales to CSV, then
# DuckDB CSV → Parquet zstd, timed as bench/run.ts does, of the columns our export wrote), back to back, REPEAT times, so that other
# load on the machine hits both alike. One line per run; compare the ratios. With OLD=path/to/
# bin/medallion.js (e.g. another checkout, compiled) that export is timed too, in the same round.
# Usage: DATABASE_URL=... [OLD=...] bash bench/export/vs-duckdb.sh TARGET [REPEAT] [extra export options...]
set -eu
target=$1; repeat=${2:-3}; shift 2 || shift $#
out=${TMPDIR:-/tmp}/vs-duckdb-$target
here=$(cd "$(dirname "$0")" && pwd)
timed() { # cli → "wall peakKB"
  rm -rf "$out"
  { /usr/bin/time -f '%e %M' node "$1" export --target "$target" --out "$out" --log-format json --quiet "${@:2}" >/dev/null; } 2>&1 | tail -1
}
for i in $(seq "$repeat"); do
  read -r wall rss <<<"$(timed "$here/../../bin/medallion.js" "$@")"
  base=$(node --import tsx "$here/baseline.ts" "${target}_gold" "$out.csv" "$out.parquet" "$out/_manifest.json")
  line=$(printf 'run %d  ours %6.2f s (peak RSS %d MB)  baseline %6.2f s  ratio %.2f' "$i" "$wall" $((rss / 1024)) "$base" "$(echo "$wall / $base" | bc -l)")
  if [ -n "${OLD:-}" ]; then
    read -r owall orss <<<"$(timed "$OLD" "$@")"
    line="$line$(printf '  old %6.2f s (peak RSS %d MB, ratio %.2f)' "$owall" $((orss / 1024)) "$(echo "$owall / $base" | bc -l)")"
  fi
  echo "$line  load $(cut -d' ' -f1 /proc/loadavg)"
done
rm -rf "$out"
