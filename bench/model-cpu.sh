#!/bin/bash
# One model's `create table … as`, measured by its backend: CPU seconds (utime + stime of
# /proc/self/stat, read by the backend itself with pg_read_file), wall seconds, peak RSS (VmHWM, which
# counts the shared buffers the backend touched) and temp bytes written (pg_stat_database: the whole
# database's, so other sessions' temp files count too), with
# the build's settings (jit off, work_mem 1GB, the target's last as_of). Versions alternate round
# by round, each in a fresh connection so that VmHWM is its own; each round prints the md5 of the
# rows in key order, so equal output shows as equal md5s.
#
# Usage: TARGET=name bash bench/model-cpu.sh [--runs N] [--key "customer_id, cutoff_date"] VERSION...
#   VERSION: a file (sql/gold/customer_training_set.sql) or a git revision and path
#            (HEAD~1:sql/gold/customer_training_set.sql)
# Needs DATABASE_URL, psql and git, a superuser (pg_read_file of /proc) and PostgreSQL on this
# machine. Leaves nothing behind. Parallel workers' CPU is not counted (the backend's only).
set -euo pipefail
runs=2
key="customer_id, cutoff_date"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --key) key="$2"; shift 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "usage: TARGET=name bash bench/model-cpu.sh [--runs N] [--key COLUMNS] VERSION..." >&2; exit 2; }
target="${TARGET:-bench}"
scratch="model_cpu_$$"
psql_() { psql "${DATABASE_URL:-}" -X -q -v ON_ERROR_STOP=1 "$@"; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"; psql_ -c "drop schema if exists $scratch cascade" >/dev/null 2>&1 || true' EXIT

as_of=$(psql_ -Atc "select as_of from ${target}_etl.runs where status = 'success' and as_of is not null order by run_id desc limit 1")
[ -n "$as_of" ] || { echo "no successful run with an as_of in target $target" >&2; exit 2; }

i=0
for version in "$@"; do
  i=$((i + 1))
  if [ -f "$version" ]; then cat "$version"; else git show "$version"; fi |
    sed -E "s/\\b(bronze|silver|gold|etl)\\.([a-z_])/${target}_\\1.\\2/g; s/;[[:space:]]*\$//" > "$dir/v$i.sql"
done
count=$i
psql_ -c "drop schema if exists $scratch cascade; create schema $scratch" >/dev/null 2>&1

cpu="(select (split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint) / 100.0 from pg_read_file('/proc/self/stat') as s)"
temp="(select temp_bytes from pg_stat_database where datname = current_database())"
for round in $(seq 1 "$runs"); do
  for i in $(seq 1 "$count"); do
    result=$({
      echo "set client_min_messages = warning; set jit = off; set work_mem = '1GB'; select set_config('medallion.as_of', '$as_of', false) \\g /dev/null"
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
      echo "  round(($temp - :temp0) / 1e6))"
      echo ";"
      echo "select md5(string_agg(t::text, '|' order by $key)) from $scratch.v$i as t;"
    } | psql_ -At | tr '\n' ' ')
    printf 'round %s, version %s (%s): %s\n' "$round" "$i" "${!i}" "$result"
  done
done
