#!/usr/bin/env python3
"""What pandas, polars and DuckDB make of the two Hive layouts the export does not write.

    python test/consumers/hive_layouts.py PARTITIONED_TABLE_DIR PARTITION_COLUMN WORK_DIR

From a partitioned export (`fact_sales/order_year=2012/part-00000.parquet` …) it builds, in
WORK_DIR, the two other layouts and reads each with every reader:

    column_in_files   the partition column stored in every file too (int64), beside the folder name
    null_partition    one more folder, `order_year=__HIVE_DEFAULT_PARTITION__` (Hive's NULL)

and prints one JSON object: layout -> reader -> {"rows": n, "dtype": partition column dtype} or
{"error": "..."}. src/export/README.md explains why the export writes neither.
"""
import json
import os
import shutil
import sys

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq


def build(source, column, work):
    layouts = {"column_in_files": os.path.join(work, "column_in_files"), "null_partition": os.path.join(work, "null_partition")}
    shutil.copytree(source, layouts["null_partition"])
    folders = sorted(d for d in os.listdir(source) if d.startswith(f"{column}="))
    shutil.copytree(os.path.join(source, folders[0]), os.path.join(layouts["null_partition"], f"{column}=__HIVE_DEFAULT_PARTITION__"))
    for folder in folders:
        value = int(folder.split("=", 1)[1])
        for name in os.listdir(os.path.join(source, folder)):
            table = pq.read_table(os.path.join(source, folder, name), partitioning=None)
            table = table.append_column(column, pa.array([value] * table.num_rows, pa.int64()))
            os.makedirs(os.path.join(layouts["column_in_files"], folder), exist_ok=True)
            pq.write_table(table, os.path.join(layouts["column_in_files"], folder, name))
    return layouts


def attempt(read, column):
    try:
        rows, dtype = read(column)
        return {"rows": rows, "dtype": dtype}
    except Exception as err:
        return {"error": f"{type(err).__name__}: {err}".splitlines()[0]}


def main():
    source, column, work = sys.argv[1:4]
    result = {}
    for layout, path in build(source, column, work).items():
        glob = os.path.join(path, "**", "*.parquet")

        def with_pandas(c):
            df = pd.read_parquet(path)
            return len(df), str(df[c].dtype)

        def with_polars(c):
            df = pl.read_parquet(glob, hive_partitioning=True)
            return df.height, str(df.schema[c])

        def with_duckdb(c):
            rel = duckdb.sql(f"select * from read_parquet('{glob}', hive_partitioning = true)")
            return rel.aggregate("count(*)").fetchall()[0][0], str(rel.types[rel.columns.index(c)])

        result[layout] = {name: attempt(read, column) for name, read in (("pandas", with_pandas), ("polars", with_polars), ("duckdb", with_duckdb))}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
