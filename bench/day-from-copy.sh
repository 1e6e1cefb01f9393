#!/bin/bash
# One day's incremental build, timed again and again from the same starting point: the build of
# SEEDS into a copy of a database that holds the day before (`create database … template …
# strategy file_copy`, then a checkpoint), with the export folder restored from its snapshot at its
# own path (the ledger records that path: at another one the build's changes are not taken, and
# every exported table is fingerprinted by a scan). Prints the build's wall seconds and peak RSS,
# and writes beside each other in WORK: the build's JSON log (TAG.log) and, when the server's log
# is readable, its statements of 300 ms or more (TAG.pglog, log_min_duration_statement on the
# copy). The way to compare two versions of a day's build: a checkout each, run after run
# alternated (the machine's speed drifts within an hour).
#
# Set up once (scale 100, about 7 minutes; DAYS from `medallion generate --days 2 --manifest`):
#   createdb day1
#   DATABASE_URL=postgresql://…/day1 medallion build --seeds DAYS/day-00 --target lx --out /tmp/day1-out
#   DATABASE_URL=postgresql://…/day1 medallion build --seeds DAYS/day-01 --target lx --out /tmp/day1-out
#   mv /tmp/day1-out /tmp/day1-out.snapshot
# Usage: TEMPLATE=day1 OUT=/tmp/day1-out SEEDS=DAYS/day-02 TARGET=lx [WORK=/tmp/day-from-copy] \
#          bash bench/day-from-copy.sh TAG [CHECKOUT]
#   CHECKOUT: the folder whose bin/medallion.js and sql/ run (default: this one).
# Needs psql with DATABASE_URL's server (a superuser, for the checkpoint), on this machine.
set -euo pipefail
tag=$1
checkout=$(cd "${2:-$(dirname "$0")/..}" && pwd)
: "${TEMPLATE:?}" "${OUT:?}" "${SEEDS:?}" "${TARGET:?}"
work=${WORK:-/tmp/day-from-copy}
mkdir -p "$work"
base=${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
copy=${TEMPLATE}_copy
psql -X -q -v ON_ERROR_STOP=1 -d "$base" \
  -c "drop database if exists $copy" \
  -c "create database $copy template $TEMPLATE strategy file_copy" \
  -c "alter database $copy set log_min_duration_statement = 300" \
  -c "checkpoint"
rm -rf "$OUT"
cp -al "$OUT.snapshot" "$OUT"
sync
log=$(psql -X -At -d "$base" -c "select pg_current_logfile()" 2>/dev/null || true)
data=$(psql -X -At -d "$base" -c "show data_directory")
[ -n "$log" ] && [ "${log#/}" = "$log" ] && log="$data/$log"
[ -r "$log" ] || log=$(ls -t /var/log/postgresql/postgresql-*.log 2>/dev/null | head -1 || true)
lines=0
[ -n "$log" ] && [ -r "$log" ] && lines=$(wc -l < "$log")
cd "$checkout"
# the copy's URL: DATABASE_URL's with the copy as its database, query parameters kept
query=""
case $base in *\?*) query="?${base#*\?}" ;; esac
url="${base%%\?*}"
url="${url%/*}/$copy$query"
DATABASE_URL=$url /usr/bin/time -f "%e s, peak RSS %M KB" node bin/medallion.js build --seeds "$SEEDS" --target "$TARGET" --out "$OUT" --log-format json > "$work/$tag.log" 2> "$work/$tag.err" || true
tail -n 1 "$work/$tag.err"
[ -n "$log" ] && [ -r "$log" ] && tail -n +$((lines + 1)) "$log" | grep "duration:" > "$work/$tag.pglog" || true
