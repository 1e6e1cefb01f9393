#!/usr/bin/env python3
"""Reads every export the way its readers do (pandas, polars, DuckDB) and checks it against PostgreSQL.

    python test/consumers/check_exports.py EXPORTS_DIR GOLD_SCHEMA [--readers pandas,polars,duckdb] [--database-url URL]

The connection is DATABASE_URL (or --database-url), else libpq's PG* variables; Postgres is
queried with psql in a subprocess (no Python driver needed). For every table in _manifest.json and
every reader: row count, column names and order, each column's dtype (the documented one, see
src/export/README.md), the sum of every float64 (money, ratio) and integer column, the NULL count
of every column and, with --partition-by, the rows of each partition equal what Postgres computes.
The columns' descriptions and roles, read from each file's `medallion.columns` key-value metadata
with pyarrow (`pyarrow.parquet.read_schema(path).metadata`), must equal the manifest's, and the
columns the manifest lists under `left_out` (the lifetime columns, and those a model's .yml leaves
out: fact_sales' customer attributes) must be in no file, and every column of a training table
(ROLES_REQUIRED: customer_training_set) must have a role. A table split by bucket (the manifest's
`bucket_by`: customer_training_set) has each file's rows checked against Postgres' count of its
bucket, and every row of the file in that bucket.
Each reader is given exactly what the README shows:

    pandas   pd.read_parquet("exports/fact_sales")    (a folder: fact_sales, customer_training_set)
    polars   pl.read_parquet("exports/fact_sales/**/*.parquet", hive_partitioning=True)
             pl.scan_parquet(same) for the aggregates
    DuckDB   duckdb.sql("select ... from read_parquet('exports/fact_sales/**/*.parquet', hive_partitioning = true)")

A table exported as one file is read by its path alone (`exports/customer_features.parquet`).
Exit 0 when all hold, 1 otherwise.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
from typing import Callable, NamedTuple

# Postgres type (format_type without modifiers) -> each reader's dtype. pandas has two: the column
# NOT NULL, the column nullable (the `pandas` metadata in every file names Int64/boolean for the
# latter). The same table as src/export/types.ts; src/export/README.md documents it.
DTYPES = {
    "smallint": (("int64", "Int64"), "Int64", "BIGINT"),
    "integer": (("int64", "Int64"), "Int64", "BIGINT"),
    "bigint": (("int64", "Int64"), "Int64", "BIGINT"),
    "numeric": (("float64", "float64"), "Float64", "DOUBLE"),
    "double precision": (("float64", "float64"), "Float64", "DOUBLE"),
    "real": (("float64", "float64"), "Float64", "DOUBLE"),
    "boolean": (("bool", "boolean"), "Boolean", "BOOLEAN"),
    "date": (("datetime64[ms]", "datetime64[ms]"), "Datetime(time_unit='ms', time_zone=None)", "TIMESTAMP"),
    "timestamp without time zone": (("datetime64[us]", "datetime64[us]"), "Datetime(time_unit='us', time_zone=None)", "TIMESTAMP"),
    "timestamp with time zone": (("datetime64[us, UTC]", "datetime64[us, UTC]"), "Datetime(time_unit='us', time_zone='UTC')", "TIMESTAMP WITH TIME ZONE"),
    "text": (("str", "str"), "String", "VARCHAR"),
    "character varying": (("str", "str"), "String", "VARCHAR"),
    "character": (("str", "str"), "String", "VARCHAR"),
    "name": (("str", "str"), "String", "VARCHAR"),
    "uuid": (("str", "str"), "String", "VARCHAR"),
}
SUMMED = {"smallint", "integer", "bigint", "numeric", "double precision", "real"}
# The tables a model trains on: a reader picks its features by role, so every column of the file
# must carry one (a column without a role would be silently left out of the features, or worse,
# taken for one).
ROLES_REQUIRED = {"customer_training_set"}
ROLES = {"key", "feature", "lifetime", "label", "attribute"}


class Column(NamedTuple):
    name: str
    pg_type: str
    not_null: bool

    @property
    def base(self):
        return re.sub(r"\(.*\)", "", self.pg_type).strip()


class Frame(NamedTuple):
    """What one reader made of one table."""
    columns: list  # names, in the reader's order
    dtypes: dict  # name -> dtype as the reader prints it
    rows: int
    nulls: dict  # name -> NULL count
    sums: dict  # name -> sum (None when the reader gives NULL)
    per_partition: dict  # partition value (int) -> rows; {} when not partitioned


def expected_dtype(reader, col, part):
    """The documented dtype. A Hive partition column is read from the folder names: pandas
    (pyarrow) makes it a category of the inferred type, polars and DuckDB infer Int64 / BIGINT for
    an integer, which is also what they give the column when it is stored in the file."""
    pandas, polars, duckdb_type = DTYPES[col.base]
    if reader == "pandas":
        return "category" if col.name == part else pandas[0 if col.not_null else 1]
    return polars if reader == "polars" else duckdb_type


def read_pandas(path, is_dir, cols, part):
    import pandas as pd

    df = pd.read_parquet(path)  # the one call the data scientists make, folder or file
    for c in cols:
        if c.name in df and str(df[c.name].dtype) == "object":
            raise AssertionError(f"{c.name}: object dtype (Decimal or date objects?)")
    per = {}
    if part:
        # The one line the README gives readers who want the unpartitioned export's dtype back.
        unpartitioned = next(expected_dtype("pandas", c, None) for c in cols if c.name == part)
        fixed = df.astype({part: unpartitioned})
        if str(fixed[part].dtype) != unpartitioned or int(fixed[part].isna().sum()) != int(df[part].isna().sum()):
            raise AssertionError(f"{part}: astype({unpartitioned!r}) gives {fixed[part].dtype}")
        per = {int(k): int(v) for k, v in fixed[part].value_counts().items()}
        categories = sorted(int(v) for v in df[part].cat.categories)
        if categories != sorted(per):
            raise AssertionError(f"{part}: categories {categories}, values {sorted(per)}")
    return Frame(
        columns=list(df.columns),
        dtypes={n: str(df[n].dtype) for n in df.columns},
        rows=len(df),
        nulls={n: int(df[n].isna().sum()) for n in df.columns},
        sums={c.name: df[c.name].sum() for c in cols if c.base in SUMMED and c.name in df and c.name != part},
        per_partition=per,
    )


def read_polars(path, is_dir, cols, part):
    import polars as pl

    source = os.path.join(path, "**", "*.parquet") if is_dir else path
    df = pl.read_parquet(source, hive_partitioning=is_dir)
    # The aggregates through the lazy reader (scan_parquet), which reads only the columns it needs.
    present = [c for c in cols if c.name in df.columns]
    summed = [c for c in present if c.base in SUMMED]
    agg = pl.scan_parquet(source, hive_partitioning=is_dir).select(
        [pl.len().alias("__rows")]
        + [pl.col(c.name).null_count().alias(f"n:{c.name}") for c in present]
        + [pl.col(c.name).sum().alias(f"s:{c.name}") for c in summed]
    ).collect().row(0, named=True)
    if agg["__rows"] != df.height:
        raise AssertionError(f"scan_parquet counts {agg['__rows']} rows, read_parquet {df.height}")
    per = {}
    if part:
        counts = pl.scan_parquet(source, hive_partitioning=True).group_by(part).len().collect()
        per = {int(k): int(v) for k, v in counts.iter_rows()}
    return Frame(
        columns=df.columns,
        dtypes={n: str(t) for n, t in df.schema.items()},
        rows=df.height,
        nulls={c.name: agg[f"n:{c.name}"] for c in present},
        sums={c.name: agg[f"s:{c.name}"] for c in summed},
        per_partition=per,
    )


def read_duckdb(path, is_dir, cols, part):
    import duckdb

    glob = os.path.join(path, "**", "*.parquet") if is_dir else path
    source = f"read_parquet('{glob.replace(chr(39), chr(39) * 2)}'{', hive_partitioning = true' if is_dir else ''})"
    con = duckdb.connect()
    try:
        rel = con.sql(f"select * from {source}")
        columns, dtypes = rel.columns, {n: str(t) for n, t in zip(rel.columns, rel.types)}
        present = [c for c in cols if c.name in columns]
        summed = [c for c in present if c.base in SUMMED]
        aggregates = ["count(*)"] + [f"count(*) - count({qi(c.name)})" for c in present] + [f"sum({qi(c.name)})" for c in summed]
        row = con.sql(f"select {', '.join(aggregates)} from {source}").fetchall()[0]
        per = {}
        if part:
            per = {int(k): int(v) for k, v in con.sql(f"select {qi(part)}, count(*) from {source} group by 1").fetchall()}
    finally:
        con.close()
    return Frame(
        columns=columns,
        dtypes=dtypes,
        rows=row[0],
        nulls={c.name: row[1 + i] for i, c in enumerate(present)},
        sums={c.name: row[1 + len(present) + i] for i, c in enumerate(summed)},
        per_partition=per,
    )


READERS: dict = {"pandas": read_pandas, "polars": read_polars, "duckdb": read_duckdb}


def psql(sql, url):
    cmd = ["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql]
    if url:
        cmd.insert(1, url)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line != ""]


def qi(name):
    return '"' + name.replace('"', '""') + '"'


class Truth(NamedTuple):
    """What Postgres says about one gold table."""
    columns: list  # Column, in gold's order with the partition column last
    rows: int
    nulls: dict
    sums: dict  # name -> text of sum(), "" for NULL
    per_partition: dict


def check_column_docs(exports_dir, table, info, check):
    """Each file's `medallion.columns` (pyarrow) gives every column the manifest's description and
    role; in a table of ROLES_REQUIRED every column of the file has one of ROLES. Returns the
    number of columns with a role and the names of those of a ROLES_REQUIRED table without one."""
    import pyarrow.parquet as pq

    files = [os.path.join(exports_dir, f["path"]) for f in info["files"]]  # manifest paths are relative to the folder
    documented = {c["name"]: (c.get("description"), c.get("role")) for c in info["columns"]}
    unroled = set()
    for path in files:
        metadata = pq.read_schema(path).metadata or {}
        raw = metadata.get(b"medallion.columns")
        check(raw is not None, f"{path}: no medallion.columns key-value metadata")
        if raw is None:
            continue
        in_file = {c["name"]: (c.get("description"), c.get("role")) for c in json.loads(raw)}
        for name, doc in documented.items():
            check(in_file.get(name) == doc, f"{path}: {name} has description/role {in_file.get(name)!r} in the file, {doc!r} in the manifest")
        for name in info.get("left_out", []):
            check(name not in in_file and name not in pq.read_schema(path).names, f"{path}: {name} is left out by the manifest but in the file")
        if table in ROLES_REQUIRED:
            for name in pq.read_schema(path).names:
                role = in_file.get(name, (None, None))[1]
                if role not in ROLES and name not in unroled:
                    # once per column, naming the first file (a folder's files share their metadata)
                    unroled.add(name)
                    check(False, f"{path}: {name} has no role in medallion.columns ({role!r}; one of {', '.join(sorted(ROLES))})")
    return sum(1 for d in documented.values() if d[1] is not None), sorted(unroled)


def check_buckets(exports_dir, table, info, rel, url, check):
    """A table split by bucket (the manifest's `bucket_by`: an integer column modulo a power of
    two): each file's rows (its footer, pyarrow) are Postgres' count of its bucket, every row of
    the file is of that bucket, and no bucket of Postgres lacks its file. Returns the files checked."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    by = info.get("bucket_by")
    if not by:
        return 0
    column, mask = by["column"], by["buckets"] - 1
    truth = {b: int(n) for b, n in psql(
        f"select coalesce(({qi(column)} & {mask})::text, 'none'), count(*) from {rel} group by 1", url)}
    files = {}
    for f in info["files"]:
        path = os.path.join(exports_dir, f["path"])
        bucket = "none" if f["bucket"] == "none" else str(int(f["bucket"]))
        files[bucket] = f["path"]
        check(pq.read_metadata(path).num_rows == truth.get(bucket, 0),
              f"{path}: {pq.read_metadata(path).num_rows} rows, Postgres {truth.get(bucket, 0)} in bucket {f['bucket']}")
        ids = pq.read_table(path, columns=[column]).column(column)
        if bucket == "none":
            check(ids.null_count == len(ids), f"{path}: a {column} that is not NULL")
        else:
            wrong = pc.sum(pc.not_equal(pc.bit_wise_and(ids, mask), int(bucket))).as_py() or 0
            check(wrong == 0 and ids.null_count == 0, f"{path}: {wrong} rows of another bucket, {ids.null_count} NULL {column}")
    check(set(truth) <= set(files), f"{table}: Postgres has rows in the buckets {sorted(set(truth) - set(files))} without a file")
    return len(files)


def postgres_truth(rel, part, url, left_out=()):
    cols = [Column(n, t, nn == "t") for n, t, nn in psql(
        "select a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull from pg_attribute a "
        f"where a.attrelid = '{rel}'::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum",
        url,
    )]
    cols = [c for c in cols if c.name not in left_out]
    # A Hive partition column is in the folder names only: every reader appends it as the last column.
    cols = [c for c in cols if c.name != part] + [c for c in cols if c.name == part]
    summed = [c for c in cols if c.base in SUMMED]
    aggregates = ["count(*)"] + [f"count(*) - count({qi(c.name)})" for c in cols] + [f"sum({qi(c.name)})::text" for c in summed]
    row = psql(f"select {', '.join(aggregates)} from {rel}", url)[0]
    per = {}
    if part:
        per = {int(v): int(n) for v, n in psql(f"select {qi(part)}, count(*) from {rel} group by 1", url)}
    return Truth(
        columns=cols,
        rows=int(row[0]),
        nulls={c.name: int(row[1 + i]) for i, c in enumerate(cols)},
        sums={c.name: row[1 + len(cols) + i] for i, c in enumerate(summed)},
        per_partition=per,
    )


def compare(reader, table, frame, truth, part, check):
    names = [c.name for c in truth.columns]
    where = f"{reader}: {table}"
    check(list(frame.columns) == names, f"{where}: columns {list(frame.columns)} != gold {names}")
    check(frame.rows == truth.rows, f"{where}: {frame.rows} rows, Postgres {truth.rows}")
    for c in truth.columns:
        expected = expected_dtype(reader, c, part)
        got = frame.dtypes.get(c.name, "(missing)")
        check(got == expected, f"{where}.{c.name} ({c.pg_type}): dtype {got}, documented {expected}")
        check(frame.nulls.get(c.name) == truth.nulls[c.name], f"{where}.{c.name}: {frame.nulls.get(c.name)} NULLs, Postgres {truth.nulls[c.name]}")
        if c.name in truth.sums and c.name != part:
            pg_sum, got_sum = truth.sums[c.name], frame.sums.get(c.name)
            if pg_sum == "":
                check(got_sum in (None, 0), f"{where}.{c.name}: sum {got_sum!r}, Postgres NULL")
            elif DTYPES[c.base][1] == "Float64":
                check(got_sum is not None and math.isclose(float(got_sum), float(pg_sum), rel_tol=1e-9, abs_tol=1e-6),
                      f"{where}.{c.name}: sum {got_sum!r}, Postgres {pg_sum}")
            else:
                check(got_sum is not None and int(got_sum) == int(pg_sum), f"{where}.{c.name}: sum {got_sum!r}, Postgres {pg_sum}")
    if part:
        check(frame.per_partition == truth.per_partition, f"{where}.{part}: rows per partition {frame.per_partition}, Postgres {truth.per_partition}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exports_dir")
    ap.add_argument("schema")
    ap.add_argument("--readers", default=",".join(READERS), help="comma-separated: " + ", ".join(READERS))
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = ap.parse_args()
    readers = args.readers.split(",")
    unknown = [r for r in readers if r not in READERS]
    if unknown:
        ap.error(f"unknown reader(s) {', '.join(unknown)}; known: {', '.join(READERS)}")
    with open(os.path.join(args.exports_dir, "_manifest.json")) as f:
        manifest = json.load(f)

    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)

    for table, info in manifest["tables"].items():
        folder = os.path.join(args.exports_dir, table)
        is_dir = os.path.isdir(folder)
        target = folder if is_dir else f"{folder}.parquet"
        part = manifest.get("partition_by") if is_dir and any(f.get("partition") for f in info["files"]) else None
        truth = postgres_truth(f"{qi(args.schema)}.{qi(table)}", part, args.database_url, info.get("left_out", []))
        roles, unroled = check_column_docs(args.exports_dir, table, info, check)
        buckets = check_buckets(args.exports_dir, table, info, f"{qi(args.schema)}.{qi(table)}", args.database_url, check)
        if buckets:
            print(f"pyarrow: {table}: {buckets} bucket files of {info['bucket_by']['column']} hold Postgres' rows of their bucket")
        every = (f", {len(unroled)} without" if unroled else ", every column has one") if table in ROLES_REQUIRED else ""
        print(f"pyarrow: {table}: {roles} column roles match the manifest, {len(info.get('left_out', []))} left out{every}")
        for c, manifest_col in zip(truth.columns, info["columns"]):
            check(manifest_col["name"] == c.name, f"manifest: {table} column {manifest_col['name']}, gold {c.name}")
            expected = expected_dtype("pandas", c, part)
            check(manifest_col["pandas"] == expected, f"manifest: {table}.{c.name} pandas {manifest_col['pandas']}, documented {expected}")
        for reader in readers:
            read: Callable = READERS[reader]
            try:
                frame = read(target, is_dir, truth.columns, part)
            except Exception as err:  # a reader that cannot read the export at all is a failure, not a crash
                check(False, f"{reader}: {table}: {type(err).__name__}: {err}")
                continue
            compare(reader, table, frame, truth, part, check)
            print(f"{reader}: {table}: {frame.rows} rows, {len(frame.columns)} columns checked ({target})")

    if failures:
        print(f"{len(failures)} check(s) failed:", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    print(f"all exports match PostgreSQL ({', '.join(readers)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
