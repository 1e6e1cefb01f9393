#!/bin/bash
# One model's `create table … as` against a target's published schemas, for one or more versions of
# its SQL, with the build's settings (jit off, work_mem 1GB as BUILD_MEMORY, the target's last
# as_of). The versions alternate round by round (a slow minute hurts all of them), and every
# version's rows are compared with the first's (`except all`, both ways: 0 and 0 when identical).
# Each round prints the wall seconds (psql's \timing); with --backend also the backend's own CPU
# seconds (utime + stime of /proc/self/stat, read by the backend with pg_read_file: a superuser and
# the server on this machine), its peak RSS (VmHWM, which counts the shared buffers it touched) and
# the temp bytes written (pg_stat_database: the whole database's, other sessions' count too), each
# version in a fresh connection so that VmHWM is its own. CPU is the figure to compare on a shared
# machine: wall time grows with the load, CPU much less. Parallel workers' CPU is not counted.
# With --explain, EXPLAIN ANALYZE of each version's select instead (per-node times; the
# instrumentation adds to them).
#
# Usage: TARGET=name bash bench/model-time.sh [--runs N] [--backend] [--explain] VERSION...
#   VERSION: a file (sql/silver/int_sales_lines.sql) or a git revision and path
#            (HEAD~1:sql/silver/int_sales_lines.sql)
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

# each version's select, read by the published schemas (the same textual rewrite as test/sql's sqlFor)
i=0
for version in "$@"; do
  i=$((i + 1))
  if [ -f "$version" ]; then cat "$version"; else git show "$version"; fi |
    sed -E "s/\\b(bronze|silver|gold|etl)\\.([a-z_])/${target}_\\1.\\2/g; s/;[[:space:]]*\$//" > "$dir/v$i.sql"
done
count=$i
psql_ -c "drop schema if exists $scratch cascade; create schema $scratch" >/dev/null 2>&1

if [ "$explain" = 1 ]; then
  for i in $(seq 1 "$count"); do
    echo "== version $i: ${!i}"
    { echo "$settings"; echo "explain (analyze, costs off, buffers off)"; cat "$dir/v$i.sql"; echo ";"; } | psql_
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
        echo "drop table if exists $scratch.v$i;"
        echo "select $cpu as cpu0, clock_timestamp() as t0, pg_stat_clear_snapshot(), $temp as temp0 \\gset"
        echo "create table $scratch.v$i as"
        cat "$dir/v$i.sql"
        echo ";"
        echo "select pg_stat_force_next_flush() \\g /dev/null"
        echo "select pg_sleep(0.6) \\g /dev/null"
        echo "select pg_stat_clear_snapshot() \\g /dev/null"
        echo "select format('cpu %s s, wall %s s, peak RSS %s, temp %s MB', round($cpu - :cpu0, 1),"
        echo "  round(extract(epoch from clock_timestamp() - :'t0'::timestamptz)::numeric - 0.6, 1),"
        echo "  (select trim(substring(s from 'VmHWM:\\s*([0-9]+ kB)')) from pg_read_file('/proc/self/status') as s),"
        echo "  round(($temp - :temp0) / 1e6));"
      } | psql_ -At | tr '\n' ' ')
    else
      seconds=$({ echo "$settings"; echo "drop table if exists $scratch.v$i;"; echo '\timing on'; echo "create table $scratch.v$i as"; cat "$dir/v$i.sql"; echo ";"; } |
        psql_ | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p' | tail -1)
      result=$(printf 'wall %.1f s' "$(echo "$seconds / 1000" | bc -l)")
    fi
    printf 'round %s, version %s (%s): %s\n' "$round" "$i" "${!i}" "$result"
  done
done
for i in $(seq 2 "$count"); do
  printf 'rows of version %s not in version 1, and of version 1 not in version %s: %s\n' "$i" "$i" \
    "$(psql_ -Atc "select (select count(*) from (table $scratch.v$i except all table $scratch.v1) as d) || ' and ' || (select count(*) from (table $scratch.v1 except all table $scratch.v$i) as d)")"
done
