#!/bin/bash
# How much CPU a medallion run uses against its wall time, for the whole machine (PostgreSQL's
# processes and Node's): the busy seconds of /proc/stat around the run. Busy seconds / cores is the
# shortest wall time any schedule of the same work could reach; busy / wall near the core count says
# the run is CPU-bound and only less work makes it faster.
#
# Usage: bash bench/cpu-seconds.sh [medallion arguments...]   (default: transform --target bench --skip-export)
# Needs DATABASE_URL (or PG* variables). Measure on an otherwise idle machine: /proc/stat counts everything.
set -euo pipefail
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(transform --target bench --skip-export)
read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ < /proc/stat
t0=$(date +%s.%N)
node bin/medallion.js "${args[@]}" --quiet >/dev/null
t1=$(date +%s.%N)
read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ < /proc/stat
python3 - "$(getconf CLK_TCK)" "$(nproc)" "$t0" "$t1" "$((u2 + n2 + s2 + q2 + sq2 + st2 - u1 - n1 - s1 - q1 - sq1 - st1))" "$((i2 + w2 - i1 - w1))" <<'PY'
import sys
hz, cores, t0, t1, busy, idle = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
wall, busy_s, idle_s = t1 - t0, busy / hz, idle / hz
print(f"wall {wall:.1f} s; busy CPU {busy_s:.1f} s on {cores} cores (idle and iowait {idle_s:.1f} s); "
      f"{busy_s / wall:.2f} cores busy on average; no schedule of this work ends before {busy_s / cores:.1f} s")
PY
