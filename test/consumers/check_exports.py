#!/usr/bin/env python3
"""Reads every export with nothing but pandas.read_parquet and checks it against PostgreSQL.

    python test/consumers/check_exports.py EXPORTS_DIR GOLD_SCHEMA [--database-url URL]

The connection is DATABASE_URL (or --database-url), else libpq's PG* variables; Postgres is
queried with psql in a subprocess (no Python driver needed). For every table in _manifest.json:
row count, column names and order, each column's pandas dtype (the documented one, see
src/export/README.md), the sum of every float64 (money, ratio) and integer column, and the NULL
count of every column equal what Postgres computes. Exit 0 when all hold, 1 otherwise.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys

import pandas as pd

# Postgres type (format_type without modifiers) -> (dtype when NOT NULL, dtype when nullable).
# The same table as src/export/types.ts; the README documents it.
DTYPES = {
    "smallint": ("int64", "Int64"),
    "integer": ("int64", "Int64"),
    "bigint": ("int64", "Int64"),
    "numeric": ("float64", "float64"),
    "double precision": ("float64", "float64"),
    "real": ("float64", "float64"),
    "boolean": ("bool", "boolean"),
    "date": ("datetime64[ms]", "datetime64[ms]"),
    "timestamp without time zone": ("datetime64[us]", "datetime64[us]"),
    "timestamp with time zone": ("datetime64[us, UTC]", "datetime64[us, UTC]"),
    "text": ("str", "str"),
    "character varying": ("str", "str"),
    "character": ("str", "str"),
    "name": ("str", "str"),
    "uuid": ("str", "str"),
}


def psql(sql, url):
    cmd = ["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql]
    if url:
        cmd.insert(1, url)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line != ""]


def qi(name):
    return '"' + name.replace('"', '""') + '"'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exports_dir")
    ap.add_argument("schema")
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = ap.parse_args()
    url = args.database_url
    with open(os.path.join(args.exports_dir, "_manifest.json")) as f:
        manifest = json.load(f)

    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)

    for table, info in manifest["tables"].items():
        rel = f"{qi(args.schema)}.{qi(table)}"
        target = os.path.join(args.exports_dir, table if os.path.isdir(os.path.join(args.exports_dir, table)) else f"{table}.parquet")
        df = pd.read_parquet(target)  # the one call the data scientists make
        cols = psql(
            "select a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull from pg_attribute a "
            f"where a.attrelid = '{rel}'::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum",
            url,
        )
        # A Hive partition column (--partition-by) is in the folder names only: pandas appends it
        # as the last column, with the category dtype.
        part = manifest.get("partition_by") if os.path.isdir(target) and any("partition" in f for f in info["files"]) else None
        if part:
            cols = [c for c in cols if c[0] != part] + [c for c in cols if c[0] == part]
        names = [c[0] for c in cols]
        check(list(df.columns) == names, f"{table}: columns {list(df.columns)} != gold {names}")
        (count,) = psql(f"select count(*) from {rel}", url)[0]
        check(len(df) == int(count), f"{table}: {len(df)} rows, Postgres {count}")

        aggregates = []
        for name, pg_type, not_null in cols:
            aggregates.append(f"count(*) - count({qi(name)})")
            base = re.sub(r"\(.*\)", "", pg_type).strip()
            if DTYPES.get(base, ("",))[0] in ("float64", "int64"):
                aggregates.append(f"sum({qi(name)})::text")
        agg = psql(f"select {', '.join(aggregates)} from {rel}", url)[0]
        i = 0
        for (name, pg_type, not_null), manifest_col in zip(cols, info["columns"]):
            base = re.sub(r"\(.*\)", "", pg_type).strip()
            expected = "category" if name == part else DTYPES[base][0 if not_null == "t" else 1]
            got = str(df[name].dtype) if name in df else "(missing)"
            check(got == expected, f"{table}.{name} ({pg_type}): dtype {got}, documented {expected}")
            check(manifest_col["pandas"] == expected, f"{table}.{name}: manifest says {manifest_col['pandas']}, documented {expected}")
            check(str(df[name].dtype) != "object", f"{table}.{name}: object dtype (Decimal or date objects?)")
            nulls = int(agg[i]); i += 1
            check(int(df[name].isna().sum()) == nulls, f"{table}.{name}: {int(df[name].isna().sum())} NULLs, Postgres {nulls}")
            if name == part:
                values = sorted(int(v) for v in df[name].cat.categories)
                want = sorted(int(r[0]) for r in psql(f"select distinct {qi(name)} from {rel}", url))
                check(values == want, f"{table}.{name}: partitions {values}, Postgres {want}")
                per = {int(k): int(v) for k, v in df[name].astype("int64").value_counts().items()}
                want_per = {int(r[0]): int(r[1]) for r in psql(f"select {qi(name)}, count(*) from {rel} group by 1", url)}
                check(per == want_per, f"{table}.{name}: rows per partition {per}, Postgres {want_per}")
                i += 1 if DTYPES.get(base, ("",))[0] in ("float64", "int64") else 0
            elif expected in ("float64", "int64", "Int64"):
                pg_sum = agg[i]; i += 1
                pd_sum = df[name].sum()
                if pg_sum == "":
                    check(pd_sum == 0, f"{table}.{name}: sum {pd_sum}, Postgres NULL")
                elif expected == "float64":
                    want = float(pg_sum)
                    check(math.isclose(float(pd_sum), want, rel_tol=1e-9, abs_tol=1e-6), f"{table}.{name}: sum {pd_sum!r}, Postgres {pg_sum}")
                else:
                    check(int(pd_sum) == int(pg_sum), f"{table}.{name}: sum {pd_sum}, Postgres {pg_sum}")
        print(f"{table}: {len(df)} rows, {len(df.columns)} columns checked ({target})")

    if failures:
        print(f"{len(failures)} check(s) failed:", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    print("all exports match PostgreSQL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
