#!/bin/bash
# What each connection of a medallion run is doing, second by second: runs `medallion transform`
# on target bench (or the command given) while sampling pg_stat_activity once a second, then prints
# one line per statement: start, end, connection, the statement's first words. Idle gaps on a
# connection show where the schedule could still pack work.
#
# Usage: bash bench/timeline.sh [medallion arguments...]   (default: transform --target bench --skip-export)
# Needs DATABASE_URL (or PG* variables) and psql on PATH.
set -euo pipefail
samples=$(mktemp)
trap 'rm -f "$samples"' EXIT
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(transform --target bench --skip-export)
node bin/medallion.js "${args[@]}" --quiet >/dev/null &
run=$!
while kill -0 "$run" 2>/dev/null; do
  psql "${DATABASE_URL:-}" -XAt -F '|' -c "select to_char(clock_timestamp(), 'HH24:MI:SS'), application_name,
      left(regexp_replace(query, '\s+', ' ', 'g'), 80)
    from pg_stat_activity where application_name like 'medallion-work%' and state <> 'idle'" >> "$samples" || true
  sleep 1
done
wait "$run"
# consecutive samples of the same statement on the same connection become one interval
awk -F'|' '$2 != "" {
  key = $2 "|" $3
  if (current[$2] == key) { last[$2] = $1; next }
  if ($2 in current) print first[$2], last[$2], current[$2]
  current[$2] = key; first[$2] = $1; last[$2] = $1
} END { for (c in current) print first[c], last[c], current[c] }' "$samples" | sort
