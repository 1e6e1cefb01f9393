#!/bin/bash
# One model's `create table … as` against a target's published schemas, for one or more versions of
# its SQL, with the build's settings (jit off, work_mem 1GB as BUILD_MEMORY, the target's last
# as_of). A version may be a chain of models joined by `+` (gold.customer_training_set and the
# silver models it is computed from): its members are built in order into the
# scratch schema (a member whose .yml says `materialized: view` as a view), each table analyzed as
# the build analyzes a table, a member reading the earlier ones
# there instead of the target's, and its time is the whole chain's; its rows are the last
# member's. The versions alternate round by round (a slow minute hurts all of them), and every
# version's rows are compared with the first's (`except all`, both ways: 0 and 0 when identical).
# Each round prints the wall seconds (psql's \timing); with --backend also the backend's own CPU
# seconds (utime + stime of /proc/self/stat, read by the backend with pg_read_file: a superuser and
# the server on this machine), its peak RSS (VmHWM, which counts the shared buffers it touched) and
# the temp bytes written (pg_stat_database: the whole database's, other sessions' count too), each
# version in a fresh connection so that VmHWM is its own. CPU is the figure to compare on a shared
# machine: wall time grows with the load, CPU much less. Parallel workers' CPU is not counted.
# With --explain, EXPLAIN ANALYZE of each version's select instead (per-node times; the
# instrumentation adds to them; of a chain, the last member's, over the earlier members built).
#
# Usage: TARGET=name bash bench/model-time.sh [--runs N] [--backend] [--explain] VERSION...
#   VERSION: a file (sql/silver/int_sales_lines.sql) or a git revision and path
#            (HEAD~1:sql/silver/int_sales_lines.sql), or several joined by + (a chain, in build
#            order: sql/silver/int_training_cutoffs.sql+sql/silver/int_customer_days.sql+
#            sql/silver/int_customer_cutoffs.sql+
#            sql/silver/int_customer_cutoff_values.sql+sql/silver/int_training_thresholds.sql+
#            sql/gold/customer_training_set.sql)
#   TARGET: the target whose bronze, silver and gold the SQL reads (default bench), after a build
#   at the scale to measure (e.g. `medallion build --seeds DIR --target NAME --skip-export`).
# Needs DATABASE_URL (or PG* variables), psql and git. Leaves nothing behind.
set -euo pipefail
runs=2
explain=0
backend=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --explain) explain=1; shift ;;
    --backend) backend=1; shift ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "usage: TARGET=name bash bench/model-time.sh [--runs N] [--backend] [--explain] VERSION..." >&2; exit 2; }
target="${TARGET:-bench}"
scratch="model_time_$$"
psql_() { psql "${DATABASE_URL:-}" -X -q -v ON_ERROR_STOP=1 "$@"; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"; psql_ -c "drop schema if exists $scratch cascade" >/dev/null 2>&1 || true' EXIT

as_of=$(psql_ -Atc "select as_of from ${target}_etl.runs where status = 'success' and as_of is not null order by run_id desc limit 1")
[ -n "$as_of" ] || { echo "no successful run with an as_of in target $target" >&2; exit 2; }
settings="set client_min_messages = warning; set jit = off; set work_mem = '1GB'; select set_config('medallion.as_of', '$as_of', false) \\g /dev/null"

# each version's select, read by the published schemas (the same textual rewrite as test/sql's sqlFor);
# of a chain, each member's (v<i>_<k>.sql), its references to an earlier member's layer.name
# rewritten to that member's table in the scratch schema, and the number of members (v<i>.n)
i=0
for version in "$@"; do
  i=$((i + 1))
  k=0
  earlier=()
  IFS='+' read -r -a members <<< "$version"
  for member in "${members[@]}"; do
    k=$((k + 1))
    stem=$(basename "${member##*:}" .sql)
    layer=$(basename "$(dirname "${member##*:}")")
    rewrite="s/\\b(bronze|silver|gold|etl)\\.([a-z_])/${target}_\\1.\\2/g; s/;[[:space:]]*\$//"
    for e in "${earlier[@]}"; do rewrite="$rewrite; s/\\b${target}_${e%%=*}\\b/$scratch.${e#*=}/g"; done
    if [ -f "$member" ]; then cat "$member"; else git show "$member"; fi | sed -E "$rewrite" > "$dir/v${i}_$k.sql"
    yml="${member%.sql}.yml"
    # the member's config.meta.planner_settings (name: value lines under that key), set for its
    # statement and reset after it, as the build sets them for the model's own transaction
    { if [ -f "$member" ]; then cat "$yml"; else git show "$yml"; fi; } 2>/dev/null | awk '
      /^[[:space:]]*planner_settings:/ { match($0, /^[[:space:]]*/); depth = RLENGTH; inside = 1; next }
      inside && /^[[:space:]]*(#.*)?$/ { next }
      inside { match($0, /^[[:space:]]*/); if (RLENGTH <= depth) { inside = 0; next }
               split($1, name, ":"); print name[1], $2 }' > "$dir/v${i}_$k.settings" || true  # no .yml: none
    if { if [ -f "$member" ]; then cat "$yml"; else git show "$yml"; fi; } 2>/dev/null | grep -q 'materialized: view'; then
      echo view > "$dir/v${i}_$k.kind"
    else
      echo table > "$dir/v${i}_$k.kind"
    fi
    earlier+=("${layer}\\.${stem}=v${i}_$k")
  done
  echo "$k" > "$dir/v$i.n"
done
count=$i
psql_ -c "drop schema if exists $scratch cascade; create schema $scratch" >/dev/null 2>&1

# the statements that drop version $1's tables from the scratch schema
drop_sql() {
  local k
  echo "drop table if exists $scratch.v$1 cascade;"
  for k in $(seq 1 $(($(cat "$dir/v$1.n") - 1))); do echo "drop $(cat "$dir/v$1_$k.kind") if exists $scratch.v$1_$k cascade;"; done
}

# the statements that build version $1 into the scratch schema: its earlier members as analyzed
# tables, then (unless $2 is "explain") its last member as the table v<i>
build_sql() {
  local n k
  n=$(cat "$dir/v$1.n")
  for k in $(seq 1 $((n - 1))); do
    awk '{ print "set " $1 " = " $2 ";" }' "$dir/v$1_$k.settings"
    echo "create $(cat "$dir/v$1_$k.kind") $scratch.v$1_$k as"; cat "$dir/v$1_$k.sql"; echo ";"
    awk '{ print "reset " $1 ";" }' "$dir/v$1_$k.settings"
    [ "$(cat "$dir/v$1_$k.kind")" = view ] || echo "analyze $scratch.v$1_$k;"
  done
  awk '{ print "set " $1 " = " $2 ";" }' "$dir/v$1_$n.settings"
  if [ "${2:-}" = explain ]; then echo "explain (analyze, costs off, buffers off)"; else echo "create table $scratch.v$1 as"; fi
  cat "$dir/v$1_$n.sql"; echo ";"
  awk '{ print "reset " $1 ";" }' "$dir/v$1_$n.settings"
}

if [ "$explain" = 1 ]; then
  for i in $(seq 1 "$count"); do
    echo "== version $i: ${!i}"
    { echo "$settings"; build_sql "$i" explain; } | psql_
  done
  exit 0
fi

cpu="(select (split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint) / 100.0 from pg_read_file('/proc/self/stat') as s)"
temp="(select temp_bytes from pg_stat_database where datname = current_database())"
for round in $(seq 1 "$runs"); do
  for i in $(seq 1 "$count"); do
    if [ "$backend" = 1 ]; then
      result=$({
        echo "$settings"
        drop_sql "$i"
        echo "select $cpu as cpu0, clock_timestamp() as t0, pg_stat_clear_snapshot(), $temp as temp0 \\gset"
        build_sql "$i"
        echo "select pg_stat_force_next_flush() \\g /dev/null"
        echo "select pg_sleep(0.6) \\g /dev/null"
        echo "select pg_stat_clear_snapshot() \\g /dev/null"
        echo "select format('cpu %s s, wall %s s, peak RSS %s, temp %s MB', round($cpu - :cpu0, 1),"
        echo "  round(extract(epoch from clock_timestamp() - :'t0'::timestamptz)::numeric - 0.6, 1),"
        echo "  (select trim(substring(s from 'VmHWM:\\s*([0-9]+ kB)')) from pg_read_file('/proc/self/status') as s),"
        echo "  round(($temp - :temp0) / 1e6));"
      } | psql_ -At | tr '\n' ' ')
    else
      # the sum of the statements' times: every create table and analyze of the chain
      seconds=$({ echo "$settings"; drop_sql "$i"; echo '\timing on'; build_sql "$i"; } |
        psql_ | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p' | paste -sd+ | bc -l)
      result=$(printf 'wall %.1f s' "$(echo "$seconds / 1000" | bc -l)")
    fi
    printf 'round %s, version %s (%s): %s\n' "$round" "$i" "${!i}" "$result"
  done
done
for i in $(seq 2 "$count"); do
  printf 'rows of version %s not in version 1, and of version 1 not in version %s: %s\n' "$i" "$i" \
    "$(psql_ -Atc "select (select count(*) from (table $scratch.v$i except all table $scratch.v1) as d) || ' and ' || (select count(*) from (table $scratch.v1 except all table $scratch.v$i) as d)")"
done
