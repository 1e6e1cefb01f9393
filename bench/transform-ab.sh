#!/bin/bash
# Silver + gold of two checkouts back to back on the same bronze, each followed by the sorted copy
# of `npm run bench` (the baseline moves by a quarter from run to run on this machine, so an A/B
# needs both in the same minutes).
#
# Usage (after `npm run bench -- --scale 100`, which leaves bronze in target `bench`):
#   git worktree add /tmp/before <revision> && ln -s "$PWD/node_modules" /tmp/before/node_modules
#   (cd /tmp/before && npm run -s compile)
#   bash bench/transform-ab.sh /tmp/before [.]
# Needs DATABASE_URL (or PG* variables) for the target's database; psql on PATH.
set -euo pipefail
before=$1
after=${2:-.}
run() {
  local started=$(date +%s.%N)
  (cd "$1" && node bin/medallion.js transform --target bench --skip-export --quiet >/dev/null)
  echo "$2: medallion transform $(echo "$(date +%s.%N) - $started" | bc) s"
}
baseline() {
  local started=$(date +%s.%N)
  psql "${DATABASE_URL:-}" -Xq -c "drop table if exists bench_baseline.sorted_sales" \
    -c "create table bench_baseline.sorted_sales as select * from bench_bronze.sales_details order by sls_cust_id, sls_order_dt"
  echo "   sorted copy $(echo "$(date +%s.%N) - $started" | bc) s"
}
run "$before" before; baseline
run "$after" after; baseline
